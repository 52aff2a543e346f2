"""evaluate_health across the worker lifecycle (cocoon-protocol.md §2.4) and Triton's failure modes
(triton.md §2): which condition, which reason, and a message that names what to act on."""

# ruff: noqa: E501  (one table row per case reads better than wrapped rows)

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from cocoon_operator.conditions import Reason
from cocoon_operator.status import INFERENCE_READY, RUNNER_HEALTHY
from cocoon_operator.steps.health import evaluate_health
from cocoon_operator.steps.health.probe import RunnerProbe, skipped_probes
from cocoon_operator.worker.triton_client import Check, ErrorKind, IndexResult, ProbeError, TritonProbe
from tests.unit.health.builders import (
    DELETE,
    NOW,
    TON,
    container,
    model,
    pod,
    runner_error,
    runner_ok,
    running,
    triton_down,
    triton_ok,
)

R = Reason
CRASH_LAST = {"terminated": {"exitCode": 1, "reason": "Error", "message": "failed to load all models",
                             "finishedAt": "2026-11-25T22:59:00Z"}}  # fmt: skip


@dataclass
class Case:
    id: str
    pod: dict[str, Any] | None
    triton: TritonProbe
    runner: RunnerProbe
    inference: tuple[str, str]
    runner_cond: tuple[str, str]
    inference_says: tuple[str, ...] = ()
    runner_says: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def pod_down(id_: str, pod_: dict[str, Any], reason: str, *says: str) -> Case:
    """A pod that runs no containers (yet): Triton and the runner are unreachable, and both conditions
    carry the pod's own reason."""
    return Case(id_, pod_, triton_down(), runner_error(ErrorKind.UNREACHABLE, "x"),
                ("False", reason), ("False", reason), says)  # fmt: skip


