"""Health of a CocoonVM worker: its launcher pod and the runner inside the VM (pure).

The inference server runs inside the TDX guest, out of the operator's sight; what it sees is the
launcher pod (init containers, the launcher container) and the runner's `/jsonstats` through the
forwarded port. So:
- `InferenceReady` is True once the launcher runs and the runner answers (reason `VmServing`); while the
  VM boots it is False with `VmStarting`; a host that lacks a prerequisite gives
  `HostPrerequisitesMissing` (naming what is missing), a release whose SHA-256 differs
  `ReleaseIntegrityFailed` (naming both hashes), a failed download `ReleaseFetchFailed`;
- `RunnerHealthy` is judged exactly as for a TritonPod (root acceptance, TON sync, wallet, proxies).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

from cocoon_operator.conditions import ConditionType, Reason
from cocoon_operator.status import Cond
from cocoon_operator.steps.health import pod_problems as pp
from cocoon_operator.steps.health.evaluate import HealthNumbers, HealthReport, Thresholds, runner_finding
from cocoon_operator.steps.health.pod_problems import Finding, PodLayout
from cocoon_operator.steps.health.probe import RunnerProbe

Obj = Mapping[str, Any]

CHECK_HOST: Final = "check-host"
FETCH_RELEASE: Final = "fetch-release"
LAUNCHER: Final = "launcher"
RELEASE_MISMATCH_EXIT_CODE: Final = 3
HOST_MISSING_EXIT_CODE: Final = 4
# The generic pod checks name the launcher container where they would name Triton or the runner (the
# VM's own init containers are judged by `_init_problem` first).
LAYOUT: Final = PodLayout(triton=LAUNCHER, runner=LAUNCHER, model_fetch="", model_verify="")


_LAUNCHER_HINT = (
    "cocoon-launch stops when the release, the GPU (VFIO) or the host is not ready, and QEMU when TDX or "
    "the passthrough fails; the cause is in the container log."
)


def evaluate_vm(pod: Obj | None, runner: RunnerProbe, now: dt.datetime) -> HealthReport:
    numbers = HealthNumbers(
        wallet_balance_nano=runner.stats.status.wallet_balance if runner.stats is not None else None,
    )
    if pod is None:
        msg = "The launcher pod does not exist yet"
        return HealthReport(
            Cond.false(ConditionType.INFERENCE_READY, Reason.NO_POD, msg),
            Cond.false(ConditionType.RUNNER_HEALTHY, Reason.NO_POD, msg),
            (),
            numbers,
        )
    problem = _init_problem(pod) or pp.pod_problem(pod, LAYOUT, now)
    if problem is not None:
        return HealthReport(
            problem.cond(ConditionType.INFERENCE_READY),
            problem.cond(ConditionType.RUNNER_HEALTHY),
            (),
            numbers,
        )
    launcher = pp.container_problem(pod, LAUNCHER, _LAUNCHER_HINT)
    if launcher is not None:
        return HealthReport(
            launcher.cond(ConditionType.INFERENCE_READY),
            launcher.cond(ConditionType.RUNNER_HEALTHY),
            (),
            numbers,
        )
    inference = _inference(pod, runner)
    runner_cond = runner_finding(pod, runner, now, Thresholds(), LAYOUT)
    return HealthReport(
        inference.cond(ConditionType.INFERENCE_READY),
        runner_cond.cond(ConditionType.RUNNER_HEALTHY),
        (),
        numbers,
    )


def _inference(pod: Obj, runner: RunnerProbe) -> Finding:
    name = pp.pod_name(pod)
    node = pod.get("spec", {}).get("nodeName") or "?"
    if runner.skipped is not None:
        return Finding(Reason.PROBE_SKIPPED, f"The runner was not probed: {runner.skipped}", "Unknown")
    if runner.reachable:
        return pp.healthy(
            Reason.VM_SERVING,
            f"The worker VM runs in launcher pod {name} on {node} and its runner answers at {runner.url}; "
            "the model is served inside the TDX guest",
        )
    cs = pp.container_status(pod, LAUNCHER) or {}
    started = ((cs.get("state") or {}).get("running") or {}).get("startedAt")
    since = f" since {started}" if started else ""
    return Finding(
        Reason.VM_STARTING,
        f"The worker VM is booting in launcher pod {name} on {node}{since}: the runner answers at "
        f"{runner.url} once the guest has started and loaded the model (spec.runtime.vm.startupTimeout); "
        f"progress in {pp.logs_hint(pod, LAUNCHER)}",
    )


def _init_problem(pod: Obj) -> Finding | None:
    for cs in pp.container_statuses(pod, "initContainerStatuses"):
        container = str(cs.get("name"))
        if container not in (CHECK_HOST, FETCH_RELEASE):
            continue
        state = cs.get("state") or {}
        term = state.get("terminated") or {}
        if not term and (state.get("waiting") or {}).get("reason") == "CrashLoopBackOff":
            term = (cs.get("lastState") or {}).get("terminated") or {}
        code = term.get("exitCode", 0) if term else 0
        if not code:
            continue
        lines = str(term.get("message") or "").strip().splitlines()
        said = lines[-1][:600] if lines else pp.terminated_text(term)
        node = pod.get("spec", {}).get("nodeName") or "its node"
        if container == CHECK_HOST and code == HOST_MISSING_EXIT_CODE:
            return Finding(
                Reason.HOST_PREREQUISITES_MISSING,
                f"Node {node} cannot run the worker VM: {said.removeprefix('host prerequisites missing: ')}. "
                f"Fix the host (docs/cocoon-vm.md) or cordon it; details in {pp.logs_hint(pod, CHECK_HOST)}",
            )
        if container == FETCH_RELEASE and code == RELEASE_MISMATCH_EXIT_CODE:
            return Finding(
                Reason.RELEASE_INTEGRITY_FAILED,
                f"The worker release was refused on {node}: {said}. Nothing was started; fix "
                f"spec.runtime.vm.release (or the chart's launcher.release); details in "
                f"{pp.logs_hint(pod, FETCH_RELEASE)}",
            )
        if container == FETCH_RELEASE:
            return Finding(
                Reason.RELEASE_FETCH_FAILED,
                f"Downloading the worker release failed on {node}, {pp.terminated_text(term)}. Check the "
                f"release URL and the node's egress; details in {pp.logs_hint(pod, FETCH_RELEASE)}",
            )
        return Finding(
            Reason.INIT_CONTAINER_FAILED,
            f"Init container {container} of pod {pp.pod_name(pod)} failed, {pp.terminated_text(term)}; "
            f"see {pp.logs_hint(pod, container)}",
        )
    return None
