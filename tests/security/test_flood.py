"""Issue 16, bounded input from pods: a worker pod whose every answer is a 500 MB stream.

The tenant `bob` runs a CocoonNode whose pod IP (a loopback address handed out by KWOK) answers
every request on Triton's and the runner's ports with up to 500 MB, chunked. The operator, the real
process with the chart's identity and health probes on, must read at most 1 MiB per answer, report
the worker unhealthy (ResponseTooLarge), keep its memory where it was (its peak RSS, VmHWM, is
measured before and after), and keep reconciling another tenant's CocoonNode meanwhile.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.helpers.k8s import wait_for
from tests.security.conftest import SecurityStack, cond

pytestmark = [pytest.mark.cluster, pytest.mark.chain, pytest.mark.timeout(600)]

OFFER = 500 * 1024 * 1024  # what each answer offers
CHUNK = 256 * 1024
PORTS = (8000, 8002, 12000)  # Triton HTTP and metrics, the runner
MiB = 1024 * 1024
SEND_BUFFER = 64 * 1024


@dataclass
class Flood:
    requests: int = 0
    sent: int = 0  # bytes written to the operator, all requests together
    largest: int = 0  # the most one answer got out before the reader hung up
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, sent: int) -> None:
        with self.lock:
            self.requests += 1
            self.sent += sent
            self.largest = max(self.largest, sent)


class FloodServer:
    """aiohttp on the pod IP's three ports, in a thread of its own."""

    def __init__(self, ip: str) -> None:
        self.ip, self.flood = ip, Flood()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        # A fixed, small send buffer: what this side counts as written is then what the operator read
        # plus its own receive buffer, not the kernel's send-buffer autotuning (up to tcp_wmem's 4 MiB
        # per answer, which made the total a measure of the kernel rather than of the reader).
        sock = request.transport.get_extra_info("socket") if request.transport else None
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        chunk, sent = b" " * CHUNK, 0
        try:
            while sent < OFFER:
                await response.write(chunk)
                sent += len(chunk)
        except (ConnectionError, RuntimeError):
            pass
        finally:
            self.flood.record(sent)
        return response

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._stream)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        for port in PORTS:
            await web.TCPSite(self._runner, self.ip, port).start()

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)


def _memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in bytes."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) * 1024
    return fields


@pytest.fixture
def flood_node(security_stack: SecurityStack) -> Iterator[tuple[str, FloodServer]]:
    s = security_stack
    s.bob.create_cn("flood", s.spec("flood"))
    obj = s.wait_cn(s.ns_b, "flood", "a pod IP", lambda o: bool((o.get("status") or {}).get("podIP")))
    server = FloodServer(obj["status"]["podIP"])
    yield obj["status"]["podIP"], server
    server.stop()


def test_a_pod_streaming_500_mb_cannot_exhaust_the_operator(
    security_stack: SecurityStack, flood_node: tuple[str, FloodServer]
) -> None:
    s = security_stack
    _, server = flood_node
    # another tenant's worker, reconciled before the flood begins
    s.alice.create_cn("steady", s.spec("steady"))
    s.wait_cn(
        s.ns_a, "steady", "reconciled", lambda o: (o.get("status") or {}).get("observedGeneration") == 1
    )
    pid = s.operator.pid
    before = _memory(pid)

    server.start()
    flood = s.wait_cn(
        s.ns_b, "flood", "unhealthy: ResponseTooLarge",
        lambda o: cond(o, "RunnerHealthy").get("reason") == "ResponseTooLarge"
        and cond(o, "InferenceReady").get("reason") == "ResponseTooLarge",
    )  # fmt: skip
    assert "the operator reads at most 1 MiB from a pod" in cond(flood, "RunnerHealthy")["message"]
    assert cond(flood, "Ready")["status"] == "False"

    # while the flood goes on, the other tenant's change is reconciled
    s.alice.patch_cn("steady", {"spec": {"paused": True}})
    s.wait_cn(
        s.ns_a, "steady", "the change reconciled during the flood",
        lambda o: o["status"].get("observedGeneration") == 2 and cond(o, "Ready").get("reason") == "Paused",
    )  # fmt: skip
    # let the operator come back many times (each probe answered with an offer of 500 MB)
    wait_for("30 flooded answers", lambda: server.flood.requests, lambda n: n >= 30, timeout_s=240)
    after = _memory(pid)
    offered = server.flood.requests * OFFER
    report: dict[str, Any] = {
        "answers": server.flood.requests,
        "offered_MiB": offered // MiB,
        "written_MiB": round(server.flood.sent / MiB, 1),  # read by the operator or held in socket buffers
        "largest_answer_MiB": round(server.flood.largest / MiB, 2),
        "rss_MiB": (round(before["VmRSS"] / MiB, 1), round(after["VmRSS"] / MiB, 1)),
        "peak_rss_MiB": (round(before["VmHWM"] / MiB, 1), round(after["VmHWM"] / MiB, 1)),
    }
    print(f"flood figures: {report}")
    # what left the flood server per answer: the 1 MiB cap plus what the operator's receive buffer held
    assert server.flood.largest < 16 * MiB, report
    assert server.flood.sent < offered / 100, report
    # the operator's peak memory did not move with 30 x 500 MB on offer
    assert after["VmHWM"] - before["VmHWM"] < 64 * MiB, report
    assert s.operator.poll() is None
