"""The funding half of the chain step: keep the cocoon wallet above its floor from the treasury
(docs/money.md §1): the funding band, the gates (placed, pre-flight, wallet address), the treasury's
spending policy, and the guarded write-ahead top-up (`money.funding.ensure_funded`)."""

from __future__ import annotations

from typing import Any

from pytoniq_core.boc.address import Address

from cocoon_operator import metrics as mx
from cocoon_operator import status as st
from cocoon_operator.conditions import Reason
from cocoon_operator.money.funding import (
    FundingRecord,
    FundingResult,
    FundingStatus,
    Treasury,
    TreasuryKey,
    ensure_funded,
)
from cocoon_operator.money.policy import PolicyError, TreasuryPolicy, spent_last_day
from cocoon_operator.rewards.policy import MIN_WALLET_FOR_CLAIM_NANO
from cocoon_operator.status import Cond
from cocoon_operator.steps.common import (
    ChainHub,
    GuardedStatus,
    NodeIdentity,
    StatusPatcher,
    WalletCheck,
    cond_changed,
    strip_none,
)
from cocoon_operator.steps.contract import Context, EventSpec
from cocoon_operator.ton.addresses import format_address, raw_address
from cocoon_operator.ton.client import ChainClient
from cocoon_operator.ton.identity import read_cocoon_wallet

# What a worker's first registration costs before its runner has said which wallet it uses: the runner
# starts only at 2.1 TON (min_wallet_balance), deploys one worker contract with 0.3 TON and keeps its
# wallet above the 2 TON the wallet code requires (cocoon-protocol.md §2.4, §7.6, §10.3). Until the
# runner reports the address it derived, the treasury sends no more than this (docs/money.md §1), and
# tops up again only below the runner's start threshold plus a margin (hysteresis: no dust top-ups).
FIRST_REGISTRATION_NANO = 2_500_000_000
FIRST_REGISTRATION_FLOOR_NANO = 2_200_000_000


def funding_band(floor: int, target: int, *, runner_verified: bool) -> tuple[int, int]:
    """The (floor, target) the treasury funds against, in nanoTON.

    Money liveness: the wallet never sits above its floor but below what a claim needs (the CRD refuses
    such floors now; objects admitted before that keep working). Before the runner reports its wallet,
    only a first registration's worth.
    """
    floor = max(floor, MIN_WALLET_FOR_CLAIM_NANO)
    target = max(target, floor)
    if not runner_verified:
        return min(floor, FIRST_REGISTRATION_FLOOR_NANO), min(target, FIRST_REGISTRATION_NANO)
    return floor, target


def _placed(ctx: Context) -> bool:
    """The worker pod is bound to a node (what `Scheduled=True` says)."""
    return bool(((ctx.pod or {}).get("spec") or {}).get("nodeName"))


class StatusFundingStore:
    """`money.funding.FundingStore` over `status.funding` (intent and last top-up), guarded writes."""

    def __init__(self, writer: GuardedStatus) -> None:
        self._writer = writer
        self.record = FundingRecord()

    async def load(self) -> FundingRecord:
        self.record = FundingRecord.from_status((await self._writer.read()).get("funding"))
        return self.record

    async def save(self, record: FundingRecord) -> None:
        await self._writer.write({"funding": record.to_status()})
        self.record = record


