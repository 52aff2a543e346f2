"""Triton health probes at scale: the operator's aiohttp client against tritonclient.http.aio. Not a test.

    .venv/bin/python -m bench.triton_probes [--pods 300] [--rounds 5]

A server process answers Triton's health, model, repository-index and metrics endpoints on N loopback
IPs (127.104.x.y, the light runtime's answers). The client process probes every pod each round the way
the operator's `HealthProber` does (32 at a time, one `TritonClient.probe(model)` per pod) with

- `aiohttp`: the operator's `cocoon_operator.worker.triton_client.TritonClient` on one shared session;
- `tritonclient`: the same client with its KServe calls (live, ready, model ready, repository index)
  made by `tritonclient.http.aio.InferenceServerClient` (the metrics endpoint is not KServe and stays
  on aiohttp). tritonclient's client owns its session, so it is made per probe.

Each variant runs in its own process: wall time and CPU seconds per round (median), peak RSS of the
process (imports included). Prints one JSON object per variant. Needs tritonclient[http]
(requirements-dev.txt).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import aiohttp
from aiohttp import web

from cocoon_dev.runtime.light import METRICS

MODEL = "cocoon_llm"
INDEX = [{"name": MODEL, "version": "1", "state": "READY", "reason": ""}]


def ips(n: int) -> list[str]:
    return [f"127.104.{1 + i // 250}.{1 + i % 250}" for i in range(n)]


async def serve(n: int) -> None:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="")

    async def index(_: web.Request) -> web.Response:
        return web.json_response(INDEX)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=METRICS, content_type="text/plain")

    http = web.Application()
    for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/{m}/ready"):
        http.router.add_get(path, ok)
    http.router.add_post("/v2/repository/index", index)
    prom = web.Application()
    prom.router.add_get("/metrics", metrics)
    runners = []
    for app, port in ((http, 8000), (prom, 8002)):
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        for ip in ips(n):
            await web.TCPSite(runner, ip, port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


def tritonclient_variant() -> type[Any]:
    """TritonClient with its KServe calls through tritonclient.http.aio (same public API)."""
    import tritonclient.http.aio as triton_aio
    from tritonclient.utils import InferenceServerException

    from cocoon_operator.worker import triton_client as tc

    class TritonAioClient(tc.TritonClient):
        def _kserve(self) -> Any:
            url = self.base_url.removeprefix("http://")
            return triton_aio.InferenceServerClient(url, conn_timeout=self._timeout_s)

        async def _yes_no(self, call: str, *args: str) -> tc.Check:
            async with self._kserve() as client:
                try:
                    ok = await getattr(client, call)(*args)
                except TimeoutError:
                    error = tc.ProbeError(
                        kind=tc.ErrorKind.TIMEOUT, detail=f"no answer within {self._timeout_s:g} s"
                    )
                    return tc.Check(ok=None, error=error)
                except (aiohttp.ClientError, OSError) as exc:
                    error = tc.ProbeError(
                        kind=tc.ErrorKind.UNREACHABLE, detail=tc.describe_network_error(exc)
                    )
                    return tc.Check(ok=None, error=error)
            return tc.Check(ok=bool(ok))  # tritonclient says yes or no; the status code is not kept

        async def server_live(self) -> tc.Check:
            return await self._yes_no("is_server_live")

        async def server_ready(self) -> tc.Check:
            return await self._yes_no("is_server_ready")

        async def model_ready(self, model: str, version: str | None = None) -> tc.Check:
            return await self._yes_no("is_model_ready", model, version or "")

        async def repository_index(self) -> tc.IndexResult:
            async with self._kserve() as client:
                try:
                    payload = await client.get_model_repository_index()
                except InferenceServerException as exc:
                    status = int(exc.status() or 0)
                    error = tc.ProbeError(
                        kind=tc.ErrorKind.HTTP, status=status, detail=f"repository index: HTTP {status}"
                    )
                    return tc.IndexResult(error=error)
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    error = tc.ProbeError(
                        kind=tc.ErrorKind.UNREACHABLE, detail=tc.describe_network_error(exc)
                    )
                    return tc.IndexResult(error=error)
            return tc.IndexResult(models=tc.parse_index(payload))

    return TritonAioClient


async def probe_all(variant: str, n: int, rounds: int) -> dict[str, Any]:
    from cocoon_operator.worker.triton_client import TritonClient

    client_cls: type[Any] = tritonclient_variant() if variant == "tritonclient" else TritonClient
    limit = asyncio.Semaphore(32)  # HealthProber's max_concurrency
    walls, cpus, failures = [], [], 0
    connector = aiohttp.TCPConnector(force_close=True, limit=0)  # as HealthProber's session
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(ip: str) -> bool:
            async with limit:
                client = client_cls(ip, session=session)
                probe = await client.probe(MODEL)
                return bool(probe.live.ok and probe.ready.ok and probe.model_ready and probe.model_ready.ok)

        for _ in range(rounds):
            t0, c0 = time.perf_counter(), time.process_time()
            results = await asyncio.gather(*(one(ip) for ip in ips(n)))
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            failures += results.count(False)
    return {
        "variant": variant,
        "pods": n,
        "rounds": rounds,
        "round_s": round(statistics.median(walls), 3),
        "round_cpu_s": round(statistics.median(cpus), 3),
        "probes_per_s": round(n / statistics.median(walls), 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "failed_probes": failures,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.triton_probes", description=__doc__)
    parser.add_argument("--pods", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", choices=("aiohttp", "tritonclient"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(serve(args.pods))
        return 0
    if args.variant:
        print(json.dumps(asyncio.run(probe_all(args.variant, args.pods, args.rounds))))
        return 0
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.triton_probes", "--serve", "--pods", str(args.pods)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()  # "ready"
        for variant in ("aiohttp", "tritonclient", "aiohttp", "tritonclient"):  # twice, alternating
            cmd = [sys.executable, "-m", "bench.triton_probes", "--variant", variant]
            out = subprocess.run(
                [*cmd, "--pods", str(args.pods), "--rounds", str(args.rounds)],
                capture_output=True,
                text=True,
                check=True,
            )
            print(out.stdout.strip(), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
