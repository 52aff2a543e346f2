"""The health provider the reconcile calls (`Deps.health`, see `reconcile/deps.py`).

Per reconcile of one CocoonNode: probe the worker pod by its IP (cached briefly, bounded in time and
concurrency), evaluate, export metrics, and return `InferenceReady`, `RunnerHealthy` and
`status.models`. While the worker is not healthy it asks for an earlier reconcile.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final

from cocoon_operator.conditions import Reason
from cocoon_operator.settings import Settings
from cocoon_operator.status import INFERENCE_READY, RUNNER_HEALTHY, Cond, find, parse_time
from cocoon_operator.steps.contract import Context, EventSpec, HealthProbe, StepReport
from cocoon_operator.steps.health.evaluate import HealthReport, Thresholds, evaluate_health
from cocoon_operator.steps.health.metrics import HealthMetrics
from cocoon_operator.steps.health.pod_problems import PodLayout
from cocoon_operator.steps.health.probe import HealthProber, Ports, RunnerProbe, Timeouts, skipped_probes
from cocoon_operator.steps.health.vm import evaluate_vm
from cocoon_operator.worker.triton_client import TritonProbe

# Not yet serving: look again soon rather than waiting for the resync timer.
RECHECK_UNHEALTHY_S = 10.0
# A pod that turned Ready this recently but whose Triton did not answer is most likely just starting to
# listen: look again within seconds (the queue doubles it while nothing changes), and never trust a
# probe answer cached from before it turned Ready. Measured: with the 10 s re-check (doubling), the
# last of 1 000 new workers reported InferenceReady 20-40 s after its pod was Ready (bench/results).
STARTING_WINDOW_S = 30.0
RECHECK_STARTING_S = 2.0
DEFAULT_LAYOUT = PodLayout()
DEFAULT_TIMEOUTS = Timeouts()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class WorkerHealth:
    """Implements `reconcile.deps.HealthProvider`."""

    def __init__(
        self,
        prober: HealthProber,
        *,
        metrics: HealthMetrics | None = None,
        triton_model: str | None = None,
        layout: PodLayout = DEFAULT_LAYOUT,
        clock: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        self.prober = prober
        self.metrics = metrics
        self.triton_model = triton_model  # None: every model in Triton's repository must be READY
        self.layout = layout
        self._clock = clock

    async def check(self, pod: Mapping[str, Any] | None, *, max_age_s: float | None = None) -> HealthReport:
        """Probe (when the pod has an IP) and evaluate. Usable without a reconcile Context."""
        ip = str((pod or {}).get("status", {}).get("podIP") or "")
        triton: TritonProbe
        runner: RunnerProbe
        if pod is not None and ip:
            # (+1 s: transition times have whole seconds)
            ready_before_cache = self._ready_for(pod) <= self.prober.cache_ttl_s + 1
            if max_age_s is None and (not _triton_ready(pod, self.layout) or ready_before_cache):
                # Starting or just restarted: an answer cached before the crash would read Serving,
                # one cached just before the pod turned Ready would read Unreachable.
                max_age_s = 0.0
            triton, runner = await self.prober.probe(ip, self.triton_model, max_age_s=max_age_s)
        else:
            triton, runner = _not_probed(self.triton_model)
        return evaluate_health(
            dict(pod) if pod is not None else None,
            triton,
            runner,
            self._clock(),
            thresholds=Thresholds(),
            layout=self.layout,
        )

    async def check_vm(self, pod: Mapping[str, Any] | None, port: int) -> HealthReport:
        """A CocoonVM's launcher pod: the runner alone, on the forwarded port (steps/health/vm.py)."""
        ip = str((pod or {}).get("status", {}).get("podIP") or "")
        if pod is not None and ip:
            runner = await self.prober.probe_runner_only(ip, port)
        else:
            url = f"http://{ip or '0.0.0.0'}:{port}/jsonstats"  # noqa: S104
            runner = RunnerProbe(url=url, skipped="the pod has no IP yet")
        return evaluate_vm(dict(pod) if pod is not None else None, runner, self._clock())

    async def observe(self, ctx: Context) -> StepReport:
        if ctx.spec.paused:
            msg = "The worker is paused (spec.paused)"
            if self.metrics is not None:
                self.metrics.forget(ctx.namespace, ctx.name)
            return StepReport(
                conditions=(
                    Cond.false(INFERENCE_READY, Reason.PAUSED, msg),
                    Cond.false(RUNNER_HEALTHY, Reason.PAUSED, msg),
                ),
                status={"models": None},
            )
        if ctx.deleting and self.metrics is not None:
            self.metrics.forget(ctx.namespace, ctx.name)
        report = await CHECKS[ctx.worker.probe](self, ctx)
        if self.metrics is not None and not ctx.deleting:
            self.metrics.observe(ctx.namespace, ctx.name, report)
        healthy = all(c.status == "True" for c in report.conditions)
        retry = None if healthy else RECHECK_UNHEALTHY_S
        serving = all(c.status == "True" for c in report.conditions if c.type == INFERENCE_READY)
        if not serving and ctx.pod is not None and self._ready_for(ctx.pod) < STARTING_WINDOW_S:
            retry = RECHECK_STARTING_S
        return StepReport(
            conditions=report.conditions,
            status=report.status_fields(),
            events=tuple(lost_events(ctx.status.get("conditions"), report.conditions)),
            retry_after=retry,
        )

    def _ready_for(self, pod: Mapping[str, Any]) -> float:
        """Seconds since the pod turned Ready (infinity when it is not Ready or the time is unknown)."""
        cond = find((pod.get("status") or {}).get("conditions"), "Ready") or {}
        since = parse_time(cond.get("lastTransitionTime")) if cond.get("status") == "True" else None
        return max(0.0, (self._clock() - since).total_seconds()) if since is not None else float("inf")

    def forget(self, namespace: str, name: str, pod_ip: str | None = None) -> None:
        """Call when a CocoonNode is deleted: drops its metric series and cached probes."""
        if self.metrics is not None:
            self.metrics.forget(namespace, name)
        if pod_ip:
            self.prober.forget(pod_ip)

    async def close(self) -> None:
        await self.prober.close()


