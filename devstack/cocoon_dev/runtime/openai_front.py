"""A tiny OpenAI-compatible HTTP front in front of Triton's KServe v2 API (development stand-in).

Why it exists: the worker runner forwards client requests to an OpenAI endpoint
(`forward_requests_to`, sglang/vLLM in production). Triton 2.51 from the pytriton wheel has no
OpenAI frontend, so this front translates `/v1/chat/completions` into one KServe v2 infer call on
the stand-in model (`request` → `response`, both JSON strings). It also answers `/v1/models`,
which the runner uses as its uplink check: 200 only while the Triton model is ready.

It runs inside the "triton" container process of the local runtime (see triton_container.py),
bound to the pod IP, by default on port 9000 (the port of Triton's own OpenAI frontend).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from aiohttp import web

DEFAULT_PORT = 9000
STANDIN_NOTE = "cocoon-dev stand-in (not a real LLM)"

TRITON_URL: web.AppKey[str] = web.AppKey("triton_url", str)
TRITON_MODEL: web.AppKey[str] = web.AppKey("triton_model", str)
SERVED_NAME: web.AppKey[str] = web.AppKey("served_name", str)
SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("session", aiohttp.ClientSession)


def _error(status: int, message: str, kind: str = "invalid_request_error") -> web.Response:
    return web.json_response({"error": {"message": message, "type": kind, "code": status}}, status=status)


async def _model_ready(app: web.Application) -> bool:
    url = f"{app[TRITON_URL]}/v2/models/{app[TRITON_MODEL]}/ready"
    try:
        async with app[SESSION].get(url, timeout=aiohttp.ClientTimeout(total=5)) as resp:
            return resp.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


async def list_models(request: web.Request) -> web.Response:
    app = request.app
    if not await _model_ready(app):
        return _error(503, "model is not ready", "service_unavailable")
    return web.json_response(
        {
            "object": "list",
            "data": [{"id": app[SERVED_NAME], "object": "model", "created": 0, "owned_by": STANDIN_NOTE}],
        }
    )


async def infer(app: web.Application, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """One KServe v2 call; returns (HTTP status, OpenAI-shaped body or error)."""
    payload = {
        "inputs": [{"name": "request", "datatype": "BYTES", "shape": [1], "data": [json.dumps(body)]}],
        "outputs": [{"name": "response"}],
    }
    url = f"{app[TRITON_URL]}/v2/models/{app[TRITON_MODEL]}/infer"
    try:
        async with app[SESSION].post(url, json=payload, timeout=aiohttp.ClientTimeout(total=120)) as resp:
            data = await resp.json(content_type=None)
            if resp.status != 200:
                message = (
                    data.get("error", "inference failed") if isinstance(data, dict) else "inference failed"
                )
                status = 400 if "bad request" in str(message) else 502
                return status, {"error": {"message": str(message), "type": "upstream_error", "code": status}}
            answer: dict[str, Any] = json.loads(data["outputs"][0]["data"][0])
            return 200, answer
    except (aiohttp.ClientError, TimeoutError, KeyError, ValueError) as exc:
        return 502, {
            "error": {"message": f"Triton unreachable: {exc}", "type": "upstream_error", "code": 502}
        }


async def chat_completions(request: web.Request) -> web.StreamResponse:
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "request body is not JSON")
    if not isinstance(body, dict):
        return _error(400, "request body must be a JSON object")
    stream = bool(body.pop("stream", False))
    options = body.pop("stream_options", None) or {}
    status, answer = await infer(request.app, body)
    if status != 200:
        return web.json_response(answer, status=status)
    if not stream:
        return web.json_response(answer)
    # Minimal SSE: one content chunk, then (with include_usage) a usage chunk, then [DONE].
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    base = {k: answer[k] for k in ("id", "created", "model", "system_fingerprint")}
    choice = answer["choices"][0]
    chunk = base | {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": choice["message"], "finish_reason": choice["finish_reason"]}],
    }
    await resp.write(f"data: {json.dumps(chunk)}\n\n".encode())
    if options.get("include_usage"):
        usage = base | {"object": "chat.completion.chunk", "choices": [], "usage": answer["usage"]}
        await resp.write(f"data: {json.dumps(usage)}\n\n".encode())
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


async def health(request: web.Request) -> web.Response:
    ok = await _model_ready(request.app)
    return web.Response(status=200 if ok else 503, text="ok" if ok else "not ready")


def make_app(triton_url: str, served_model_name: str, triton_model: str = "cocoon_llm") -> web.Application:
    app = web.Application()
    app[TRITON_URL] = triton_url.rstrip("/")
    app[TRITON_MODEL] = triton_model
    app[SERVED_NAME] = served_model_name

    async def session_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        # No keep-alive to Triton: on SIGTERM it waits for open HTTP connections until its exit timeout.
        app[SESSION] = aiohttp.ClientSession(
            headers={"User-Agent": "cocoon-dev-openai-front"},
            connector=aiohttp.TCPConnector(force_close=True),
        )
        yield
        await app[SESSION].close()

    app.cleanup_ctx.append(session_ctx)
    app.router.add_get("/v1/models", list_models)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_get("/health", health)
    return app
