"""Scheduled from the observed pod and the placement report, and the pod-revision check (pure)."""

from collections.abc import Mapping
from typing import Any

from cocoon_operator.conditions import Reason
from cocoon_operator.reconcile.placement import PlacementReport
from cocoon_operator.status import SCHEDULED, Cond

Obj = Mapping[str, Any]


def pod_condition(pod: Obj | None, type_: str) -> Obj | None:
    for cond in (pod or {}).get("status", {}).get("conditions", []) or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def scheduled(
    *,
    paused: bool,
    pod: Obj | None,
    report: PlacementReport | None,
    blocked_by: str | None = None,
) -> Cond:
    if paused:
        return Cond.false(
            SCHEDULED, Reason.PAUSED, "The worker is paused (spec.paused): the StatefulSet has 0 replicas"
        )
    node = (pod or {}).get("spec", {}).get("nodeName")
    if pod is not None and node:
        return Cond.true(
            SCHEDULED, Reason.POD_SCHEDULED, f"Pod {pod['metadata']['name']} is bound to node {node}"
        )
    if blocked_by is not None:
        return Cond.false(SCHEDULED, Reason.NOT_CREATED, f"The worker is not started: {blocked_by}")
    if report is not None and not report.feasible:
        return Cond.false(SCHEDULED, Reason.NO_FITTING_NODE, report.message)
    hint = f" ({report.message})" if report is not None else ""
    sched = pod_condition(pod, "PodScheduled")
    if sched is not None and sched.get("status") == "False":
        reason = (
            Reason.INSUFFICIENT_GPU if report is not None and not report.fitting else Reason.UNSCHEDULABLE
        )
        return Cond.false(SCHEDULED, reason, f"{sched.get('message') or sched.get('reason')}{hint}")
    if report is not None and not report.fitting:
        return Cond.false(SCHEDULED, Reason.INSUFFICIENT_GPU, f"Waiting for a free GPU{hint}")
    # No placement hint here: once the StatefulSet exists the fleet is only re-checked when the
    # scheduler gives up, so a hint would come and go between reconciles (a status write each time).
    what = "The pod is waiting for the scheduler" if pod is not None else "Waiting for the worker pod"
    return Cond.false(SCHEDULED, Reason.POD_PENDING, what)


def stuck_on_old_revision(sts: Obj, pod: Obj) -> bool:
    """The pod runs an outdated template and is not Ready, so the StatefulSet will wait forever."""
    update = (sts.get("status") or {}).get("updateRevision")
    current = (pod.get("metadata", {}).get("labels") or {}).get("controller-revision-hash")
    if not update or not current or update == current or pod.get("metadata", {}).get("deletionTimestamp"):
        return False
    ready = pod_condition(pod, "Ready")
    return ready is None or ready.get("status") != "True"
