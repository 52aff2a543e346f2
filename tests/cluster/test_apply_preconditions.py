"""The API server behaviour `reconcile/ownership.py` relies on, pinned on the real one (issue 16).

A child is written only over an object the CocoonNode owns; the apply itself carries the check:
- `only_if_absent` (a resourceVersion no object has) creates when absent, as a server-side apply
  (so fields later dropped from the desired object are removed, unlike after a POST), and is refused
  with 409 when an object of that name exists;
- `pinned` (the live object's uid) is refused when the object was replaced since it was read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from cocoon_operator.k8s import config
from cocoon_operator.k8s.client import KubeClient
from cocoon_operator.k8s.errors import ApiError
from cocoon_operator.reconcile.ownership import only_if_absent, pinned

pytestmark = pytest.mark.cluster


@pytest.fixture
async def kube(cluster: Any) -> AsyncIterator[KubeClient]:
    async with KubeClient(config.load(str(cluster.kubeconfig))) as client:
        yield client


def _cm(namespace: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "child", "namespace": namespace},
        "data": data,
    }


async def test_only_if_absent_creates_as_an_apply_and_refuses_an_existing_object(
    kube: KubeClient, namespace: str
) -> None:
    created = await kube.apply(only_if_absent(_cm(namespace, a="1", b="2")))
    assert created["data"] == {"a": "1", "b": "2"}
    assert [m["operation"] for m in created["metadata"]["managedFields"]] == ["Apply"]
    with pytest.raises(ApiError) as refused:
        await kube.apply(only_if_absent(_cm(namespace, a="evil")))
    assert refused.value.status == 409
    unchanged = await kube.get("v1", "ConfigMap", namespace, "child")
    assert unchanged is not None
    assert unchanged["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    # an apply without "b" removes it: the operator owns the fields as an applier
    shrunk = await kube.apply(pinned(_cm(namespace, a="1"), created["metadata"]["uid"]))
    assert shrunk["data"] == {"a": "1"}


async def test_pinned_refuses_an_object_replaced_since_it_was_read(kube: KubeClient, namespace: str) -> None:
    first = await kube.apply(_cm(namespace, a="1"))
    await kube.delete("v1", "ConfigMap", namespace, "child")
    newcomer = await kube.apply(_cm(namespace, owner="someone else"))
    with pytest.raises(ApiError) as refused:
        await kube.apply(pinned(_cm(namespace, a="2"), first["metadata"]["uid"]))
    assert refused.value.status in (409, 422) and "uid" in refused.value.message
    now = await kube.get("v1", "ConfigMap", namespace, "child")
    assert now is not None and now["data"] == {"owner": "someone else"}
    assert now["metadata"]["resourceVersion"] == newcomer["metadata"]["resourceVersion"]
    await kube.delete("v1", "ConfigMap", namespace, "child")
    with pytest.raises(ApiError) as gone:
        await kube.apply(pinned(_cm(namespace, a="3"), first["metadata"]["uid"]))
    assert gone.value.status == 409
    assert await kube.get("v1", "ConfigMap", namespace, "child") is None
