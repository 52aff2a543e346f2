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
from cocoon_operator.reconcile.deps import Context, EventSpec, StepReport
from cocoon_operator.reconcile.providers.common import (
    CHAIN_UNAVAILABLE,
    ChainHub,
    NodeIdentity,
    StatusPatcher,
    StatusWriter,
    condition,
    node_identity,
    pod_ip,
    strip_none,
)
from cocoon_operator.status import Cond
from cocoon_operator.ton.addresses import format_address
from cocoon_operator.ton.client import ChainClient, ChainError, ChainUnavailable, raw_address
from cocoon_operator.ton.funding import (
    FundingIntent,
    FundingResult,
    FundingStatus,
    Treasury,
    TreasuryKey,
    ensure_funded,
)
from cocoon_operator.ton.identity import read_cocoon_wallet
from cocoon_operator.ton.root import PreflightReason, RootConfig, preflight
from cocoon_operator.ton.worker_contracts import (
    ContractUnreadable,
    RegistrationCheck,
    check_registration,
    read_worker_contract,
)
from cocoon_operator.worker.runner_client import RunnerClient, RunnerStats, RunnerUnavailable

log = logging.getLogger(__name__)

PREFLIGHT_REASONS = {r.value for r in PreflightReason}
MAX_CONTRACTS = 32
RUNNER_TIMEOUT_S = 4.0


def _placed(ctx: Context) -> bool:
    """The worker pod is bound to a node (what `Scheduled=True` says)."""
    return bool(((ctx.pod or {}).get("spec") or {}).get("nodeName"))


def _cond_changed(ctx: Context, cond: Cond) -> bool:
    old = condition(ctx.status, cond.type)
    return old.get("status") != cond.status or old.get("reason") != cond.reason


