"""`Deps.chain`: root pre-flight, cocoon wallet funding, registration and params_version rollovers
(issue 6; cocoon-protocol.md §6, §7, §10, §16; docs/money.md §1).

Every failure to reach the chain becomes a condition with reason `ChainUnavailable`, never an
exception out of the step, and never a changed decision: the worker keeps running (or stays stopped)
as the last successful pre-flight decided.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from cocoon_operator import metrics as mx
from cocoon_operator import status as st
from cocoon_operator.api import runtime
from cocoon_operator.money.funding import (
    FundingRecord,
    FundingResult,
    FundingStatus,
    Treasury,
    TreasuryKey,
    ensure_funded,
)
from cocoon_operator.money.policy import PolicyError, TreasuryPolicy, spent_last_day
from cocoon_operator.reconcile.deps import Context, EventSpec, StepReport
from cocoon_operator.reconcile.providers.common import (
    CHAIN_UNAVAILABLE,
    ChainHub,
    GuardedStatus,
    NodeIdentity,
    StaleStatus,
    StatusPatcher,
    WalletCheck,
    condition,
    node_identity,
    pod_ip,
    strip_none,
    wallet_check,
)
from cocoon_operator.rewards.policy import MIN_WALLET_FOR_CLAIM_NANO
from cocoon_operator.status import Cond
from cocoon_operator.ton.addresses import format_address
from cocoon_operator.ton.client import (
    ChainClient,
    ChainDisagreement,
    ChainError,
    ChainUnavailable,
    raw_address,
)
from cocoon_operator.ton.identity import read_cocoon_wallet
from cocoon_operator.ton.root import (
    SPEC_PROBLEMS,
    PreflightProblem,
    PreflightReason,
    RootConfig,
    RootUnavailable,
    preflight,
)
from cocoon_operator.ton.worker_contracts import (
    ContractUnreadable,
    RegistrationCheck,
    check_registration,
    read_worker_contract,
)
from cocoon_operator.worker.runner_client import RunnerClient, RunnerStats, RunnerUnavailable

log = logging.getLogger(__name__)

ROOT_UNAVAILABLE = "RootUnavailable"
CHAIN_DISAGREEMENT = "ChainDisagreement"
WALLET_ADDRESS_MISMATCH = "WalletAddressMismatch"
# Reasons that mean "the chain said no": a worker they stopped stays stopped while the chain is away.
REGISTERED_BLOCKS = {r.value for r in PreflightReason if r not in SPEC_PROBLEMS} | {ROOT_UNAVAILABLE}
CONFIGURED_BLOCKS = {r.value for r in SPEC_PROBLEMS}
MAX_CONTRACTS = 32
RUNNER_TIMEOUT_S = 4.0
TON = 1_000_000_000
# What a worker's first registration costs before its runner has said which wallet it uses: the runner
# starts only at 2.1 TON (min_wallet_balance), deploys one worker contract with 0.3 TON and keeps its
# wallet above the 2 TON the wallet code requires (cocoon-protocol.md §2.4, §7.6, §10.3). Until the
# runner reports the address it derived, the treasury sends no more than this (docs/money.md §1), and
# tops up again only below the runner's start threshold plus a margin (hysteresis: no dust top-ups).
FIRST_REGISTRATION_NANO = 2_500_000_000
FIRST_REGISTRATION_FLOOR_NANO = 2_200_000_000
TEST_MODE_NOTE = "test mode: the proxies do not check the worker image hash"


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


def _cond_changed(ctx: Context, cond: Cond) -> bool:
    old = condition(ctx.status, cond.type)
    return old.get("status") != cond.status or old.get("reason") != cond.reason


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


class ChainSteps:
    """Implements `reconcile.deps.ChainProvider`."""

    def __init__(self, hub: ChainHub, kube: StatusPatcher, metrics: mx.MoneyMetrics | None = None) -> None:
        self.hub = hub
        self.kube = kube
        self.metrics = metrics

    # --- pre-flight ---------------------------------------------------------------------------

    async def preflight(self, ctx: Context) -> StepReport:
        secret = await ctx.kube.get("v1", "Secret", ctx.namespace, ctx.wallet_secret_name)
        ident = node_identity(secret, ctx.spec.owner_address)
        fields: dict[str, Any] = {}
        if ident is not None:
            fields["walletAddress"] = format_address(
                _addr(ident.wallet), bounceable=False, testnet=ctx.spec.network.testnet
            )
        try:
            key, client = await self.hub.client(ctx)
            root = await self.hub.root(key, client, ctx.spec.network.root_contract_address)
        except RootUnavailable as exc:
            cond = Cond.false(st.REGISTERED, ROOT_UNAVAILABLE, f"{_safe(exc)}. The worker is not started")
            events = (
                [EventSpec("Warning", "PreflightFailed", cond.message)] if _cond_changed(ctx, cond) else []
            )
            return StepReport(
                conditions=(cond,), status=fields, events=events, allow_workload=False, retry_after=30.0
            )
        except ChainError as exc:
            if isinstance(exc, ChainUnavailable):
                await self._drop(ctx)
            return self._unavailable_preflight(ctx, fields, exc)
        problems = _problems(root, ctx)
        if problems:
            conds = _problem_conditions(problems)
            message = "; ".join(c.message for c in conds)
            events = (
                [EventSpec("Warning", "PreflightFailed", message)]
                if any(_cond_changed(ctx, c) for c in conds)
                else []
            )
            return StepReport(
                conditions=conds, status=fields, events=events, allow_workload=False, retry_after=30.0
            )
        if ctx.spec.worker.mode == "Test":
            note = Cond.true(
                st.CONFIGURED,
                "Resolved",
                f"The spec is valid and its ConfigMap and Secrets are present; {TEST_MODE_NOTE}",
            )
            return StepReport(conditions=(note,), status=fields)
        return StepReport(status=fields)

    def _unavailable_preflight(self, ctx: Context, fields: dict[str, Any], exc: Exception) -> StepReport:
        # Keep the last decision: a worker blocked by the root stays blocked, a running one runs.
        old_reg, old_conf = condition(ctx.status, st.REGISTERED), condition(ctx.status, st.CONFIGURED)
        conds = [
            Cond.unknown(
                st.REGISTERED, CHAIN_UNAVAILABLE, f"Cannot check the root contract on chain: {_safe(exc)}"
            )
        ]
        blocked = old_reg.get("status") == "False" and old_reg.get("reason") in REGISTERED_BLOCKS
        if old_conf.get("status") == "False" and old_conf.get("reason") in CONFIGURED_BLOCKS:
            blocked = True
            conds.append(Cond.false(st.CONFIGURED, str(old_conf["reason"]), str(old_conf.get("message", ""))))
        return StepReport(conditions=conds, status=fields, allow_workload=not blocked, retry_after=15.0)

    async def finalize(self, ctx: Context) -> bool:
        """Nothing to undo on chain: the wallet and its key outlive the CocoonNode (the key Secret is
        kept on purpose); the last claim is the rewards provider's."""
        return True

    # --- funding and registration -------------------------------------------------------------

    async def observe(self, ctx: Context) -> StepReport:
        started = time.monotonic()
        try:
            return await self._observe(ctx)
        finally:
            if self.metrics is not None:
                self.metrics.reconcile_duration.labels("chain").observe(time.monotonic() - started)

    async def _observe(self, ctx: Context) -> StepReport:
        secret = await ctx.kube.get("v1", "Secret", ctx.namespace, ctx.wallet_secret_name)
        ident = node_identity(secret, ctx.spec.owner_address)
        if ident is None:
            return StepReport()  # Configured=False already says why
        try:
            key, client = await self.hub.client(ctx)
            root = await self.hub.root(key, client, ctx.spec.network.root_contract_address)
        except RootUnavailable:
            root = None  # pre-flight said why; nothing moves
        except ChainError as exc:
            if isinstance(exc, ChainUnavailable):
                await self._drop(ctx)
            return self._unavailable(ctx, exc)
        conditions: list[Cond] = []
        events: list[EventSpec] = []
        fields: dict[str, Any] = {}
        retry: float | None = None
        stats = await _runner_stats(ctx)
        check, reported = wallet_check(stats, ident)
        if reported is not None:
            fields["runnerWalletAddress"] = reported
        blocked = root is None or bool(_problems(root, ctx))
        try:
            funded = await self._funding(ctx, client, ident, (check, blocked), conditions, events, fields)
            if not funded:
                retry = 10.0
            if root is not None and not blocked:
                registered = await self._registration(
                    ctx, client, root, ident, stats, conditions, events, fields
                )
                if not registered:
                    retry = min(retry or 10.0, 10.0)
        except ChainUnavailable as exc:
            await self._drop(ctx)
            return self._unavailable(ctx, exc)
        except (ChainDisagreement, StaleStatus) as exc:
            return self._undecided(ctx, exc, fields)
        return StepReport(conditions=conditions, status=fields, events=events, retry_after=retry)

    def _undecided(self, ctx: Context, exc: Exception, fields: dict[str, Any]) -> StepReport:
        """Liteservers disagree on a money fact, or another writer changed the money records: nothing
        was sent; the next reconcile reads again."""
        reason = CHAIN_DISAGREEMENT if isinstance(exc, ChainDisagreement) else "MoneyRecordConflict"
        if self.metrics is not None:
            self.metrics.reconcile_errors.labels("chain", reason).inc()
        message = f"Nothing was sent: {_safe(exc)}"
        cond = Cond.unknown(st.WALLET_FUNDED, reason, message)
        events = [EventSpec("Warning", reason, message)] if _cond_changed(ctx, cond) else []
        return StepReport(conditions=(cond,), status=fields, events=events, retry_after=10.0)

    async def _drop(self, ctx: Context) -> None:
        try:
            key, _ = await self.hub.global_config(ctx)
        except ChainError:
            return
        await self.hub.drop(key)

    def _unavailable(self, ctx: Context, exc: Exception) -> StepReport:
        if self.metrics is not None:
            self.metrics.reconcile_errors.labels("chain", CHAIN_UNAVAILABLE).inc()
        message = f"Cannot reach the TON chain: {_safe(exc)}"
        conds = [Cond.unknown(st.WALLET_FUNDED, CHAIN_UNAVAILABLE, message)]
        reg = condition(ctx.status, st.REGISTERED)
        if reg.get("reason") not in REGISTERED_BLOCKS:
            conds.append(Cond.unknown(st.REGISTERED, CHAIN_UNAVAILABLE, message))
        events = [EventSpec("Warning", CHAIN_UNAVAILABLE, message)] if _cond_changed(ctx, conds[0]) else []
        return StepReport(conditions=conds, events=events, retry_after=15.0)

    async def _funding(
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
            hold = WALLET_ADDRESS_MISMATCH
        elif blocked:
            hold = "PreflightFailed"
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
            friendly = format_address(_addr(ident.wallet), bounceable=False, testnet=ctx.spec.network.testnet)
            if hold == WALLET_ADDRESS_MISMATCH:
                runner = str(fields.get("runnerWalletAddress"))
                cond = Cond.false(
                    st.WALLET_FUNDED,
                    WALLET_ADDRESS_MISMATCH,
                    f"The worker runner uses cocoon wallet {runner}, but the node key, owner and the "
                    f"official wallet code give {friendly}: no top-up and no sweep until they agree (is "
                    "the runner the official one, with this CocoonNode's key and owner?)",
                )
                if _cond_changed(ctx, cond):
                    events.append(EventSpec("Warning", WALLET_ADDRESS_MISMATCH, cond.message))
            elif ok:
                cond = Cond.true(
                    st.WALLET_FUNDED, "WalletFunded", f"Cocoon wallet holds {info.balance} nanoTON"
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
                    "NoTreasury",
                    f"Cocoon wallet {info.address} holds {info.balance} nanoTON, below the floor "
                    f"{wallet_cfg.floor}; no spec.funding.treasurySecretRef to top it up from",
                )
            else:
                cond = Cond.false(
                    st.WALLET_FUNDED,
                    "WaitingForPlacement",
                    f"Cocoon wallet {info.address} holds {info.balance} nanoTON, below the floor "
                    f"{wallet_cfg.floor}; it is topped up from the treasury once the worker pod is "
                    "placed on a node (Scheduled=True)",
                )
            if self.metrics is not None:
                self.metrics.wallet_address_mismatch.labels(ctx.namespace, ctx.name).set(
                    1 if hold == WALLET_ADDRESS_MISMATCH else 0
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
            reason = "InvalidTreasuryPolicy" if isinstance(exc, PolicyError) else "InvalidTreasurySecret"
            cond = Cond.false(st.WALLET_FUNDED, reason, f"spec.funding.treasurySecretRef: {exc}")
            conditions.append(cond)
            if _cond_changed(ctx, cond):
                events.append(EventSpec("Warning", reason, cond.message))
            return False
        refusal = (
            None if open_intent else policy.may_fund(owner=ctx.spec.owner_address, paused=ctx.spec.paused)
        )
        if refusal is not None:
            self._policy_refused(ctx, refusal, conditions, events)
            fields["funding"] = {"walletBalanceNano": self.hub.known_balance(ctx)}
            return False
        treasury = await Treasury.open(client, key)
        del key

        async def approve(amount: int, now: int) -> str | None:
            spent = await spent_last_day(client, treasury.address, now)
            if spent is None:
                return "the treasury's spending in the last 24 hours could not be read in full"
            return policy.refuse(amount, spent)

        writer = GuardedStatus(self.kube, ctx.namespace, ctx.name)
        store = StatusFundingStore(writer)
        # One top-up at a time per treasury in this process: concurrent ones would pick the same
        # treasury seqno and all but one would be refused (and retried later).
        async with self.hub.treasury_lock(treasury.address):
            result = await self.hub.timed(
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
                ),
            )
        self.hub.remember_balance(ctx, result.wallet_balance)
        if self.metrics is not None and result.treasury_balance:
            self.metrics.treasury_balance.labels(treasury.address).set(result.treasury_balance)
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
            and _cond_changed(ctx, cond)
        ):
            events.append(EventSpec("Warning", result.status.value, result.message))
        return result.funded

    def _policy_refused(
        self, ctx: Context, message: str, conditions: list[Cond], events: list[EventSpec]
    ) -> None:
        cond = Cond.false(st.WALLET_FUNDED, FundingStatus.POLICY_REFUSED.value, message)
        conditions.append(cond)
        if self.metrics is not None:
            self.metrics.funding.labels(ctx.namespace, ctx.name, FundingStatus.POLICY_REFUSED.value).inc()
        if _cond_changed(ctx, cond):
            events.append(EventSpec("Warning", FundingStatus.POLICY_REFUSED.value, message))

    async def _registration(
        self,
        ctx: Context,
        client: ChainClient,
        root: RootConfig,
        ident: NodeIdentity,
        stats: RunnerStats | None,
        conditions: list[Cond],
        events: list[EventSpec],
        fields: dict[str, Any],
    ) -> bool:
        previous = {str(c.get("proxyAddress")): dict(c) for c in ctx.status.get("workerContracts") or []}
        contracts: dict[str, dict[str, Any]] = {}
        checks: list[RegistrationCheck] = []
        for proxy in stats.proxies if stats is not None else ():
            check = await self.hub.timed(
                "checkRegistration",
                check_registration(
                    client,
                    owner=ident.owner,
                    proxy_contract=proxy.proxy_sc_address,
                    reported_worker_contract=proxy.sc_address,
                ),
            )
            checks.append(check)
            worker = check.worker
            version = worker.params_version if worker is not None else proxy.params_version
            contracts[check.proxy_contract] = {
                "proxyAddress": check.proxy_contract,
                "address": check.expected_worker_contract or _raw_or_none(proxy.sc_address),
                "paramsVersion": version,
                "state": _state_name(check, root, version),
                "tokens": worker.data.tokens if worker is not None else 0,
            }
        # Contracts the runner no longer reports (closed after a rollover): keep, re-read, show closed.
        for proxy_addr, old in previous.items():
            if proxy_addr in contracts or not old.get("address"):
                continue
            entry = dict(old)
            try:
                state = await self.hub.timed("readWorker", read_worker_contract(client, str(old["address"])))
                entry["tokens"] = state.data.tokens
                entry["state"] = "Closed" if state.data.state == 2 else _old_state(state.params_version, root)
            except ContractUnreadable:
                entry["state"] = "Closed"
            contracts[proxy_addr] = entry
        ordered = sorted(
            contracts.values(), key=lambda c: (-(c.get("paramsVersion") or 0), c["proxyAddress"])
        )
        fields["workerContracts"] = [strip_none(c) for c in ordered[:MAX_CONTRACTS]]
        current = [
            c for c in checks if c.worker is not None and c.worker.params_version >= root.params_version
        ]
        ok = [c for c in current if c.registered]
        if ok:
            cond = Cond.true(
                st.REGISTERED,
                "Registered",
                f"{len(ok)} worker contract(s) registered under params version {root.params_version}: "
                + ", ".join(c.expected_worker_contract or "" for c in ok),
            )
        elif stats is None:
            cond = Cond.false(
                st.REGISTERED,
                "RunnerUnreachable" if pod_ip(ctx.pod) else "WaitingForWorker",
                "The worker runner has not reported any proxy yet"
                if pod_ip(ctx.pod)
                else "The worker pod is not running yet",
            )
        elif not checks:
            cond = Cond.false(
                st.REGISTERED, "NoProxyConnected", "The runner has not connected to a proxy yet"
            )
        else:
            bad = next((c for c in checks if not c.registered), checks[0])
            reason = bad.reason.value if not bad.registered else "WaitingForCurrentParams"
            seen = bad.worker.params_version if bad.worker else "?"
            message = (
                bad.message
                if not bad.registered
                else f"Worker contracts are from params version {seen}; root is at {root.params_version}"
            )
            cond = Cond.false(st.REGISTERED, reason, message)
        conditions.append(cond)
        if cond.status == "True" and _cond_changed(ctx, cond):
            events.append(EventSpec("Normal", "Registered", cond.message))
        return cond.status == "True"


