"""Issue 16: a pod's answers are untrusted input to a process that serves every tenant. Every body read
from a runner or Triton stops at 1 MiB, is never decompressed, and an answer over the cap (or a runner
listing more proxies than the operator takes) marks the worker unhealthy with reason ResponseTooLarge.

The servers here are real sockets on 127.0.0.1 that stream as much as they are allowed to; each counts
what it managed to send, which shows the operator stopped reading, not just that it raised."""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web

from cocoon_operator.conditions import Reason
from cocoon_operator.status import INFERENCE_READY, RUNNER_HEALTHY
from cocoon_operator.steps.health import probe_worker
from cocoon_operator.steps.health.evaluate import evaluate_health
from cocoon_operator.steps.health.probe import Ports, RunnerProbe
from cocoon_operator.worker.runner_client import (
    MAX_RUNNER_PROXIES,
    RunnerClient,
    RunnerResponseTooLarge,
    parse_jsonstats,
)
from cocoon_operator.worker.session import MAX_RESPONSE_BYTES, read_capped
from cocoon_operator.worker.triton_client import ErrorKind, TritonClient, TritonProbe
from tests.unit.health.builders import JSONSTATS, NOW, jsonstats, pod, triton_ok

HUGE = 500 * 1024 * 1024  # what a hostile pod offers
CHUNK = 256 * 1024


@dataclass
class Flood:
    sent: int = 0  # bytes the server managed to write, across requests


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


Handler = Callable[[web.Request, Flood], Awaitable[web.StreamResponse]]
Serve = Callable[[Handler], Awaitable[tuple[int, Flood]]]  # starts a server; its port and its flood count


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> tuple[int, Flood]:
        flood = Flood()

        async def handle(request: web.Request) -> web.StreamResponse:
            return await handler(request, flood)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        # handler_cancellation: a handler whose client went away stops (the long pause below included)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        runners.append(runner)
        port = _free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return port, flood

    yield start
    for runner in runners:
        await runner.cleanup()


async def stream_forever(request: web.Request, flood: Flood) -> web.StreamResponse:
    """Chunked, no Content-Length: the reader cannot know the size in advance."""
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    chunk = b" " * CHUNK
    try:
        while flood.sent < HUGE:
            await response.write(chunk)
            flood.sent += len(chunk)
    except (ConnectionError, RuntimeError):
        pass  # the reader went away: what a flood should see
    return response


async def declare_huge(request: web.Request, flood: Flood) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Length": str(HUGE)})
    await response.prepare(request)
    try:
        await response.write(b"{" * CHUNK)
        flood.sent += CHUNK
        await asyncio.sleep(60)  # never finishes: a reader that waited for the body would time out
    except (ConnectionError, RuntimeError):
        pass
    return response


@functools.cache
def _bomb() -> bytes:
    return gzip.compress(b" " * (64 * 1024 * 1024), compresslevel=6)


async def gzip_bomb(request: web.Request, flood: Flood) -> web.StreamResponse:
    """~64 KiB on the wire that would inflate to 64 MiB; sent although identity was asked for."""
    assert request.headers.get("Accept-Encoding") == "identity"
    body = _bomb()
    flood.sent += len(body)
    return web.Response(body=body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})


async def _probe(port: int, model: str | None) -> tuple[TritonProbe, RunnerProbe]:
    """Probe a worker whose every port is `port`, in a caller's session (as the health step does)."""
    async with aiohttp.ClientSession() as session:
        ports = Ports(triton_http=port, triton_metrics=port, runner_http=port)
        return await probe_worker("127.0.0.1", model, session=session, ports=ports)


async def test_a_chunked_flood_is_cut_at_the_cap(
    serve: Serve,
) -> None:
    port, flood = await serve(stream_forever)
    triton, runner = await _probe(port, "m")
    assert runner.error is not None and runner.error.kind == ErrorKind.TOO_LARGE
    assert runner.error.detail == "more than 1 MiB (the operator reads at most 1 MiB from a pod)"
    assert triton.live.error is not None and triton.live.error.kind == ErrorKind.TOO_LARGE
    assert triton.metrics.error is not None and triton.metrics.error.kind == ErrorKind.TOO_LARGE
    # 6 requests hit the flood; each stopped after about 1 MiB (plus what socket buffers held)
    assert flood.sent < 6 * (MAX_RESPONSE_BYTES + 8 * 1024 * 1024), flood.sent


