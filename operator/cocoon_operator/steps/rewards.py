"""`Deps.rewards`: the claim cycle per CocoonNode, with the ledger in `status.claims` (issue 6;
docs/money.md §2).

The ledger record is written to the API server at once (guarded by resourceVersion) before every
action it announces, through `GuardedStatus`: an intent before the policy's claim is triggered, the
Triggering phase before `/request/payout`. The reconcile's own status write comes after the step
and only repeats what is already stored. Recovery after a crash reads the chain (worker contract
`tokens`, owner payouts above the cursor), never memory.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any, Literal

from cocoon_operator import metrics as mx
from cocoon_operator import status as st
from cocoon_operator.api import identity
from cocoon_operator.api.units import nano_to_ton
from cocoon_operator.conditions import Reason
from cocoon_operator.money.sweep import SweepPolicy, SweepRecord, SweepResult, SweepStatus, sweep_surplus
from cocoon_operator.rewards import ledger as lg
from cocoon_operator.rewards.cycle import CycleResult, run_claim_cycle
from cocoon_operator.rewards.facts import KnownContract, LiveFacts, runner_trigger
from cocoon_operator.rewards.policy import ClaimPolicy, claim_threshold
from cocoon_operator.rewards.siblings import attribution_for, same_owner, wallet_of
from cocoon_operator.status import Cond
from cocoon_operator.steps.claim_request import ClaimRequests
from cocoon_operator.steps.common import (
    CHAIN_UNAVAILABLE,
    ChainHub,
    GuardedStatus,
    NodeIdentity,
    StaleStatus,
    StatusPatcher,
    WalletCheck,
    node_identity,
    node_seed,
    pod_ip,
    step_timer,
    strip_none,
    wallet_check,
)
from cocoon_operator.steps.contract import Context, EventSpec, StepReport
from cocoon_operator.ton.addresses import raw_address
from cocoon_operator.ton.client import ChainClient, ChainDisagreement, ChainError, ChainUnavailable
from cocoon_operator.ton.identity import read_cocoon_wallet
from cocoon_operator.worker.runner_client import RunnerClient, RunnerUnavailable

log = logging.getLogger(__name__)

LAST_CLAIMS = 10
PENDING_RECHECK_S = 3.0
RUNNER_TIMEOUT_S = 5.0

_EVENT_TYPES: dict[lg.EventKind, Literal["Normal", "Warning"]] = {
    lg.EventKind.CLAIM_CONFIRMED: "Normal",
    lg.EventKind.CLAIM_TRIGGERED: "Normal",
    lg.EventKind.CLAIM_SUPERSEDED: "Normal",
    lg.EventKind.CLAIM_TIMED_OUT: "Warning",
    lg.EventKind.CLAIM_PAYOUT_MISSING: "Warning",
    lg.EventKind.CLAIM_STUCK: "Warning",
    lg.EventKind.CLAIM_REJECTED: "Warning",
    lg.EventKind.CLAIM_DROPPED: "Warning",
    lg.EventKind.SCAN_GAP: "Warning",
}
_OUTCOMES = {
    lg.EventKind.CLAIM_CONFIRMED,
    lg.EventKind.CLAIM_SUPERSEDED,
    lg.EventKind.CLAIM_TIMED_OUT,
    lg.EventKind.CLAIM_PAYOUT_MISSING,
    lg.EventKind.CLAIM_STUCK,
    lg.EventKind.CLAIM_REJECTED,
    lg.EventKind.CLAIM_DROPPED,
}


class StatusLedgerStore:
    """`cycle.LedgerStore` over `status.claims`: a fresh read, then guarded immediate writes."""

    def __init__(self, writer: GuardedStatus) -> None:
        self._writer = writer
        self.ledger: lg.ClaimLedger | None = None

    async def load(self) -> lg.ClaimLedger:
        status = await self._writer.read()
        self.ledger = lg.ClaimLedger.from_status(status.get("claims"))
        return self.ledger

    async def save(self, ledger: lg.ClaimLedger) -> None:
        await self._writer.write({"claims": ledger_status(ledger)})  # None values delete keys
        self.ledger = ledger


class StatusSweepStore:
    """`ton.sweep.SweepStore` over `status.sweep`: a fresh read, then guarded immediate writes."""

    def __init__(self, writer: GuardedStatus) -> None:
        self._writer = writer

    async def load(self) -> SweepRecord:
        return SweepRecord.from_status((await self._writer.read()).get("sweep"))

    async def save(self, record: SweepRecord) -> None:
        await self._writer.write({"sweep": record.to_status()})  # None values delete keys


_SWEEP_EVENTS: dict[SweepStatus, Literal["Normal", "Warning"]] = {
    SweepStatus.SENT: "Normal",
    SweepStatus.CONFIRMED: "Normal",
    SweepStatus.DROPPED: "Warning",
}


async def _runner_view(runner: RunnerClient | None, ident: NodeIdentity) -> tuple[bool, bool]:
    """(busy, wallet mismatch) from one /jsonstats: the runner's own wallet transactions in flight (it
    may be using the seqno), and whether it reports another wallet than the one the operator derived
    (then nothing is swept). No runner: idle; a runner that does not answer: assume busy (the sweep
    waits, it is never urgent)."""
    if runner is None:
        return False, False
    try:
        stats = await runner.jsonstats()
    except RunnerUnavailable:
        return True, False
    wallet = stats.wallet
    busy = wallet is not None and (wallet.pending_transactions_cnt > 0 or wallet.active_transactions_cnt > 0)
    return busy, wallet_check(stats, ident)[0] is WalletCheck.MISMATCH


def ledger_status(ledger: lg.ClaimLedger) -> dict[str, Any]:
    """`status.claims`. Query ids are uint64: as JSON numbers above 2^63 the API server would turn
    them into floats (or refuse them), so they are stored as decimal strings (read back as ints)."""
    data: dict[str, Any] = ledger.to_status()
    history: list[dict[str, Any]] = data.get("history") or []
    for entry in history:
        entry["queryId"] = str(entry["queryId"])
    return data


def policy_of(ctx: Context, *, final: bool = False) -> ClaimPolicy:
    r = ctx.spec.rewards
    if final:  # the last claim before deletion: anything worth its gas, no interval
        return ClaimPolicy(min_claim_nano=1, max_fee_fraction=Decimal(1), min_interval_seconds=0)
    return ClaimPolicy(
        min_claim_nano=max(1, r.min_claim),
        max_fee_fraction=r.max_fee_fraction,
        min_interval_seconds=r.check_interval,
    )


def _known_contracts(status: Any) -> list[KnownContract]:
    known = []
    for c in (status or {}).get("workerContracts") or []:
        if c.get("proxyAddress") and c.get("address"):
            known.append(
                KnownContract(proxy=raw_address(c["proxyAddress"]), worker_contract=raw_address(c["address"]))
            )
    return known


COCOON_API_VERSION = "cocoon.tonops.dev/v1alpha1"
NODES_TTL_S = 30.0


def _claimable_since(ctx: Context, claimable_nano: int, payouts: int, now: int) -> int | None:
    """Since when the policy would claim what is claimable (at least minClaim and worth its gas), with
    no payout in between (None: not now)."""
    if claimable_nano < claim_threshold(policy_of(ctx)):
        return None
    old = ctx.status.get("earnings") or {}
    since = st.parse_time(old.get("claimableSince"))
    if since is None or old.get("payouts") != payouts:
        return now  # it starts now, or a payout landed since the last look
    return int(since.timestamp())


def _changed(ctx: Context, cond: Cond) -> bool:
    old = st.find(ctx.status.get("conditions"), cond.type) or {}
    return old.get("status") != cond.status or old.get("reason") != cond.reason


def _iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RewardSteps:
    """Implements `reconcile.deps.RewardsProvider`."""

    def __init__(
        self,
        hub: ChainHub,
        kube: StatusPatcher,
        metrics: mx.MoneyMetrics | None = None,
        limits: lg.LedgerLimits | None = None,
    ) -> None:
        self.hub = hub
        self.kube = kube
        self.metrics = metrics
        self.limits = limits or lg.LedgerLimits()
        self._claimed_seen: dict[tuple[str, str], set[str]] = {}
        self.requests = ClaimRequests()  # `kubectl cocoon claim`: a claim now, once per nonce
        self._nodes: dict[str, tuple[float, list[dict[str, Any]]]] = {}  # namespace -> (read at, list)

    async def _attribution(self, ctx: Context, ident: NodeIdentity, *, fresh: bool = False) -> lg.Attribution:
        """Who records which payout when other CocoonNodes of the namespace share the owner (one LIST
        per namespace every NODES_TTL_S, shared by its reconciles; `fresh` lists now). A node alone
        for its owner records every payout of its contracts, and its payouts' submitters are read all
        the same: one sent by a wallet it does not know makes it list again (`LiveFacts`), so a
        sibling created since the list was read is never counted twice."""
        cached = self._nodes.get(ctx.namespace)
        if fresh or cached is None or time.monotonic() - cached[0] > NODES_TTL_S:
            nodes = await self._with_wallets(
                ctx, await ctx.kube.list(COCOON_API_VERSION, "CocoonNode", ctx.namespace)
            )
            cached = self._nodes[ctx.namespace] = (time.monotonic(), nodes)
        me = next(
            (n for n in cached[1] if (n.get("metadata") or {}).get("uid") == ctx.uid),
            {"metadata": {"uid": ctx.uid, "name": ctx.name, "creationTimestamp": "~"}},  # newest
        )
        found = attribution_for(me, ident.wallet, ident.owner, cached[1])
        return found if found is not None else lg.Attribution(own_wallet=raw_address(ident.wallet))

    async def _with_wallets(self, ctx: Context, nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Siblings whose status does not show their cocoon wallet yet (just created) get it derived
        from their wallet Secret's public key: a payout one of them submitted must never look like
        nobody's (the oldest node would record it as well). A sibling without a key has no wallet and
        cannot have submitted anything."""
        out = []
        for node in nodes:
            if same_owner(node, ctx.spec.owner_address) and not wallet_of(node):
                ref = ((node.get("spec") or {}).get("wallet") or {}).get("secretRef") or {}
                secret = (
                    await ctx.kube.get("v1", "Secret", ctx.namespace, ref["name"])
                    if ref.get("name")
                    else None
                )
                ident = node_identity(secret, ctx.spec.owner_address)
                if ident is not None:
                    node = {**node, "status": {**(node.get("status") or {}), "walletAddress": ident.wallet}}
            out.append(node)
        return out

    async def observe(self, ctx: Context) -> StepReport:
        with step_timer(self.metrics, "rewards"):
            return await self._observe(ctx)

    async def _cycle(
        self, ctx: Context, *, final: bool
    ) -> tuple[CycleResult, ChainClient, SweepResult | None] | StepReport:
        secret = await ctx.kube.get("v1", "Secret", ctx.namespace, ctx.wallet_secret_name)
        ident = node_identity(secret, ctx.spec.owner_address)
        if ident is None:
            return StepReport()
        try:
            key, client = await self.hub.client(ctx)
        except ChainError as exc:
            return self._unavailable(ctx, exc)
        ip = pod_ip(ctx.pod)
        runner = (
            RunnerClient(f"http://{ip}:{ctx.worker.runner_port}", timeout_s=RUNNER_TIMEOUT_S) if ip else None
        )
        try:
            balance = self.hub.known_balance(ctx)
            if balance is None or final:
                wallet = await self.hub.timed(
                    "readWallet", read_cocoon_wallet(client, ident.public_key, ident.owner)
                )
                balance = wallet.balance
                self.hub.remember_balance(ctx, balance)
            writer = GuardedStatus(self.kube, ctx.namespace, ctx.name)
            forced = False if final else await self.requests.before(ctx, writer)
            store = StatusLedgerStore(writer)
            facts = LiveFacts(
                client,
                runner,
                owner=ident.owner,
                previous=_known_contracts(ctx.status),
                attribution=await self._attribution(ctx, ident),
                refresh_attribution=functools.partial(self._attribution, ctx, ident, fresh=True),
                # Asked for, or the last claim before deletion: read fresh from the start. Otherwise the
                # cycle looks through the block follower's cache and reads fresh before it acts.
                fresh=final or forced,
            )
            send = runner_trigger(runner, facts) if runner is not None else _no_runner

            async def trigger(proxy: str) -> lg.TriggerAnswer:
                return await send(proxy)

            registered = st.find(ctx.status.get("conditions"), st.REGISTERED) or {}
            allow = final or (not ctx.deleting and registered.get("status") == "True")
            result = await self.hub.timed(
                "claimCycle",
                run_claim_cycle(
                    store,
                    facts,
                    trigger,
                    policy=policy_of(ctx, final=final or forced),
                    wallet_balance_nano=balance,
                    limits=self.limits,
                    allow_new_claims=allow,
                ),
            )
            swept = None
            open_sweep = bool((ctx.status.get("sweep") or {}).get("pending"))
            if not final and (ctx.spec.rewards.sweep_above is not None or open_sweep):
                swept = await self._sweep(ctx, client, secret, ident, writer, runner, result)
        except ChainUnavailable as exc:
            await self.hub.drop(key)
            return self._unavailable(ctx, exc)
        except (ChainDisagreement, StaleStatus) as exc:
            return self._undecided(ctx, exc)
        finally:
            if runner is not None:
                await runner.close()
        return result, client, swept

    async def _sweep(
        self,
        ctx: Context,
        client: ChainClient,
        secret: Any,
        ident: NodeIdentity,
        writer: GuardedStatus,
        runner: RunnerClient | None,
        cycle: CycleResult,
    ) -> SweepResult | None:
        """The surplus sweep (docs/money.md §5), after the claim step: never while a claim is open."""
        seed = node_seed(secret)
        if seed is None:
            return None
        policy = SweepPolicy(
            sweep_above_nano=ctx.spec.rewards.sweep_above,
            keep_nano=ctx.spec.wallet.target,
            interval_s=ctx.spec.rewards.check_interval,
        )
        claim_pending = cycle.ledger.pending is not None
        busy, mismatch = (False, False) if claim_pending else await _runner_view(runner, ident)
        swept = await self.hub.timed(
            "sweep",
            sweep_surplus(
                client,
                seed,
                ctx.spec.owner_address,
                policy=policy,
                store=StatusSweepStore(writer),
                claim_pending=claim_pending,
                runner_busy=busy,
                wallet_mismatch=mismatch,
            ),
        )
        del seed
        if swept.status in (SweepStatus.CONFIRMED, SweepStatus.DROPPED):
            self.hub.remember_balance(ctx, swept.balance_nano)
        return swept

    async def _observe(self, ctx: Context) -> StepReport:
        got = await self._cycle(ctx, final=False)
        if isinstance(got, StepReport):
            return got
        result, _, swept = got
        report = await self.requests.after(ctx, result.ledger, result.decisions, self._report(ctx, result))
        return report if swept is None else self._with_sweep(ctx, report, swept)

    def _with_sweep(self, ctx: Context, report: StepReport, swept: SweepResult) -> StepReport:
        if self.metrics is not None and swept.status in _SWEEP_EVENTS:
            self.metrics.sweeps.labels(ctx.namespace, ctx.name, swept.status.value).inc()
        events = list(report.events)
        if swept.status in _SWEEP_EVENTS:
            events.append(EventSpec(_SWEEP_EVENTS[swept.status], swept.status.value, swept.message))
        fields = dict(report.status)
        if swept.record is not None:
            fields["sweep"] = strip_none(swept.record.to_status())
        open_sweep = swept.status in (SweepStatus.SENT, SweepStatus.PENDING)
        retry = PENDING_RECHECK_S if open_sweep else report.retry_after
        return replace(report, status=fields, events=events, retry_after=retry)

    def _undecided(self, ctx: Context, exc: Exception) -> StepReport:
        """Liteservers disagree on a money fact, or another writer changed the ledger: nothing was
        triggered or sent; the next reconcile reads again."""
        reason = (
            Reason.CHAIN_DISAGREEMENT if isinstance(exc, ChainDisagreement) else Reason.MONEY_RECORD_CONFLICT
        )
        if self.metrics is not None:
            self.metrics.reconcile_errors.labels("rewards", reason).inc()
        message = f"Nothing was triggered or sent: {str(exc)[:300]}"
        return StepReport(
            conditions=(Cond.unknown(st.REWARDS_HEALTHY, reason, message),), retry_after=PENDING_RECHECK_S
        )

    def _unavailable(self, ctx: Context, exc: Exception) -> StepReport:
        if self.metrics is not None:
            self.metrics.reconcile_errors.labels("rewards", CHAIN_UNAVAILABLE).inc()
        message = f"Cannot reach the TON chain; claims wait: {str(exc)[:300]}"
        pending = (ctx.status.get("claims") or {}).get("pending")
        return StepReport(
            conditions=(Cond.unknown(st.REWARDS_HEALTHY, CHAIN_UNAVAILABLE, message),),
            retry_after=15.0,
            pdb_max_unavailable=0 if pending else None,
        )

    def _report(self, ctx: Context, result: CycleResult) -> StepReport:
        ledger = result.ledger
        claimable_nano = sum(d.claimable_nano for d in result.decisions)
        claimable_tokens = sum(d.claimable_tokens for d in result.decisions)
        totals = ledger.totals
        now = int(time.time())
        since = _claimable_since(ctx, claimable_nano, totals.payouts, now)
        stalled = since is not None and now - since > ctx.spec.rewards.stall_seconds
        fields: dict[str, Any] = {
            "claims": strip_none(ledger_status(ledger)),
            "earnings": strip_none(
                {
                    "claimableNano": claimable_nano,
                    "claimedNano": totals.claimed_nano,
                    "claimableTon": nano_to_ton(claimable_nano),
                    "claimedTon": nano_to_ton(totals.claimed_nano),
                    "claimableTokens": claimable_tokens,
                    "claimedTokens": totals.claimed_tokens,
                    "payouts": totals.payouts,
                    "claimableSince": _iso(since) if since is not None else None,
                }
            ),
            "lastClaims": [
                strip_none(
                    {
                        "time": _iso(e.time),
                        "proxyAddress": e.proxy,
                        "tokens": e.tokens,
                        "amountNano": e.nano,
                        "queryId": str(e.query_id),
                        "txHash": e.tx_hash,
                        "state": "Confirmed",
                        "source": e.source.value,
                    }
                )
                for e in reversed(ledger.history[-LAST_CLAIMS:])
            ],
        }
        events = [
            EventSpec(_EVENT_TYPES.get(e.kind, "Normal"), e.kind.value, e.message)
            for e in result.events
            if e.kind in _EVENT_TYPES or (e.kind is lg.EventKind.PAYOUT_RECORDED and e.attempt_id is None)
        ]
        self._export(ctx, result)
        if self.metrics is not None:
            self.metrics.claims_stalled.labels(ctx.namespace, ctx.name).set(1 if stalled else 0)
        outcome = ledger.last_outcome
        bad = outcome is not None and outcome.reason in (
            lg.EventKind.CLAIM_TIMED_OUT.value,
            lg.EventKind.CLAIM_PAYOUT_MISSING.value,
            lg.EventKind.CLAIM_STUCK.value,
        )
        if ledger.pending is not None:
            cond = Cond.true(
                st.REWARDS_HEALTHY,
                Reason.CLAIM_IN_FLIGHT,
                f"Claim on proxy {ledger.pending.proxy} is {ledger.pending.phase.value}; awaiting the chain",
            )
        elif bad and outcome is not None:
            cond = Cond.false(st.REWARDS_HEALTHY, Reason(outcome.reason), outcome.message)
        elif stalled and since is not None:
            reasons = sorted({d.reason.value for d in result.decisions}) or ["NoWorkerContracts"]
            cond = Cond.false(
                st.REWARDS_HEALTHY,
                Reason.CLAIMS_STALLED,
                f"{nano_to_ton(claimable_nano)} TON claimable since {_iso(since)} and nothing paid out for "
                f"more than {ctx.spec.rewards.stall_seconds}s (spec.rewards.stallAfter); the claim policy "
                f"says: {', '.join(reasons)}",
            )
        else:
            reasons = sorted({d.reason.value for d in result.decisions}) or ["NoWorkerContracts"]
            cond = Cond.true(
                st.REWARDS_HEALTHY,
                Reason.CLAIMS_HEALTHY,
                f"Claimable {nano_to_ton(claimable_nano)} TON; claimed {nano_to_ton(totals.claimed_nano)} "
                f"TON in {totals.payouts} payout(s); policy: {', '.join(reasons)}",
            )
        if cond.reason is Reason.CLAIMS_STALLED and _changed(ctx, cond):
            events.append(EventSpec("Warning", Reason.CLAIMS_STALLED, cond.message))
        return StepReport(
            conditions=(cond,),
            status=fields,
            events=events,
            retry_after=PENDING_RECHECK_S if ledger.pending is not None else None,
            pdb_max_unavailable=0 if ledger.pending is not None else None,
        )

    def _export(self, ctx: Context, result: CycleResult) -> None:
        m = self.metrics
        if m is None:
            return
        for e in result.earnings:
            tokens = max(0, e.committed_tokens - max(e.paid_tokens, e.expected_paid_tokens))
            m.claimable.labels(ctx.namespace, ctx.name, e.proxy).set(tokens * e.fee_per_token)
        seen = self._claimed_seen.get((ctx.namespace, ctx.name))
        if seen is None:
            # First sight in this process: payouts already in the ledger before this cycle were
            # counted by an earlier process; counting them again would make a restart look like earnings.
            history = ((ctx.status.get("claims") or {}).get("history")) or []
            seen = self._claimed_seen[(ctx.namespace, ctx.name)] = {str(e.get("txHash")) for e in history}
        for entry in result.ledger.history:
            if entry.tx_hash not in seen:
                seen.add(entry.tx_hash)
                m.claimed.labels(ctx.namespace, ctx.name, entry.proxy, entry.source.value).inc(entry.nano)
        for event in result.events:
            if event.kind in _OUTCOMES:
                m.claims.labels(ctx.namespace, ctx.name, event.kind.value).inc()

    async def finalize(self, ctx: Context) -> bool:
        """claimOnDelete: one last claim of everything claimable, then wait for the chain (the
        reconcile's finalize bounds the wait and lets go with an Event)."""
        if not ctx.spec.rewards.claim_on_delete or not ctx.status.get("workerContracts"):
            return True  # no worker contract was ever seen: nothing can be claimable
        pod = await ctx.kube.get("v1", "Pod", ctx.namespace, identity.worker_pod_name(ctx.name))
        ctx = _with_pod(ctx, pod)
        got = await self._cycle(ctx, final=True)
        if isinstance(got, StepReport):
            return False
        result, _, _ = got
        if result.ledger.pending is not None:
            return False
        # One last claim is enough: a worker that keeps serving until its pod goes keeps earning, so
        # "nothing due" may never come; a claim confirmed after the deletion request closes it.
        last = result.ledger.last_claim_at
        deleted_at = await _deletion_time(ctx)
        if last is not None and deleted_at is not None and last >= deleted_at:
            return True
        return not any(d.claim for d in result.decisions)


async def _deletion_time(ctx: Context) -> int | None:
    body = await ctx.kube.get(identity.API_VERSION, identity.KIND, ctx.namespace, ctx.name)
    stamp = st.parse_time(((body or {}).get("metadata") or {}).get("deletionTimestamp"))
    return int(stamp.timestamp()) if stamp is not None else None


def _with_pod(ctx: Context, pod: Any) -> Context:
    return replace(ctx, pod=pod)


async def _no_runner(proxy: str) -> lg.TriggerAnswer:
    return lg.TriggerAnswer.UNREACHABLE
