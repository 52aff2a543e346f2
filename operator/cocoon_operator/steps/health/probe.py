"""Probing a worker pod: Triton and the runner, concurrently, with bounded time.

`probe_worker` looks at one pod. `HealthProber` is what the operator keeps for its lifetime: one
HTTP session, a concurrency limit and a short per-pod cache, so a timer over hundreds of
CocoonNodes neither floods the pods nor lets one slow pod hold up the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from pydantic import BaseModel, ConfigDict

from cocoon_operator.worker.runner_client import (
    RunnerProtocolError,
    RunnerResponseTooLarge,
    RunnerStats,
    parse_jsonstats,
)
from cocoon_operator.worker.session import IDENTITY, ResponseTooLarge, read_text
from cocoon_operator.worker.triton_client import (
    Check,
    ErrorKind,
    ProbeError,
    TritonClient,
    TritonProbe,
    describe_network_error,
)


class RunnerProbe(BaseModel):
    """One look at the runner's `/jsonstats`. `stats` is set when it answered 200 with valid JSON."""

    model_config = ConfigDict(frozen=True)

    url: str
    status: int | None = None  # HTTP status, None when it did not answer
    stats: RunnerStats | None = None
    error: ProbeError | None = None
    skipped: str | None = None

    @property
    def reachable(self) -> bool:
        return self.status is not None


@dataclass(frozen=True)
class Ports:
    """Where the pod's services listen (the operator's Settings carry the same numbers)."""

    triton_http: int = 8000
    triton_metrics: int = 8002
    runner_http: int = 12000


@dataclass(frozen=True)
class Timeouts:
    """Per request (`request_s`) and for a whole probe of one pod (`probe_s`)."""

    request_s: float = 2.0
    probe_s: float = 5.0


def _host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


async def probe_runner(
    pod_ip: str,
    *,
    session: aiohttp.ClientSession,
    port: int = 12000,
    timeout_s: float = 2.0,
    access_hash: str | None = None,
) -> RunnerProbe:
    """GET `/jsonstats` once. Never raises for network trouble; the result says what happened."""
    url = f"http://{_host(pod_ip)}:{port}/jsonstats"
    # The runner does not percent-decode query strings: the value is passed verbatim.
    full = url + (f"?access_hash={access_hash}" if access_hash else "")
    timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(timeout_s, 1.0))
    try:
        async with session.get(full, timeout=timeout, headers=IDENTITY, auto_decompress=False) as resp:
            status = resp.status
            body = await read_text(resp)
    except ResponseTooLarge as exc:
        return RunnerProbe(url=url, error=ProbeError(kind=ErrorKind.TOO_LARGE, detail=str(exc)))
    except TimeoutError:
        return RunnerProbe(
            url=url, error=ProbeError(kind=ErrorKind.TIMEOUT, detail=f"no answer within {timeout_s:g} s")
        )
    except (aiohttp.ClientError, OSError) as exc:
        detail = describe_network_error(exc)
        return RunnerProbe(url=url, error=ProbeError(kind=ErrorKind.UNREACHABLE, detail=detail))
    if status != 200:
        text = body.strip().splitlines()[0][:200] if body.strip() else ""
        return RunnerProbe(
            url=url,
            status=status,
            error=ProbeError(
                kind=ErrorKind.HTTP,
                status=status,
                detail=f"HTTP {status}: {text}" if text else f"HTTP {status}",
            ),
        )
    try:
        return RunnerProbe(url=url, status=status, stats=parse_jsonstats(body))
    except RunnerResponseTooLarge as exc:
        too_large = ProbeError(kind=ErrorKind.TOO_LARGE, detail=str(exc))
        return RunnerProbe(url=url, status=status, error=too_large)
    except RunnerProtocolError as exc:
        return RunnerProbe(url=url, status=status, error=ProbeError(kind=ErrorKind.INVALID, detail=str(exc)))


def _timed_out_triton(url: str, model: str | None, detail: str) -> TritonProbe:
    err = ProbeError(kind=ErrorKind.TIMEOUT, detail=detail)
    return TritonProbe(url=url, live=Check(ok=None, error=err), ready=Check(ok=None, error=err), model=model)


async def probe_worker(
    pod_ip: str,
    model_name: str | None = None,
    *,
    session: aiohttp.ClientSession,
    timeouts: Timeouts = Timeouts(),
    ports: Ports = Ports(),
    runner_access_hash: str | None = None,
) -> tuple[TritonProbe, RunnerProbe]:
    """Probe Triton and the runner of one pod at once. Takes at most `timeouts.probe_s`.

    `model_name` is the Triton model to check; None means every model in Triton's repository.
    """
    triton = TritonClient(
        pod_ip,
        http_port=ports.triton_http,
        metrics_port=ports.triton_metrics,
        timeout_s=timeouts.request_s,
        session=session,
    )
    triton_task = asyncio.create_task(triton.probe(model_name))
    runner_task = asyncio.create_task(
        probe_runner(
            pod_ip,
            session=session,
            port=ports.runner_http,
            timeout_s=timeouts.request_s,
            access_hash=runner_access_hash,
        )
    )
    done, pending = await asyncio.wait({triton_task, runner_task}, timeout=timeouts.probe_s)
    for task in pending:
        task.cancel()
    detail = f"probe did not finish within {timeouts.probe_s:g} s"
    triton_result = (
        triton_task.result()
        if triton_task in done
        else _timed_out_triton(triton.base_url, model_name, detail)
    )
    runner_result = (
        runner_task.result()
        if runner_task in done
        else RunnerProbe(
            url=f"http://{_host(pod_ip)}:{ports.runner_http}/jsonstats",
            error=ProbeError(kind=ErrorKind.TIMEOUT, detail=detail),
        )
    )
    return triton_result, runner_result


