"""The real kube-scheduler places GPU pods on the fake confidential fleet; KWOK runs them."""

from __future__ import annotations

import ipaddress

import pytest
from kubernetes import client

from cocoon_dev.cluster.fleet import GPU_PRODUCT, NFD_SEV_SNP, NFD_TDX
from tests.fixtures.cluster import TEST_POD_CIDR
from tests.helpers.k8s import events_for, pod_manifest, wait_event, wait_for, wait_pod_running

pytestmark = pytest.mark.cluster


def test_gpu_pod_with_tdx_affinity_runs_on_a_tdx_node(core_v1: client.CoreV1Api, namespace: str) -> None:
    pod = pod_manifest(
        "tdx-worker", gpus=1, required_labels={NFD_TDX: "true", "nvidia.com/cc.ready.state": "true"}
    )
    core_v1.create_namespaced_pod(namespace, pod)
    running = wait_pod_running(core_v1, namespace, "tdx-worker")
    node = core_v1.read_node(running.spec.node_name)
    assert node.metadata.labels.get(NFD_TDX) == "true", f"bound to {node.metadata.name}"
    pod_ip = ipaddress.ip_address(running.status.pod_ip)
    assert pod_ip in ipaddress.ip_network(TEST_POD_CIDR), running.status.pod_ip


def test_impossible_tee_product_combination_stays_pending(core_v1: client.CoreV1Api, namespace: str) -> None:
    # No SEV-SNP node carries an H200 in the default fleet.
    pod = pod_manifest("snp-h200", gpus=1, required_labels={NFD_SEV_SNP: "true", GPU_PRODUCT: "NVIDIA-H200"})
    core_v1.create_namespaced_pod(namespace, pod)
    event = wait_event(core_v1, namespace, "snp-h200", "FailedScheduling")
    assert "didn't match Pod's node affinity/selector" in event.message, event.message
    current = core_v1.read_namespaced_pod("snp-h200", namespace)
    assert current.status.phase == "Pending" and not current.spec.node_name


def test_two_pods_cannot_share_a_one_gpu_node(core_v1: client.CoreV1Api, namespace: str) -> None:
    target = {"kubernetes.io/hostname": "snp-h100-1"}  # a node no other test uses
    core_v1.create_namespaced_pod(namespace, pod_manifest("first", gpus=1, node_selector=target))
    first = wait_pod_running(core_v1, namespace, "first")
    assert first.spec.node_name == "snp-h100-1"
    core_v1.create_namespaced_pod(namespace, pod_manifest("second", gpus=1, node_selector=target))
    event = wait_for(
        "a FailedScheduling event for `second` naming the GPU shortage",
        lambda: events_for(core_v1, namespace, "second"),
        lambda evs: any(
            e.reason == "FailedScheduling" and "Insufficient nvidia.com/gpu" in e.message for e in evs
        ),
    )
    assert event
    second = core_v1.read_namespaced_pod("second", namespace)
    assert second.status.phase == "Pending" and not second.spec.node_name


def test_gpu_pod_without_toleration_is_rejected_by_the_taint(
    core_v1: client.CoreV1Api, namespace: str
) -> None:
    core_v1.create_namespaced_pod(namespace, pod_manifest("no-toleration", gpus=1, tolerate_gpu=False))
    event = wait_event(core_v1, namespace, "no-toleration", "FailedScheduling")
    assert "untolerated taint" in event.message and "nvidia.com/gpu" in event.message, event.message
