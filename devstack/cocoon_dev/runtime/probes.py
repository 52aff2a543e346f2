"""Container probes as a kubelet runs them (httpGet, tcpSocket; exec passes while the process runs),
with periods capped for dev loops."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

PROBE_PERIOD_MAX_S = 2.0


def container_port(container: dict[str, Any], port: int | str) -> int | None:
    if isinstance(port, int):
        return port
    if port.isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    return None


@dataclass(frozen=True)
class ProbeTiming:
    """When a probe runs and how many results in a row decide it."""

    period_s: float
    timeout_s: float
    failure_threshold: int
    success_threshold: int
    initial_delay_s: float

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ProbeTiming:
        # Probe at most every PROBE_PERIOD_MAX_S, scaling failureThreshold so that the time budget
        # (period x threshold, e.g. a startup probe's allowance for model loads) stays the same.
        period = float(spec.get("periodSeconds", 10))
        fast = min(period, PROBE_PERIOD_MAX_S)
        return cls(
            period_s=fast,
            timeout_s=min(float(spec.get("timeoutSeconds", 1)), 5.0),
            failure_threshold=math.ceil(int(spec.get("failureThreshold", 3)) * period / fast),
            success_threshold=int(spec.get("successThreshold", 1)),
            initial_delay_s=min(float(spec.get("initialDelaySeconds", 0)), 30.0),
        )


@dataclass
class Probe:
    kind: Literal["http", "tcp", "exec"]
    port: int
    timing: ProbeTiming
    path: str = "/"

    @classmethod
    def from_spec(cls, spec: dict[str, Any] | None, container: dict[str, Any]) -> Probe | None:
        if not spec:
            return None
        timing = ProbeTiming.from_spec(spec)
        if "httpGet" in spec:
            port = container_port(container, spec["httpGet"].get("port", 80))
            return None if port is None else cls("http", port, timing, spec["httpGet"].get("path", "/"))
        if "tcpSocket" in spec:
            port = container_port(container, spec["tcpSocket"].get("port", 0))
            return None if port is None else cls("tcp", port, timing)
        return cls("exec", 0, timing)  # exec: succeeds while running

    async def check(self, ip: str, session: aiohttp.ClientSession) -> bool:
        if self.kind == "exec":
            return True
        try:
            if self.kind == "http":
                async with session.get(
                    f"http://{ip}:{self.port}{self.path}",
                    timeout=aiohttp.ClientTimeout(total=self.timing.timeout_s),
                ) as resp:
                    return 200 <= resp.status < 400
            _, writer = await asyncio.wait_for(asyncio.open_connection(ip, self.port), self.timing.timeout_s)
            writer.close()
            return True
        except (aiohttp.ClientError, OSError, TimeoutError):
            return False