class FundingStep:
    """WalletFunded for one CocoonNode, run by `ChainSteps.observe`."""

    def __init__(self, hub: ChainHub, kube: StatusPatcher, metrics: mx.MoneyMetrics | None = None) -> None:
        self.hub = hub
        self.kube = kube
        self.metrics = metrics

    async def run(
        self,
        ctx: Context,
        client: ChainClient,
        ident: NodeIdentity,
        gates: tuple[WalletCheck, bool],
        conditions: list[Cond],
        events: list[EventSpec],
        fields: dict[str, Any],
    ) -> bool:
        wallet_cfg = ctx.spec.wallet
        ref = ctx.spec.funding.treasury_secret_ref
        check, blocked = gates
        # Treasury money goes only to a worker that runs somewhere (Scheduled=True: its pod is bound to
        # a node); a CocoonNode that cannot be placed (or waits for a GPU) must not drain the treasury.
        # A paused one keeps its wallet topped up for its resume (the user stopped it, nothing is
        # wrong with it). An open intent is always followed up (crash safety: a sent top-up is
        # confirmed even if the pod went away), even when the address check or pre-flight now fail.
        open_intent = bool((ctx.status.get("funding") or {}).get("intent"))
        hold = None
        if check is WalletCheck.MISMATCH:
            hold = Reason.WALLET_ADDRESS_MISMATCH
        elif blocked:
            hold = Reason.PREFLIGHT_FAILED
        if (
            ref is None
            or (hold is not None and not open_intent)
            or not (_placed(ctx) or ctx.spec.paused or open_intent)
        ):
            info = await self.hub.timed(
                "readWallet", read_cocoon_wallet(client, ident.public_key, ident.owner)
            )
            self.hub.remember_balance(ctx, info.balance)
            ok = info.balance >= wallet_cfg.floor
            friendly = format_address(
                Address(ident.wallet), bounceable=False, testnet=ctx.spec.network.testnet
            )
            if hold == Reason.WALLET_ADDRESS_MISMATCH:
                runner = str(fields.get("runnerWalletAddress"))
                cond = Cond.false(
                    st.WALLET_FUNDED,
                    Reason.WALLET_ADDRESS_MISMATCH,
                    f"The worker runner uses cocoon wallet {runner}, but the node key, owner and the "
                    f"official wallet code give {friendly}: no top-up and no sweep until they agree (is "
                    "the runner the official one, with this CocoonNode's key and owner?)",
                )
                if cond_changed(ctx, cond):
                    events.append(EventSpec("Warning", Reason.WALLET_ADDRESS_MISMATCH, cond.message))
            elif ok:
                cond = Cond.true(
                    st.WALLET_FUNDED, Reason.WALLET_FUNDED, f"Cocoon wallet holds {info.balance} nanoTON"
                )
            elif hold is not None:
                cond = Cond.false(
                    st.WALLET_FUNDED,
                    hold,
                    f"Cocoon wallet {friendly} holds {info.balance} nanoTON, below the floor "
                    f"{wallet_cfg.floor}; it is not topped up while the pre-flight fails",
                )
            elif ref is None:
                cond = Cond.false(
                    st.WALLET_FUNDED,
                    Reason.NO_TREASURY,
                    f"Cocoon wallet {info.address} holds {info.balance} nanoTON, below the floor "
                    f"{wallet_cfg.floor}; no spec.funding.treasurySecretRef to top it up from",
                )
            else:
                cond = Cond.false(
                    st.WALLET_FUNDED,
                    Reason.WAITING_FOR_PLACEMENT,
                    f"Cocoon wallet {info.address} holds {info.balance} nanoTON, below the floor "
                    f"{wallet_cfg.floor}; it is topped up from the treasury once the worker pod is "
                    "placed on a node (Scheduled=True)",
                )
            if self.metrics is not None:
                self.metrics.wallet_address_mismatch.labels(ctx.namespace, ctx.name).set(
                    1 if hold == Reason.WALLET_ADDRESS_MISMATCH else 0
                )
            conditions.append(cond)
            fields["funding"] = {"walletBalanceNano": info.balance}
            return ok and hold is None
        if self.metrics is not None:
            self.metrics.wallet_address_mismatch.labels(ctx.namespace, ctx.name).set(0)
        verified = check is WalletCheck.VERIFIED or _verified_before(ctx)
        floor, target = funding_band(wallet_cfg.floor, wallet_cfg.target, runner_verified=verified)
        secret = await ctx.kube.get("v1", "Secret", ctx.namespace, ref.name)
        try:
            key = TreasuryKey.from_secret_data((secret or {}).get("data") or {}, decoded=False)
            policy = TreasuryPolicy.from_annotations(
                ((secret or {}).get("metadata") or {}).get("annotations")
            )
        except ValueError as exc:
            reason = (
                Reason.INVALID_TREASURY_POLICY
                if isinstance(exc, PolicyError)
                else Reason.INVALID_TREASURY_SECRET
            )
            cond = Cond.false(st.WALLET_FUNDED, reason, f"spec.funding.treasurySecretRef: {exc}")
            conditions.append(cond)
            if cond_changed(ctx, cond):
                events.append(EventSpec("Warning", reason, cond.message))
            return False
        refusal = (
            None if open_intent else policy.may_fund(owner=ctx.spec.owner_address, paused=ctx.spec.paused)
        )
        if refusal is not None:
            self._policy_refused(ctx, refusal, conditions, events)
            fields["funding"] = {"walletBalanceNano": self.hub.known_balance(ctx)}
            return False
        result = None if open_intent else await _above_floor(ctx, client, ident, floor)
        if result is None:
            result = await self._ensure_funded(ctx, client, key, policy, ident, floor, target)
        del key
        self.hub.remember_balance(ctx, result.wallet_balance)
        if self.metrics is not None and result.treasury_balance:
            self.metrics.treasury_balance.labels(result.treasury).set(result.treasury_balance)
        if result.status is FundingStatus.POLICY_REFUSED:
            self._policy_refused(ctx, result.message, conditions, events)
            fields["funding"] = _funding_status(result)
            return False
        if self.metrics is not None and result.status in (
            FundingStatus.SENT,
            FundingStatus.CONFIRMED,
            FundingStatus.TREASURY_INSUFFICIENT,
            FundingStatus.TREASURY_MISSING,
        ):
            self.metrics.funding.labels(ctx.namespace, ctx.name, result.status.value).inc()
        if self.metrics is not None and result.status is FundingStatus.CONFIRMED:
            self.metrics.topped_up.labels(ctx.namespace, ctx.name, result.treasury).inc(result.amount_nano)
        cond = _funding_condition(result)
        if not verified and result.funded:
            cond = Cond.true(
                st.WALLET_FUNDED,
                cond.reason,
                f"{cond.message}; funded only for the first registration ({target} nanoTON) until the "
                "worker runner reports the same wallet address",
            )
        conditions.append(cond)
        fields["funding"] = _funding_status(result)
        if result.status is FundingStatus.CONFIRMED:
            events.append(EventSpec("Normal", "WalletToppedUp", result.message))
        elif result.status is FundingStatus.SENT:
            events.append(EventSpec("Normal", "TopUpSent", result.message))
        elif (
            not result.funded
            and result.status not in (FundingStatus.PENDING, FundingStatus.SETTLING, FundingStatus.TOO_SOON)
            and cond_changed(ctx, cond)
        ):
            events.append(EventSpec("Warning", result.status.value, result.message))
        return result.funded

    async def _ensure_funded(
        self,
        ctx: Context,
        client: ChainClient,
        key: TreasuryKey,
        policy: TreasuryPolicy,
        ident: NodeIdentity,
        floor: int,
        target: int,
    ) -> FundingResult:
        """The money path: fresh, cross-checked reads, the write-ahead intent, the top-up."""
        treasury = await Treasury.open(client, key)

        async def approve(amount: int, now: int) -> str | None:
            spent = await spent_last_day(client, treasury.address, now)
            if spent is None:
                return "the treasury's spending in the last 24 hours could not be read in full"
            return policy.refuse(amount, spent)

        writer = GuardedStatus(self.kube, ctx.namespace, ctx.name)
        store = StatusFundingStore(writer)
        # One top-up at a time per treasury in this process (concurrent ones would pick the same
        # treasury seqno and all but one would be refused); the checks that pay nothing run beside it.
        return await self.hub.timed(
            "ensureFunded",
            ensure_funded(
                client,
                treasury,
                ident.wallet,
                floor_nano=floor,
                target_nano=target,
                store=store,
                confirm_wait_s=2.0,
                approve=approve,
                exclusive=self.hub.treasury_lock(treasury.address),
            ),
        )

    def _policy_refused(
        self, ctx: Context, message: str, conditions: list[Cond], events: list[EventSpec]
    ) -> None:
        cond = Cond.false(st.WALLET_FUNDED, Reason.TREASURY_POLICY, message)
        conditions.append(cond)
        if self.metrics is not None:
            self.metrics.funding.labels(ctx.namespace, ctx.name, FundingStatus.POLICY_REFUSED.value).inc()
        if cond_changed(ctx, cond):
            events.append(EventSpec("Warning", FundingStatus.POLICY_REFUSED.value, message))


