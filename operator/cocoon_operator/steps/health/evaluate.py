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
from cocoon_operator.conditions import ConditionType, Reason
from cocoon_operator.status import INFERENCE_READY, RUNNER_HEALTHY, Cond, CondStatus
from cocoon_operator.steps.health.probe import RunnerProbe
from cocoon_operator.worker.runner_client import RunnerStats
from cocoon_operator.worker.triton_client import ErrorKind, ModelState, TritonProbe

R = Reason
Obj = Mapping[str, Any]
MAX_MODELS_IN_STATUS = 16  # the CRD's maxItems for status.models


@dataclass(frozen=True)
class Thresholds:
    """Limits from cocoon-protocol.md §2.4 and §3 (the runner's own, as its /stats page shows them)."""

    ton_synced_s: int = 600  # younger: synced
    ton_late_s: int = 3600  # younger: late; older: out of sync
    wallet_min_nano: int = 2_100_000_000  # the runner waits below this (min_wallet_balance)
    wallet_warn_nano: int = 5_000_000_000  # warning_wallet_balance


@dataclass(frozen=True)
class PodLayout:
    """Container names in the worker pod (as `reconcile/children.py` builds it)."""

    triton: str = "triton"
    runner: str = "runner"
    model_fetch: str = "fetch-model"
    model_verify: str = "verify-model"  # checks a PVC model repository against its manifest digest
    model_fetch_mismatch_code: int = 3  # their exit code when the SHA-256 does not match


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
    layout: PodLayout = PodLayout(),
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
    pod_problem = _pod_problem(pod, layout, now)
    if pod_problem is not None:
        return HealthReport(
            pod_problem.cond(INFERENCE_READY), pod_problem.cond(RUNNER_HEALTHY), models, numbers
        )
    inference = _container_problem(pod, layout.triton, _TRITON_HINT) or _triton(pod, triton, layout, now)
    runner_cond = _container_problem(pod, layout.runner, _RUNNER_HINT) or _runner(
        pod, runner, now, thresholds, layout
    )
    return HealthReport(inference.cond(INFERENCE_READY), runner_cond.cond(RUNNER_HEALTHY), models, numbers)


@dataclass(frozen=True)
class _Finding:
    reason: Reason
    message: str
    status: CondStatus = "False"

    def cond(self, type_: ConditionType) -> Cond:
        return Cond(type_, self.status, self.reason, self.message)


def _ok(reason: Reason, message: str) -> _Finding:
    return _Finding(reason, message, "True")


# ------------------------------------------------------------------------------------------------
# Pod and containers


def _name(pod: Obj) -> str:
    return str(pod.get("metadata", {}).get("name", "?"))


def _ns(pod: Obj) -> str:
    return str(pod.get("metadata", {}).get("namespace", "default"))


def _logs(pod: Obj, container: str, previous: bool = False) -> str:
    return f"`kubectl logs -n {_ns(pod)} {_name(pod)} -c {container}{' --previous' if previous else ''}`"


def _statuses(pod: Obj, key: str) -> list[Obj]:
    return list(pod.get("status", {}).get(key) or [])


def _container_status(pod: Obj, name: str) -> Obj | None:
    for cs in _statuses(pod, "containerStatuses"):
        if cs.get("name") == name:
            return cs
    return None


def _image(pod: Obj, name: str) -> str:
    for c in list(pod.get("spec", {}).get("containers") or []) + list(
        pod.get("spec", {}).get("initContainers") or []
    ):
        if c.get("name") == name:
            return str(c.get("image", "?"))
    return "?"


_PULL_REASONS = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull")
_TRITON_HINT = (
    "With --exit-on-error Triton exits when any model fails to load; the failing model and its error "
    "are in the container log."
)
_RUNNER_HINT = (
    "The runner aborts when the root contract does not list its image or model hash, and when its "
    "configuration or TON config is invalid; the cause is in the container log."
)


def _terminated_text(term: Obj) -> str:
    parts = [f"exit code {term.get('exitCode', '?')}"]
    if term.get("reason"):
        parts.append(f"({term['reason']})")
    text = " ".join(parts)
    if term.get("message"):
        text += f": {str(term['message']).strip()[:300]}"
    return text


