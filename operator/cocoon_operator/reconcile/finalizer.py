"""The operator's finalizer on a CocoonNode, managed by the operator itself (not by kopf).

kopf's own finalizer handling runs its change-detection machinery on every CocoonNode event (a
deep copy of the object and a diff-base annotation written on every create and spec change,
bench/results finding 8). The finalizer is one list entry; both changes are merge patches guarded by
the object's resourceVersion, so another controller's finalizer is never dropped (a conflict fails
the write and the reconcile is retried).
"""

from collections.abc import Mapping
from typing import Any, Protocol

from cocoon_operator.api import identity


class Patcher(Protocol):
    async def patch(
        self, api_version: str, kind: str, namespace: str | None, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]: ...


def has_finalizer(body: Mapping[str, Any]) -> bool:
    return identity.FINALIZER in ((body.get("metadata") or {}).get("finalizers") or [])


async def _set(kube: Patcher, body: Mapping[str, Any], finalizers: list[str]) -> dict[str, Any]:
    meta = body["metadata"]
    patch = {"metadata": {"finalizers": finalizers, "resourceVersion": meta["resourceVersion"]}}
    return await kube.patch(identity.API_VERSION, identity.KIND, meta["namespace"], meta["name"], patch)


async def ensure(kube: Patcher, body: Mapping[str, Any]) -> Mapping[str, Any]:
    """Add the finalizer before any child or chain effect exists; returns the current object."""
    if has_finalizer(body):
        return body
    return await _set(kube, body, [*(body["metadata"].get("finalizers") or []), identity.FINALIZER])


async def release(kube: Patcher, body: Mapping[str, Any]) -> None:
    if has_finalizer(body):
        rest = [f for f in body["metadata"].get("finalizers") or [] if f != identity.FINALIZER]
        await _set(kube, body, rest)
