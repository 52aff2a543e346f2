"""The operator's health layer against real parts: a real Triton (CPU) and the runner simulator.

The pod object is what the API server would report for a running pod at that IP; the probes and
their answers are real. Every wait is bounded by a deadline (no timing assertions).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from cocoon_dev.runtime import triton as triton_mod
from cocoon_dev.runtime.triton import StandInModel, TritonServer
from cocoon_operator.conditions import Reason
from cocoon_operator.status import RUNNER_HEALTHY
from cocoon_operator.steps.health import HealthProber, HealthReport, Timeouts, evaluate_health
from tests.fixtures.runtime import WorkerPod, free_loopback_ip

pytestmark = pytest.mark.triton

R = Reason


def running_pod(ip: str, *, triton_started: bool | None = None) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "metadata": {"name": "worker-0", "namespace": "health-test"},
        "spec": {"nodeName": "fake-gpu-0"},
        "status": {"phase": "Running", "podIP": ip},
    }
    if triton_started is not None:
        pod["status"]["containerStatuses"] = [
            {"name": "triton", "restartCount": 0, "started": triton_started, "ready": triton_started,
             "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}},
        ]  # fmt: skip
    return pod


@pytest.fixture
async def prober() -> AsyncIterator[HealthProber]:
    async with HealthProber(timeouts=Timeouts(request_s=2.0, probe_s=5.0), cache_ttl_s=0) as p:
        yield p


async def check(prober: HealthProber, pod: dict[str, Any], model: str | None = None) -> HealthReport:
    ip = pod["status"]["podIP"]
    triton, runner = await prober.probe(ip, model, max_age_s=0)
    return evaluate_health(pod, triton, runner, dt.datetime.now(dt.UTC))


async def wait_for(
    prober: HealthProber,
    pod: dict[str, Any],
    accept: Callable[[HealthReport], bool],
    timeout: float,
    model: str | None = None,
) -> HealthReport:
    """Probe until `accept(report)`; fail with the last report's conditions at the deadline."""
    report = await check(prober, pod, model)
    async with asyncio.timeout(timeout):
        while not accept(report):
            await asyncio.sleep(0.5)
            report = await check(prober, pod, model)
    return report


def _conds(report: HealthReport) -> str:
    return " | ".join(f"{c.type}={c.status} {c.reason}: {c.message}" for c in report.conditions)


async def test_healthy_worker_serves_real_requests(
    worker_pod_factory: Callable[..., WorkerPod], prober: HealthProber
) -> None:
    """Triton + runner simulator sending real inference requests: both conditions True, and the
    requests the simulator sent are counted from Triton's own metrics."""
    worker = worker_pod_factory()
    pod = running_pod(worker.ip)

    def served(report: HealthReport) -> bool:
        return (
            report.inference.status == "True"
            and (report.numbers.inference_success or 0) >= 3
            and (report.numbers.runner_success or 0) >= 3
        )

    try:
        report = await wait_for(prober, pod, served, timeout=60)
    except TimeoutError:
        pytest.fail(f"worker never served 3 requests: {_conds(await check(prober, pod))}")
    assert report.inference.reason == R.SERVING
    assert "cocoon_llm (version 1)" in report.inference.message
    assert report.numbers.inference_success is not None and report.numbers.inference_success >= 3
    assert report.numbers.inference_failure == 0
    assert [m.to_status() for m in report.models] == [{"name": "cocoon_llm", "ready": True}]
    # The simulator (fake chain: 100 TON pseudo wallet, hashes accepted) is a healthy runner.
    assert report.runner.type == RUNNER_HEALTHY
    assert (report.runner.status, report.runner.reason) == ("True", R.HEALTHY), report.runner.message
    assert report.numbers.wallet_balance_nano == 100 * 10**9
    assert report.numbers.adjusted_tokens is not None and report.numbers.adjusted_tokens > 0