class StatusIntentStore:
    """`funding.IntentStore` in `status.funding.intent`, written at once (write-ahead)."""

    def __init__(self, writer: StatusWriter) -> None:
        self._writer = writer
        self.intent: FundingIntent | None = None
        self.loaded = False

    async def load(self) -> FundingIntent | None:
        status = await self._writer.read()
        raw = (status.get("funding") or {}).get("intent")
        self.intent = FundingIntent.model_validate(raw) if raw else None
        self.loaded = True
        return self.intent

    async def save(self, intent: FundingIntent | None) -> None:
        value = intent.model_dump(mode="json", by_alias=True) if intent is not None else None
        await self._writer.write({"funding": {"intent": value}})
        self.intent = intent


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
        except ChainError as exc:
            if isinstance(exc, ChainUnavailable):
                await self._drop(ctx)
            return self._unavailable_preflight(ctx, fields, exc)
        model = str(ctx.spec.model)
        problems = preflight(root, model, ctx.spec.image_hash, ctx.spec.worker.mode == "Test")
        if problems:
            first = problems[0]
            message = "; ".join(p.message for p in problems) + ". The worker is not started"
            cond = Cond.false(st.REGISTERED, first.reason.value, message)
            events = [EventSpec("Warning", "PreflightFailed", message)] if _cond_changed(ctx, cond) else []
            return StepReport(
                conditions=(cond,), status=fields, events=events, allow_workload=False, retry_after=30.0
            )
        return StepReport(status=fields)

    def _unavailable_preflight(self, ctx: Context, fields: dict[str, Any], exc: Exception) -> StepReport:
        old = condition(ctx.status, st.REGISTERED)
        # Keep the last decision: a worker blocked by the root stays blocked, a running one runs.
        blocked = old.get("status") == "False" and old.get("reason") in PREFLIGHT_REASONS
        cond = Cond.unknown(
            st.REGISTERED, CHAIN_UNAVAILABLE, f"Cannot check the root contract on chain: {_safe(exc)}"
        )
        return StepReport(conditions=(cond,), status=fields, allow_workload=not blocked, retry_after=15.0)

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
        except ChainError as exc:
            if isinstance(exc, ChainUnavailable):
                await self._drop(ctx)
            return self._unavailable(ctx, exc)
        conditions: list[Cond] = []
        events: list[EventSpec] = []
        fields: dict[str, Any] = {}
        retry: float | None = None
        try:
            funded = await self._funding(ctx, client, ident, conditions, events, fields)
            if not funded:
                retry = 10.0
            if not _preflight_failed(root, ctx):
                registered = await self._registration(ctx, client, root, ident, conditions, events, fields)
                if not registered:
                    retry = min(retry or 10.0, 10.0)
        except ChainUnavailable as exc:
            await self._drop(ctx)
            return self._unavailable(ctx, exc)
        return StepReport(conditions=conditions, status=fields, events=events, retry_after=retry)

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
        if reg.get("reason") not in PREFLIGHT_REASONS:
            conds.append(Cond.unknown(st.REGISTERED, CHAIN_UNAVAILABLE, message))
        events = [EventSpec("Warning", CHAIN_UNAVAILABLE, message)] if _cond_changed(ctx, conds[0]) else []
        return StepReport(conditions=conds, events=events, retry_after=15.0)

    async def _funding(
        self,
        ctx: Context,
        client: ChainClient,
        ident: NodeIdentity,
        conditions: list[Cond],
        events: list[EventSpec],
        fields: dict[str, Any],
    ) -> bool:
        wallet_cfg = ctx.spec.wallet
        ref = ctx.spec.funding.treasury_secret_ref
        # Treasury money goes only to a worker that runs somewhere (Scheduled=True: its pod is bound to
        # a node); a CocoonNode that cannot be placed (or waits for a GPU) must not drain the treasury.
        # A paused one keeps its wallet topped up for its resume (the user stopped it, nothing is
        # wrong with it). An open intent is always followed up (crash safety: a sent top-up is
        # confirmed even if the pod went away).
        open_intent = bool((ctx.status.get("funding") or {}).get("intent"))
        if ref is None or not (_placed(ctx) or ctx.spec.paused or open_intent):
            info = await self.hub.timed(
                "readWallet", read_cocoon_wallet(client, ident.public_key, ident.owner)
            )
            self.hub.remember_balance(ctx, info.balance)
            ok = info.balance >= wallet_cfg.floor
            if ok:
                cond = Cond.true(
                    st.WALLET_FUNDED, "WalletFunded", f"Cocoon wallet holds {info.balance} nanoTON"
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
            conditions.append(cond)
            fields["funding"] = {"walletBalanceNano": info.balance}
            return ok
        secret = await ctx.kube.get("v1", "Secret", ctx.namespace, ref.name)
        try:
            key = TreasuryKey.from_secret_data((secret or {}).get("data") or {}, decoded=False)
        except ValueError as exc:
            cond = Cond.false(
                st.WALLET_FUNDED, "InvalidTreasurySecret", f"spec.funding.treasurySecretRef: {exc}"
            )
            conditions.append(cond)
            if _cond_changed(ctx, cond):
                events.append(EventSpec("Warning", "InvalidTreasurySecret", cond.message))
            return False
        treasury = await Treasury.open(client, key)
        del key
        writer = StatusWriter(self.kube, ctx.namespace, ctx.name)
        store = StatusIntentStore(writer)
        # One top-up at a time per treasury in this process: concurrent ones would pick the same
        # treasury seqno and all but one would be refused (and retried later).
        async with self.hub.treasury_lock(treasury.address):
            result = await self.hub.timed(
                "ensureFunded",
                ensure_funded(
                    client,
                    treasury,
                    ident.wallet,
                    floor_nano=wallet_cfg.floor,
                    target_nano=wallet_cfg.target,
                    store=store,
                    confirm_wait_s=2.0,
                ),
            )
        self.hub.remember_balance(ctx, result.wallet_balance)
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
        conditions.append(cond)
        fields["funding"] = _funding_status(result, store.intent)
        if result.status is FundingStatus.CONFIRMED:
            events.append(EventSpec("Normal", "WalletToppedUp", result.message))
        elif result.status is FundingStatus.SENT:
            events.append(EventSpec("Normal", "TopUpSent", result.message))
        elif not result.funded and result.status not in (FundingStatus.PENDING,) and _cond_changed(ctx, cond):
            events.append(EventSpec("Warning", result.status.value, result.message))
        return result.funded

    async def _registration(
        self,
        ctx: Context,
        client: ChainClient,
        root: RootConfig,
        ident: NodeIdentity,
        conditions: list[Cond],
        events: list[EventSpec],
        fields: dict[str, Any],
    ) -> bool:
        stats = await _runner_stats(ctx)
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


def _preflight_failed(root: RootConfig, ctx: Context) -> bool:
    return bool(preflight(root, str(ctx.spec.model), ctx.spec.image_hash, ctx.spec.worker.mode == "Test"))


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


def _funding_status(result: FundingResult, intent: FundingIntent | None) -> dict[str, Any]:
    result_status: dict[str, Any] = strip_none(
        {
            "walletBalanceNano": result.wallet_balance,
            "treasury": result.treasury,
            "treasuryBalanceNano": result.treasury_balance,
            "lastResult": result.status.value,
            "lastTopUpNano": result.amount_nano if result.status is FundingStatus.CONFIRMED else None,
            "lastTopUpTx": result.tx_hash,
            "intent": intent.model_dump(mode="json", by_alias=True) if intent is not None else None,
        }
    )
    return result_status


async def _runner_stats(ctx: Context) -> RunnerStats | None:
    ip = pod_ip(ctx.pod)
    if ip is None:
        return None
    async with RunnerClient(
        f"http://{ip}:{ctx.settings.runner_http_port}", timeout_s=RUNNER_TIMEOUT_S
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
