"""The operator's own finalizer: added once, released without touching other controllers' entries."""

from collections.abc import Mapping
from typing import Any

import pytest

from cocoon_operator.api import identity
from cocoon_operator.reconcile import finalizer

pytestmark = pytest.mark.asyncio


class Patcher:
    def __init__(self) -> None:
        self.patches: list[Mapping[str, Any]] = []

    async def patch(
        self, api_version: str, kind: str, namespace: str | None, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        self.patches.append(patch)
        return {"metadata": {"name": name, "namespace": namespace, **patch["metadata"]}}


def _body(*finalizers: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "w", "namespace": "ns", "resourceVersion": "7", "finalizers": list(finalizers)}
    }


async def test_added_once_and_guarded_by_resource_version() -> None:
    kube = Patcher()
    added = await finalizer.ensure(kube, _body("other.example/keep"))
    assert kube.patches == [
        {"metadata": {"finalizers": ["other.example/keep", identity.FINALIZER], "resourceVersion": "7"}}
    ]
    assert finalizer.has_finalizer(added)
    await finalizer.ensure(kube, added)
    assert len(kube.patches) == 1


async def test_released_keeping_the_others() -> None:
    kube = Patcher()
    await finalizer.release(kube, _body("other.example/keep", identity.FINALIZER))
    assert kube.patches == [{"metadata": {"finalizers": ["other.example/keep"], "resourceVersion": "7"}}]
    await finalizer.release(kube, _body("other.example/keep"))
    assert len(kube.patches) == 1
