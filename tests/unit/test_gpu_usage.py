"""Placement explanations share one short-lived pod listing instead of a LIST per reconcile."""

import asyncio
from typing import Any

from cocoon_operator.k8s.errors import ApiError
from cocoon_operator.reconcile.gpu_usage import PodListCache


class CountingKube:
    def __init__(self, forbid_cluster_wide: bool = False) -> None:
        self.calls: list[str | None] = []
        self.forbid = forbid_cluster_wide

    async def list(
        self, api_version: str, kind: str, namespace: str | None = None, *, keep: Any = None, **_: Any
    ) -> list[Any]:
        self.calls.append(namespace)
        await asyncio.sleep(0.01)
        if namespace is None and self.forbid:
            raise ApiError(403, "Forbidden", "pods is forbidden")
        pods = [{"metadata": {"name": "p", "namespace": namespace or "x", "uid": "u"}}]
        return [keep(p) for p in pods] if keep is not None else pods


async def test_concurrent_reconciles_share_one_list_until_it_expires() -> None:
    now = [0.0]
    cache = PodListCache(ttl_seconds=2.0, clock=lambda: now[0])
    kube = CountingKube()
    results = await asyncio.gather(*(cache.bound_pods(kube, "ns") for _ in range(20)))
    assert kube.calls == [None] and all(wide for _, wide in results)
    now[0] = 2.5
    await cache.bound_pods(kube, "ns")
    assert kube.calls == [None, None] and cache.fetches == 2


async def test_single_namespace_install_falls_back_to_its_namespace() -> None:
    cache = PodListCache(clock=lambda: 0.0)
    kube = CountingKube(forbid_cluster_wide=True)
    pods, cluster_wide = await cache.bound_pods(kube, "workers")
    assert not cluster_wide and pods[0]["metadata"] == {"name": "p", "namespace": "workers"}  # slim
    await cache.bound_pods(kube, "workers")
    assert kube.calls == [None, "workers"]


def test_slim_pods_place_as_the_whole_pods() -> None:
    """The cache keeps only what placement reads; what it computes from them is unchanged."""
    from cocoon_operator.reconcile import placement, placement_vm
    from cocoon_operator.reconcile.gpu_usage import slim

    gpu = "nvidia.com/gpu"
    pods: list[dict[str, Any]] = [
        {
            "metadata": {"name": "a", "namespace": "ns", "uid": "u", "managedFields": [{"manager": "x"}],
                         "labels": {"app": "w", placement_vm.INSTANCE_LABEL: "1"}},
            "spec": {"nodeName": "n1", "containers": [
                {"name": "c", "image": "i", "resources": {"requests": {gpu: "2"}}},
                {"name": "d", "resources": {"limits": {gpu: 1}}},
                {"name": "e"},
            ], "volumes": [{"name": "v"}]},
            "status": {"phase": "Running", "podIP": "10.0.0.1", "conditions": []},
        },
        {"metadata": {"name": "b", "namespace": "other"}, "spec": {"nodeName": "n1"},
         "status": {"phase": "Failed"}},
        {"metadata": {"name": "c"}, "spec": {"containers": [{"resources": None}]}, "status": {}},
        {"metadata": {"name": "d", "namespace": "ns", "labels": {"mine": "yes"}}, "spec": {"nodeName": "n2",
         "containers": [{"resources": {"requests": {gpu: 1}}}]}, "status": {"phase": "Pending"}},
        {},
    ]  # fmt: skip
    slimmed = [slim(p) for p in pods]
    assert "managedFields" not in slimmed[0]["metadata"] and "volumes" not in slimmed[0]["spec"]
    for exclude in (None, {"mine": "yes"}):
        assert placement.requested_gpus_by_node(slimmed, gpu, exclude) == placement.requested_gpus_by_node(
            pods, gpu, exclude
        )
        assert placement_vm.instances_by_node(slimmed, exclude) == placement_vm.instances_by_node(
            pods, exclude
        )
    assert [p.get("metadata", {}).get("namespace") for p in slimmed] == [
        p.get("metadata", {}).get("namespace") for p in pods
    ]