def skipped_probes(
    pod_ip: str, model_name: str | None, why: str, ports: Ports = Ports()
) -> tuple[TritonProbe, RunnerProbe]:
    """Placeholder results when a probe was not run (the evaluation reports Unknown/ProbeSkipped)."""
    none = Check(ok=None)
    host = _host(pod_ip)
    return (
        TritonProbe(
            url=f"http://{host}:{ports.triton_http}", live=none, ready=none, model=model_name, skipped=why
        ),
        RunnerProbe(url=f"http://{host}:{ports.runner_http}/jsonstats", skipped=why),
    )


ProbeResult = tuple[TritonProbe, RunnerProbe]
ProbeFn = Callable[[str, str | None], Awaitable[ProbeResult]]


class HealthProber:
    """Long-lived prober: one session, at most `max_concurrency` pods probed at once, results cached
    per (pod IP, model) for `cache_ttl_s`, and concurrent callers for the same pod share one probe.

    A caller waits at most `queue_timeout_s` for a slot; when the operator is that busy it gets
    "skipped" results (Unknown conditions) instead of piling up.
    """

    def __init__(
        self,
        *,
        timeouts: Timeouts = Timeouts(),
        ports: Ports = Ports(),
        max_concurrency: int = 32,
        cache_ttl_s: float = 3.0,
        queue_timeout_s: float = 5.0,
        session: aiohttp.ClientSession | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.timeouts = timeouts
        self.ports = ports
        self.cache_ttl_s = cache_ttl_s
        self.queue_timeout_s = queue_timeout_s
        self._limit = asyncio.Semaphore(max_concurrency)
        self._session = session
        self._own_session = session is None
        self._cache: dict[tuple[str, str | None], tuple[float, ProbeResult]] = {}
        self._inflight: dict[tuple[str, str | None], asyncio.Future[ProbeResult]] = {}
        self._clock = clock

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # force_close: no keep-alive, so a restarted Triton never answers through a stale socket.
            connector = aiohttp.TCPConnector(force_close=True, limit=0)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> HealthProber:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def forget(self, pod_ip: str) -> None:
        """Drop cached results of a pod (it was deleted or got a new IP)."""
        for key in [k for k in self._cache if k[0] == pod_ip]:
            del self._cache[key]

    async def probe(
        self, pod_ip: str, model_name: str | None = None, *, max_age_s: float | None = None
    ) -> ProbeResult:
        """Cached for `cache_ttl_s` (or `max_age_s`, e.g. 0 to force a fresh look)."""
        key = (pod_ip, model_name)
        ttl = self.cache_ttl_s if max_age_s is None else max_age_s
        cached = self._cache.get(key)
        if cached is not None and self._clock() - cached[0] <= ttl:
            return cached[1]
        running = self._inflight.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[ProbeResult] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await self._probe_limited(pod_ip, model_name)
            if result[0].skipped is None:
                self._cache[key] = (self._clock(), result)
            future.set_result(result)
            return result
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()  # mark retrieved: nobody else may be waiting
            raise
        finally:
            del self._inflight[key]

    async def probe_runner_only(self, pod_ip: str, port: int) -> RunnerProbe:
        """The runner alone, on a given port (a CocoonVM's launcher pod: no Triton to probe)."""
        url = f"http://{_host(pod_ip)}:{port}/jsonstats"
        try:
            async with asyncio.timeout(self.queue_timeout_s):
                await self._limit.acquire()
        except TimeoutError:
            why = f"more than the operator's probe limit were in flight for {self.queue_timeout_s:g} s"
            return RunnerProbe(url=url, skipped=why)
        try:
            return await probe_runner(
                pod_ip, session=self._http(), port=port, timeout_s=self.timeouts.request_s
            )
        finally:
            self._limit.release()

    async def _probe_limited(self, pod_ip: str, model_name: str | None) -> ProbeResult:
        try:
            async with asyncio.timeout(self.queue_timeout_s):
                await self._limit.acquire()
        except TimeoutError:
            why = f"more than the operator's probe limit were in flight for {self.queue_timeout_s:g} s"
            return skipped_probes(pod_ip, model_name, why, self.ports)
        try:
            return await probe_worker(
                pod_ip, model_name, session=self._http(), timeouts=self.timeouts, ports=self.ports
            )
        finally:
            self._limit.release()