async def test_killed_triton_is_reported_and_recovers_after_restart(
    triton_install: triton_mod.TritonInstall, tmp_path: Path, prober: HealthProber
) -> None:
    """SIGKILL the server → InferenceReady=False (TritonUnreachable); a new server on the same
    address → True again. Both transitions are bounded by a deadline."""
    repo = triton_mod.write_model_repository(tmp_path / "repo")
    config = triton_mod.TritonServerConfig(model_repository=repo, address=free_loopback_ip())
    pod = running_pod(config.address)
    servers: list[TritonServer] = []

    def start() -> TritonServer:
        server = TritonServer(config, log_path=tmp_path / f"triton{len(servers)}.log", install=triton_install)
        servers.append(server)
        server.start()
        return server

    try:
        first = start()
        first.wait_ready(timeout=90)
        report = await check(prober, pod)
        assert report.inference.status == "True", _conds(report)

        os.killpg(first.pid, signal.SIGKILL)
        report = await wait_for(prober, pod, lambda r: r.inference.status == "False", timeout=30)
        assert report.inference.reason == R.TRITON_UNREACHABLE, _conds(report)
        assert f"http://{config.address}:8000" in report.inference.message
        # Refused, or reset when the probe raced the kill: either way the network error is named.
        assert "connection re" in report.inference.message
        assert report.status_fields() == {"models": None}

        start()
        report = await wait_for(prober, pod, lambda r: r.inference.status == "True", timeout=90)
        assert report.inference.reason == R.SERVING
    finally:
        for server in servers:
            server.stop(timeout=30)


async def test_sigterm_stops_serving_at_once(
    triton_factory: Callable[..., TritonServer], prober: HealthProber
) -> None:
    """Triton refuses new connections as soon as SIGTERM arrives (triton.md §2): health follows."""
    server = triton_factory()
    pod = running_pod(server.config.address)
    assert (await check(prober, pod)).inference.status == "True"
    server.terminate()
    report = await wait_for(prober, pod, lambda r: r.inference.status == "False", timeout=30)
    assert report.inference.reason in (R.TRITON_UNREACHABLE, R.TRITON_NOT_READY), _conds(report)


async def test_broken_model_is_unavailable_with_reason(
    triton_factory: Callable[..., TritonServer], prober: HealthProber
) -> None:
    server = triton_factory(
        models=(StandInModel(), StandInModel(name="broken_llm", fail_init=True)),
        wait="live",
        exit_on_error=False,
    )
    pod = running_pod(server.config.address)
    report = await check(prober, pod)
    assert (report.inference.status, report.inference.reason) == ("False", R.MODEL_UNAVAILABLE)
    assert "broken_llm (version 1)" in report.inference.message
    assert "fail_init" in report.inference.message
    models = {m["name"]: m for m in report.status_fields()["models"]}
    assert models["cocoon_llm"] == {"name": "cocoon_llm", "ready": True}
    assert models["broken_llm"]["ready"] is False
    assert models["broken_llm"]["reason"].startswith("UNAVAILABLE: ")
    assert "fail_init" in models["broken_llm"]["reason"]
    assert "\n" not in models["broken_llm"]["reason"]  # the Python stack is cut off

    # Asking for the good model only: it is ready, but strict readiness keeps the server not ready.
    report = await check(prober, pod, model="cocoon_llm")
    assert (report.inference.status, report.inference.reason) == ("False", R.TRITON_NOT_READY)
    assert [m.name for m in report.models] == ["cocoon_llm"]


async def test_slow_model_load_reads_as_starting_then_serving(
    triton_factory: Callable[..., TritonServer], prober: HealthProber
) -> None:
    """Ports stay closed until every startup model has loaded (triton.md §2): with the container
    running but not yet started, that is TritonStarting, not TritonUnreachable."""
    server = triton_factory(models=(StandInModel(init_delay_s=6.0),), wait=None)
    loading = running_pod(server.config.address, triton_started=False)
    report = await check(prober, loading)
    assert (report.inference.status, report.inference.reason) == ("False", R.TRITON_STARTING), _conds(report)
    assert "ports open only after every model has loaded" in report.inference.message
    started = running_pod(server.config.address, triton_started=True)
    report = await wait_for(prober, started, lambda r: r.inference.status == "True", timeout=90)
    assert report.inference.reason == R.SERVING
