"""The TritonPod's OpenAI endpoint: a thin adapter in front of Triton's KServe v2 API.

Why: the COCOON worker runner forwards its clients' requests to an OpenAI-compatible server
(`forward_requests_to`; sglang or vLLM inside the official worker VM, launched with
`--served-model-name <the model's Hugging Face name>`), and `tritonserver` itself serves KServe v2
only. So the worker pod runs this adapter as its own container, bound to 127.0.0.1 (only the runner in
the pod reaches it):

- `GET /v1/models` lists exactly one model, the Hugging Face name (`/` included, e.g. `Qwen/Qwen3-8B`),
  while the Triton model is ready (the runner's uplink check); `GET /v1/models/<name>` answers for that
  name only;
- `POST /v1/chat/completions` refuses any other `model` (404, OpenAI's `model_not_found`), sends the
  request body to Triton as one KServe v2 infer call and returns the answer with the Hugging Face name as
  its `model`; with `stream: true` it answers as server-sent events (`stream_options.include_usage`
  adds the usage chunk the runner bills from);
- `GET /health` is 200 while the Triton model is ready.

The contract with the Triton model ("OpenAI JSON in a tensor"): input `request` (BYTES, shape [1]) holds
the chat completion request as JSON; output `response` (BYTES) holds the chat completion (OpenAI's
shape with `usage`, including `prompt_tokens_details.cached_tokens`, which the runner needs). A Triton
error whose message starts with "bad request" becomes HTTP 400, any other 502. docs/worker-pod.md says
what such a model looks like; the dev stack's stand-in model follows it.

Triton is called with `tritonclient.http.aio` (the model-ready check, the repository index and the
infer call with a BYTES tensor). The operator's own health probes stay on its shared aiohttp client:
they run for every worker at once, where tritonclient measured 1.7-2.3x slower (docs/performance.md).

`python -m cocoon_operator.worker.openai_adapter --served-model-name Qwen/Qwen3-8B` (see --help).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Final

import aiohttp
import numpy as np
import tritonclient.http.aio as triton_http
from aiohttp import web
from tritonclient.utils import InferenceServerException

log = logging.getLogger("cocoon_operator.openai_adapter")

DEFAULT_LISTEN: Final = "127.0.0.1:9000"
DEFAULT_TRITON: Final = "http://127.0.0.1:8000"
INFER_TIMEOUT_S: Final = 600.0  # one completion; long generations take minutes
READY_TIMEOUT_S: Final = 5.0
MAX_BODY_BYTES: Final = 8 * 1024 * 1024

SERVED: Final = web.AppKey("served", str)
TRITON_URL: Final = web.AppKey("triton_url", str)
TRITON_MODEL: Final = web.AppKey("triton_model", str)
CLIENT: Final = web.AppKey("triton", triton_http.InferenceServerClient)
# What a call to Triton may raise besides its own error answers: connection failures and timeouts.
_UNREACHABLE = (aiohttp.ClientError, OSError, TimeoutError)


class UpstreamError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error(status: int, message: str, kind: str, code: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code or status}}
    return web.json_response(body, status=status)


def model_not_found(app: web.Application, asked: object) -> web.Response:
    return error(
        404,
        f"The model {asked!r} does not exist; this worker serves {app[SERVED]!r}",
        "invalid_request_error",
        "model_not_found",
    )


def triton_client(url: str) -> triton_http.InferenceServerClient:
    """A client for Triton at `url` (`http://host:port`; tritonclient takes `host:port`)."""
    return triton_http.InferenceServerClient(
        url.removeprefix("http://").rstrip("/"), conn_timeout=INFER_TIMEOUT_S
    )


async def triton_model_ready(app: web.Application) -> bool:
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            return bool(await app[CLIENT].is_model_ready(app[TRITON_MODEL]))
    except (InferenceServerException, *_UNREACHABLE):
        return False


def model_card(app: web.Application) -> dict[str, Any]:
    return {"id": app[SERVED], "object": "model", "created": 0, "owned_by": "cocoon-worker"}


async def list_models(request: web.Request) -> web.Response:
    if not await triton_model_ready(request.app):
        return error(503, "the model is not ready in Triton", "service_unavailable")
    return web.json_response({"object": "list", "data": [model_card(request.app)]})


async def get_model(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name != request.app[SERVED]:
        return model_not_found(request.app, name)
    if not await triton_model_ready(request.app):
        return error(503, "the model is not ready in Triton", "service_unavailable")
    return web.json_response(model_card(request.app))


async def health(request: web.Request) -> web.Response:
    ok = await triton_model_ready(request.app)
    return web.Response(status=200 if ok else 503, text="ok" if ok else "the model is not ready in Triton")


async def infer(app: web.Application, body: dict[str, Any]) -> dict[str, Any]:
    """One KServe v2 infer call with the request JSON in the `request` tensor."""
    request = triton_http.InferInput("request", [1], "BYTES")
    request.set_data_from_numpy(np.array([json.dumps(body).encode()], dtype=np.object_), binary_data=False)
    wanted = [triton_http.InferRequestedOutput("response", binary_data=False)]
    try:
        async with asyncio.timeout(INFER_TIMEOUT_S):
            result = await app[CLIENT].infer(app[TRITON_MODEL], [request], outputs=wanted)
    except InferenceServerException as exc:
        message = str(exc.message() or "inference failed")
        raise UpstreamError(400 if "bad request" in message.lower() else 502, message[:1000]) from None
    except (*_UNREACHABLE, ValueError) as exc:
        raise UpstreamError(502, f"Triton did not answer: {type(exc).__name__}") from None
    output = result.as_numpy("response")
    try:
        raw = output[0] if output is not None else None
        answer = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    except (IndexError, TypeError, ValueError, UnicodeDecodeError):
        raise UpstreamError(502, "Triton's answer has no JSON `response` tensor") from None
    if not isinstance(answer, dict):
        raise UpstreamError(502, "Triton's `response` is not a JSON object")
    return answer


async def chat_completions(request: web.Request) -> web.StreamResponse:
    app = request.app
    try:
        body = await request.json()
    except ValueError:
        return error(400, "the request body is not JSON", "invalid_request_error")
    if not isinstance(body, dict):
        return error(400, "the request body must be a JSON object", "invalid_request_error")
    asked = body.get("model", app[SERVED])
    if asked != app[SERVED]:
        return model_not_found(app, asked)
    body["model"] = app[SERVED]
    stream = bool(body.pop("stream", False))
    options = body.pop("stream_options", None) or {}
    try:
        answer = await infer(app, body)
    except UpstreamError as exc:
        kind = "invalid_request_error" if exc.status == 400 else "upstream_error"
        return error(exc.status, exc.message, kind)
    answer["model"] = app[SERVED]
    answer.setdefault("object", "chat.completion")
    answer.setdefault("created", int(time.time()))
    if not stream:
        return web.json_response(answer)
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    async for chunk in sse_chunks(answer, include_usage=bool(options.get("include_usage"))):
        await resp.write(chunk)
    await resp.write_eof()
    return resp


async def sse_chunks(answer: dict[str, Any], *, include_usage: bool) -> AsyncIterator[bytes]:
    """A whole completion as OpenAI's stream: one delta per choice, the usage chunk, then [DONE]."""
    keys = ("id", "created", "model", "system_fingerprint")
    base: dict[str, Any] = {k: answer[k] for k in keys if k in answer}
    base["object"] = "chat.completion.chunk"
    for choice in answer.get("choices") or []:
        delta = {
            "index": choice.get("index", 0),
            "delta": choice.get("message") or {},
            "finish_reason": choice.get("finish_reason"),
        }
        yield f"data: {json.dumps(base | {'choices': [delta]})}\n\n".encode()
    if include_usage and "usage" in answer:
        yield f"data: {json.dumps(base | {'choices': [], 'usage': answer['usage']})}\n\n".encode()
    yield b"data: [DONE]\n\n"


