"""The real kube-controller-manager runs: workload controllers and the garbage collector."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.helpers.k8s import FAKE_IMAGE, wait_for, wait_gone, wait_pod_running

pytestmark = pytest.mark.cluster


def test_statefulset_creates_its_pod(
    k8s_api: client.ApiClient, core_v1: client.CoreV1Api, namespace: str
) -> None:
    apps = client.AppsV1Api(k8s_api)
    labels = {"app": "web"}
    apps.create_namespaced_stateful_set(
        namespace,
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "web"},
            "spec": {
                "serviceName": "web",
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "main", "image": FAKE_IMAGE}]},
                },
            },
        },
    )
    pod = wait_pod_running(core_v1, namespace, "web-0")
    assert pod.metadata.owner_references[0].kind == "StatefulSet"
    wait_for(
        "StatefulSet web to report 1 ready replica",
        lambda: apps.read_namespaced_stateful_set("web", namespace).status,
        lambda s: s.ready_replicas == 1,
    )


def test_deleting_an_owner_garbage_collects_its_children(core_v1: client.CoreV1Api, namespace: str) -> None:
    owner = core_v1.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}, "data": {}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    for i in range(2):
        core_v1.create_namespaced_config_map(
            namespace, {"metadata": {"name": f"child-{i}", "ownerReferences": [ref]}}
        )
    core_v1.delete_namespaced_config_map("owner", namespace)
    for i in range(2):
        wait_gone(
            f"configmap child-{i} to be garbage-collected",
            lambda i=i: core_v1.read_namespaced_config_map(f"child-{i}", namespace),
        )
