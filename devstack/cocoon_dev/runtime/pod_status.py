"""A pod's status as a kubelet reports it: container statuses and the Ready / ContainersReady /
Initialized conditions (pure functions; both runtime modes write what these build)."""

from __future__ import annotations

from typing import Any

from cocoon_dev.runtime.pods import Pod, now_rfc3339

MINE = ("Ready", "ContainersReady", "Initialized")


def container_status(
    spec: dict[str, Any],
    state: dict[str, Any],
    *,
    ready: bool = False,
    restarts: int = 0,
    image_id: str = "",
) -> dict[str, Any]:
    return {"name": spec["name"], "image": spec.get("image", ""), "imageID": image_id, "ready": ready,
            "restartCount": restarts, "started": "running" in state, "state": state}  # fmt: skip


def waiting_statuses(pod: Pod, reason: str, message: str | None = None) -> list[dict[str, Any]]:
    """Every main container waiting for the same reason (PodInitializing, PodIPInUse)."""
    waiting: dict[str, Any] = {"reason": reason, **({"message": message} if message else {})}
    return [container_status(c, {"waiting": dict(waiting)}) for c in pod["spec"]["containers"]]


def running_statuses(pod: Pod, container_id: str) -> list[dict[str, Any]]:
    """Every main container running and ready since now (what the light mode serves at once)."""
    running = {"running": {"startedAt": now_rfc3339()}}
    return [
        container_status(c, dict(running), ready=True) | {"containerID": container_id}
        for c in pod["spec"]["containers"]
    ]


def _condition(
    ctype: str, ok: bool, old: dict[str, dict[str, Any]], reason: str, message: str
) -> dict[str, Any]:
    status = "True" if ok else "False"
    previous = old.get(ctype, {})
    # A transition time changes only with the status, as on a kubelet.
    since = previous.get("lastTransitionTime") if previous.get("status") == status else None
    cond: dict[str, Any] = {
        "type": ctype,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": since or now_rfc3339(),
    }
    if not ok:
        cond |= {"reason": reason, "message": message}
    return cond


def pod_status(
    pod: Pod,
    statuses: list[dict[str, Any]],
    *,
    pending_init: list[str] | None = None,
    init_statuses: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The status to write: the conditions of others kept, ours derived from the container statuses.

    `pending_init` names the init containers that have not completed (None: initialised)."""
    current = pod.get("status") or {}
    old = {c["type"]: c for c in current.get("conditions") or []}
    conditions = [c for c in current.get("conditions") or [] if c["type"] not in MINE]
    waiting_init = " ".join(pending_init or [])
    conditions.append(
        _condition(
            "Initialized",
            pending_init is None,
            old,
            "ContainersNotInitialized",
            f"containers with incomplete status: [{waiting_init}]",
        )
    )
    all_ready = all(s["ready"] for s in statuses)
    not_ready = " ".join(s["name"] for s in statuses if not s["ready"])
    for ctype in ("ContainersReady", "Ready"):
        conditions.append(
            _condition(
                ctype, all_ready, old, "ContainersNotReady", f"containers with unready status: [{not_ready}]"
            )
        )
    desired: dict[str, Any] = {"conditions": conditions, "containerStatuses": statuses}
    if init_statuses:
        desired["initContainerStatuses"] = init_statuses
    return desired


def reports_ready(pod: Pod) -> bool:
    """The pod already says Ready with every container ready and started (nothing to write)."""
    status = pod.get("status") or {}
    conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    ready = {
        c.get("name") for c in status.get("containerStatuses") or [] if c.get("ready") and c.get("started")
    }
    names = {c["name"] for c in pod["spec"].get("containers") or []}
    return conds.get("Ready") == "True" and conds.get("ContainersReady") == "True" and names <= ready