def _pod_problem(pod: Obj, layout: PodLayout, now: dt.datetime) -> _Finding | None:
    """What keeps the whole pod from running: deletion, a failed phase, init containers, pulls."""
    meta, status = pod.get("metadata", {}), pod.get("status", {})
    name = _name(pod)
    if meta.get("deletionTimestamp"):
        return _Finding(R.POD_TERMINATING, f"Pod {name} is being deleted; a new one follows")
    phase = status.get("phase") or "Pending"
    if phase in ("Failed", "Succeeded"):
        why = ": ".join(str(x) for x in (status.get("reason"), status.get("message")) if x)
        return _Finding(
            R.POD_NOT_RUNNING,
            f"Pod {name} is {phase}{f' ({why})' if why else ''}; the StatefulSet replaces it",
        )
    if phase == "Unknown":
        return _Finding(
            R.POD_NOT_RUNNING, f"Pod {name} is in phase Unknown: its node stopped reporting; check the node"
        )
    init = _init_problem(pod, layout)
    if init is not None:
        return init
    if phase == "Pending":
        for cs in _statuses(pod, "containerStatuses"):
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in _PULL_REASONS:
                return _pull_failed(pod, cs, waiting)
        scheduled = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
        if scheduled is not None and scheduled.get("status") == "False":
            detail = scheduled.get("message") or scheduled.get("reason") or "no node fits"
            return _Finding(R.POD_NOT_RUNNING, f"Pod {name} is not scheduled: {detail}")
        if not scheduled and not pod.get("spec", {}).get("nodeName"):
            return _Finding(R.POD_NOT_RUNNING, f"Pod {name} is waiting for the scheduler")
        running_init = [
            str(cs.get("name"))
            for cs in _statuses(pod, "initContainerStatuses")
            if "running" in (cs.get("state") or {})
        ]
        if running_init:
            what = ", ".join(running_init)
            extra = " (downloading and verifying the model)" if layout.model_fetch in running_init else ""
            return _Finding(R.POD_NOT_RUNNING, f"Pod {name} is initialising: {what} running{extra}")
        return _Finding(R.POD_NOT_RUNNING, f"Pod {name} is Pending: its containers are being created")
    return None


def _pull_failed(pod: Obj, cs: Obj, waiting: Obj) -> _Finding:
    container = str(cs.get("name"))
    detail = str(waiting.get("message") or waiting.get("reason"))[:300]
    return _Finding(
        R.IMAGE_PULL_FAILED,
        f"Container {container} of pod {_name(pod)} cannot pull image {_image(pod, container)}: {detail}. "
        "Check the image reference in the CocoonNode spec and the pull secrets",
    )


def _init_problem(pod: Obj, layout: PodLayout) -> _Finding | None:
    for cs in _statuses(pod, "initContainerStatuses"):
        container = str(cs.get("name"))
        state = cs.get("state") or {}
        waiting = state.get("waiting") or {}
        if waiting.get("reason") in _PULL_REASONS:
            return _pull_failed(pod, cs, waiting)
        term = state.get("terminated") or {}
        if not term and waiting.get("reason") == "CrashLoopBackOff":
            term = (cs.get("lastState") or {}).get("terminated") or {}
        if not term or term.get("exitCode", 0) == 0:
            continue
        restarts = int(cs.get("restartCount") or 0)
        tries = f" ({restarts} restarts)" if restarts else ""
        model_init = (layout.model_fetch, layout.model_verify)
        if container in model_init and term.get("exitCode") == layout.model_fetch_mismatch_code:
            detail = str(term.get("message") or "").strip().splitlines()
            said = f" ({detail[-1][:400]})" if detail else ""
            where = (
                "the archive at spec.inference.modelSource.url"
                if container == layout.model_fetch
                else "the model repository on spec.inference.modelSource.pvc"
            )
            return _Finding(
                R.MODEL_INTEGRITY_FAILED,
                f"The model of pod {_name(pod)} does not match spec.inference.modelSha256{said}{tries}: "
                f"Triton is not started. Fix the hash or {where}; details in {_logs(pod, container)}",
            )
        if container == layout.model_fetch:
            return _Finding(
                R.MODEL_FETCH_FAILED,
                f"Downloading the model failed in pod {_name(pod)}, {_terminated_text(term)}{tries}. "
                f"Check spec.inference.modelSource.url and egress; details in {_logs(pod, container)}",
            )
        return _Finding(
            R.INIT_CONTAINER_FAILED,
            f"Init container {container} of pod {_name(pod)} failed, {_terminated_text(term)}{tries}; "
            f"see {_logs(pod, container)}",
        )
    return None


