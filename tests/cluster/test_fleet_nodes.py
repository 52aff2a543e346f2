"""The default fleet on the live cluster: Ready, with the declared labels, taints and GPU capacity."""

from __future__ import annotations

import pytest
from kubernetes import client

from cocoon_dev.cluster.fleet import GPU_RESOURCE
from tests.fixtures.cluster import ClusterHandle

pytestmark = pytest.mark.cluster


def test_every_fleet_node_is_ready_as_declared(cluster: ClusterHandle, core_v1: client.CoreV1Api) -> None:
    live = {n.metadata.name: n for n in core_v1.list_node().items}
    for declared in cluster.fleet:
        node = live.get(declared.name)
        assert node is not None, f"node {declared.name} missing; live nodes: {sorted(live)}"
        conditions = {c.type: c.status for c in node.status.conditions or []}
        assert conditions.get("Ready") == "True", f"{declared.name}: conditions {conditions}"
        labels = node.metadata.labels or {}
        wrong = {k: (v, labels.get(k)) for k, v in declared.labels.items() if labels.get(k) != v}
        assert not wrong, f"{declared.name}: label (declared, live) mismatches {wrong}"
        taints = [{"key": t.key, "value": t.value, "effect": t.effect} for t in node.spec.taints or []]
        assert [t for t in taints if t["key"] == "nvidia.com/gpu"] == declared.taints, declared.name
        assert (node.status.capacity or {}).get(GPU_RESOURCE) == declared.capacity.get(GPU_RESOURCE)
        assert (node.status.allocatable or {}).get(GPU_RESOURCE) == declared.allocatable.get(GPU_RESOURCE)
        assert node.status.capacity["cpu"] == declared.capacity["cpu"]


def test_kubectl_shows_the_fleet(cluster: ClusterHandle) -> None:
    out = cluster.kubectl("get", "nodes", "-L", "nvidia.com/gpu.product", "--no-headers").stdout
    for declared in cluster.fleet:
        assert declared.name in out
    assert "NVIDIA-H200" in out and "NVIDIA-A100-SXM4-80GB" in out
