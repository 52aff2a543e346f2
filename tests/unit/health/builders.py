"""Builders for health unit tests: pods as the API returns them, probe results as the clients do."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from cocoon_operator.steps.health.probe import HealthProber, RunnerProbe
from cocoon_operator.worker.runner_client import parse_jsonstats
from cocoon_operator.worker.triton_client import (
    Check,
    ErrorKind,
    IndexResult,
    ModelMetrics,
    ModelState,
    ProbeError,
    TritonMetrics,
    TritonProbe,
)

NOW = dt.datetime(2026, 11, 25, 23, 0, 0, tzinfo=dt.UTC)
IP = "127.100.0.7"
TRITON_URL = f"http://{IP}:8000"
RUNNER_URL = f"http://{IP}:12000/jsonstats"
TON = 1_000_000_000


def running(started: str = "2026-11-25T22:55:00Z") -> dict[str, Any]:
    return {"running": {"startedAt": started}}


def container(name: str, state: dict[str, Any], *, ready: bool = True, started: bool = True,
              restarts: int = 0, last: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    cs: dict[str, Any] = {
        "name": name,
        "ready": ready,
        "started": started,
        "restartCount": restarts,
        "state": state,
    }
    if last is not None:
        cs["lastState"] = last
    return cs


def pod(
    phase: str = "Running",
    *,
    triton: dict[str, Any] | None = None,
    runner: dict[str, Any] | None = None,
    init: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    node: str | None = "gpu-node-1",
    ip: str | None = IP,
    **status: Any,
) -> dict[str, Any]:
    statuses = []
    if phase == "Running":
        statuses = [triton or container("triton", running()), runner or container("runner", running())]
    else:
        statuses = [s for s in (triton, runner) if s is not None]
    body: dict[str, Any] = {
        "metadata": {"name": "worker-a-0", "namespace": "cocoon"},
        "spec": {
            "containers": [
                {"name": "triton", "image": "nvcr.io/nvidia/tritonserver:24.10-py3"},
                {"name": "runner", "image": "example.org/cocoon-worker:1"},
            ],
            "initContainers": [{"name": "fetch-model", "image": "curlimages/curl:8"}],
        },
        "status": {"phase": phase, "containerStatuses": statuses, **status},
    }
    if node:
        body["spec"]["nodeName"] = node
    if ip:
        body["status"]["podIP"] = ip
    if init is not None:
        body["status"]["initContainerStatuses"] = init
    if conditions is not None:
        body["status"]["conditions"] = conditions
    return body


def model(name: str = "cocoon_llm", state: str | None = "READY", reason: str | None = None) -> ModelState:
    return ModelState(name=name, version="1", state=state, reason=reason)


def metrics(
    success: float = 120, failure: float = 2, queue_us: float = 61_000, pending: float = 1
) -> TritonMetrics:
    return TritonMetrics(
        models=(
            ModelMetrics(model="cocoon_llm", version="1", success=success, failure=failure,
                         failure_by_reason={"BACKEND": failure}, queue_us=queue_us, compute_infer_us=900_000,
                         pending=pending),
        )
    )  # fmt: skip


def triton_ok(*models: ModelState, model_name: str | None = None, **over: Any) -> TritonProbe:
    fields: dict[str, Any] = {
        "url": TRITON_URL,
        "live": Check(ok=True, status=200),
        "ready": Check(ok=True, status=200),
        "model": model_name,
        "model_ready": Check(ok=True, status=200) if model_name else None,
        "index": IndexResult(models=models or (model(),)),
        "metrics": metrics(),
    }
    fields.update(over)
    return TritonProbe(**fields)


def refused(kind: ErrorKind = ErrorKind.UNREACHABLE, detail: str = "connection refused") -> Check:
    return Check(ok=None, error=ProbeError(kind=kind, detail=detail))


def triton_down(detail: str = "connection refused", kind: ErrorKind = ErrorKind.UNREACHABLE) -> TritonProbe:
    err = ProbeError(kind=kind, detail=detail)
    return TritonProbe(
        url=TRITON_URL, live=Check(ok=None, error=err), ready=Check(ok=None, error=err),
        index=IndexResult(error=err), metrics=TritonMetrics(error=err),
    )  # fmt: skip


JSONSTATS: dict[str, Any] = {
    "status": {
        "wallet_balance": 12 * TON,
        "actual_image_hash": True,
        "actual_model": True,
        "ton_last_synced_at": int(NOW.timestamp()) - 20,
        "enabled": True,
        "git_commit": "cocoon-dev-sim",
        "git_commit_data": "2026-11-25",
    },
    "stats": {
        "queries": [130, 4.1, 4.0, 3.9, 2.0, 0.5, 0.1],
        "success": [128, 4.0, 4.0, 3.8, 2.0, 0.5, 0.1],
        "failed": [2, 0, 0, 0.01, 0, 0, 0],
        "total_adjusted_tokens_used": [5400, 1, 1, 1, 1, 1, 1],
    },
    "wallet": {"address": "UQwalletwalletwalletwalletwalletwalletwalletwall", "balance": 12 * TON, "seqno": 3,
               "pending_transactions_cnt": 0, "active_transactions_cnt": 0},
    "localconfig": {"root_address": "EQroot", "owner_address": "UQowner",
                    "model": "Qwen/Qwen3-8B@b968826d9c46dd6066d109eabc6255188de91218:" + "0" * 64,
                    "coefficient": 1000, "check_proxy_hash": True},
    "root_contract_config": {"registered_proxies": [{"seqno": 1, "address_for_workers": "10.0.0.1:11001"}],
                             "params_version": 1},
    "proxies": [{"sc_inited": True, "proxy_sc_address": "EQproxy", "sc_address": "EQworker",
                 "earned_tokens_max_known": 5400, "params_version": 1}],
}  # fmt: skip


def jsonstats(**changes: Any) -> dict[str, Any]:
    """JSONSTATS with dotted-path changes, e.g. jsonstats(**{"status.actual_model": False})."""
    data = copy.deepcopy(JSONSTATS)
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        target = data
        for key in parents:
            target = target[key]
        if value is _DELETE:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    return data


_DELETE = object()
DELETE: Any = _DELETE


def runner_ok(**changes: Any) -> RunnerProbe:
    import json

    return RunnerProbe(url=RUNNER_URL, status=200, stats=parse_jsonstats(json.dumps(jsonstats(**changes))))


def runner_error(kind: ErrorKind, detail: str, status: int | None = None) -> RunnerProbe:
    return RunnerProbe(
        url=RUNNER_URL, status=status, error=ProbeError(kind=kind, detail=detail, status=status)
    )


class StubProber(HealthProber):
    """Returns fixed probe results and records which pods were asked for."""

    def __init__(self, result: tuple[TritonProbe, RunnerProbe]) -> None:
        super().__init__()
        self.result = result
        self.asked: list[tuple[str, str | None]] = []

    async def probe(
        self, pod_ip: str, model_name: str | None = None, *, max_age_s: float | None = None
    ) -> tuple[TritonProbe, RunnerProbe]:
        self.asked.append((pod_ip, model_name))
        return self.result