def _container_problem(pod: Obj, container: str, hint: str) -> _Finding | None:
    cs = _container_status(pod, container)
    if cs is None:
        return None  # not reported (yet): the probe decides
    state = cs.get("state") or {}
    restarts = int(cs.get("restartCount") or 0)
    waiting = state.get("waiting")
    if waiting is not None:
        reason = waiting.get("reason") or "Waiting"
        if reason == "CrashLoopBackOff":
            last = (cs.get("lastState") or {}).get("terminated") or {}
            last_text = f"; last run ended with {_terminated_text(last)}" if last else ""
            return _Finding(
                R.CONTAINER_CRASH_LOOPING,
                f"Container {container} of pod {_name(pod)} is crash-looping "
                f"({restarts} restarts{last_text}). {hint} See {_logs(pod, container, previous=True)}",
            )
        if reason in _PULL_REASONS:
            return _pull_failed(pod, cs, waiting)
        detail = f": {str(waiting['message'])[:300]}" if waiting.get("message") else ""
        return _Finding(R.CONTAINER_WAITING, f"Container {container} of pod {_name(pod)} is {reason}{detail}")
    term = state.get("terminated")
    if term is not None:
        return _Finding(
            R.CONTAINER_TERMINATED,
            f"Container {container} of pod {_name(pod)} stopped, {_terminated_text(term)} "
            f"({restarts} restarts). See {_logs(pod, container, previous=False)}",
        )
    return None


def _running_since(cs: Obj | None) -> str:
    # A start time, not "running for N s": a condition message must not change on every probe, or
    # every reconcile rewrites the status (bench/results: steady-state writes).
    started = ((cs or {}).get("state") or {}).get("running", {}).get("startedAt")
    return f" (running since {started})" if started else ""


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


def _triton(pod: Obj, triton: TritonProbe, layout: PodLayout, now: dt.datetime) -> _Finding:
    if triton.skipped is not None:
        return _Finding(R.PROBE_SKIPPED, f"Triton was not probed: {triton.skipped}", "Unknown")
    name = _name(pod)
    too_large = _too_large(triton)
    if too_large is not None:
        return _Finding(
            R.RESPONSE_TOO_LARGE,
            f"Triton at {triton.url} answered {too_large}. An honest Triton never does: check "
            f"spec.inference.image and {_logs(pod, layout.triton)}",
        )
    if not triton.reachable:
        cs = _container_status(pod, layout.triton)
        err = triton.error.detail if triton.error else "no answer"
        if cs is not None and cs.get("started") is False:
            return _Finding(
                R.TRITON_STARTING,
                f"Triton in pod {name} is starting{_running_since(cs)}: its ports open only after every "
                f"model has loaded (probe: {err}). The startup probe allows spec.inference.startupTimeout; "
                f"progress is in {_logs(pod, layout.triton)}",
            )
        return _Finding(
            R.TRITON_UNREACHABLE,
            f"Triton at {triton.url} does not answer /v2/health/live ({err}). The container may be "
            f"restarting or hung; check {_logs(pod, layout.triton)} and the pod's events",
        )
    if triton.live.ok is False:
        return _Finding(
            R.TRITON_NOT_LIVE,
            f"Triton at {triton.url} answers /v2/health/live with HTTP {triton.live.status}; the kubelet "
            f"restarts it after its liveness probe fails",
        )
    index_ok = triton.index.error is None
    if index_ok:
        selected = _selected(triton)
        if triton.model is not None and not selected:
            known = ", ".join(m.name for m in triton.index.models) or "none"
            return _Finding(
                R.MODEL_NOT_FOUND,
                f"Triton in pod {name} has no model {triton.model} in its repository (models: {known}); "
                f"check the model source and its layout <repository>/<model>/<version>/",
            )
        if not selected:
            return _Finding(
                R.NO_MODELS,
                f"Triton in pod {name} has no models in its repository; check spec.inference.modelSource "
                f"and the layout <repository>/<model>/<version>/",
            )
        bad = [m for m in selected if not m.ready]
        if bad:
            return _model_problem(name, bad)
    if triton.model is not None and triton.model_ready is not None and triton.model_ready.ok is False:
        return _Finding(
            R.MODEL_UNAVAILABLE,
            f"Triton in pod {name} reports model {triton.model} not ready (HTTP "
            f"{triton.model_ready.status} on /v2/models/{triton.model}/ready); "
            f"see {_logs(pod, layout.triton)}",
        )
    if triton.ready.ok is not True:
        how = (
            f"HTTP {triton.ready.status}"
            if triton.ready.ok is False
            else (triton.ready.error.detail if triton.ready.error else "no answer")
        )
        return _Finding(
            R.TRITON_NOT_READY,
            f"Triton in pod {name} is live but /v2/health/ready answers {how}: with strict readiness a model "
            f"that is loading or failed to load keeps the server not ready; see {_logs(pod, layout.triton)}",
        )
    return _ok(R.SERVING, _serving_message(triton))


