"""Real Triton (CPU, nvidia-pytriton wheel) serving the stand-in LLM: the behaviour pods rely on."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient

from cocoon_dev.runtime.triton import StandInModel, TritonServer

pytestmark = pytest.mark.triton

CHAT = {
    "model": "cocoon-dev/stand-in",
    "messages": [
        {"role": "system", "content": "answer in five words"},
        {"role": "user", "content": "what is the cocoon network"},
    ],
    "max_tokens": 6,
    "reasoning_effort": "medium",
}
EXPECTED_USAGE = {
    "prompt_tokens": 4 + 1 + 5 + 1,  # words + one per message
    "completion_tokens": 6,
    "total_tokens": 17,
    "prompt_tokens_details": {"cached_tokens": 4},  # the system prompt
    "completion_tokens_details": {"reasoning_tokens": 4},
}


def _bytes_input(module: Any, body: dict[str, Any]) -> Any:
    tensor = module.InferInput("request", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([json.dumps(body).encode()], dtype=np.object_))
    return tensor


def _answer(result: Any) -> dict[str, Any]:
    raw = result.as_numpy("response").reshape(-1)[0]
    data: dict[str, Any] = json.loads(raw)
    return data


def test_ready_and_serves_over_http(standin_triton: TritonServer) -> None:
    url = f"{standin_triton.config.address}:{standin_triton.config.http_port}"
    client = httpclient.InferenceServerClient(url=url, connection_timeout=10, network_timeout=30)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("cocoon_llm")
    answer = _answer(client.infer("cocoon_llm", [_bytes_input(httpclient, CHAT)]))
    assert answer["object"] == "chat.completion"
    assert answer["usage"] == EXPECTED_USAGE
    assert answer["choices"][0]["message"]["role"] == "assistant"
    assert len(answer["choices"][0]["message"]["content"].split()) == 6
    client.close()


def test_serves_over_grpc(standin_triton: TritonServer) -> None:
    url = f"{standin_triton.config.address}:{standin_triton.config.grpc_port}"
    client = grpcclient.InferenceServerClient(url=url)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("cocoon_llm")
    answer = _answer(client.infer("cocoon_llm", [_bytes_input(grpcclient, CHAT)], client_timeout=30))
    assert answer["usage"] == EXPECTED_USAGE
    client.close()


def test_bad_request_is_a_backend_error(standin_triton: TritonServer) -> None:
    client = httpclient.InferenceServerClient(url=f"{standin_triton.config.address}:8000", network_timeout=30)
    with pytest.raises(Exception, match="messages"):
        client.infer("cocoon_llm", [_bytes_input(httpclient, {"model": "x"})])
    client.close()


def test_metrics_count_requests(standin_triton: TritonServer) -> None:
    client = httpclient.InferenceServerClient(url=f"{standin_triton.config.address}:8000", network_timeout=30)

    def success() -> float:
        text = httpx.get(standin_triton.config.metrics_url, timeout=5).text
        for line in text.splitlines():
            if line.startswith('nv_inference_request_success{model="cocoon_llm",version="1"}'):
                return float(line.split()[-1])
        raise AssertionError("nv_inference_request_success missing")

    before = success()
    for _ in range(3):
        client.infer("cocoon_llm", [_bytes_input(httpclient, CHAT)])
    assert success() == before + 3
    text = httpx.get(standin_triton.config.metrics_url, timeout=5).text
    assert "nv_inference_request_failure" in text and "nv_inference_queue_duration_us" in text
    client.close()


def test_broken_model_keeps_readiness_false(triton_factory: Callable[..., TritonServer]) -> None:
    server = triton_factory(
        models=(StandInModel(), StandInModel(name="broken_llm", fail_init=True)),
        wait="live",
        exit_on_error=False,
    )
    base = server.config.http_url
    assert httpx.get(f"{base}/v2/health/live", timeout=5).status_code == 200
    assert httpx.get(f"{base}/v2/health/ready", timeout=5).status_code == 400
    assert httpx.get(f"{base}/v2/models/cocoon_llm/ready", timeout=5).status_code == 200
    assert httpx.get(f"{base}/v2/models/broken_llm/ready", timeout=5).status_code == 400
    index = httpx.post(f"{base}/v2/repository/index", timeout=5).json()
    broken = next(m for m in index if m["name"] == "broken_llm")
    assert broken["state"] == "UNAVAILABLE" and "fail_init" in broken["reason"]


def test_broken_model_with_exit_on_error_exits(triton_factory: Callable[..., TritonServer]) -> None:
    server = triton_factory(models=(StandInModel(fail_init=True),), wait=None)
    assert server.process is not None
    assert server.process.wait(timeout=90) == 1


def test_sigterm_drains_in_flight_requests(triton_factory: Callable[..., TritonServer]) -> None:
    server = triton_factory(exit_timeout_secs=20)
    url = f"{server.config.http_url}/v2/models/cocoon_llm/infer"
    slow = CHAT | {"x_dev_sleep_s": 1.5}
    payload = {"inputs": [{"name": "request", "datatype": "BYTES", "shape": [1], "data": [json.dumps(slow)]}]}
    results: list[int] = []

    def call() -> None:
        results.append(httpx.post(url, json=payload, timeout=60).status_code)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    # Wait until all three are in flight (one executes, two queue: one model instance).
    end = time.monotonic() + 30
    while time.monotonic() < end:
        text = httpx.get(server.config.metrics_url, timeout=5).text
        pending = [ln for ln in text.splitlines() if ln.startswith("nv_inference_pending_request_count")]
        executing = sum(float(ln.split()[-1]) for ln in pending)
        if executing >= 2:
            break
        time.sleep(0.05)
    server.terminate()
    # The listener stops accepting new connections right away, while in-flight requests finish.
    refused = False
    end = time.monotonic() + 5
    while time.monotonic() < end and not refused:
        try:
            httpx.get(f"{server.config.http_url}/v2/health/live", timeout=2)
            time.sleep(0.05)
        except httpx.HTTPError:
            refused = True
    assert refused
    for t in threads:
        t.join(timeout=60)
    assert results == [200, 200, 200]
    assert server.process is not None and server.process.wait(timeout=60) == 0