def _problems(root: RootConfig, ctx: Context) -> list[PreflightProblem]:
    return preflight(
        root,
        str(ctx.spec.model),
        ctx.spec.image_hash,
        ctx.spec.worker.mode == "Test",
        trusted_code_hashes=ctx.spec.network.trusted_code_hashes,
    )


def _problem_conditions(problems: list[PreflightProblem]) -> list[Cond]:
    """Spec problems → Configured=False; the root's refusals → Registered=False (first reason each)."""
    conds = []
    for cond_type, group in (
        (st.CONFIGURED, [p for p in problems if p.is_spec_problem]),
        (st.REGISTERED, [p for p in problems if not p.is_spec_problem]),
    ):
        if group:
            message = "; ".join(p.message for p in group) + ". The worker is not started"
            conds.append(Cond.false(cond_type, group[0].reason.value, message))
    return conds


def _verified_before(ctx: Context) -> bool:
    """The runner reported this very wallet address before (it may just not answer right now)."""
    reported, derived = ctx.status.get("runnerWalletAddress"), ctx.status.get("walletAddress")
    if not reported or not derived:
        return False
    try:
        return raw_address(str(reported)) == raw_address(str(derived))
    except Exception:
        return False


def _state_name(check: RegistrationCheck, root: RootConfig, version: int | None) -> str:
    if check.worker is None:
        return "NotDeployed"
    if check.worker.data.state == 2:
        return "Closed"
    if version is not None and version < root.params_version:
        return "Closing"
    return "Active" if check.registered else check.reason.value


def _old_state(version: int, root: RootConfig) -> str:
    return "Closing" if version < root.params_version else "Active"


def _raw_or_none(address: str | None) -> str | None:
    return raw_address(address) if address else None


def _funding_condition(result: FundingResult) -> Cond:
    if result.funded:
        return Cond.true(st.WALLET_FUNDED, result.status.value, result.message)
    return Cond.false(st.WALLET_FUNDED, result.status.value, result.message)


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


async def _runner_stats(ctx: Context) -> RunnerStats | None:
    ip = pod_ip(ctx.pod)
    if ip is None:
        return None
    async with RunnerClient(
        f"http://{ip}:{runtime.runner_port(ctx.spec, ctx.settings)}", timeout_s=RUNNER_TIMEOUT_S
    ) as runner:
        try:
            return await runner.jsonstats()
        except (RunnerUnavailable, ValueError):
            return None


def _addr(raw: str) -> Any:
    from pytoniq_core.boc.address import Address

    return Address(raw)


def _safe(exc: BaseException) -> str:
    """Error text for conditions: the chain layer's messages carry no secrets; cut them short."""
    text = str(exc) or type(exc).__name__
    return text[:300]
