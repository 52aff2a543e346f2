"""The operator core on the local control plane: placement, status, restarts, zero writes, deletion."""

import base64
import json
import logging
import time
from collections import Counter
from typing import Any

import pytest
from kubernetes import client

from cocoon_operator.k8s import stats
from tests.e2e.conftest import OperatorHandle
from tests.helpers import cocoonnodes
from tests.helpers.k8s import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]

TDX_LABEL = "feature.node.kubernetes.io/cpu-security.tdx.protected"
SNP_LABEL = "feature.node.kubernetes.io/cpu-security.sev.snp.enabled"


def _wait_cond(
    cluster: Any, ns: str, name: str, type_: str, status: str, timeout_s: float = 90
) -> dict[str, Any]:
    return wait_for(
        f"{name} {type_}={status}",
        lambda: cocoonnodes.get(cluster, ns, name),
        lambda obj: cocoonnodes.condition(obj, type_).get("status") == status,
        timeout_s=timeout_s,
    )


def _node_labels(core: client.CoreV1Api, node: str) -> dict[str, str]:
    return dict(core.read_node(node).metadata.labels or {})


def test_create_places_on_matching_tee_and_reports(
    operator: OperatorHandle, cocoon_crd: Any, core_v1: client.CoreV1Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ns = operator.namespace
    cocoonnodes.create(cocoon_crd, ns, "tdx", placement={"tee": "TDX"})
    cocoonnodes.create(cocoon_crd, ns, "snp", placement={"tee": "SEV-SNP"})
    for name, label in (("tdx", TDX_LABEL), ("snp", SNP_LABEL)):
        obj = _wait_cond(cocoon_crd, ns, name, "Ready", "True")
        status = obj["status"]
        assert cocoonnodes.condition(obj, "Scheduled")["reason"] == "PodScheduled"
        pod = core_v1.read_namespaced_pod(f"{name}-0", ns)
        assert pod.status.phase == "Running"
        assert status["nodeName"] == pod.spec.node_name and status["podIP"] == pod.status.pod_ip
        labels = _node_labels(core_v1, pod.spec.node_name)
        assert labels.get(label) == "true" and labels.get("nvidia.com/cc.ready.state") == "true"
        assert status["observedGeneration"] == obj["metadata"]["generation"]
        assert status["modelName"] == "Qwen/Qwen3-8B"
    row = cocoon_crd.kubectl("get", "cn", "tdx", "-n", ns, "--no-headers").stdout.split()
    assert row[1:3] == ["True", "Reconciled"] and row[4] == "Qwen/Qwen3-8B"
    # observedGeneration follows edits
    cocoon_crd.kubectl(
        "patch", "cn", "tdx", "-n", ns, "--type=merge", "-p", '{"spec":{"workerCoefficient":1200}}'
    )
    wait_for(
        "observedGeneration 2",
        lambda: cocoonnodes.get(cocoon_crd, ns, "tdx"),
        lambda o: (
            o["status"].get("observedGeneration") == 2
            and cocoonnodes.condition(o, "Ready").get("observedGeneration") == 2
        ),
        timeout_s=60,
    )
    cm = core_v1.read_namespaced_config_map("tdx-runner", ns)
    assert '"coefficient": 1200' in cm.data["worker-config.json.tmpl"]
    # the wallet key was generated once and is not in status
    secret = core_v1.read_namespaced_secret("tdx-wallet", ns)
    key_b64 = secret.data["node_wallet_key"]  # base64 of the key text, as the API returns it
    key_text = base64.b64decode(key_b64).decode()
    for leak in (key_b64, key_text):
        assert leak not in json.dumps(cocoonnodes.get(cocoon_crd, ns, "tdx"))
        assert leak not in caplog.text
        assert leak not in cocoon_crd.kubectl("get", "events", "-n", ns, "-o", "json").stdout
        assert leak not in json.dumps(core_v1.read_namespaced_config_map("tdx-runner", ns).data)
    assert "Applied" in caplog.text  # the operator's log was captured


def test_impossible_placement_explains(
    operator: OperatorHandle, cocoon_crd: Any, k8s_api: client.ApiClient
) -> None:
    ns = operator.namespace
    cocoonnodes.create(cocoon_crd, ns, "b200", placement={"tee": "TDX", "gpuProducts": ["NVIDIA-B200"]})
    obj = _wait_cond(cocoon_crd, ns, "b200", "Scheduled", "False")
    cond = cocoonnodes.condition(obj, "Scheduled")
    assert cond["reason"] == "NoConfidentialGPUNode"
    assert cond["message"].startswith("0 of ") and "but NVIDIA-B200 is required" in cond["message"]
    assert "lack TDX" in cond["message"] or "are not confidential" in cond["message"]
    assert cocoonnodes.condition(obj, "Ready")["reason"] == "NoConfidentialGPUNode"
    apps = client.AppsV1Api(k8s_api)
    assert apps.list_namespaced_stateful_set(ns).items == []
    events = cocoon_crd.kubectl("get", "events", "-n", ns, "-o", "json").stdout
    wait_for(
        "PlacementFailed event",
        lambda: cocoon_crd.kubectl("get", "events", "-n", ns, "-o", "json").stdout,
        lambda text: "PlacementFailed" in text,
        timeout_s=30,
    )
    del events


def test_ten_workers_each_on_own_confidential_gpu(
    operator: OperatorHandle, cocoon_crd: Any, core_v1: client.CoreV1Api
) -> None:
    ns = operator.namespace
    names = [f"w{i}" for i in range(10)]
    for name in names:
        cocoonnodes.create(cocoon_crd, ns, name)
    for name in names:
        _wait_cond(cocoon_crd, ns, name, "Scheduled", "True", timeout_s=180)
    per_node = Counter(core_v1.read_namespaced_pod(f"{n}-0", ns).spec.node_name for n in names)
    for node, count in per_node.items():
        node_obj = core_v1.read_node(node)
        labels = node_obj.metadata.labels
        assert labels.get("nvidia.com/cc.ready.state") == "true", node
        assert "A100" not in labels.get("nvidia.com/gpu.product", ""), node
        assert count <= int(node_obj.status.allocatable["nvidia.com/gpu"]), node


def test_evicted_worker_comes_back_on_another_node(
    operator: OperatorHandle, cocoon_crd: Any, core_v1: client.CoreV1Api
) -> None:
    ns = operator.namespace
    cocoonnodes.create(
        cocoon_crd,
        ns,
        "mover",
        placement={"tee": "TDX", "gpuProducts": ["NVIDIA-H100-80GB-HBM3", "NVIDIA-H200"]},
    )
    first = _wait_cond(cocoon_crd, ns, "mover", "Scheduled", "True")["status"]["nodeName"]
    cocoon_crd.kubectl("cordon", first)
    try:
        eviction = client.V1Eviction(metadata=client.V1ObjectMeta(name="mover-0", namespace=ns))
        core_v1.create_namespaced_pod_eviction("mover-0", ns, eviction)
        obj = wait_for(
            "worker back on another node",
            lambda: cocoonnodes.get(cocoon_crd, ns, "mover"),
            lambda o: (
                cocoonnodes.condition(o, "Ready").get("status") == "True"
                and o["status"].get("nodeName") not in (None, first)
            ),
            timeout_s=120,
        )
        second = obj["status"]["nodeName"]
        assert _node_labels(core_v1, second).get(TDX_LABEL) == "true"
    finally:
        cocoon_crd.kubectl("uncordon", first)


def test_restart_converges_without_duplicates_and_idles_with_zero_writes(
    operator: OperatorHandle, cocoon_crd: Any, core_v1: client.CoreV1Api, k8s_api: client.ApiClient
) -> None:
    ns = operator.namespace
    cocoonnodes.create(cocoon_crd, ns, "steady")
    _wait_cond(cocoon_crd, ns, "steady", "Ready", "True")
    before = cocoonnodes.get(cocoon_crd, ns, "steady")
    operator.stop()
    # while the operator is down, a child goes missing
    cocoon_crd.kubectl("delete", "service", "steady", "-n", ns)
    operator.start()
    wait_for(
        "Service recreated",
        lambda: core_v1.read_namespaced_service("steady", ns),
        lambda s: s is not None,
        timeout_s=60,
    )
    apps = client.AppsV1Api(k8s_api)
    assert [s.metadata.name for s in apps.list_namespaced_stateful_set(ns).items] == ["steady"]
    assert [p.metadata.name for p in core_v1.list_namespaced_pod(ns).items] == ["steady-0"]
    secrets = [
        s.metadata.name
        for s in core_v1.list_namespaced_secret(ns).items
        if s.metadata.name.endswith("-wallet")
    ]
    assert secrets == ["steady-wallet"]
    after = cocoonnodes.get(cocoon_crd, ns, "steady")
    assert (
        cocoonnodes.condition(after, "Ready")["lastTransitionTime"]
        == cocoonnodes.condition(before, "Ready")["lastTransitionTime"]
    )

    # Converged: further reconciles of the unchanged object make zero write calls.
    key = ("reconcile", f"{ns}/steady")
    wait_for(
        "a reconcile after restart",
        lambda: stats.RECONCILES.snapshot().get(key, 0),
        lambda n: n > 0,
        timeout_s=30,
    )
    time.sleep(3)  # let in-flight reconciles of the restart settle
    writes = stats.WRITES.total(exclude_kinds=stats.HEARTBEAT_KINDS)  # Lease renewals are per process
    seen = stats.RECONCILES.snapshot().get(key, 0)
    wait_for(
        "two more reconciles",
        lambda: stats.RECONCILES.snapshot().get(key, 0),
        lambda n: n >= seen + 2,
        timeout_s=30,
    )
    assert stats.WRITES.total(exclude_kinds=stats.HEARTBEAT_KINDS) == writes, stats.WRITES.snapshot()


def test_delete_removes_children_and_object(
    operator: OperatorHandle, cocoon_crd: Any, k8s_api: client.ApiClient
) -> None:
    ns = operator.namespace
    cocoonnodes.create(cocoon_crd, ns, "gone")
    obj = _wait_cond(cocoon_crd, ns, "gone", "Scheduled", "True")
    assert "cocoon.tonops.dev/finalizer" in obj["metadata"]["finalizers"]
    cocoon_crd.kubectl("delete", "cn", "gone", "-n", ns, "--wait=false")
    wait_for(
        "CocoonNode gone", lambda: cocoonnodes.get(cocoon_crd, ns, "gone"), lambda o: o == {}, timeout_s=60
    )
    core, apps = client.CoreV1Api(k8s_api), client.AppsV1Api(k8s_api)

    def leftovers() -> list[str]:
        sel = "cocoon.tonops.dev/node=gone,app.kubernetes.io/name=cocoon-worker"
        found = [
            f"sts/{s.metadata.name}" for s in apps.list_namespaced_stateful_set(ns, label_selector=sel).items
        ]
        found += [
            f"svc/{s.metadata.name}" for s in core.list_namespaced_service(ns, label_selector=sel).items
        ]
        found += [
            f"cm/{c.metadata.name}" for c in core.list_namespaced_config_map(ns, label_selector=sel).items
        ]
        found += [f"pod/{p.metadata.name}" for p in core.list_namespaced_pod(ns, label_selector=sel).items]
        return found

    wait_for("children garbage-collected", leftovers, lambda items: items == [], timeout_s=90)
    # the wallet key outlives the CocoonNode on purpose (it controls the wallet's funds)
    assert core.read_namespaced_secret("gone-wallet", ns).metadata.name == "gone-wallet"


def test_image_change_rolls_pause_scales_to_zero(
    operator: OperatorHandle, cocoon_crd: Any, core_v1: client.CoreV1Api
) -> None:
    ns = operator.namespace
    cocoonnodes.create(cocoon_crd, ns, "roll")
    _wait_cond(cocoon_crd, ns, "roll", "Ready", "True")
    uid = core_v1.read_namespaced_pod("roll-0", ns).metadata.uid
    cocoon_crd.kubectl(
        "patch",
        "cn",
        "roll",
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"spec":{"worker":{"image":"localhost/runner:v2"}}}',
    )

    def runner_image() -> tuple[str, str]:
        pod = core_v1.read_namespaced_pod("roll-0", ns)
        image = next(c.image for c in pod.spec.containers if c.name == "runner")
        return pod.metadata.uid, image

    wait_for(
        "pod rolled to the new image",
        runner_image,
        lambda t: t[0] != uid and t[1] == "localhost/runner:v2",
        timeout_s=120,
    )
    _wait_cond(cocoon_crd, ns, "roll", "Ready", "True")
    cocoon_crd.kubectl("patch", "cn", "roll", "-n", ns, "--type=merge", "-p", '{"spec":{"paused":true}}')
    obj = wait_for(
        "paused",
        lambda: cocoonnodes.get(cocoon_crd, ns, "roll"),
        lambda o: (
            cocoonnodes.condition(o, "Ready").get("reason") == "Paused" and "podName" not in o["status"]
        ),
        timeout_s=90,
    )
    assert cocoonnodes.condition(obj, "Scheduled")["reason"] == "Paused"
    assert cocoon_crd.kubectl("get", "sts", "roll", "-n", ns, "-o", "jsonpath={.spec.replicas}").stdout == "0"
    assert core_v1.read_namespaced_secret("roll-wallet", ns)  # wallet kept


def test_pending_worker_reports_scheduler_reason(operator: OperatorHandle, cocoon_crd: Any) -> None:
    ns = operator.namespace
    # Only one node has 8 H100s: the second worker that wants 8 stays Pending, with a reason in status.
    cocoonnodes.create(cocoon_crd, ns, "big1", placement={"tee": "TDX", "gpuCount": 8})
    _wait_cond(cocoon_crd, ns, "big1", "Scheduled", "True")
    cocoonnodes.create(cocoon_crd, ns, "big2", placement={"tee": "TDX", "gpuCount": 8})
    obj = wait_for(
        "big2 waiting with a reason",
        lambda: cocoonnodes.get(cocoon_crd, ns, "big2"),
        lambda o: (
            cocoonnodes.condition(o, "Scheduled").get("reason") == "InsufficientGPU"
            and "nodes are available" in cocoonnodes.condition(o, "Scheduled").get("message", "")
        ),
        timeout_s=90,
    )
    message = cocoonnodes.condition(obj, "Scheduled")["message"]
    assert "Insufficient nvidia.com/gpu" in message and "0 of " in message
    assert cocoonnodes.condition(obj, "Ready")["status"] == "False"
