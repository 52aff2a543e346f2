"""`Deps.chain`: root pre-flight, cocoon wallet funding, registration and params_version rollovers
(issue 6; cocoon-protocol.md §6, §7, §10, §16; docs/money.md §1).

Every failure to reach the chain becomes a condition with reason `ChainUnavailable`, never an
exception out of the step, and never a changed decision: the worker keeps running (or stays stopped)
as the last successful pre-flight decided.
"""

from __future__ import annotations

import logging
from typing import Any

from pytoniq_core.boc.address import Address

from cocoon_operator import metrics as mx
from cocoon_operator import status as st
from cocoon_operator.conditions import Reason
from cocoon_operator.status import Cond
from cocoon_operator.steps.common import (
    CHAIN_UNAVAILABLE,
    ChainHub,
    NodeIdentity,
    StaleStatus,
    StatusPatcher,
    cond_changed,
    condition,
    node_identity,
    pod_ip,
    step_timer,
    strip_none,
    wallet_check,
)
from cocoon_operator.steps.contract import Context, EventSpec, StepReport
from cocoon_operator.steps.funding import FundingStep
from cocoon_operator.ton.addresses import format_address, raw_address
from cocoon_operator.ton.client import ChainClient, ChainDisagreement, ChainError, ChainUnavailable
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

# Reasons that mean "the chain said no": a worker they stopped stays stopped while the chain is away.
REGISTERED_BLOCKS = {r.value for r in PreflightReason if r not in SPEC_PROBLEMS} | {Reason.ROOT_UNAVAILABLE}
CONFIGURED_BLOCKS = {r.value for r in SPEC_PROBLEMS}
MAX_CONTRACTS = 32
RUNNER_TIMEOUT_S = 4.0
TON = 1_000_000_000
TEST_MODE_NOTE = "test mode: the proxies do not check the worker image hash"


class ChainSteps:
    """Implements `reconcile.deps.ChainProvider`."""

    def __init__(self, hub: ChainHub, kube: StatusPatcher, metrics: mx.MoneyMetrics | None = None) -> None:
        self.hub = hub
        self.kube = kube
        self.metrics = metrics
        self.funding = FundingStep(hub, kube, metrics)

    # --- pre-flight ---------------------------------------------------------------------------

    async def preflight(self, ctx: Context) -> StepReport:
        secret = await ctx.kube.get("v1", "Secret", ctx.namespace, ctx.wallet_secret_name)
        ident = node_identity(secret, ctx.spec.owner_address)
        fields: dict[str, Any] = {}
        if ident is not None:
            fields["walletAddress"] = format_address(
                Address(ident.wallet), bounceable=False, testnet=ctx.spec.network.testnet
            )
        try:
            key, client = await self.hub.client(ctx)
            root = await self.hub.root(key, client, ctx.spec.network.root_contract_address)
        except RootUnavailable as exc:
            cond = Cond.false(
                st.REGISTERED, Reason.ROOT_UNAVAILABLE, f"{_safe(exc)}. The worker is not started"
            )
            events = (
                [EventSpec("Warning", "PreflightFailed", cond.message)] if cond_changed(ctx, cond) else []
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
                if any(cond_changed(ctx, c) for c in conds)
                else []
            )
            return StepReport(
                conditions=conds, status=fields, events=events, allow_workload=False, retry_after=30.0
            )
        if ctx.spec.worker.mode == "Test":
            note = Cond.true(
                st.CONFIGURED,
                Reason.RESOLVED,
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
            conds.append(
                Cond.false(st.CONFIGURED, Reason(old_conf["reason"]), str(old_conf.get("message", "")))
            )
        return StepReport(conditions=conds, status=fields, allow_workload=not blocked, retry_after=15.0)

    async def finalize(self, ctx: Context) -> bool:
        """Nothing to undo on chain: the wallet and its key outlive the CocoonNode (the key Secret is
        kept on purpose); the last claim is the rewards provider's."""
        return True

    # --- funding and registration -------------------------------------------------------------

    async def observe(self, ctx: Context) -> StepReport:
        with step_timer(self.metrics, "chain"):
            return await self._observe(ctx)

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
            funded = await self.funding.run(ctx, client, ident, (check, blocked), conditions, events, fields)
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
        reason = (
            Reason.CHAIN_DISAGREEMENT if isinstance(exc, ChainDisagreement) else Reason.MONEY_RECORD_CONFLICT
        )
        if self.metrics is not None:
            self.metrics.reconcile_errors.labels("chain", reason).inc()
        message = f"Nothing was sent: {_safe(exc)}"
        cond = Cond.unknown(st.WALLET_FUNDED, reason, message)
        events = [EventSpec("Warning", reason, message)] if cond_changed(ctx, cond) else []
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
        events = [EventSpec("Warning", CHAIN_UNAVAILABLE, message)] if cond_changed(ctx, conds[0]) else []
        return StepReport(conditions=conds, events=events, retry_after=15.0)

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
                Reason.REGISTERED,
                f"{len(ok)} worker contract(s) registered under params version {root.params_version}: "
                + ", ".join(c.expected_worker_contract or "" for c in ok),
            )
        elif stats is None:
            cond = Cond.false(
                st.REGISTERED,
                Reason.RUNNER_UNREACHABLE if pod_ip(ctx.pod) else Reason.WAITING_FOR_WORKER,
                "The worker runner has not reported any proxy yet"
                if pod_ip(ctx.pod)
                else "The worker pod is not running yet",
            )
        elif not checks:
            cond = Cond.false(
                st.REGISTERED, Reason.NO_PROXY_CONNECTED, "The runner has not connected to a proxy yet"
            )
        else:
            bad = next((c for c in checks if not c.registered), checks[0])
            reason = Reason(bad.reason.value) if not bad.registered else Reason.WAITING_FOR_CURRENT_PARAMS
            seen = bad.worker.params_version if bad.worker else "?"
            message = (
                bad.message
                if not bad.registered
                else f"Worker contracts are from params version {seen}; root is at {root.params_version}"
            )
            cond = Cond.false(st.REGISTERED, reason, message)
        conditions.append(cond)
        if cond.status == "True" and cond_changed(ctx, cond):
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
            conds.append(Cond.false(cond_type, Reason(group[0].reason.value), message))
    return conds


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


async def _runner_stats(ctx: Context) -> RunnerStats | None:
    ip = pod_ip(ctx.pod)
    if ip is None:
        return None
    async with RunnerClient(f"http://{ip}:{ctx.worker.runner_port}", timeout_s=RUNNER_TIMEOUT_S) as runner:
        try:
            return await runner.jsonstats()
        except (RunnerUnavailable, ValueError):
            return None


def _safe(exc: BaseException) -> str:
    """Error text for conditions: the chain layer's messages carry no secrets; cut them short."""
    text = str(exc) or type(exc).__name__
    return text[:300]