# How a worker is probed and judged, by what its runtime kind says (Context.worker.probe).
CHECKS: Final[Mapping[HealthProbe, Callable[[WorkerHealth, Context], Awaitable[HealthReport]]]] = {
    HealthProbe.TRITON_AND_RUNNER: lambda health, ctx: health.check(ctx.pod),
    HealthProbe.RUNNER: lambda health, ctx: health.check_vm(ctx.pod, ctx.worker.runner_port),
}


def lost_events(old: Sequence[Mapping[str, Any]] | None, new: Sequence[Cond]) -> list[EventSpec]:
    """A Warning Event when a health condition goes from True to False (only on that transition;
    the reason is the condition's, so `kubectl get events` says what broke)."""
    events = []
    for cond in new:
        before = find(old, cond.type)
        if cond.status == "False" and before is not None and before.get("status") == "True":
            events.append(EventSpec("Warning", cond.reason, f"{cond.type} is False: {cond.message}"))
    return events


def _not_probed(model: str | None) -> tuple[TritonProbe, RunnerProbe]:
    # No IP yet: the pod checks decide (a pod gets its IP when it starts running).
    return skipped_probes("0.0.0.0", model, "the pod has no IP yet")  # noqa: S104


@functools.cache
def default_metrics() -> HealthMetrics:
    """The process-wide collector on prometheus_client's default registry (created once)."""
    return HealthMetrics()


def _triton_ready(pod: Mapping[str, Any], layout: PodLayout) -> bool:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return any(cs.get("name") == layout.triton and cs.get("ready") is True for cs in statuses)


def from_settings(
    settings: Settings,
    *,
    metrics: HealthMetrics | None = None,
    max_concurrency: int = 32,
    cache_ttl_s: float = 3.0,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
) -> WorkerHealth:
    """A `WorkerHealth` for the operator's ports. Create it inside the running event loop."""
    ports = Ports(
        triton_http=settings.triton_http_port,
        triton_metrics=settings.triton_metrics_port,
        runner_http=settings.runner_http_port,
    )
    prober = HealthProber(
        timeouts=timeouts, ports=ports, max_concurrency=max_concurrency, cache_ttl_s=cache_ttl_s
    )
    return WorkerHealth(prober, metrics=metrics)
