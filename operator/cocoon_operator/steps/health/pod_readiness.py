"""The health step without probes (COCOON_HEALTH_PROBES=false): InferenceReady from the pod's Ready
condition, i.e. the kubelet's view of Triton's readiness probe. Same contract as `WorkerHealth`; it
reports no RunnerHealthy (that needs the runner's /jsonstats), which stays NotChecked."""

from collections.abc import Mapping
from typing import Any

from cocoon_operator.conditions import Reason
from cocoon_operator.status import INFERENCE_READY, Cond
from cocoon_operator.steps.contract import Context, StepReport

Obj = Mapping[str, Any]


class PodReadiness:
    """Implements `steps.contract.HealthProvider` from the pod alone."""

    async def observe(self, ctx: Context) -> StepReport:
        return StepReport(conditions=(inference_from_pod(ctx.pod, ctx.spec.paused),))


def inference_from_pod(pod: Obj | None, paused: bool) -> Cond:
    """The pod's Ready condition (Triton's readiness probe)."""
    if paused:
        return Cond.false(INFERENCE_READY, Reason.PAUSED, "The worker is paused")
    if pod is None:
        return Cond.false(INFERENCE_READY, Reason.NO_POD, "The worker pod does not exist yet")
    ready = next(
        (c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None
    )
    if ready is not None and ready.get("status") == "True":
        return Cond.true(INFERENCE_READY, Reason.POD_READY, f"Pod {pod['metadata']['name']} is Ready")
    waiting = _waiting_reasons(pod)
    detail = f": {waiting}" if waiting else ""
    return Cond.false(
        INFERENCE_READY, Reason.POD_NOT_READY, f"Pod {pod['metadata']['name']} is not Ready{detail}"
    )


def _waiting_reasons(pod: Obj) -> str:
    parts = []
    status = pod.get("status", {})
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        for key in ("waiting", "terminated"):
            detail = state.get(key)
            if detail and detail.get("reason") not in (None, "Completed"):
                parts.append(f"{cs.get('name')} {detail.get('reason')}")
    return ", ".join(parts)
