"""The harness's path-based conveniences over the project's one Kubernetes client (the operator's
`KubeClient`: the same TLS, credentials and retries), and the API server's request counters.

The harness runs in its own process, so its calls never show up in the operator's own counters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from cocoon_operator.k8s import ApiError, KubeClient
from cocoon_operator.k8s.config import load

MERGE = "application/merge-patch+json"
Item = tuple[str, dict[str, Any]]  # (path, body)


def connect(kubeconfig: str) -> KubeClient:
    # Longer timeouts and more tries than the operator's: a loaded 2-core machine answers slowly.
    return KubeClient(load(kubeconfig), timeout=60.0, attempts=6)


async def create(kube: KubeClient, path: str, obj: dict[str, Any]) -> None:
    """POST; an object that already exists is fine."""
    try:
        await kube.request("POST", path, body=obj)
    except ApiError as exc:
        if not exc.conflict:
            raise


async def get(kube: KubeClient, path: str) -> Any:
    """GET; None when it does not exist."""
    try:
        return await kube.request("GET", path)
    except ApiError as exc:
        if exc.not_found:
            return None
        raise


async def merge_patch(kube: KubeClient, path: str, patch: dict[str, Any], *, ok_missing: bool = False) -> Any:
    try:
        return await kube.request("PATCH", path, body=patch, content_type=MERGE)
    except ApiError as exc:
        if ok_missing and exc.not_found:
            return None
        raise


async def delete(kube: KubeClient, path: str, options: dict[str, Any] | None = None) -> None:
    """DELETE (with DeleteOptions, e.g. a propagation policy); gone already is fine."""
    try:
        await kube.request("DELETE", path, body=options)
    except ApiError as exc:
        if not exc.not_found:
            raise


async def bounded(
    items: Iterable[Item], call: Callable[[str, dict[str, Any]], Awaitable[Any]], concurrency: int
) -> None:
    """`call(path, body)` for every item, `concurrency` in flight (as a client's rate of writes)."""
    sem = asyncio.Semaphore(concurrency)

    async def one(path: str, body: dict[str, Any]) -> None:
        async with sem:
            await call(path, body)

    await asyncio.gather(*(one(p, b) for p, b in items))


async def create_all(kube: KubeClient, items: Iterable[Item], concurrency: int = 8) -> None:
    await bounded(items, lambda path, obj: create(kube, path, obj), concurrency)


async def merge_patch_all(
    kube: KubeClient, items: Iterable[Item], concurrency: int = 8, *, ok_missing: bool = False
) -> None:
    await bounded(
        items, lambda path, patch: merge_patch(kube, path, patch, ok_missing=ok_missing), concurrency
    )


# ----- apiserver_request_total ------------------------------------------------------------------

Counts = dict[tuple[str, str, str], float]


async def scrape(kube: KubeClient) -> Counts:
    return request_counts(str(await kube.request("GET", "/metrics")))


def request_counts(text: str) -> Counts:
    """Sum `apiserver_request_total` by (verb, resource, subresource) over codes, scopes, versions."""
    out: Counts = {}
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


def diff(after: Counts, before: Counts) -> Counts:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v - before.get(k, 0.0) > 0}