async def test_a_declared_length_over_the_cap_is_refused_before_reading(
    serve: Serve,
) -> None:
    port, _ = await serve(declare_huge)
    async with RunnerClient(f"http://127.0.0.1:{port}", timeout_s=2) as client:
        with pytest.raises(RunnerResponseTooLarge, match=f"a body of {HUGE} bytes"):
            await client.jsonstats()  # (a timeout would be RunnerUnavailable: the header decided)


async def test_a_compressed_answer_is_never_inflated(
    serve: Serve,
) -> None:
    port, flood = await serve(gzip_bomb)
    async with TritonClient("127.0.0.1", http_port=port, metrics_port=port) as client:
        metrics = await client.metrics()
    # the raw gzip bytes are not Prometheus text: an invalid answer, not 100 MiB in memory
    assert metrics.error is not None and metrics.error.kind == ErrorKind.INVALID
    assert flood.sent < MAX_RESPONSE_BYTES
    _, runner = await _probe(port, None)  # a caller's session with auto_decompress on
    assert runner.error is not None and runner.error.kind == ErrorKind.INVALID


async def test_honest_answers_pass(serve: Serve) -> None:
    async def honest(request: web.Request, flood: Flood) -> web.StreamResponse:
        return web.Response(text=json.dumps(JSONSTATS), content_type="application/json")

    port, _ = await serve(honest)
    async with RunnerClient(f"http://127.0.0.1:{port}") as client:
        stats = await client.jsonstats()
    assert stats.status.wallet_balance == JSONSTATS["status"]["wallet_balance"]


async def test_read_capped_at_exactly_the_limit(
    serve: Serve,
) -> None:
    async def exact(request: web.Request, flood: Flood) -> web.StreamResponse:
        return web.Response(body=b"x" * 1000)

    port, _ = await serve(exact)
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/") as resp:
        assert len(await read_capped(resp, limit=1000)) == 1000
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/") as resp:
        with pytest.raises(ValueError, match="a body of 1000 bytes"):
            await read_capped(resp, limit=999)


def test_too_many_proxies_is_refused() -> None:
    entry = JSONSTATS["proxies"][0]
    ok = json.dumps(jsonstats(proxies=[entry] * MAX_RUNNER_PROXIES))
    assert len(parse_jsonstats(ok).proxies) == MAX_RUNNER_PROXIES
    with pytest.raises(RunnerResponseTooLarge, match=f"{MAX_RUNNER_PROXIES + 1} proxies in /jsonstats"):
        parse_jsonstats(json.dumps(jsonstats(proxies=[entry] * (MAX_RUNNER_PROXIES + 1))))


async def test_an_answer_over_the_cap_marks_the_worker_unhealthy(
    serve: Serve,
) -> None:
    port, _ = await serve(stream_forever)
    triton, runner = await _probe(port, "m")
    report = evaluate_health(pod(), triton, runner, NOW)
    conds = {c.type: c for c in report.conditions}
    for type_ in (INFERENCE_READY, RUNNER_HEALTHY):
        assert conds[type_].status == "False", type_
        assert conds[type_].reason == Reason.RESPONSE_TOO_LARGE, type_
        assert "the operator reads at most 1 MiB from a pod" in conds[type_].message


async def test_too_many_proxies_marks_the_runner_unhealthy(
    serve: Serve,
) -> None:
    entry = JSONSTATS["proxies"][0]

    async def many(request: web.Request, flood: Flood) -> web.StreamResponse:
        return web.Response(text=json.dumps(jsonstats(proxies=[entry] * 5000)))

    port, _ = await serve(many)
    _, runner = await _probe(port, None)
    assert runner.error is not None and runner.error.kind == ErrorKind.TOO_LARGE
    report = evaluate_health(pod(), triton_ok(), runner, NOW)
    cond = next(c for c in report.conditions if c.type == RUNNER_HEALTHY)
    assert (cond.status, cond.reason) == ("False", Reason.RESPONSE_TOO_LARGE)
    assert "5000 proxies" in cond.message
