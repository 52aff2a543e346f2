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


@dataclass
class Probe:
    kind: Literal["http", "tcp", "exec"]
    port: int
    path: str = "/"
    period_s: float = 10.0
    timeout_s: float = 1.0
    failure_threshold: int = 3
    success_threshold: int = 1
    initial_delay_s: float = 0.0

    @classmethod
    def from_spec(cls, spec: dict[str, Any] | None, container: dict[str, Any]) -> Probe | None:
        if not spec:
            return None
        # Probe at most every PROBE_PERIOD_MAX_S, scaling failureThreshold so that the time budget
        # (period x threshold, e.g. a startup probe's allowance for model loads) stays the same.
        period = float(spec.get("periodSeconds", 10))
        fast = min(period, PROBE_PERIOD_MAX_S)
        common = {
            "period_s": fast,
            "timeout_s": min(float(spec.get("timeoutSeconds", 1)), 5.0),
            "failure_threshold": math.ceil(int(spec.get("failureThreshold", 3)) * period / fast),
            "success_threshold": int(spec.get("successThreshold", 1)),
            "initial_delay_s": min(float(spec.get("initialDelaySeconds", 0)), 30.0),
        }
        if "httpGet" in spec:
            port = container_port(container, spec["httpGet"].get("port", 80))
            if port is None:
                return None
            return cls("http", port, spec["httpGet"].get("path", "/"), **common)  # type: ignore[arg-type]
        if "tcpSocket" in spec:
            port = container_port(container, spec["tcpSocket"].get("port", 0))
            return None if port is None else cls("tcp", port, **common)  # type: ignore[arg-type]
        return cls("exec", 0, **common)  # type: ignore[arg-type]  # exec: succeeds while running

    async def check(self, ip: str, session: aiohttp.ClientSession) -> bool:
        if self.kind == "exec":
            return True
        try:
            if self.kind == "http":
                async with session.get(
                    f"http://{ip}:{self.port}{self.path}", timeout=aiohttp.ClientTimeout(total=self.timeout_s)
                ) as resp:
                    return 200 <= resp.status < 400
            _, writer = await asyncio.wait_for(asyncio.open_connection(ip, self.port), self.timeout_s)
            writer.close()
            return True
        except (aiohttp.ClientError, OSError, TimeoutError):
            return False