async def _above_floor(
    ctx: Context, client: ChainClient, ident: NodeIdentity, floor: int
) -> FundingResult | None:
    """Nothing to pay, known from one read: no intent is open and the wallet is at or above its
    floor, as the block follower vouches (no query) or one liteserver says (a wallet that changed,
    e.g. by a claim's gas). Deciding *not* to pay is all this may do, so one liteserver's word is
    enough: a lying one can delay a top-up, never cause one. A wallet below its floor goes through
    `ensure_funded` and its fresh, cross-checked reads, which alone decide a payment."""
    previous = ctx.status.get("funding") or {}
    treasury = previous.get("treasury")
    if not treasury or previous.get("lastResult") != FundingStatus.ABOVE_FLOOR.value:
        return None  # the treasury's address comes from the last money read: none yet
    state = await client.account_state(ident.wallet)
    if state.balance < floor:
        return None
    return FundingResult(
        status=FundingStatus.ABOVE_FLOOR,
        message=f"Cocoon wallet {state.address} holds {state.balance} nanoTON (floor {floor})",
        wallet=state.address,
        wallet_balance=state.balance,
        treasury=str(treasury),
        treasury_balance=0,
        floor_nano=floor,
    )


def _verified_before(ctx: Context) -> bool:
    """The runner reported this very wallet address before (it may just not answer right now)."""
    reported, derived = ctx.status.get("runnerWalletAddress"), ctx.status.get("walletAddress")
    if not reported or not derived:
        return False
    try:
        return raw_address(str(reported)) == raw_address(str(derived))
    except Exception:
        return False


def _funding_condition(result: FundingResult) -> Cond:
    if result.funded:
        return Cond.true(st.WALLET_FUNDED, Reason(result.status.value), result.message)
    return Cond.false(st.WALLET_FUNDED, Reason(result.status.value), result.message)


def _funding_status(result: FundingResult) -> dict[str, Any]:
    """What `status.funding` shows besides the money records (those are written by guarded writes)."""
    result_status: dict[str, Any] = strip_none(
        {
            "walletBalanceNano": result.wallet_balance,
            "inFlightNano": result.in_flight_nano or None,
            "treasury": result.treasury,
            "lastResult": result.status.value,
            "lastTopUpNano": result.amount_nano if result.status is FundingStatus.CONFIRMED else None,
            "lastTopUpTx": result.tx_hash,
        }
    )
    return result_status
