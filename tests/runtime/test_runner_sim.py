"""Runner simulator contract tests (cocoon-protocol.md §4): real processes, real Triton behind them.

Each test starts a worker pod's processes (triton container + runner simulator, fake chain) on its
own loopback address, as the local runtime does for a pod IP.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from cocoon_dev.runtime.runner_sim.runner import SYSTEM_PROMPT
from tests.fixtures.runtime import WorkerPod, worker_config

pytestmark = pytest.mark.triton

STATUS_KEYS = ["wallet_balance", "actual_image_hash", "actual_model", "ton_last_synced_at", "enabled",
               "git_commit", "git_commit_data"]  # fmt: skip
STATS_KEYS = ["queries", "success", "failed", "bytes_received", "bytes_sent", "time",
              "total_adjusted_tokens_used", "prompt_adjusted_tokens_used", "cached_adjusted_tokens_used",
              "completion_adjusted_tokens_used", "reasoning_adjusted_tokens_used"]  # fmt: skip
WALLET_KEYS = ["address", "balance", "seqno", "pending_transactions_cnt", "active_transactions_cnt"]
LOCAL_KEYS = ["root_address", "owner_address", "model", "coefficient", "check_proxy_hash"]
ROOT_KEYS = ["owner_address", "proxy_hashes", "registered_proxies", "last_proxy_seqno", "worker_hashes",
             "model_hashes", "version", "struct_version", "params_version", "unique_id", "is_test",
             "price_per_token", "worker_fee_per_token", "prompt_tokens_price_multiplier",
             "cached_tokens_price_multiplier", "completion_tokens_price_multiplier",
             "cached_tokens_price_multiplier", "reasoning_tokens_price_multiplier",
             "proxy_delay_before_close", "client_delay_before_close", "proxy_min_stake", "client_min_stake",
             "proxy_code_hash", "worker_code_hash", "client_code_hash"]  # fmt: skip
PROXY_KEYS = ["sc_inited", "proxy_sc_address", "proxy_public_key", "sc_address",
              "earned_tokens_committed_to_blockchain", "earned_tokens_committed_to_proxy_db",
              "earned_tokens_max_known", "cached_out_tokens", "expected_cached_out_tokens", "running_request",
              "params_version"]  # fmt: skip
CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, POST, OPTIONS",
    "access-control-allow-headers": "Content-Type, Authorization",
}


def ordered(text: str) -> Any:
    """Parse keeping every (key, value) pair, duplicates included."""
    return json.loads(text, object_pairs_hook=lambda pairs: pairs)


def keys(pairs: list[tuple[str, Any]]) -> list[str]:
    return [k for k, _ in pairs]


def field(pairs: list[tuple[str, Any]], name: str) -> Any:
    return next(v for k, v in pairs if k == name)


def get(pod: WorkerPod, path: str) -> httpx.Response:
    return httpx.get(f"{pod.runner_url}{path}", timeout=10)


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def proxy_of(pod: WorkerPod) -> dict[str, Any]:
    proxies: list[dict[str, Any]] = pod.jsonstats()["proxies"]
    assert len(proxies) == 1
    return proxies[0]


def test_jsonstats_fields_order_shapes_and_headers(worker_pod_factory: Callable[..., WorkerPod]) -> None:
    pod = worker_pod_factory()
    wait_for(lambda: proxy_of(pod)["earned_tokens_committed_to_blockchain"] > 0, what="committed tokens")
    resp = get(pod, "/jsonstats")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert {k: resp.headers[k] for k in CORS} == CORS
    assert int(resp.headers["content-length"]) == len(resp.content)
    assert resp.text.count('"cached_tokens_price_multiplier"') == 2
    assert resp.text.startswith('{\n  "status": {\n    "wallet_balance": ')  # 2-space pretty print

    doc = ordered(resp.text)
    assert keys(doc) == ["status", "stats", "wallet", "localconfig", "root_contract_config", "proxies"]
    status = field(doc, "status")
    assert keys(status) == STATUS_KEYS
    assert field(status, "enabled") is True
    assert field(status, "git_commit") == "cocoon-dev-simulator"
    assert "stand-in" in field(status, "git_commit_data")
    assert isinstance(field(status, "wallet_balance"), int)
    stats = field(doc, "stats")
    assert keys(stats) == STATS_KEYS
    for _, values in stats:
        assert len(values) == 7 and all(isinstance(v, int | float) for v in values)
    assert keys(field(doc, "wallet")) == WALLET_KEYS
    local = field(doc, "localconfig")
    assert keys(local) == LOCAL_KEYS and field(local, "coefficient") == 1000
    root = field(doc, "root_contract_config")
    assert keys(root) == ROOT_KEYS
    assert keys(field(root, "registered_proxies")[0]) == [
        "seqno",
        "address_for_clients",
        "address_for_workers",
    ]
    proxies = field(doc, "proxies")
    assert len(proxies) == 1 and keys(proxies[0]) == PROXY_KEYS
    proxy = dict(proxies[0])
    assert proxy["sc_inited"] is True and proxy["running_request"] is False
    assert len(proxy["proxy_sc_address"]) == 48 and len(proxy["sc_address"]) == 48
    assert len(proxy["proxy_public_key"]) == 64
    assert proxy["earned_tokens_committed_to_blockchain"] <= proxy["earned_tokens_max_known"]


def test_tokens_follow_the_published_formula(worker_pod_factory: Callable[..., WorkerPod]) -> None:
    # Every simulated query has the same usage: prompt = 21 (12 cached), completion = 16 (2 reasoning).
    assert len(SYSTEM_PROMPT.split()) == 12
    pod = worker_pod_factory(config=worker_config(coefficient=1500))
    wait_for(lambda: pod.jsonstats()["stats"]["success"][0] >= 3, what="three answered queries")
    get(pod, "/request/disable")  # freeze traffic so that the snapshot is consistent
    time.sleep(1.0)
    data = pod.jsonstats()
    stats = data["stats"]
    n = stats["success"][0]
    assert stats["failed"][0] == 0 and stats["queries"][0] == n
    per_query = {"prompt": 13, "cached": 18, "completion": 21, "reasoning": 3}  # floor(x * 1.5)
    for kind, value in per_query.items():
        assert stats[f"{kind}_adjusted_tokens_used"][0] == value * n
    assert stats["total_adjusted_tokens_used"][0] == 55 * n
    assert data["proxies"][0]["earned_tokens_max_known"] == 55 * n
    wait_for(lambda: proxy_of(pod)["earned_tokens_committed_to_blockchain"] == 55 * n, what="commit")
    assert proxy_of(pod)["earned_tokens_committed_to_proxy_db"] == 55 * n


def test_payout_answers_and_second_request_is_refused(worker_pod_factory: Callable[..., WorkerPod]) -> None:
    pod = worker_pod_factory()
    wait_for(lambda: proxy_of(pod)["earned_tokens_committed_to_blockchain"] > 0, what="committed tokens")
    address = proxy_of(pod)["proxy_sc_address"]

    resp = get(pod, "/request/payout?proxy=EQBcXvP9DUA4k5tqUapcilt4kZnBzF0Ts7OW0Yp5FI0aN7g0")
    assert resp.status_code == 200 and resp.headers["content-type"] == "text/html; charset=utf-8"
    assert resp.text.startswith("proxy not found<br/>") or "proxy not found<br/>" in resp.text
    assert 'href="/stats"' in resp.text
    # Query strings are not percent-decoded (runner quirk): an escaped address is another string.
    escaped = address.replace("-", "%2D").replace("_", "%5F")
    if escaped != address:
        assert "proxy not found" in get(pod, f"/request/payout?proxy={escaped}").text

    committed = proxy_of(pod)["earned_tokens_committed_to_blockchain"]
    assert "request sent<br/>" in get(pod, f"/request/payout?proxy={address}").text
    assert "request is already running<br/>" in get(pod, f"/request/payout?proxy={address}").text
    proxy = proxy_of(pod)
    assert proxy["running_request"] is True
    assert proxy["expected_cached_out_tokens"] >= committed  # max(cashed out, last claim sent)


def test_control_endpoints(worker_pod_factory: Callable[..., WorkerPod]) -> None:
    pod = worker_pod_factory()
    assert "state updated<br/>" in get(pod, "/request/disable").text
    assert "enabled</td><td>no" in get(pod, "/stats").text
    queries = pod.jsonstats()["stats"]["queries"][0]
    time.sleep(1.5)
    assert pod.jsonstats()["stats"]["queries"][0] <= queries + 1  # at most one was already in flight
    assert pod.jsonstats()["status"]["enabled"] is True  # quirk: constant in the JSON
    assert "state updated<br/>" in get(pod, "/request/enable").text
    assert "enabled</td><td>yes" in get(pod, "/stats").text

    form = get(pod, "/request/change_coefficient")
    assert form.status_code == 200 and "<form" in form.text
    assert "failed to parse 'abc' as double" in get(pod, "/request/change_coefficient?coefficient=abc").text
    assert "coefficient set to 2.5<br/>" in get(pod, "/request/change_coefficient?coefficient=2.5").text
    assert pod.jsonstats()["localconfig"]["coefficient"] == 2500
    assert "coefficient set to 1.234<br/>" in get(pod, "/request/change_coefficient?coefficient=1.2345").text

    for path in ("/", "/nope", "/request", "/jsonstats/x"):
        resp = get(pod, path)
        assert (resp.status_code, resp.text) == (400, "not found")
        assert resp.headers["access-control-allow-origin"] == "*"
    perf = get(pod, "/perf")
    assert perf.status_code == 200 and perf.headers["content-type"] == "text/plain; charset=utf-8"
    assert "cocoon-dev-simulator" in perf.text

    html = get(pod, "/stats")
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    for section in ("STATUS", "STATS", "WALLET", "LOCAL CONFIG", "ROOT CONFIG", "PROXY CONNECTIONS"):
        assert f"<h2>{section}</h2>" in html.text
    assert "cocoon-dev-simulator" in html.text and "not the official runner" in html.text
    assert "model connection</td><td>connected" in html.text


def test_access_hash_guards_custom_endpoints(worker_pod_factory: Callable[..., WorkerPod]) -> None:
    pod = worker_pod_factory(config=worker_config(http_access_hash="letmein"))
    assert (get(pod, "/jsonstats").status_code, get(pod, "/jsonstats").text) == (400, "bad request")
    assert get(pod, "/jsonstats?access_hash=letmein").status_code == 200
    assert get(pod, "/perf").status_code == 200  # never behind the access hash
    assert get(pod, "/nope?access_hash=letmein").text == "not found"


def test_uplink_follows_the_inference_server(worker_pod_factory: Callable[..., WorkerPod]) -> None:
    pod = worker_pod_factory()
    wait_for(lambda: "model connection</td><td>connected" in get(pod, "/stats").text, what="uplink")
    os.kill(pod.tritonserver_pid(), signal.SIGKILL)
    assert pod.triton.wait(timeout=30) == 137  # the container reports the kill like a runtime would
    wait_for(lambda: "model connection</td><td>disconnected" in get(pod, "/stats").text, what="uplink down")
    queries = pod.jsonstats()["stats"]["queries"][0]
    time.sleep(1.5)
    assert pod.jsonstats()["stats"]["queries"][0] == queries  # no traffic while disconnected


def test_openai_front(worker_pod_factory: Callable[..., WorkerPod]) -> None:
    pod = worker_pod_factory(with_runner=False)
    models = httpx.get(f"{pod.front_url}/v1/models", timeout=10).json()
    assert models["data"][0]["id"] == "Qwen/Qwen3-8B"
    body = {
        "model": "Qwen/Qwen3-8B",
        "messages": [{"role": "user", "content": "one two three"}],
        "max_tokens": 3,
    }
    answer = httpx.post(f"{pod.front_url}/v1/chat/completions", json=body, timeout=30).json()
    assert answer["usage"]["prompt_tokens"] == 4 and answer["usage"]["completion_tokens"] == 3
    stream = httpx.post(
        f"{pod.front_url}/v1/chat/completions",
        json=body | {"stream": True, "stream_options": {"include_usage": True}},
        timeout=30,
    )
    events = [line[6:] for line in stream.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert json.loads(events[-2])["usage"]["completion_tokens"] == 3
    bad = httpx.post(f"{pod.front_url}/v1/chat/completions", json={"model": "x"}, timeout=30)
    assert bad.status_code == 400