CASES = [
    # --- lifecycle: no pod, pending, initialising ------------------------------------------------
    Case("no-pod", None, triton_down(), runner_error(ErrorKind.UNREACHABLE, "connection refused"),
         ("False", R.NO_POD), ("False", R.NO_POD), ("does not exist",)),
    pod_down("unschedulable", pod("Pending", node=None, ip=None, conditions=[
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]),
         R.POD_NOT_RUNNING, "not scheduled", "Insufficient nvidia.com/gpu"),
    pod_down("fetching-model", pod("Pending", init=[container("fetch-model", running(), ready=False)]),
         R.POD_NOT_RUNNING, "fetch-model running", "verifying the model"),
    pod_down("model-hash-mismatch", pod("Pending", init=[container(
            "fetch-model", {"waiting": {"reason": "CrashLoopBackOff"}}, ready=False, restarts=3,
            last={"terminated": {"exitCode": 3, "reason": "Error", "message":
                  "fetching model archive x\nmodel integrity check failed: SHA-256 of the archive is 1f"}})]),
         R.MODEL_INTEGRITY_FAILED, "does not match spec.inference.modelSha256", "SHA-256 of the archive is 1f",
         "3 restarts", "kubectl logs -n cocoon worker-a-0 -c fetch-model"),
    pod_down("pvc-model-mismatch", pod("Running", init=[container(
            "verify-model", {"terminated": {"exitCode": 3, "reason": "Error", "message": "manifest SHA-256 is 2e"}},
            ready=False)]),
         R.MODEL_INTEGRITY_FAILED, "manifest SHA-256 is 2e", "spec.inference.modelSource.pvc", "-c verify-model"),
    pod_down("model-download-failed", pod("Pending", init=[container(
            "fetch-model", {"terminated": {"exitCode": 22, "reason": "Error", "message": "404 Not Found"}},
            ready=False)]),
         R.MODEL_FETCH_FAILED, "exit code 22", "404 Not Found", "spec.inference.modelSource.url"),
    pod_down("image-pull", pod("Pending", triton=container("triton", {"waiting": {
            "reason": "ImagePullBackOff", "message": "Back-off pulling image"}}, ready=False)),
         R.IMAGE_PULL_FAILED, "nvcr.io/nvidia/tritonserver:24.10-py3", "Back-off pulling image"),
    Case("terminating", pod(deletionTimestamp="x") | {"metadata": {"name": "worker-a-0", "namespace": "cocoon",
                                                                   "deletionTimestamp": "2026-11-25T22:59:59Z"}},
         triton_ok(), runner_ok(), ("False", R.POD_TERMINATING), ("False", R.POD_TERMINATING)),
    pod_down("evicted", pod("Failed", reason="Evicted", message="The node was low on resource: memory."),
         R.POD_NOT_RUNNING, "Failed", "Evicted", "low on resource"),
    # --- Triton start-up and failure modes --------------------------------------------------------
    Case("triton-loading", pod(triton=container("triton", running(), ready=False, started=False)),
         triton_down(), runner_ok(), ("False", R.TRITON_STARTING), ("True", R.HEALTHY),
         ("ports open only after every model has loaded", "running since 2026-", "startupTimeout")),
    Case("triton-crashloop", pod(triton=container("triton", {"waiting": {"reason": "CrashLoopBackOff"}},
                                                  ready=False, restarts=5, last=CRASH_LAST)),
         triton_down(), runner_ok(), ("False", R.CONTAINER_CRASH_LOOPING), ("True", R.HEALTHY),
         ("5 restarts", "exit code 1 (Error): failed to load all models", "-c triton --previous")),
    Case("triton-killed", pod(), triton_down(), runner_ok(),
         ("False", R.TRITON_UNREACHABLE), ("True", R.HEALTHY), ("http://127.100.0.7:8000", "connection refused")),
    Case("triton-hung", pod(), triton_down("no answer within 2 s", ErrorKind.TIMEOUT), runner_ok(),
         ("False", R.TRITON_UNREACHABLE), ("True", R.HEALTHY), ("no answer within 2 s",)),
    Case("triton-container-terminated", pod(triton=container("triton", {"terminated": {
            "exitCode": 137, "reason": "OOMKilled"}}, ready=False, restarts=1)),
         triton_down(), runner_ok(), ("False", R.CONTAINER_TERMINATED), ("True", R.HEALTHY),
         ("exit code 137 (OOMKilled)",)),
    Case("broken-model-strict", pod(), triton_ok(
            model(), model("broken_llm", "UNAVAILABLE", "load failed: RuntimeError: fail_init is set"),
            ready=Check(ok=False, status=400)),
         runner_ok(), ("False", R.MODEL_UNAVAILABLE), ("True", R.HEALTHY),
         ("broken_llm (version 1) in pod worker-a-0 is UNAVAILABLE", "fail_init is set", "restart the pod")),
    Case("broken-model-lenient-readiness", pod(), triton_ok(
            model(), model("broken_llm", "UNAVAILABLE", "boom")),  # server ready 200, a model is not
         runner_ok(), ("False", R.MODEL_UNAVAILABLE), ("True", R.HEALTHY), ("broken_llm",)),
    Case("named-model-fine-other-broken", pod(), triton_ok(
            model(), model("broken_llm", "UNAVAILABLE", "boom"), model_name="cocoon_llm",
            ready=Check(ok=False, status=400)),
         runner_ok(), ("False", R.TRITON_NOT_READY), ("True", R.HEALTHY), ("HTTP 400", "strict readiness")),
    Case("model-loading", pod(), triton_ok(model(state="LOADING"), ready=Check(ok=False, status=400)),
         runner_ok(), ("False", R.MODEL_LOADING), ("True", R.HEALTHY), ("cocoon_llm (version 1) in pod worker-a-0 is LOADING",)),
    Case("model-missing", pod(), triton_ok(model(), model_name="qwen3"), runner_ok(),
         ("False", R.MODEL_NOT_FOUND), ("True", R.HEALTHY), ("no model qwen3", "models: cocoon_llm")),
    Case("empty-repository", pod(), triton_ok(index=IndexResult(models=())), runner_ok(),
         ("False", R.NO_MODELS), ("True", R.HEALTHY), ("spec.inference.modelSource",)),
    Case("not-live", pod(), triton_ok(live=Check(ok=False, status=500)), runner_ok(),
         ("False", R.TRITON_NOT_LIVE), ("True", R.HEALTHY), ("HTTP 500",)),
    Case("index-restricted-but-ready", pod(), triton_ok(
            index=IndexResult(error=ProbeError(kind=ErrorKind.HTTP, status=403, detail="HTTP 403"))),
         runner_ok(), ("True", R.SERVING), ("True", R.HEALTHY)),
    Case("serving", pod(), triton_ok(), runner_ok(), ("True", R.SERVING), ("True", R.HEALTHY),
         ("Triton serves cocoon_llm (version 1)",),
         ("accepted by the root contract", "worker contract deployed for")),
    # --- runner lifecycle -----------------------------------------------------------------------
    Case("runner-booting", pod(), triton_ok(), runner_error(ErrorKind.UNREACHABLE, "connection refused"),
         ("True", R.SERVING), ("False", R.RUNNER_UNREACHABLE), (), ("connection refused", "-c runner")),
    Case("runner-reading-ton", pod(), triton_ok(),
         runner_error(ErrorKind.HTTP, "HTTP 400: not found", status=400),
         ("True", R.SERVING), ("False", R.RUNNER_STARTING), (), ("read the root contract", "globalConfigRef")),
    Case("runner-garbage", pod(), triton_ok(),
         runner_error(ErrorKind.INVALID, "/jsonstats is not JSON", status=200),
         ("True", R.SERVING), ("False", R.RUNNER_BAD_RESPONSE), (), ("not JSON",)),
    Case("runner-aborted", pod(runner=container("runner", {"waiting": {"reason": "CrashLoopBackOff"}},
                                                restarts=4, last={"terminated": {"exitCode": 134}})),
         triton_ok(), runner_error(ErrorKind.UNREACHABLE, "connection refused"),
         ("True", R.SERVING), ("False", R.CONTAINER_CRASH_LOOPING), (), ("4 restarts", "exit code 134", "image or model hash")),
    Case("image-not-accepted", pod(), triton_ok(), runner_ok(**{"status.actual_image_hash": False}),
         ("True", R.SERVING), ("False", R.IMAGE_NOT_ACCEPTED), (), ("worker_hashes", "spec.worker.image")),
    Case("model-not-accepted", pod(), triton_ok(), runner_ok(**{"status.actual_model": False}),
         ("True", R.SERVING), ("False", R.MODEL_NOT_ACCEPTED), (), ("Qwen/Qwen3-8B@", "spec.model")),
    Case("ton-late", pod(), triton_ok(), runner_ok(**{"status.ton_last_synced_at": int(NOW.timestamp()) - 900}),
         ("True", R.SERVING), ("True", R.TON_SYNC_LATE), (), ("last read at 2026-",)),
    Case("ton-out-of-sync", pod(), triton_ok(),
         runner_ok(**{"status.ton_last_synced_at": int(NOW.timestamp()) - 7200}),
         ("True", R.SERVING), ("False", R.TON_OUT_OF_SYNC), (), ("last read the root contract at 2026-", "liteservers")),
    Case("ton-never", pod(), triton_ok(), runner_ok(**{"status.ton_last_synced_at": 0}),
         ("True", R.SERVING), ("False", R.TON_OUT_OF_SYNC), (), ("never",)),
    Case("waiting-for-funding", pod(), triton_ok(), runner_ok(**{"status.wallet_balance": 1_500_000_000,
                                                                 "proxies": []}),
         ("True", R.SERVING), ("False", R.WALLET_BALANCE_TOO_LOW), (),
         ("holds 1.5 TON", "minimum 2.1 TON", "at least 0.6 TON", "UQwallet")),
    Case("wallet-low", pod(), triton_ok(), runner_ok(**{"status.wallet_balance": 3 * TON}),
         ("True", R.SERVING), ("True", R.WALLET_BALANCE_LOW), (), ("3 TON", "below 5 TON")),
    Case("late-and-low", pod(), triton_ok(), runner_ok(**{"status.wallet_balance": 3 * TON,
                                                          "status.ton_last_synced_at": int(NOW.timestamp()) - 700}),
         ("True", R.SERVING), ("True", R.TON_SYNC_LATE), (), ("last read at 2026-", "3 TON")),
    Case("wallet-not-created-yet", pod(), triton_ok(), runner_ok(**{"status.wallet_balance": DELETE}),
         ("True", R.SERVING), ("True", R.HEALTHY)),
    Case("no-proxy", pod(), triton_ok(), runner_ok(proxies=[]),
         ("True", R.SERVING), ("False", R.NO_PROXY), (), ("1 registered",)),
    Case("registering", pod(), triton_ok(), runner_ok(proxies=[{"sc_inited": False, "proxy_sc_address": "EQp"}]),
         ("True", R.SERVING), ("False", R.REGISTERING), (), ("sc_inited=false",)),
    Case("probe-skipped", pod(), *skipped_probes("127.100.0.7", None, "too busy"),
         ("Unknown", R.PROBE_SKIPPED), ("Unknown", R.PROBE_SKIPPED), ("too busy",), ("too busy",)),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_conditions(case: Case) -> None:
    report = evaluate_health(case.pod, case.triton, case.runner, NOW)
    inf, run = report.inference, report.runner
    assert (inf.type, run.type) == (INFERENCE_READY, RUNNER_HEALTHY)
    assert (inf.status, inf.reason) == case.inference, inf.message
    assert (run.status, run.reason) == case.runner_cond, run.message
    for text in case.inference_says:
        assert text in inf.message, inf.message
    for text in case.runner_says:
        assert text in run.message, run.message
    assert inf.message and run.message
    assert inf.reason.isalpha() and inf.reason[0].isupper()


def test_models_in_status() -> None:
    report = evaluate_health(
        pod(),
        triton_ok(model(), model("broken_llm", "UNAVAILABLE", "fail_init is set"), model("idle", None)),
        runner_ok(),
        NOW,
    )
    assert report.status_fields() == {
        "models": [
            {"name": "cocoon_llm", "ready": True},
            {"name": "broken_llm", "ready": False, "reason": "UNAVAILABLE: fail_init is set"},
            {"name": "idle", "ready": False, "reason": "NOT LOADED"},
        ]
    }


def test_no_models_known_removes_the_key() -> None:
    assert evaluate_health(None, triton_down(), runner_ok(), NOW).status_fields() == {"models": None}


def test_named_model_limits_status_and_numbers() -> None:
    report = evaluate_health(pod(), triton_ok(model(), model("other"), model_name="other"), runner_ok(), NOW)
    assert [m.name for m in report.models] == ["other"]
    assert report.numbers.inference_success == 0  # the metrics are for cocoon_llm only


def test_numbers() -> None:
    restarting = container("triton", running(), restarts=2)
    n = evaluate_health(pod(triton=restarting), triton_ok(), runner_ok(), NOW).numbers
    assert (n.inference_success, n.inference_failure, n.inference_pending) == (120, 2, 1)
    assert n.inference_queue_us == 61_000 and n.inference_compute_us == 900_000
    assert (n.runner_queries, n.runner_success, n.runner_failed) == (130, 128, 2)
    assert n.runner_queries_per_s_1m == 3.9 and n.adjusted_tokens == 5400
    assert n.wallet_balance_nano == 12 * TON and n.ton_sync_age_s == 20
    assert n.container_restarts == 2


def test_numbers_absent_when_unreachable() -> None:
    n = evaluate_health(pod(), triton_down(), runner_error(ErrorKind.TIMEOUT, "t"), NOW).numbers
    assert n.inference_success is None and n.runner_queries is None and n.wallet_balance_nano is None


def test_metrics_error_still_serving() -> None:
    from cocoon_operator.worker.triton_client import TritonMetrics

    broken = TritonMetrics(error=ProbeError(kind=ErrorKind.UNREACHABLE, detail="connection refused"))
    report = evaluate_health(pod(), triton_ok(metrics=broken), runner_ok(), NOW)
    assert report.inference.status == "True"
    assert "metrics unavailable: connection refused" in report.inference.message
    assert report.numbers.inference_success is None


def test_no_secrets_in_messages() -> None:
    """The runner's JSON carries no key, but make sure nothing from localconfig but the model leaks."""
    report = evaluate_health(pod(), triton_ok(), runner_ok(**{"status.actual_model": False}), NOW)
    assert "UQowner" not in report.runner.message and "EQroot" not in report.runner.message


def test_ready_timeout_is_not_ready() -> None:
    probe = TritonProbe(
        url="http://x:8000",
        live=Check(ok=True, status=200),
        ready=Check(ok=None, error=ProbeError(kind=ErrorKind.TIMEOUT, detail="no answer within 2 s")),
        index=IndexResult(error=ProbeError(kind=ErrorKind.TIMEOUT, detail="t")),
    )
    report = evaluate_health(pod(), probe, runner_ok(), NOW)
    assert (report.inference.status, report.inference.reason) == ("False", R.TRITON_NOT_READY)
    assert "no answer within 2 s" in report.inference.message


def test_conditions_stay_the_same_while_only_counters_and_ages_move() -> None:
    """A condition message that changed on every probe would rewrite the status on every reconcile."""
    import datetime as dt

    from tests.unit.health.builders import TON, metrics

    later = NOW + dt.timedelta(seconds=90)
    first = evaluate_health(pod(), triton_ok(), runner_ok(), NOW)
    busier = evaluate_health(
        pod(),
        triton_ok(metrics=metrics(success=5000, failure=7, pending=3)),
        runner_ok(
            **{"status.ton_last_synced_at": int(later.timestamp()) - 5, "status.wallet_balance": 11 * TON}
        ),
        later,
    )
    assert first.conditions == busier.conditions
