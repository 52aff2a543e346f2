"""What is wrong with the worker pod itself, before Triton or the runner is asked: phase, deletion,
init containers, image pulls, crash loops, termination (the reasons both health conditions share).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cocoon_operator.conditions import ConditionType, Reason
from cocoon_operator.status import Cond, CondStatus

Obj = Mapping[str, Any]
R = Reason


@dataclass(frozen=True)
class PodLayout:
    """Container names in the worker pod (as `reconcile/children.py` builds it)."""

    triton: str = "triton"
    runner: str = "runner"
    model_fetch: str = "fetch-model"
    model_verify: str = "verify-model"  # checks a PVC model repository against its manifest digest
    model_fetch_mismatch_code: int = 3  # their exit code when the SHA-256 does not match


@dataclass(frozen=True)
class Finding:
    reason: Reason
    message: str
    status: CondStatus = "False"

    def cond(self, type_: ConditionType) -> Cond:
        return Cond(type_, self.status, self.reason, self.message)


def healthy(reason: Reason, message: str) -> Finding:
    return Finding(reason, message, "True")


def pod_name(pod: Obj) -> str:
    return str(pod.get("metadata", {}).get("name", "?"))


def _ns(pod: Obj) -> str:
    return str(pod.get("metadata", {}).get("namespace", "default"))


def logs_hint(pod: Obj, container: str, previous: bool = False) -> str:
    return f"`kubectl logs -n {_ns(pod)} {pod_name(pod)} -c {container}{' --previous' if previous else ''}`"


def container_statuses(pod: Obj, key: str) -> list[Obj]:
    return list(pod.get("status", {}).get(key) or [])


def container_status(pod: Obj, name: str) -> Obj | None:
    for cs in container_statuses(pod, "containerStatuses"):
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


TRITON_HINT = (
    "With --exit-on-error Triton exits when any model fails to load; the failing model and its error "
    "are in the container log."
)


RUNNER_HINT = (
    "The runner aborts when the root contract does not list its image or model hash, and when its "
    "configuration or TON config is invalid; the cause is in the container log."
)


def terminated_text(term: Obj) -> str:
    parts = [f"exit code {term.get('exitCode', '?')}"]
    if term.get("reason"):
        parts.append(f"({term['reason']})")
    text = " ".join(parts)
    if term.get("message"):
        text += f": {str(term['message']).strip()[:300]}"
    return text


def pod_problem(pod: Obj, layout: PodLayout, now: dt.datetime) -> Finding | None:
    """What keeps the whole pod from running: deletion, a failed phase, init containers, pulls."""
    meta, status = pod.get("metadata", {}), pod.get("status", {})
    name = pod_name(pod)
    if meta.get("deletionTimestamp"):
        return Finding(R.POD_TERMINATING, f"Pod {name} is being deleted; a new one follows")
    phase = status.get("phase") or "Pending"
    if phase in ("Failed", "Succeeded"):
        why = ": ".join(str(x) for x in (status.get("reason"), status.get("message")) if x)
        return Finding(
            R.POD_NOT_RUNNING,
            f"Pod {name} is {phase}{f' ({why})' if why else ''}; the StatefulSet replaces it",
        )
    if phase == "Unknown":
        return Finding(
            R.POD_NOT_RUNNING, f"Pod {name} is in phase Unknown: its node stopped reporting; check the node"
        )
    init = _init_problem(pod, layout)
    if init is not None:
        return init
    if phase == "Pending":
        for cs in container_statuses(pod, "containerStatuses"):
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in _PULL_REASONS:
                return _pull_failed(pod, cs, waiting)
        scheduled = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
        if scheduled is not None and scheduled.get("status") == "False":
            detail = scheduled.get("message") or scheduled.get("reason") or "no node fits"
            return Finding(R.POD_NOT_RUNNING, f"Pod {name} is not scheduled: {detail}")
        if not scheduled and not pod.get("spec", {}).get("nodeName"):
            return Finding(R.POD_NOT_RUNNING, f"Pod {name} is waiting for the scheduler")
        running_init = [
            str(cs.get("name"))
            for cs in container_statuses(pod, "initContainerStatuses")
            if "running" in (cs.get("state") or {})
        ]
        if running_init:
            what = ", ".join(running_init)
            extra = " (downloading and verifying the model)" if layout.model_fetch in running_init else ""
            return Finding(R.POD_NOT_RUNNING, f"Pod {name} is initialising: {what} running{extra}")
        return Finding(R.POD_NOT_RUNNING, f"Pod {name} is Pending: its containers are being created")
    return None


def _pull_failed(pod: Obj, cs: Obj, waiting: Obj) -> Finding:
    container = str(cs.get("name"))
    detail = str(waiting.get("message") or waiting.get("reason"))[:300]
    return Finding(
        R.IMAGE_PULL_FAILED,
        f"Container {container} of pod {pod_name(pod)} cannot pull image {_image(pod, container)}: {detail}. "
        "Check the image reference in the CocoonNode spec and the pull secrets",
    )


def _init_problem(pod: Obj, layout: PodLayout) -> Finding | None:
    for cs in container_statuses(pod, "initContainerStatuses"):
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
            return Finding(
                R.MODEL_INTEGRITY_FAILED,
                f"The model of pod {pod_name(pod)} does not match spec.inference.modelSha256{said}{tries}: "
                f"Triton is not started. Fix the hash or {where}; details in {logs_hint(pod, container)}",
            )
        if container == layout.model_fetch:
            return Finding(
                R.MODEL_FETCH_FAILED,
                f"Downloading the model failed in pod {pod_name(pod)}, {terminated_text(term)}{tries}. "
                f"Check spec.inference.modelSource.url and egress; details in {logs_hint(pod, container)}",
            )
        return Finding(
            R.INIT_CONTAINER_FAILED,
            f"Init container {container} of pod {pod_name(pod)} failed, {terminated_text(term)}{tries}; "
            f"see {logs_hint(pod, container)}",
        )
    return None


def container_problem(pod: Obj, container: str, hint: str) -> Finding | None:
    cs = container_status(pod, container)
    if cs is None:
        return None  # not reported (yet): the probe decides
    state = cs.get("state") or {}
    restarts = int(cs.get("restartCount") or 0)
    waiting = state.get("waiting")
    if waiting is not None:
        reason = waiting.get("reason") or "Waiting"
        if reason == "CrashLoopBackOff":
            last = (cs.get("lastState") or {}).get("terminated") or {}
            last_text = f"; last run ended with {terminated_text(last)}" if last else ""
            return Finding(
                R.CONTAINER_CRASH_LOOPING,
                f"Container {container} of pod {pod_name(pod)} is crash-looping "
                f"({restarts} restarts{last_text}). {hint} See {logs_hint(pod, container, previous=True)}",
            )
        if reason in _PULL_REASONS:
            return _pull_failed(pod, cs, waiting)
        detail = f": {str(waiting['message'])[:300]}" if waiting.get("message") else ""
        return Finding(
            R.CONTAINER_WAITING, f"Container {container} of pod {pod_name(pod)} is {reason}{detail}"
        )
    term = state.get("terminated")
    if term is not None:
        return Finding(
            R.CONTAINER_TERMINATED,
            f"Container {container} of pod {pod_name(pod)} stopped, {terminated_text(term)} "
            f"({restarts} restarts). See {logs_hint(pod, container, previous=False)}",
        )
    return None


def running_since(cs: Obj | None) -> str:
    # A start time, not "running for N s": a condition message must not change on every probe, or
    # every reconcile rewrites the status (bench/results: steady-state writes).
    started = ((cs or {}).get("state") or {}).get("running", {}).get("startedAt")
    return f" (running since {started})" if started else ""
