"""One reconcile's view of the API: every object is read at most once, children come from the watches.

The reconcile and its providers used to GET the same wallet Secret, treasury Secret, ConfigMap and
pod several times per run (~16 GETs per idle reconcile, bench/results, finding 4). They now share
this view for the length of one reconcile. The CocoonNode itself is always read fresh: the
providers' write-ahead records (claim and funding intents) are guarded by its resourceVersion.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cocoon_operator.api import identity
from cocoon_operator.k8s.api import KubeApi
from cocoon_operator.reconcile.child_cache import KEPT_KINDS, ChildCache

Ref = tuple[str, str | None, str]


class ReconcileReads:
    """Implements `k8s.api.KubeApi` over another `KubeApi` for one reconcile."""

    def __init__(
        self, kube: KubeApi, children: ChildCache | None = None, *, first_reconcile: bool = False
    ) -> None:
        self._kube = kube
        self.children = children
        # A CocoonNode never reconciled before has no children yet: a child the watches have never
        # seen is taken as absent without a GET (5 of a first reconcile's ~17 requests; the apply
        # that follows is declarative, so a child that does exist after all is merely re-applied).
        self.first_reconcile = first_reconcile and children is not None
        self._memo: dict[Ref, dict[str, Any] | None] = {}
        self.gets = 0  # GETs that reached the API server (tests)
        self.list = kube.list  # lists go straight to the API server: only GETs are remembered

    async def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        if kind == identity.KIND:
            return await self._fetch(api_version, kind, namespace, name)
        if self.children is not None and kind in KEPT_KINDS:
            body = self.children.body(kind, namespace or "", name)
            if body is not None:
                return body
        ref = (kind, namespace, name)
        if ref not in self._memo:
            self._memo[ref] = await self._fetch(api_version, kind, namespace, name)
        return self._memo[ref]

    async def child(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """`get` for one of the CocoonNode's own children (never for a reference: a user's ConfigMap
        is no child even though children include ConfigMaps)."""
        if (
            self.first_reconcile
            and self.children is not None
            and (kind, namespace, name) not in self._memo
            and not self.children.seen(kind, namespace, name)
        ):
            return None
        return await self.get(api_version, kind, namespace, name)

    async def fresh(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        """The whole live object from the API server (the watch keeps kept kinds slimmed)."""
        body = await self._fetch(api_version, kind, namespace, name)
        self._memo[(kind, namespace, name)] = body
        return body

    async def _fetch(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        self.gets += 1
        return await self._kube.get(api_version, kind, namespace, name)

    async def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        body = await self._kube.apply(obj)
        self._remember(obj, body)
        return body

    async def create(self, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        body = await self._kube.create(obj)
        if body is not None:
            self._remember(obj, body)
        return body

    async def patch_status(
        self, api_version: str, kind: str, namespace: str | None, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        self._memo.pop((kind, namespace, name), None)
        return await self._kube.patch_status(api_version, kind, namespace, name, patch)

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        self._memo.pop((kind, namespace, name), None)
        return await self._kube.delete(api_version, kind, namespace, name)

    def _remember(self, obj: Mapping[str, Any], body: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        self._memo[(str(obj.get("kind")), meta.get("namespace"), str(meta.get("name")))] = body
