"""The thin client against a local HTTP server: apply content type, retries, write counting, 404 → None."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from cocoon_operator.k8s import ApiError, KubeClient, stats
from cocoon_operator.k8s.config import Connection


@contextlib.asynccontextmanager
async def _serve(handle: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> AsyncIterator[str]:
    """An HTTP server on a free port that answers every path with `handle`; yields its URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


class _Config:
    def get_api_key_with_prefix(self, key: str) -> str:
        return "Bearer t0ken"


@pytest.fixture
async def server(aiohttp_unused_port: Any = None) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    state = {"throttled": 0}

    async def handle(request: web.Request) -> web.Response:
        body = await request.text()
        seen.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "ctype": request.headers.get("Content-Type"),
                "auth": request.headers.get("Authorization"),
                "body": json.loads(body) if body else None,
            }
        )
        if request.path.endswith("/missing"):
            return web.json_response({"reason": "NotFound", "message": "nope"}, status=404)
        if request.path.endswith("/throttled") and state["throttled"] < 2:
            state["throttled"] += 1
            return web.json_response({"reason": "TooManyRequests"}, status=429, headers={"Retry-After": "0"})
        if request.method == "POST" and request.path.endswith("/secrets"):
            return web.json_response({"reason": "AlreadyExists", "message": "exists"}, status=409)
        if request.path.endswith("/forbidden"):
            return web.json_response({"reason": "Forbidden", "message": "no"}, status=403)
        return web.json_response({"items": [{"a": 1}]} if request.method == "GET" else {"ok": True})

    async with _serve(handle) as url:
        yield url, seen


async def test_client_calls(server: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = server
    async with KubeClient(Connection(host=url, ssl_context=False, configuration=_Config())) as kube:
        before = stats.WRITES.total()
        assert await kube.get("v1", "ConfigMap", "ns", "missing") is None
        assert await kube.list("v1", "Node") == [{"a": 1}]
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "throttled", "namespace": "ns"}}
        assert await kube.apply(cm) == {"ok": True}
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "ns"}}
        assert await kube.create(secret) is None
        await kube.patch_status("cocoon.tonops.dev/v1alpha1", "CocoonNode", "ns", "c", {"nodeName": "n"})
        with pytest.raises(ApiError) as info:
            await kube.get("apps/v1", "StatefulSet", "ns", "forbidden")
        assert info.value.forbidden
        assert stats.WRITES.total() - before == 3
    applies = [s for s in seen if s["method"] == "PATCH" and s["path"].endswith("/throttled")]
    assert len(applies) == 3  # two 429s, then success
    assert applies[0]["ctype"] == "application/apply-patch+yaml"
    assert applies[0]["query"] == {"fieldManager": "cocoon-operator", "force": "true"}
    assert applies[0]["path"] == "/api/v1/namespaces/ns/configmaps/throttled"
    status = next(s for s in seen if s["path"].endswith("/status"))
    assert status["path"] == "/apis/cocoon.tonops.dev/v1alpha1/namespaces/ns/cocoonnodes/c/status"
    assert status["ctype"] == "application/merge-patch+json"
    assert status["body"] == {"status": {"nodeName": "n"}}
    assert all(s["auth"] == "Bearer t0ken" for s in seen)
    assert next(s for s in seen if s["path"] == "/api/v1/nodes")


@pytest.fixture
async def watch_server() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A list at version 5, a watch that streams two events, a bookmark and then 410 Gone, /metrics text."""
    seen: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append({"path": request.path, "query": dict(request.query)})
        if request.path == "/metrics":
            return web.Response(text='apiserver_request_total{verb="GET"} 3\n', content_type="text/plain")
        if request.query.get("watch") != "1":
            return web.json_response({"metadata": {"resourceVersion": "5"}, "items": [_pod("a", "4")]})
        resp = web.StreamResponse()
        await resp.prepare(request)
        events = [
            {"type": "ADDED", "object": _pod("b", "6")},
            {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "7"}}},
            {"type": "DELETED", "object": _pod("a", "8")},
            {"type": "ERROR", "object": {"code": 410, "reason": "Expired", "message": "too old"}},
        ]
        for event in events:
            await resp.write(json.dumps(event).encode() + b"\n")
        return resp

    async with _serve(handle) as url:
        yield url, seen


def _pod(name: str, version: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": version}}


async def test_list_watch_and_raw_requests(watch_server: tuple[str, list[dict[str, Any]]]) -> None:
    url, seen = watch_server
    async with KubeClient(Connection(host=url, ssl_context=False, configuration=_Config())) as kube:
        items, version = await kube.list_with_version("v1", "Pod", "ns", label_selector="app=x")
        assert [i["metadata"]["name"] for i in items] == ["a"] and version == "5"
        events = []
        with pytest.raises(ApiError) as gone:
            async for kind, obj in kube.watch(
                "v1", "Pod", "ns", resource_version=version, label_selector="app=x"
            ):
                events.append((kind, obj["metadata"].get("name")))
        assert gone.value.status == 410
        assert events == [("ADDED", "b"), ("BOOKMARK", None), ("DELETED", "a")]
        assert await kube.request("GET", "/metrics") == 'apiserver_request_total{verb="GET"} 3\n'
    watch = next(s for s in seen if s["query"].get("watch") == "1")
    assert watch["path"] == "/api/v1/namespaces/ns/pods"
    assert watch["query"]["resourceVersion"] == "5" and watch["query"]["labelSelector"] == "app=x"
    assert watch["query"]["allowWatchBookmarks"] == "true"


async def test_informer_lists_then_follows_the_watch(watch_server: tuple[str, list[dict[str, Any]]]) -> None:
    from cocoon_dev.informer import Informer, by_uid

    url, seen = watch_server
    async with KubeClient(Connection(host=url, ssl_context=False, configuration=_Config())) as kube:
        informer = Informer(kube, "v1", "Pod", "ns", key=by_uid)
        await informer.start()
        assert set(informer.objects) == {"uid-a"}
        for _ in range(100):  # b added, a deleted, then 410: listed again (a is back), watched again
            if len([s for s in seen if s["query"].get("watch") != "1"]) >= 2:
                break
            await asyncio.sleep(0.05)
        await informer.stop()
    lists = [s for s in seen if s["query"].get("watch") != "1"]
    assert len(lists) >= 2, "a 410 Gone makes the informer list again"


async def test_a_list_with_keep_comes_in_pages() -> None:
    """`keep` lists in pages (limit + continue) and keeps only its part of each item."""
    queries: list[dict[str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        queries.append(dict(request.query))
        page = int(request.query.get("continue") or 0)
        items = [{"n": page * 2 + i, "big": "x" * 100} for i in range(2 if page < 2 else 1)]
        return web.json_response(
            {"metadata": {"continue": str(page + 1) if page < 2 else ""}, "items": items}
        )

    async with _serve(handle) as url, KubeClient(Connection(url, False, _Config())) as kube:
        kept = await kube.list("v1", "Pod", field_selector="spec.nodeName!=", keep=lambda o: {"n": o["n"]})
        assert kept == [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]
        assert [q.get("continue") for q in queries] == [None, "1", "2"]
        assert all(q["limit"] == "100" and q["fieldSelector"] == "spec.nodeName!=" for q in queries)
        queries.clear()
        assert len(await kube.list("v1", "Pod")) == 2 and "limit" not in queries[0]  # without keep: one LIST
