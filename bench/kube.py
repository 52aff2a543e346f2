"""A small async Kubernetes client for the benchmark harness (aiohttp; kubeconfig via the official loader).

Only what the harness needs: create, list, merge patch, delete, watch streams and the API server's
Prometheus text. Kept apart from the operator's client so that the harness's own calls never show up
in the operator's counters.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Iterable
from typing import Any

import aiohttp

MERGE = "application/merge-patch+json"


class KubeError(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"{status}: {text[:300]}")
        self.status = status


class Kube:
    def __init__(self, kubeconfig: str) -> None:
        from kubernetes import client as kclient
        from kubernetes import config as kconfig

        cfg = kclient.Configuration()
        kconfig.load_kube_config(config_file=kubeconfig, client_configuration=cfg)  # type: ignore[no-untyped-call]
        self.host = cfg.host.rstrip("/")
        ctx = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
        if cfg.cert_file:
            ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
        self._ssl = ctx
        token = cfg.get_api_key_with_prefix("authorization")
        self._headers = {"Authorization": token} if token else {}
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self._ssl, limit=32))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
        ok_missing: bool = False,
        ok_exists: bool = False,
    ) -> Any:
        headers = {**self._headers, "Content-Type": content_type}
        data = None if body is None else json.dumps(body)
        for attempt in range(6):
            try:
                async with self._http().request(
                    method,
                    self.host + path,
                    data=data,
                    params=params,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=60),
                ) as resp:
                    text = await resp.text()
                    if resp.status == 404 and ok_missing:
                        return None
                    if resp.status == 409 and ok_exists:
                        return None
                    if resp.status in (429, 500, 503, 504) and attempt < 5:
                        await asyncio.sleep(0.5 * (attempt + 1))
                        continue
                    if resp.status >= 300:
                        raise KubeError(resp.status, f"{method} {path}: {text}")
                    return json.loads(text) if text and text[0] in "{[" else text
            except (aiohttp.ClientConnectionError, TimeoutError):
                if attempt == 5:
                    raise
                await asyncio.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    async def create(self, path: str, obj: dict[str, Any]) -> Any:
        return await self.request("POST", path, obj, ok_exists=True)

    async def create_all(self, items: Iterable[tuple[str, dict[str, Any]]], concurrency: int = 8) -> None:
        sem = asyncio.Semaphore(concurrency)

        async def one(path: str, obj: dict[str, Any]) -> None:
            async with sem:
                await self.create(path, obj)

        await asyncio.gather(*(one(p, o) for p, o in items))

    async def merge_patch_all(
        self, items: Iterable[tuple[str, dict[str, Any]]], concurrency: int = 8, *, ok_missing: bool = False
    ) -> None:
        sem = asyncio.Semaphore(concurrency)

        async def one(path: str, patch: dict[str, Any]) -> None:
            async with sem:
                await self.request("PATCH", path, patch, content_type=MERGE, ok_missing=ok_missing)

        await asyncio.gather(*(one(p, b) for p, b in items))

    async def list(self, path: str, **params: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", path, params=params or None)
        return result

    async def patch(self, path: str, patch: dict[str, Any]) -> Any:
        return await self.request("PATCH", path, patch, content_type=MERGE)

    async def delete(self, path: str) -> Any:
        return await self.request("DELETE", path, ok_missing=True)

    async def metrics(self) -> str:
        text: str = await self.request("GET", "/metrics")
        return text

    async def watch(
        self, path: str, rv: str, label_selector: str | None = None
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        params = {
            "watch": "1",
            "resourceVersion": rv,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": "3000",
        }
        if label_selector:
            params["labelSelector"] = label_selector
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        async with self._http().get(
            self.host + path, params=params, headers=self._headers, timeout=timeout
        ) as resp:
            if resp.status >= 300:
                raise KubeError(resp.status, f"watch {path}")
            async for line in resp.content:
                if not line.strip():
                    continue
                event = json.loads(line)
                if event["type"] == "BOOKMARK":
                    continue
                if event["type"] == "ERROR":
                    raise KubeError(410, str(event["object"].get("message")))
                yield event["type"], event["object"]


# ----- apiserver_request_total ------------------------------------------------------------------


def request_counts(text: str) -> dict[tuple[str, str, str], float]:
    """Sum `apiserver_request_total` by (verb, resource, subresource) over codes, scopes, versions."""
    out: dict[tuple[str, str, str], float] = {}
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels_text, _, value = line.rpartition("} ")
        labels: dict[str, str] = {}
        for part in labels_text[len("apiserver_request_total{") :].split('",'):
            key, _, val = part.partition('="')
            labels[key.strip(",")] = val.rstrip('"')
        key3 = (labels.get("verb", ""), labels.get("resource", ""), labels.get("subresource", ""))
        out[key3] = out.get(key3, 0.0) + float(value)
    return out


def diff(
    after: dict[tuple[str, str, str], float], before: dict[tuple[str, str, str], float]
) -> dict[tuple[str, str, str], float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0) > 0}