def _model_problem(pod_name: str, bad: Sequence[ModelState]) -> _Finding:
    first = bad[0]
    others = f" (and {len(bad) - 1} more model(s) not ready)" if len(bad) > 1 else ""
    if first.state in ("LOADING", "UNLOADING"):
        return _Finding(
            R.MODEL_LOADING,
            f"Model {_model_label(first)} in pod {pod_name} is {first.state}{others}; "
            "large models take minutes",
        )
    if first.state == "UNAVAILABLE":
        why = first.reason or "no reason given"
        return _Finding(
            R.MODEL_UNAVAILABLE,
            f"Model {_model_label(first)} in pod {pod_name} is UNAVAILABLE: {why}{others}. Fix the model "
            "files or its config.pbtxt; Triton does not become ready again by itself after a failed "
            "load, so restart the pod after the fix",
        )
    state = first.state or "not loaded"
    return _Finding(
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


def _runner(
    pod: Obj, runner: RunnerProbe, now: dt.datetime, limits: Thresholds, layout: PodLayout
) -> _Finding:
    if runner.skipped is not None:
        return _Finding(R.PROBE_SKIPPED, f"The runner was not probed: {runner.skipped}", "Unknown")
    if runner.stats is None:
        return _runner_unavailable(pod, runner, layout)
    stats = runner.stats
    status = stats.status
    model = stats.localconfig.model or "the configured model"
    if status.actual_image_hash is False:
        return _Finding(
            R.IMAGE_NOT_ACCEPTED,
            "The root contract does not list this worker's image hash, so proxies refuse it and the runner "
            "aborts on its periodic check. Run a worker image whose hash is in the root's worker_hashes "
            "(spec.worker.image, spec.imageHash) or ask the root owner to add it",
        )
    if status.actual_model is False:
        return _Finding(
            R.MODEL_NOT_ACCEPTED,
            f"The root contract does not list sha256 of the model {model}, so proxies refuse it and the "
            f"runner aborts on its periodic check. Use a model string the root allows (spec.model)",
        )
    warnings: list[tuple[Reason, str]] = []
    age = _sync_age(stats, now)
    if age is not None:
        if age >= limits.ton_late_s:
            when = "never" if status.ton_last_synced_at == 0 else f"at {_utc(status.ton_last_synced_at)}"
            return _Finding(
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
            return _Finding(
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
        return _Finding(
            R.NO_PROXY,
            f"The runner is not connected to any proxy yet (the root lists {registered} registered "
            f"proxies); it picks one at random and retries every few seconds",
        )
    inited = [p for p in stats.proxies if p.sc_inited]
    if not inited:
        return _Finding(
            R.REGISTERING,
            f"The runner met {len(stats.proxies)} proxy contract(s) but its worker contract is not deployed "
            f"yet (sc_inited=false); it deploys it from the cocoon wallet (0.3 TON) on first contact",
        )
    summary = _runner_summary(stats, len(inited))
    if warnings:
        reason = warnings[0][0]
        text = "; ".join(w for _, w in warnings)
        return _ok(reason, f"{text[0].upper()}{text[1:]}. {summary}")
    return _ok(R.HEALTHY, summary)


def _runner_unavailable(pod: Obj, runner: RunnerProbe, layout: PodLayout) -> _Finding:
    err = runner.error
    detail = err.detail if err is not None else "no answer"
    if err is not None and err.kind == ErrorKind.TOO_LARGE:
        return _Finding(
            R.RESPONSE_TOO_LARGE,
            f"The runner at {runner.url} answered {detail}. An honest runner never does: check "
            f"spec.worker.image and {_logs(pod, layout.runner)}",
        )
    if err is not None and err.kind == ErrorKind.HTTP and err.status == 400:
        return _Finding(
            R.RUNNER_STARTING,
            f"The runner at {runner.url} answers {detail}: its handlers are registered only after "
            f"it has read the root contract from TON. If this lasts, check the TON global config "
            f"(spec.network.globalConfigRef), the root address, and an access hash if one is set; see "
            f"{_logs(pod, layout.runner)}",
        )
    if err is not None and err.kind in (ErrorKind.HTTP, ErrorKind.INVALID):
        return _Finding(
            R.RUNNER_BAD_RESPONSE,
            f"The runner at {runner.url} answered something unexpected: {detail}; "
            f"see {_logs(pod, layout.runner)}",
        )
    return _Finding(
        R.RUNNER_UNREACHABLE,
        f"The runner at {runner.url} does not answer ({detail}). It serves HTTP soon after start; if it "
        f"aborted (e.g. image or model hash not in the root) its container restarts. See "
        f"{_logs(pod, layout.runner)} and the NetworkPolicy for port 12000",
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
            for cs in _statuses(pod, "containerStatuses")
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
