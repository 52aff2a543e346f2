"""A list + watch cache of one kind of object (what client-go calls an informer), on the project's one
Kubernetes client. The local runtime keeps its pods with it, the benchmarks their CocoonNodes and pods.

The collection is listed once, then only changes arrive; after 410 Gone or a broken stream it is
listed again (with backoff while the API server is away). `changed` is set whenever `objects` changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from cocoon_operator.k8s import KubeClient

log = logging.getLogger("cocoon_dev.informer")

Obj = dict[str, Any]


def by_name(obj: Obj) -> str:
    return str(obj["metadata"]["name"])


def by_uid(obj: Obj) -> str:
    return str(obj["metadata"]["uid"])


class Informer:
    def __init__(
        self,
        kube: KubeClient,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        keep: Callable[[Obj], bool] = lambda _: True,
        key: Callable[[Obj], str] = by_name,
    ) -> None:
        self.kube = kube
        self.what = (api_version, kind, namespace)
        self.label_selector = label_selector
        self.keep = keep
        self.key = key
        self.objects: dict[str, Obj] = {}
        self.changed = asyncio.Event()
        self._version: str | None = None
        self._task: asyncio.Task[None] | None = None

    def _update(self, kind: str, obj: Obj) -> None:
        key = self.key(obj)
        if kind != "DELETED" and self.keep(obj):
            self.objects[key] = obj
        elif self.objects.pop(key, None) is None:
            return
        self.changed.set()

    async def list(self) -> None:
        """Replace the cache with a fresh list (where the next watch continues from)."""
        api_version, kind, namespace = self.what
        items, self._version = await self.kube.list_with_version(
            api_version, kind, namespace, label_selector=self.label_selector
        )
        self.objects = {self.key(o): o for o in items if self.keep(o)}
        self.changed.set()

    async def _watch(self) -> None:
        api_version, kind, namespace = self.what
        if self._version is None:
            await self.list()
        while True:  # the server ends each watch after a while: continue from the last version
            assert self._version is not None
            async for event, obj in self.kube.watch(
                api_version,
                kind,
                namespace,
                resource_version=self._version,
                label_selector=self.label_selector,
            ):
                self._version = obj["metadata"].get("resourceVersion", self._version)
                if event != "BOOKMARK":
                    self._update(event, obj)

    async def run(self) -> None:
        """Watch forever; list again after any failure (410 Gone, a broken stream, a restarting server,
        a connection reset)."""

        def relist(state: RetryCallState) -> None:
            log.info(
                "watch of %s restarts: %s", self.what[1], state.outcome.exception() if state.outcome else ""
            )
            self._version = None

        # Any failure, not just the API's: a cache that stops silently (its task dead, nobody awaiting it)
        # is worse than one that logs and lists again.
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(Exception),
            wait=wait_exponential(multiplier=0.2, max=5),
            before_sleep=relist,
        )
        async for attempt in retrying:
            with attempt:
                await self._watch()

    async def start(self) -> None:
        """List now (so `objects` is current when this returns), then keep watching in a task."""
        await self.list()
        self._task = asyncio.create_task(self.run(), name=f"watch-{self.what[1]}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
