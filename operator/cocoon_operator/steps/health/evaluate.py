"""Health of one worker from what was observed: the pod, a Triton probe and a runner probe (pure).

Two conditions come out:
- `InferenceReady`: Triton in the pod serves the model (triton.md §2: per-model state decides, since
  server readiness alone hides a failed model when strict readiness is off);
- `RunnerHealthy`: the COCOON runner is up, accepted by the root contract (image and model hash),
  synced with TON and funded, and connected to a proxy (cocoon-protocol.md §2.4, §3, §4.1).

Messages name the model, the numbers and what to check, so `kubectl describe cn` is enough to act.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cocoon_operator.api.units import nano_to_ton
from cocoon_operator.conditions import Reason
from cocoon_operator.status import INFERENCE_READY, RUNNER_HEALTHY, Cond
from cocoon_operator.steps.health.pod_problems import (
    RUNNER_HINT,
    TRITON_HINT,
    Finding,
    PodLayout,
    container_problem,
    container_status,
    container_statuses,
    healthy,
    logs_hint,
    pod_name,
    pod_problem,
    running_since,
)
from cocoon_operator.steps.health.probe import RunnerProbe
from cocoon_operator.worker.runner_client import RunnerStats
from cocoon_operator.worker.triton_client import ErrorKind, ModelState, TritonProbe

R = Reason
Obj = Mapping[str, Any]
DEFAULT_LAYOUT = PodLayout()
MAX_MODELS_IN_STATUS = 16  # the CRD's maxItems for status.models


@dataclass(frozen=True)
class Thresholds:
    """Limits from cocoon-protocol.md §2.4 and §3 (the runner's own, as its /stats page shows them)."""

    ton_synced_s: int = 600  # younger: synced
    ton_late_s: int = 3600  # younger: late; older: out of sync
    wallet_min_nano: int = 2_100_000_000  # the runner waits below this (min_wallet_balance)
    wallet_warn_nano: int = 5_000_000_000  # warning_wallet_balance


@dataclass(frozen=True)
class ModelStatus:
    """One entry of `status.models` (CRD: name, ready, reason)."""

    name: str
    ready: bool
    state: str | None = None
    version: str | None = None
    reason: str | None = None

    def to_status(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "ready": self.ready}
        if not self.ready:
            state = self.state or "NOT LOADED"
            entry["reason"] = f"{state}: {self.reason}" if self.reason else state
        return entry


@dataclass(frozen=True)
class HealthNumbers:
    """Numbers for metrics and messages. None: not observed this time."""

    inference_success: float | None = None  # Triton, cumulative since its start
    inference_failure: float | None = None
    inference_queue_us: float | None = None
    inference_compute_us: float | None = None
    inference_pending: float | None = None
    runner_queries: float | None = None  # runner stats totals, cumulative since its start
    runner_success: float | None = None
    runner_failed: float | None = None
    runner_queries_per_s_1m: float | None = None
    adjusted_tokens: float | None = None
    wallet_balance_nano: int | None = None
    ton_sync_age_s: float | None = None
    container_restarts: int | None = None


@dataclass(frozen=True)
class HealthReport:
    inference: Cond
    runner: Cond
    models: tuple[ModelStatus, ...] = ()
    numbers: HealthNumbers = field(default_factory=HealthNumbers)

    @property
    def conditions(self) -> tuple[Cond, Cond]:
        return (self.inference, self.runner)

    def status_fields(self) -> dict[str, Any]:
        """Status keys this layer owns (None removes a key, as `status_diff` expects)."""
        models = [m.to_status() for m in self.models[:MAX_MODELS_IN_STATUS]]
        return {"models": models or None}


# ------------------------------------------------------------------------------------------------
# Entry point


def evaluate_health(
    pod: Obj | None,
    triton: TritonProbe,
    runner: RunnerProbe,
    now: dt.datetime,
    *,
    thresholds: Thresholds = Thresholds(),
    layout: PodLayout = DEFAULT_LAYOUT,
) -> HealthReport:
    """Combine pod state and both probes into `InferenceReady`, `RunnerHealthy`, models and numbers.

    `pod` is the worker pod as the API returns it, None when there is none. The probes are only
    trusted when the pod runs; `triton.model` names the Triton model to check (None: all of them).
    """
    models = _models(triton)
    numbers = _numbers(pod, triton, runner, now, layout)
    if pod is None:
        msg = "The worker pod does not exist yet"
        return HealthReport(
            Cond.false(INFERENCE_READY, R.NO_POD, msg), Cond.false(RUNNER_HEALTHY, R.NO_POD, msg), (), numbers
        )
    problem = pod_problem(pod, layout, now)
    if problem is not None:
        return HealthReport(problem.cond(INFERENCE_READY), problem.cond(RUNNER_HEALTHY), models, numbers)
    inference = container_problem(pod, layout.triton, TRITON_HINT) or _triton(pod, triton, layout, now)
    runner_cond = container_problem(pod, layout.runner, RUNNER_HINT) or runner_finding(
        pod, runner, now, thresholds, layout
    )
    return HealthReport(inference.cond(INFERENCE_READY), runner_cond.cond(RUNNER_HEALTHY), models, numbers)


# ------------------------------------------------------------------------------------------------
# Pod and containers


# ------------------------------------------------------------------------------------------------
# Triton


def _models(triton: TritonProbe) -> tuple[ModelStatus, ...]:
    return tuple(
        ModelStatus(name=m.name, ready=m.ready, state=m.state, version=m.version, reason=m.reason)
        for m in _selected(triton)
    )


def _selected(triton: TritonProbe) -> Sequence[ModelState]:
    if triton.model is None:
        return triton.index.models
    return [m for m in triton.index.models if m.name == triton.model]


def _model_label(m: ModelState) -> str:
    return f"{m.name} (version {m.version})" if m.version else m.name


def _too_large(triton: TritonProbe) -> str | None:
    checks = (triton.live, triton.ready, triton.model_ready)
    errors = [c.error for c in checks if c is not None] + [triton.index.error, triton.metrics.error]
    return next((e.detail for e in errors if e is not None and e.kind == ErrorKind.TOO_LARGE), None)


def _triton(pod: Obj, triton: TritonProbe, layout: PodLayout, now: dt.datetime) -> Finding:
    if triton.skipped is not None:
        return Finding(R.PROBE_SKIPPED, f"Triton was not probed: {triton.skipped}", "Unknown")
    name = pod_name(pod)
    too_large = _too_large(triton)
    if too_large is not None:
        return Finding(
            R.RESPONSE_TOO_LARGE,
            f"Triton at {triton.url} answered {too_large}. An honest Triton never does: check "
            f"spec.inference.image and {logs_hint(pod, layout.triton)}",
        )
    if not triton.reachable:
        cs = container_status(pod, layout.triton)
        err = triton.error.detail if triton.error else "no answer"
        if cs is not None and cs.get("started") is False:
            return Finding(
                R.TRITON_STARTING,
                f"Triton in pod {name} is starting{running_since(cs)}: its ports open only after every "
                f"model has loaded (probe: {err}). The startup probe allows spec.inference.startupTimeout; "
                f"progress is in {logs_hint(pod, layout.triton)}",
            )
        return Finding(
            R.TRITON_UNREACHABLE,
            f"Triton at {triton.url} does not answer /v2/health/live ({err}). The container may be "
            f"restarting or hung; check {logs_hint(pod, layout.triton)} and the pod's events",
        )
    if triton.live.ok is False:
        return Finding(
            R.TRITON_NOT_LIVE,
            f"Triton at {triton.url} answers /v2/health/live with HTTP {triton.live.status}; the kubelet "
            f"restarts it after its liveness probe fails",
        )
    index_ok = triton.index.error is None
    if index_ok:
        selected = _selected(triton)
        if triton.model is not None and not selected:
            known = ", ".join(m.name for m in triton.index.models) or "none"
            return Finding(
                R.MODEL_NOT_FOUND,
                f"Triton in pod {name} has no model {triton.model} in its repository (models: {known}); "
                f"check the model source and its layout <repository>/<model>/<version>/",
            )
        if not selected:
            return Finding(
                R.NO_MODELS,
                f"Triton in pod {name} has no models in its repository; check spec.inference.modelSource "
                f"and the layout <repository>/<model>/<version>/",
            )
        bad = [m for m in selected if not m.ready]
        if bad:
            return _model_problem(name, bad)
    if triton.model is not None and triton.model_ready is not None and triton.model_ready.ok is False:
        return Finding(
            R.MODEL_UNAVAILABLE,
            f"Triton in pod {name} reports model {triton.model} not ready (HTTP "
            f"{triton.model_ready.status} on /v2/models/{triton.model}/ready); "
            f"see {logs_hint(pod, layout.triton)}",
        )
    if triton.ready.ok is not True:
        how = (
            f"HTTP {triton.ready.status}"
            if triton.ready.ok is False
            else (triton.ready.error.detail if triton.ready.error else "no answer")
        )
        return Finding(
            R.TRITON_NOT_READY,
            f"Triton in pod {name} is live but /v2/health/ready answers {how}: with strict readiness a model "
            "that is loading or failed to load keeps the server not ready; see "
            f"{logs_hint(pod, layout.triton)}",
        )
    return healthy(R.SERVING, _serving_message(triton))


def _model_problem(pod_name: str, bad: Sequence[ModelState]) -> Finding:
    first = bad[0]
    others = f" (and {len(bad) - 1} more model(s) not ready)" if len(bad) > 1 else ""
    if first.state in ("LOADING", "UNLOADING"):
        return Finding(
            R.MODEL_LOADING,
            f"Model {_model_label(first)} in pod {pod_name} is {first.state}{others}; "
            "large models take minutes",
        )
    if first.state == "UNAVAILABLE":
        why = first.reason or "no reason given"
        return Finding(
            R.MODEL_UNAVAILABLE,
            f"Model {_model_label(first)} in pod {pod_name} is UNAVAILABLE: {why}{others}. Fix the model "
            "files or its config.pbtxt; Triton does not become ready again by itself after a failed "
            "load, so restart the pod after the fix",
        )
    state = first.state or "not loaded"
    return Finding(
        R.MODEL_UNAVAILABLE,
        f"Model {_model_label(first)} in pod {pod_name} is {state}{others}"
        + (f": {first.reason}" if first.reason else ""),
    )


def _serving_message(triton: TritonProbe) -> str:
    names = ", ".join(_model_label(m) for m in _selected(triton)) or (triton.model or "its models")
    text = f"Triton serves {names}"
    if triton.metrics.error is not None:
        return f"{text} (metrics unavailable: {triton.metrics.error.detail})"
    # Request counts and queue times change with every request: they are metrics
    # (cocoon_worker_inference_*), not part of a condition message that would then change on every probe.
    return text


# ------------------------------------------------------------------------------------------------
# Runner


def runner_finding(
    pod: Obj, runner: RunnerProbe, now: dt.datetime, limits: Thresholds, layout: PodLayout
) -> Finding:
    if runner.skipped is not None:
        return Finding(R.PROBE_SKIPPED, f"The runner was not probed: {runner.skipped}", "Unknown")
    if runner.stats is None:
        return _runner_unavailable(pod, runner, layout)
    stats = runner.stats
    status = stats.status
    model = stats.localconfig.model or "the configured model"
    if status.actual_image_hash is False:
        return Finding(
            R.IMAGE_NOT_ACCEPTED,
            "The root contract does not list this worker's image hash, so proxies refuse it and the runner "
            "aborts on its periodic check. Run a worker image whose hash is in the root's worker_hashes "
            "(spec.worker.image, spec.imageHash) or ask the root owner to add it",
        )
    if status.actual_model is False:
        return Finding(
            R.MODEL_NOT_ACCEPTED,
            f"The root contract does not list sha256 of the model {model}, so proxies refuse it and the "
            f"runner aborts on its periodic check. Use a model string the root allows (spec.model)",
        )
    warnings: list[tuple[Reason, str]] = []
    age = _sync_age(stats, now)
    if age is not None:
        if age >= limits.ton_late_s:
            when = "never" if status.ton_last_synced_at == 0 else f"at {_utc(status.ton_last_synced_at)}"
            return Finding(
                R.TON_OUT_OF_SYNC,
                f"The runner last read the root contract {when} (limit {limits.ton_late_s} s); it refreshes "
                f"every 30-60 s. Check the liteservers in the TON global config "
                f"(spec.network.globalConfigRef) and the pod's egress",
            )
        if age >= limits.ton_synced_s:
            warnings.append(
                (
                    R.TON_SYNC_LATE,
                    f"TON sync is late: the root contract was last read at {_utc(status.ton_last_synced_at)}",
                )
            )
    balance = status.wallet_balance
    address = stats.wallet.address if stats.wallet is not None else "the cocoon wallet"
    if balance is not None:
        if balance < limits.wallet_min_nano:
            short = limits.wallet_min_nano - balance
            return Finding(
                R.WALLET_BALANCE_TOO_LOW,
                f"Cocoon wallet {address} holds {nano_to_ton(balance)} TON, below the runner's minimum "
                f"{nano_to_ton(limits.wallet_min_nano)} TON: the worker waits and earns nothing. Send at "
                f"least {nano_to_ton(short)} TON to it (target {nano_to_ton(limits.wallet_warn_nano)} TON)",
            )
        if balance < limits.wallet_warn_nano:
            warnings.append(
                (
                    R.WALLET_BALANCE_LOW,
                    f"cocoon wallet {address} is low: {nano_to_ton(balance)} TON, below "
                    f"{nano_to_ton(limits.wallet_warn_nano)} TON; top it up",
                )
            )
    if not stats.proxies:
        registered = len(stats.root_contract_config.registered_proxies) if stats.root_contract_config else 0
        return Finding(
            R.NO_PROXY,
            f"The runner is not connected to any proxy yet (the root lists {registered} registered "
            f"proxies); it picks one at random and retries every few seconds",
        )
    inited = [p for p in stats.proxies if p.sc_inited]
    if not inited:
        return Finding(
            R.REGISTERING,
            f"The runner met {len(stats.proxies)} proxy contract(s) but its worker contract is not deployed "
            f"yet (sc_inited=false); it deploys it from the cocoon wallet (0.3 TON) on first contact",
        )
    summary = _runner_summary(stats, len(inited))
    if warnings:
        reason = warnings[0][0]
        text = "; ".join(w for _, w in warnings)
        return healthy(reason, f"{text[0].upper()}{text[1:]}. {summary}")
    return healthy(R.HEALTHY, summary)


def _runner_unavailable(pod: Obj, runner: RunnerProbe, layout: PodLayout) -> Finding:
    err = runner.error
    detail = err.detail if err is not None else "no answer"
    if err is not None and err.kind == ErrorKind.TOO_LARGE:
        return Finding(
            R.RESPONSE_TOO_LARGE,
            f"The runner at {runner.url} answered {detail}. An honest runner never does: check "
            f"spec.worker.image and {logs_hint(pod, layout.runner)}",
        )
    if err is not None and err.kind == ErrorKind.HTTP and err.status == 400:
        return Finding(
            R.RUNNER_STARTING,
            f"The runner at {runner.url} answers {detail}: its handlers are registered only after "
            f"it has read the root contract from TON. If this lasts, check the TON global config "
            f"(spec.network.globalConfigRef), the root address, and an access hash if one is set; see "
            f"{logs_hint(pod, layout.runner)}",
        )
    if err is not None and err.kind in (ErrorKind.HTTP, ErrorKind.INVALID):
        return Finding(
            R.RUNNER_BAD_RESPONSE,
            f"The runner at {runner.url} answered something unexpected: {detail}; "
            f"see {logs_hint(pod, layout.runner)}",
        )
    return Finding(
        R.RUNNER_UNREACHABLE,
        f"The runner at {runner.url} does not answer ({detail}). It serves HTTP soon after start; if it "
        f"aborted (e.g. image or model hash not in the root) its container restarts. See "
        f"{logs_hint(pod, layout.runner)} and the NetworkPolicy for port 12000",
    )


def _sync_age(stats: RunnerStats, now: dt.datetime) -> float | None:
    ts = stats.status.ton_last_synced_at
    if ts is None:
        return None
    if ts <= 0:
        return float("inf")
    return max(0.0, now.timestamp() - ts)


def _finite(value: float | None) -> float | None:
    return value if value is not None and value != float("inf") else None


def _runner_summary(stats: RunnerStats, inited: int) -> str:
    # Only what changes rarely: sync age, balance and request rates are metrics
    # (cocoon_worker_ton_sync_age_seconds, ..._wallet_balance_nanoton, ..._runner_requests).
    return (
        "Runner accepted by the root contract (image and model listed); "
        f"{len(stats.proxies)} proxy contract(s), worker contract deployed for {inited}"
    )


def _utc(timestamp: float | int | None) -> str:
    return dt.datetime.fromtimestamp(float(timestamp or 0), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _total(stats: RunnerStats | None, counter: str) -> float | None:
    if stats is None:
        return None
    values = stats.stats.get(counter)
    return values[0] if values else None


# ------------------------------------------------------------------------------------------------
# Numbers


def _numbers(
    pod: Obj | None, triton: TritonProbe, runner: RunnerProbe, now: dt.datetime, layout: PodLayout
) -> HealthNumbers:
    metrics = triton.metrics
    have_metrics = triton.reachable and metrics.error is None and triton.skipped is None
    model = triton.model

    def m(field_: str) -> float | None:
        return metrics.total(field_, model) if have_metrics else None

    stats = runner.stats
    restarts = None
    if pod is not None:
        counts = [
            int(cs.get("restartCount") or 0)
            for cs in container_statuses(pod, "containerStatuses")
            if cs.get("name") in (layout.triton, layout.runner)
        ]
        restarts = sum(counts) if counts else None
    return HealthNumbers(
        inference_success=m("success"),
        inference_failure=m("failure"),
        inference_queue_us=m("queue_us"),
        inference_compute_us=m("compute_us") if have_metrics else None,
        inference_pending=m("pending"),
        runner_queries=_total(stats, "queries"),
        runner_success=_total(stats, "success"),
        runner_failed=_total(stats, "failed"),
        runner_queries_per_s_1m=stats.rate("queries", 3) if stats is not None else None,
        adjusted_tokens=_total(stats, "total_adjusted_tokens_used"),
        wallet_balance_nano=stats.status.wallet_balance if stats is not None else None,
        ton_sync_age_s=_finite(_sync_age(stats, now)) if stats is not None else None,
        container_restarts=restarts,
    )
