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

from cocoon_operator.health import evaluate as ev
from cocoon_operator.health.evaluate import HealthNumbers, HealthReport, PodLayout, Thresholds
from cocoon_operator.health.probe import RunnerProbe
from cocoon_operator.health.reasons import RUNNER_HEALTHY
from cocoon_operator.status import INFERENCE_READY, Cond

Obj = Mapping[str, Any]

CHECK_HOST: Final = "check-host"
FETCH_RELEASE: Final = "fetch-release"
LAUNCHER: Final = "launcher"
RELEASE_MISMATCH_EXIT_CODE: Final = 3
HOST_MISSING_EXIT_CODE: Final = 4
# The generic pod checks name the launcher container where they would name Triton or the runner (the
# VM's own init containers are judged by `_init_problem` first).
LAYOUT: Final = PodLayout(triton=LAUNCHER, runner=LAUNCHER, model_fetch="", model_verify="")


class VmReason:
    SERVING: Final = "VmServing"
    STARTING: Final = "VmStarting"
    HOST_PREREQUISITES_MISSING: Final = "HostPrerequisitesMissing"
    RELEASE_INTEGRITY_FAILED: Final = "ReleaseIntegrityFailed"
    RELEASE_FETCH_FAILED: Final = "ReleaseFetchFailed"


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
            Cond.false(INFERENCE_READY, ev.R.NO_POD, msg),
            Cond.false(RUNNER_HEALTHY, ev.R.NO_POD, msg),
            (),
            numbers,
        )
    problem = _init_problem(pod) or ev._pod_problem(pod, LAYOUT, now)
    if problem is not None:
        return HealthReport(problem.cond(INFERENCE_READY), problem.cond(RUNNER_HEALTHY), (), numbers)
    launcher = ev._container_problem(pod, LAUNCHER, _LAUNCHER_HINT)
    if launcher is not None:
        return HealthReport(launcher.cond(INFERENCE_READY), launcher.cond(RUNNER_HEALTHY), (), numbers)
    inference = _inference(pod, runner)
    runner_cond = ev._runner(pod, runner, now, Thresholds(), LAYOUT)
    return HealthReport(inference.cond(INFERENCE_READY), runner_cond.cond(RUNNER_HEALTHY), (), numbers)


def _inference(pod: Obj, runner: RunnerProbe) -> ev._Finding:
    name = ev._name(pod)
    node = pod.get("spec", {}).get("nodeName") or "?"
    if runner.skipped is not None:
        return ev._Finding(ev.R.PROBE_SKIPPED, f"The runner was not probed: {runner.skipped}", "Unknown")
    if runner.reachable:
        return ev._ok(
            VmReason.SERVING,
            f"The worker VM runs in launcher pod {name} on {node} and its runner answers at {runner.url}; "
            "the model is served inside the TDX guest",
        )
    cs = ev._container_status(pod, LAUNCHER) or {}
    started = ((cs.get("state") or {}).get("running") or {}).get("startedAt")
    since = f" since {started}" if started else ""
    return ev._Finding(
        VmReason.STARTING,
        f"The worker VM is booting in launcher pod {name} on {node}{since}: the runner answers at "
        f"{runner.url} once the guest has started and loaded the model (spec.runtime.vm.startupTimeout); "
        f"progress in {ev._logs(pod, LAUNCHER)}",
    )


def _init_problem(pod: Obj) -> ev._Finding | None:
    for cs in ev._statuses(pod, "initContainerStatuses"):
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
        said = lines[-1][:600] if lines else ev._terminated_text(term)
        node = pod.get("spec", {}).get("nodeName") or "its node"
        if container == CHECK_HOST and code == HOST_MISSING_EXIT_CODE:
            return ev._Finding(
                VmReason.HOST_PREREQUISITES_MISSING,
                f"Node {node} cannot run the worker VM: {said.removeprefix('host prerequisites missing: ')}. "
                f"Fix the host (docs/cocoon-vm.md) or cordon it; details in {ev._logs(pod, CHECK_HOST)}",
            )
        if container == FETCH_RELEASE and code == RELEASE_MISMATCH_EXIT_CODE:
            return ev._Finding(
                VmReason.RELEASE_INTEGRITY_FAILED,
                f"The worker release was refused on {node}: {said}. Nothing was started; fix "
                f"spec.runtime.vm.release (or the chart's launcher.release); details in "
                f"{ev._logs(pod, FETCH_RELEASE)}",
            )
        if container == FETCH_RELEASE:
            return ev._Finding(
                VmReason.RELEASE_FETCH_FAILED,
                f"Downloading the worker release failed on {node}, {ev._terminated_text(term)}. Check the "
                f"release URL and the node's egress; details in {ev._logs(pod, FETCH_RELEASE)}",
            )
        return ev._Finding(
            ev.R.INIT_CONTAINER_FAILED,
            f"Init container {container} of pod {ev._name(pod)} failed, {ev._terminated_text(term)}; "
            f"see {ev._logs(pod, container)}",
        )
    return None
