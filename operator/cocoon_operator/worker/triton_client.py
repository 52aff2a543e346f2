"""Async health client for Triton Inference Server (KServe v2 over HTTP, plus Prometheus `/metrics`).

Only what health needs (triton.md §2-§3): server live/ready, per-model ready, the repository index
(state and reason per model) and the `nv_inference_*` counters from the metrics port.

Every call is bounded by a short timeout and never raises for "not reachable": it returns a typed
result whose `error` says what went wrong. Health is a signal, not an exception.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, ConfigDict

from cocoon_operator.worker.session import IDENTITY, PodSession, ResponseTooLarge, read_text

DEFAULT_TIMEOUT_S = 2.0
# Triton's reasons can be whole Python tracebacks; status and conditions need the gist.
MAX_REASON_CHARS = 600


class ErrorKind(StrEnum):
    UNREACHABLE = "Unreachable"  # connection refused / reset / no route
    TIMEOUT = "Timeout"
    HTTP = "HttpError"  # answered with an unexpected status code
    INVALID = "InvalidResponse"  # answered something this client cannot parse
    TOO_LARGE = "ResponseTooLarge"  # answered more than the operator reads from a pod (worker.session)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ProbeError(_Frozen):
    kind: ErrorKind
    detail: str
    status: int | None = None

    def __str__(self) -> str:
        return self.detail


class Check(_Frozen):
    """A yes/no endpoint (`/v2/health/*`, `/v2/models/<m>/ready`). `ok` is None when unreachable."""

    ok: bool | None
    status: int | None = None
    error: ProbeError | None = None


class ModelState(_Frozen):
    """One `/v2/repository/index` entry. `state` is READY, UNAVAILABLE, LOADING, UNLOADING or absent
    (a model in the repository that was never loaded)."""

    name: str
    version: str | None = None
    state: str | None = None
    reason: str | None = None

    @property
    def ready(self) -> bool:
        return self.state == "READY"


class IndexResult(_Frozen):
    models: tuple[ModelState, ...] = ()
    error: ProbeError | None = None


class ModelMetrics(_Frozen):
    """Counters of one (model, version) from `/metrics`. Durations are cumulative microseconds."""

    model: str
    version: str = ""
    success: float = 0.0
    failure: float = 0.0
    failure_by_reason: Mapping[str, float] = {}
    inference_count: float = 0.0
    exec_count: float = 0.0
    request_us: float = 0.0
    queue_us: float = 0.0
    compute_input_us: float = 0.0
    compute_infer_us: float = 0.0
    compute_output_us: float = 0.0
    pending: float = 0.0

    @property
    def compute_us(self) -> float:
        return self.compute_input_us + self.compute_infer_us + self.compute_output_us


class TritonMetrics(_Frozen):
    models: tuple[ModelMetrics, ...] = ()
    error: ProbeError | None = None

    def select(self, model: str | None = None) -> tuple[ModelMetrics, ...]:
        return self.models if model is None else tuple(m for m in self.models if m.model == model)

    def total(self, field: str, model: str | None = None) -> float:
        return float(sum(getattr(m, field) for m in self.select(model)))


class TritonProbe(_Frozen):
    """One health look at a Triton server. `reachable` is False when the HTTP port did not answer."""

    url: str
    live: Check
    ready: Check
    model: str | None = None  # the model asked about, if any
    model_ready: Check | None = None
    index: IndexResult = IndexResult()
    metrics: TritonMetrics = TritonMetrics()
    skipped: str | None = None  # set when the prober did not run the probe (overload); all else empty

    @property
    def reachable(self) -> bool:
        return self.live.ok is not None or self.ready.ok is not None

    @property
    def error(self) -> ProbeError | None:
        return self.live.error if self.live.ok is None else None


def describe_network_error(exc: BaseException) -> str:
    """'connection refused', 'no route to host', ... (short, lower case, without the address)."""
    os_error = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
    if isinstance(os_error, OSError) and os_error.errno:
        return os.strerror(os_error.errno).lower()
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "server closed the connection"
    return type(exc).__name__


# ------------------------------------------------------------------------------------------------
# Parsing (pure)

_COUNTERS = {
    "nv_inference_request_success": "success",
    "nv_inference_count": "inference_count",
    "nv_inference_exec_count": "exec_count",
    "nv_inference_request_duration_us": "request_us",
    "nv_inference_queue_duration_us": "queue_us",
    "nv_inference_compute_input_duration_us": "compute_input_us",
    "nv_inference_compute_infer_duration_us": "compute_infer_us",
    "nv_inference_compute_output_duration_us": "compute_output_us",
    "nv_inference_pending_request_count": "pending",
}


def parse_metrics(text: str) -> tuple[ModelMetrics, ...]:
    """Triton's Prometheus text → per-(model, version) counters. GPU metrics are ignored on purpose:
    they are partial or absent on confidential-computing nodes (triton.md §3.4)."""
    acc: dict[tuple[str, str], dict[str, Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name.removesuffix("_total")
            model = sample.labels.get("model")
            if model is None:
                continue
            entry = acc.setdefault(
                (model, sample.labels.get("version", "")),
                {"model": model, "version": sample.labels.get("version", ""), "failure_by_reason": {}},
            )
            if name == "nv_inference_request_failure":
                reason = sample.labels.get("reason", "OTHER")
                entry["failure_by_reason"][reason] = (
                    entry["failure_by_reason"].get(reason, 0.0) + sample.value
                )
                entry["failure"] = entry.get("failure", 0.0) + sample.value
            elif name in _COUNTERS:
                entry[_COUNTERS[name]] = entry.get(_COUNTERS[name], 0.0) + sample.value
    return tuple(ModelMetrics.model_validate(v) for _, v in sorted(acc.items()))


def shorten(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """Keep a reason readable: Python tracebacks are reduced to their last line (the error)."""
    # Python-backend errors end with a stack ("\n\nAt:\n  file(line): fn"): keep the message.
    text = text.split("\n\nAt:", 1)[0].strip()
    if "Traceback (most recent call last)" in text:
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        head = text.split("Traceback", 1)[0].strip().rstrip(":")
        text = f"{head}: {lines[-1]}" if head else lines[-1]
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_index(payload: Any) -> tuple[ModelState, ...]:
    if not isinstance(payload, list):
        raise ValueError("the repository index is not a JSON list")
    models = []
    for item in payload:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ValueError("a repository index entry has no name")
        reason = item.get("reason")
        models.append(
            ModelState(
                name=item["name"],
                version=str(item["version"]) if item.get("version") not in (None, "") else None,
                state=item.get("state") or None,
                reason=shorten(reason) if isinstance(reason, str) and reason else None,
            )
        )
    return tuple(models)


# ------------------------------------------------------------------------------------------------
# Client


class TritonClient(PodSession):
    """Health view of one Triton server at `host` (a pod IP), ports as in the production pod."""

    def __init__(
        self,
        host: str,
        *,
        http_port: int = 8000,
        metrics_port: int = 8002,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        bracketed = f"[{host}]" if ":" in host else host  # IPv6 pod IPs
        self.base_url = f"http://{bracketed}:{http_port}"
        self.metrics_url = f"http://{bracketed}:{metrics_port}/metrics"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(timeout_s, 1.0))
        self._timeout_s = timeout_s
        super().__init__(session, force_close=True)

    async def _request(self, method: str, url: str) -> tuple[int | None, str, ProbeError | None]:
        try:
            async with self._http().request(
                method, url, timeout=self._timeout, headers=IDENTITY, auto_decompress=False
            ) as resp:
                return resp.status, await read_text(resp), None
        except ResponseTooLarge as exc:
            path = url.split("/", 3)[-1]
            return None, "", ProbeError(kind=ErrorKind.TOO_LARGE, detail=f"/{path} with {exc}")
        except TimeoutError:
            return (
                None,
                "",
                ProbeError(kind=ErrorKind.TIMEOUT, detail=f"no answer within {self._timeout_s:g} s"),
            )
        except (aiohttp.ClientError, OSError) as exc:
            return None, "", ProbeError(kind=ErrorKind.UNREACHABLE, detail=describe_network_error(exc))

    async def _check(self, path: str) -> Check:
        status, _, error = await self._request("GET", self.base_url + path)
        if error is not None:
            return Check(ok=None, error=error)
        # Not ready is 400, an unknown model 404 (triton.md §2); both are a plain "no".
        return Check(ok=status == 200, status=status)

    async def server_live(self) -> Check:
        return await self._check("/v2/health/live")

    async def server_ready(self) -> Check:
        return await self._check("/v2/health/ready")

    async def model_ready(self, model: str, version: str | None = None) -> Check:
        path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/ready"
        return await self._check(path)

    async def repository_index(self) -> IndexResult:
        status, body, error = await self._request("POST", self.base_url + "/v2/repository/index")
        if error is not None:
            return IndexResult(error=error)
        if status != 200:
            # 403 when the model-repository API is restricted (triton.md §3.2): not a health problem.
            return IndexResult(
                error=ProbeError(
                    kind=ErrorKind.HTTP, status=status, detail=f"repository index: HTTP {status}"
                )
            )
        try:
            return IndexResult(models=parse_index(json.loads(body)))
        except ValueError as exc:
            return IndexResult(error=ProbeError(kind=ErrorKind.INVALID, detail=f"repository index: {exc}"))

    async def metrics(self) -> TritonMetrics:
        status, body, error = await self._request("GET", self.metrics_url)
        if error is not None:
            return TritonMetrics(error=error)
        if status != 200:
            return TritonMetrics(
                error=ProbeError(kind=ErrorKind.HTTP, status=status, detail=f"metrics: HTTP {status}")
            )
        try:
            return TritonMetrics(models=parse_metrics(body))
        except ValueError as exc:
            return TritonMetrics(error=ProbeError(kind=ErrorKind.INVALID, detail=f"metrics: {exc}"))

    async def probe(self, model: str | None = None) -> TritonProbe:
        """All health facts at once, concurrently: at most one timeout long, whatever fails."""
        live, ready, index, metrics, model_ready = await asyncio.gather(
            self.server_live(),
            self.server_ready(),
            self.repository_index(),
            self.metrics(),
            self.model_ready(model) if model else _none(),
        )
        return TritonProbe(
            url=self.base_url,
            live=live,
            ready=ready,
            model=model,
            model_ready=model_ready,
            index=index,
            metrics=metrics,
        )


async def _none() -> None:
    return None