async def discover_model(client: triton_http.InferenceServerClient) -> str | None:
    """The only model in Triton's repository index (None: none or several, so it must be named)."""
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            index = await client.get_model_repository_index()
    except (InferenceServerException, *_UNREACHABLE, ValueError):
        return None
    names = sorted({str(m.get("name")) for m in index or [] if isinstance(m, dict) and m.get("name")})
    return names[0] if len(names) == 1 else None


def make_app(served_model_name: str, triton_url: str, triton_model: str) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[SERVED] = served_model_name
    app[TRITON_URL] = triton_url.rstrip("/")
    app[TRITON_MODEL] = triton_model

    async def client_ctx(app: web.Application) -> AsyncIterator[None]:
        # Closed at SIGTERM, so Triton does not wait for the adapter's idle connections at its exit.
        app[CLIENT] = triton_client(app[TRITON_URL])
        yield
        await app[CLIENT].close()

    app.cleanup_ctx.append(client_ctx)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{name:.+}", get_model)
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_get("/health", health)
    return app


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m cocoon_operator.worker.openai_adapter",
        description="OpenAI-compatible endpoint for the COCOON runner in front of Triton's KServe v2 API",
    )
    p.add_argument("--served-model-name", required=True, help="the model's Hugging Face name")
    p.add_argument("--listen", default=DEFAULT_LISTEN, help="host:port (default %(default)s)")
    p.add_argument("--triton", default=DEFAULT_TRITON, help="Triton's HTTP URL (default %(default)s)")
    p.add_argument(
        "--triton-model", default="", help="the Triton model (default: the only one in its repository)"
    )
    return p.parse_args(argv)


async def serve(args: argparse.Namespace) -> int:
    host, _, port = args.listen.rpartition(":")
    triton_model = args.triton_model
    while not triton_model:  # Triton may still be loading: its index answers once it listens
        client = triton_client(args.triton)
        try:
            triton_model = await discover_model(client) or ""
        finally:
            await client.close()
        if not triton_model:
            log.info("Waiting for Triton at %s to list exactly one model", args.triton)
            await asyncio.sleep(2)
    app = make_app(args.served_model_name, args.triton, triton_model)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host or "127.0.0.1", int(port)).start()
    log.info("Serving %s on %s from Triton model %s", args.served_model_name, args.listen, triton_model)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s openai-adapter %(levelname)s %(message)s")
    return asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
