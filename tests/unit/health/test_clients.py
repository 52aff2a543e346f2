"""Triton client and prober against a small in-process HTTP stand-in (one port serves Triton's and the
runner's paths). Real Triton and the runner simulator are exercised in tests/runtime/test_health_*.py."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from cocoon_dev.ports import free_port
from cocoon_operator.steps.health import HealthProber, Ports, Timeouts, probe_worker
from cocoon_operator.worker.triton_client import (
    ErrorKind,
    TritonClient,
    parse_index,
    parse_metrics,
    shorten,
)
from tests.unit.health.builders import JSONSTATS

METRICS = (Path(__file__).parent / "data" / "triton_metrics.txt").read_text()
INDEX = [
    {"name": "broken_llm", "version": "1", "state": "UNAVAILABLE",
     "reason": "Internal: RuntimeError: fail_init=true (fault injection)\n\nAt:\n  m.py(1): initialize"},
    {"name": "cocoon_llm", "version": "1", "state": "READY", "reason": ""},
]  # fmt: skip


def test_parse_real_triton_metrics() -> None:
    models = {m.model: m for m in parse_metrics(METRICS)}
    llm = models["cocoon_llm"]
    assert (llm.version, llm.success, llm.failure, llm.inference_count) == ("1", 1, 0, 1)
    assert llm.queue_us == 68 and llm.compute_us == 196 + 89351 + 216 and llm.pending == 0
    assert set(llm.failure_by_reason) == {"OTHER", "BACKEND", "CANCELED", "REJECTED"}
    assert models["broken_llm"].success == 0


def test_parse_index_shortens_reasons() -> None:
    broken, good = parse_index(INDEX)
    assert broken.reason == "Internal: RuntimeError: fail_init=true (fault injection)"
    assert not broken.ready and good.ready and good.reason is None
    with pytest.raises(ValueError, match="list"):
        parse_index({"name": "x"})


def test_shorten_traceback_and_length() -> None:
    tb = 'load failed: Traceback (most recent call last):\n  File "m.py", line 3\nValueError: bad weights'
    assert shorten(tb) == "load failed: ValueError: bad weights"
    assert len(shorten("x" * 5000)) == 600


@dataclass
class Stub:
    """Behaviour of the stand-in server; tests change it between calls."""

    ready: int = 200
    delay_s: float = 0.0
    runner_status: int = 200
    calls: list[str] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0


@pytest.fixture
async def stub() -> AsyncIterator[tuple[Stub, int]]:
    state = Stub()

    async def handle(request: web.Request) -> web.Response:
        state.calls.append(request.path)
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            if state.delay_s:
                await asyncio.sleep(state.delay_s)
            path = request.path
            if path == "/v2/health/live":
                return web.Response(status=200)
            if path == "/v2/health/ready":
                return web.Response(status=state.ready)
            if path.startswith("/v2/models/"):
                return web.Response(status=200 if "/cocoon_llm/" in path else 404)
            if path == "/v2/repository/index":
                return web.json_response(INDEX)
            if path == "/metrics":
                return web.Response(text=METRICS)
            if path == "/jsonstats":
                if state.runner_status != 200:
                    return web.Response(status=state.runner_status, text="not found")
                return web.Response(text=json.dumps(JSONSTATS), content_type="application/json")
            return web.Response(status=404)
        finally:
            state.in_flight -= 1

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield state, port
    finally:
        await runner.cleanup()


def _ports(port: int) -> Ports:
    return Ports(triton_http=port, triton_metrics=port, runner_http=port)


async def test_client_probe(stub: tuple[Stub, int]) -> None:
    state, port = stub
    state.ready = 400
    async with TritonClient("127.0.0.1", http_port=port, metrics_port=port) as client:
        probe = await client.probe("cocoon_llm")
    assert probe.reachable and probe.live.ok is True
    assert probe.ready.ok is False and probe.ready.status == 400
    assert probe.model_ready is not None and probe.model_ready.ok is True
    assert [m.state for m in probe.index.models] == ["UNAVAILABLE", "READY"]
    assert probe.metrics.total("success", "cocoon_llm") == 1


async def test_client_unreachable_never_raises() -> None:
    async with TritonClient("127.0.0.1", http_port=free_port(), metrics_port=free_port()) as client:
        probe = await client.probe("cocoon_llm")
    assert not probe.reachable
    assert probe.error is not None and probe.error.kind == ErrorKind.UNREACHABLE
    assert probe.error.detail == "connection refused"
    assert probe.index.error is not None and probe.metrics.error is not None


async def test_client_timeout(stub: tuple[Stub, int]) -> None:
    state, port = stub
    state.delay_s = 1.0
    async with TritonClient("127.0.0.1", http_port=port, metrics_port=port, timeout_s=0.2) as client:
        check = await client.server_live()
    assert check.ok is None and check.error is not None and check.error.kind == ErrorKind.TIMEOUT


async def test_probe_worker_both(stub: tuple[Stub, int]) -> None:
    _, port = stub
    async with aiohttp.ClientSession() as session:
        triton, runner = await probe_worker("127.0.0.1", None, session=session, ports=_ports(port))
    assert triton.reachable and triton.ready.ok is True
    assert runner.status == 200 and runner.stats is not None
    assert runner.stats.status.wallet_balance == JSONSTATS["status"]["wallet_balance"]


async def test_probe_worker_runner_starting(stub: tuple[Stub, int]) -> None:
    state, port = stub
    state.runner_status = 400
    async with aiohttp.ClientSession() as session:
        _, runner = await probe_worker("127.0.0.1", None, session=session, ports=_ports(port))
    assert runner.stats is None and runner.status == 400
    assert (
        runner.error is not None
        and runner.error.kind == ErrorKind.HTTP
        and "not found" in runner.error.detail
    )


async def test_probe_worker_is_bounded(stub: tuple[Stub, int]) -> None:
    state, port = stub
    state.delay_s = 1.0
    timeouts = Timeouts(request_s=3.0, probe_s=0.3)
    async with aiohttp.ClientSession() as session:
        triton, runner = await asyncio.wait_for(
            probe_worker("127.0.0.1", None, session=session, ports=_ports(port), timeouts=timeouts), 3
        )
    assert triton.error is not None and "did not finish within 0.3 s" in triton.error.detail
    assert runner.error is not None and runner.error.kind == ErrorKind.TIMEOUT


async def test_prober_caches_and_shares(stub: tuple[Stub, int]) -> None:
    state, port = stub
    state.delay_s = 0.1
    async with HealthProber(ports=_ports(port), cache_ttl_s=60) as prober:
        results = await asyncio.gather(*(prober.probe("127.0.0.1") for _ in range(5)))
        assert all(r is results[0] for r in results)  # one probe for five callers
        live_calls = state.calls.count("/v2/health/live")
        assert live_calls == 1
        await prober.probe("127.0.0.1")  # cached
        assert state.calls.count("/v2/health/live") == 1
        await prober.probe("127.0.0.1", max_age_s=0)  # forced
        assert state.calls.count("/v2/health/live") == 2
        prober.forget("127.0.0.1")
        await prober.probe("127.0.0.1")
        assert state.calls.count("/v2/health/live") == 3


async def test_prober_limits_concurrency(stub: tuple[Stub, int]) -> None:
    state, port = stub
    state.delay_s = 0.05
    async with HealthProber(ports=_ports(port), max_concurrency=2, cache_ttl_s=0) as prober:
        # Different "pods" (models make distinct cache keys): at most 2 pods' probes at once, each
        # probe makes 6 requests (live, ready, index, metrics, model ready, jsonstats).
        await asyncio.gather(*(prober.probe("127.0.0.1", f"m{i}") for i in range(6)))
    assert state.max_in_flight <= 2 * 6


async def test_prober_skips_when_saturated(stub: tuple[Stub, int]) -> None:
    state, port = stub
    state.delay_s = 1.0
    async with HealthProber(
        ports=_ports(port), max_concurrency=1, queue_timeout_s=0.1, timeouts=Timeouts(request_s=2, probe_s=3)
    ) as prober:
        slow, waiting = await asyncio.gather(prober.probe("127.0.0.1", "a"), prober.probe("127.0.0.1", "b"))
    assert slow[0].skipped is None and slow[0].reachable
    assert waiting[0].skipped is not None and waiting[1].skipped is not None
    assert "probe limit" in waiting[0].skipped


def test_prober_rejects_zero_limit() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        HealthProber(max_concurrency=0)


async def test_a_hung_pod_does_not_hold_up_another(stub: tuple[Stub, int]) -> None:
    """One pod accepts connections but never answers; the other pod's probe is not delayed by it."""
    _, port = stub
    hung = socket.socket()
    hung.bind(("127.0.0.2", port))  # same ports, another "pod IP"
    hung.listen(16)  # the kernel completes handshakes; nobody ever reads
    try:
        async with HealthProber(ports=_ports(port), timeouts=Timeouts(request_s=0.5, probe_s=1.0)) as prober:
            healthy_task = asyncio.create_task(prober.probe("127.0.0.1"))
            hung_task = asyncio.create_task(prober.probe("127.0.0.2"))
            healthy = await asyncio.wait_for(healthy_task, 3)
            assert healthy[0].ready.ok is True and healthy[1].stats is not None
            slow = await asyncio.wait_for(hung_task, 3)
        assert slow[0].error is not None and slow[0].error.kind == ErrorKind.TIMEOUT
        assert slow[1].error is not None and slow[1].error.kind == ErrorKind.TIMEOUT
    finally:
        hung.close()
