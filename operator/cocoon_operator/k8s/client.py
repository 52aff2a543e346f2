"""A thin async Kubernetes client on aiohttp: get, list, watch, server-side apply, create, patch.

Retries 429 (honouring Retry-After), 5xx and connection errors a few times; retries 409 only for
idempotent writes (apply, patch). Every write is counted in `stats.WRITES`.

The one Kubernetes client of the project: the operator, the dev stack's runtime and fleet tools and
the benchmarks use it (docs/performance.md, "One Kubernetes client", has the comparison with
lightkube). `request` reaches any path (the API server's /metrics, collections with DeleteOptions).
"""

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import aiohttp

from cocoon_operator.api.identity import FIELD_MANAGER
from cocoon_operator.k8s import stats
from cocoon_operator.k8s.config import Connection
from cocoon_operator.k8s.errors import ApiError
from cocoon_operator.k8s.resources import of, resource

log = logging.getLogger(__name__)

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
JSON = "application/json"
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
Items = list[dict[str, Any]]  # (inside the class, `list` is the method)
PAGE_SIZE = 100  # items per LIST request when the caller keeps only part of each (`keep`)


class KubeClient:
    def __init__(self, connection: Connection, *, timeout: float = 30.0, attempts: int = 4) -> None:
        self._connection = connection
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._attempts = attempts
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> "KubeClient":
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._connection.ssl_context, limit=32)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = JSON,
        retry_conflict: bool = False,
    ) -> Any:
        """Any API path, with the retries; raises ApiError. JSON answers are decoded, anything else
        (e.g. Prometheus text) is returned as text. Not counted in `stats`: the typed methods count."""
        url = self._connection.host + path
        data = None if body is None else json.dumps(body)
        delay = 0.2
        for attempt in range(1, self._attempts + 1):
            headers = {"Accept": JSON, **self._connection.auth_headers()}
            if data is not None:
                headers["Content-Type"] = content_type
            try:
                async with self._http().request(
                    method, url, params=params, data=data, headers=headers
                ) as resp:
                    text = await resp.text()
                    if resp.status < 300:
                        if resp.content_type != JSON and not text.startswith(("{", "[")):
                            return text or None
                        return json.loads(text) if text else None
                    error = _api_error(resp.status, text, method, path)
                    retry = resp.status in _RETRY_STATUSES or (retry_conflict and resp.status == 409)
                    if not retry or attempt == self._attempts:
                        raise error
                    wait = _retry_after(resp.headers.get("Retry-After"), delay)
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                if attempt == self._attempts:
                    raise ApiError(
                        0, "ConnectionError", str(exc) or type(exc).__name__, method, path
                    ) from exc
                wait = delay
            log.debug(
                "Retrying Kubernetes API call", extra={"method": method, "path": path, "attempt": attempt}
            )
            await asyncio.sleep(wait)
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    # Reads
    async def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        stats.READS.add("get", kind)
        try:
            result: dict[str, Any] = await self.request(
                "GET", resource(api_version, kind).path(namespace, name)
            )
        except ApiError as exc:
            if exc.not_found:
                return None
            raise
        return result

    async def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        keep: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """The items; with `keep`, what it keeps of each, listed in pages of PAGE_SIZE (one consistent
        list, as the API server's continue tokens make it; an expired token fails it like any API
        error) so that no more than one page of whole objects is in memory: a whole list of 1 000
        pods decodes to ~90 MB (docs/performance.md, issue 20)."""
        if keep is None:
            result = await self._list(api_version, kind, namespace, label_selector, field_selector)
            items: Items = result.get("items", [])
            return items
        kept: Items = []
        token: str | None = None
        while True:
            page = await self._list(
                api_version, kind, namespace, label_selector, field_selector, limit=PAGE_SIZE, token=token
            )
            kept.extend(keep(item) for item in page.get("items", []))
            token = (page.get("metadata") or {}).get("continue") or None
            if token is None:
                return kept

    async def list_with_version(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
    ) -> tuple[Items, str]:
        """The items and the list's resourceVersion, where a `watch` continues from."""
        result = await self._list(api_version, kind, namespace, label_selector, None)
        return result.get("items", []), str(result["metadata"]["resourceVersion"])

    async def _list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        *,
        limit: int | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        """One LIST request of `list` and `list_with_version` (each counted): the whole answer."""
        stats.READS.add("list", kind)
        params = {}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        if limit is not None:
            params["limit"] = str(limit)
        if token is not None:
            params["continue"] = token
        result: dict[str, Any] = await self.request(
            "GET", resource(api_version, kind).path(namespace), params=params
        )
        return result

    async def watch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        resource_version: str,
        label_selector: str | None = None,
        timeout_s: int = 290,
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """(type, object) of every event after `resource_version`, BOOKMARK included, until the server
        ends the watch (`timeout_s`). An ERROR event raises ApiError (410 Gone: list again)."""
        params = {
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_s),
        }
        if label_selector:
            params["labelSelector"] = label_selector
        path = resource(api_version, kind).path(namespace)
        timeout = aiohttp.ClientTimeout(total=None, sock_read=timeout_s + 30)
        headers = {"Accept": JSON, **self._connection.auth_headers()}
        try:
            async with self._http().get(
                self._connection.host + path, params=params, headers=headers, timeout=timeout
            ) as resp:
                if resp.status >= 300:
                    raise _api_error(resp.status, await resp.text(), "WATCH", path)
                async for line in resp.content:
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    obj = event["object"]
                    if event["type"] == "ERROR":
                        raise ApiError(int(obj.get("code", 0)), str(obj.get("reason", "")),
                                       str(obj.get("message", "")), "WATCH", path)  # fmt: skip
                    yield event["type"], obj
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:  # a reset stream is an OSError
            raise ApiError(0, "ConnectionError", str(exc) or type(exc).__name__, "WATCH", path) from exc

    # Writes
    async def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply as field manager `cocoon-operator`, forcing ownership of our fields. An
        apply with a precondition (`metadata.uid` or `.resourceVersion`, reconcile/ownership.py) is
        never retried on 409: the answer would not change (the caller looks again)."""
        meta = obj["metadata"]
        res = of(dict(obj))
        stats.WRITES.add("apply", res.kind)
        guarded = bool(meta.get("uid") or meta.get("resourceVersion"))
        result: dict[str, Any] = await self.request(
            "PATCH",
            res.path(meta.get("namespace"), meta["name"]),
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
            body=obj,
            content_type=APPLY,
            retry_conflict=not guarded,
        )
        return result

    async def create(self, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        """Create; None when it already exists (never replaces an existing object)."""
        res = of(dict(obj))
        stats.WRITES.add("create", res.kind)
        try:
            result: dict[str, Any] = await self.request(
                "POST",
                res.path(obj["metadata"].get("namespace")),
                params={"fieldManager": FIELD_MANAGER},
                body=obj,
            )
        except ApiError as exc:
            if exc.conflict:
                return None
            raise
        return result

    async def patch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        patch: Mapping[str, Any],
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """JSON merge patch (None values delete keys). A patch with a resourceVersion precondition is
        never retried on 409: the same stale version would only conflict again (the caller re-reads)."""
        stats.WRITES.add("patch" if subresource is None else f"patch/{subresource}", kind)
        guarded = bool((patch.get("metadata") or {}).get("resourceVersion"))
        result: dict[str, Any] = await self.request(
            "PATCH",
            resource(api_version, kind).path(namespace, name, subresource),
            params={"fieldManager": FIELD_MANAGER},
            body=patch,
            content_type=MERGE,
            retry_conflict=not guarded,
        )
        return result

    async def patch_status(
        self, api_version: str, kind: str, namespace: str | None, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        return await self.patch(
            api_version, kind, namespace, name, {"status": dict(patch)}, subresource="status"
        )

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        """Delete; False when it was already gone."""
        stats.WRITES.add("delete", kind)
        try:
            await self.request("DELETE", resource(api_version, kind).path(namespace, name))
        except ApiError as exc:
            if exc.not_found:
                return False
            raise
        return True


def _api_error(status: int, text: str, method: str, path: str) -> ApiError:
    try:
        body = json.loads(text)
        return ApiError(status, str(body.get("reason", "")), str(body.get("message", text)), method, path)
    except (ValueError, AttributeError):
        return ApiError(status, "", text[:500], method, path)


def _retry_after(header: str | None, default: float) -> float:
    if header is None:
        return default
    try:
        return min(max(float(header), 0.0), 30.0)
    except ValueError:
        return default
