"""CocoonVM on the local control plane, KWOK only (issue 15): the real scheduler places launcher pods on
TDX hosts and keeps two with one instance number apart; the placement explanation when no node is a
TDX host; and the guards against escalation, proved as a user bound to the built-in `edit` role.

No process runtime here (COCOON_HEALTH_PROBES=false): the launcher pods are only scheduled and marked
Running by KWOK. The VM itself runs in tests/e2e/test_cocoon_vm_e2e.py.
"""

# ruff: noqa: E501  (kubectl calls and expected messages read better unwrapped)

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import OperatorHandle
from tests.helpers.k8s import wait_for
from tests.unit.builders import minimal_spec

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, pytest.mark.timeout(300)]

SHA = "ab" * 32
HOST_LABEL = "feature.node.kubernetes.io/cpu-security.tdx.enabled"
VFIO = "nvidia.com/GH100_H100_SXM5_80GB"
TENANT = "tenant-alice"


def _vm_env(monkeypatch: pytest.MonkeyPatch, launcher_namespaces: list[str], **extra: str) -> None:
    monkeypatch.setenv("COCOON_LAUNCHER_NAMESPACES", json.dumps(launcher_namespaces))
    monkeypatch.setenv("COCOON_LAUNCHER_IMAGE", "localhost/cocoon-launcher:test")
    monkeypatch.setenv("COCOON_VM_RELEASE_URL", "https://releases.invalid/cocoon-worker-release.tar.xz")
    monkeypatch.setenv("COCOON_VM_RELEASE_SHA256", SHA)
    for key, value in extra.items():
        monkeypatch.setenv(key, value)


def vm_doc(name: str, vm: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    body = minimal_spec(
        wallet={"secretRef": {"name": f"{name}-wallet"}}, runtime={"kind": "CocoonVM", "vm": vm or {}}
    )
    body["worker"] = {"mode": "Test"}
    body.update(spec)
    return {
        "apiVersion": "cocoon.tonops.dev/v1alpha1",
        "kind": "CocoonNode",
        "metadata": {"name": name},
        "spec": body,
    }


def _cn(cluster: Any, ns: str, name: str) -> dict[str, Any]:
    out = cluster.kubectl("get", "cn", name, "-n", ns, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def _cond(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((dict(c) for c in obj.get("status", {}).get("conditions", []) if c["type"] == type_), {})


def _wait(cluster: Any, ns: str, name: str, type_: str, pred: Any, timeout_s: float = 90) -> dict[str, Any]:
    return wait_for(
        f"{name} {type_}", lambda: _cn(cluster, ns, name), lambda o: pred(_cond(o, type_)), timeout_s
    )


@pytest.fixture
def marked(cocoon_crd: Any, worker_namespace: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The test namespace marked for launchers, with the launcher ServiceAccount (what the chart makes)."""
    _vm_env(monkeypatch, [worker_namespace])
    cocoon_crd.kubectl("create", "serviceaccount", "cocoon-launcher", "-n", worker_namespace)
    return worker_namespace


# What the chart's rbac-aggregate.yaml adds to the built-in edit role (the chart is not installed here).
EDIT_AGGREGATE = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": "cocoon-test-cocoonnodes-edit", "labels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}},
    "rules": [{"apiGroups": ["cocoon.tonops.dev"], "resources": ["cocoonnodes"],
               "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]}],
}  # fmt: skip


def bind_tenant_to_edit(cluster: Any, ns: str) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(EDIT_AGGREGATE))
    cluster.kubectl(
        "create", "rolebinding", "tenant-edit", "--clusterrole=edit", f"--user={TENANT}", "-n", ns
    )
    wait_for(
        "the edit role to cover CocoonNodes",
        lambda: cluster.kubectl(
            "auth", "can-i", "create", "cocoonnodes", "-n", ns, "--as", TENANT, check=False
        ).stdout.strip(),
        lambda answer: answer == "yes",
        timeout_s=60,
    )


@pytest.fixture
def unmarked(cocoon_crd: Any, worker_namespace: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The test namespace NOT marked for launchers, restricted by Pod Security, with a tenant bound to `edit`."""
    _vm_env(monkeypatch, ["launchers-elsewhere"])
    ns = worker_namespace
    cocoon_crd.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
    bind_tenant_to_edit(cocoon_crd, ns)
    yield ns


def test_launcher_pods_land_on_tdx_hosts_one_instance_per_host(
    marked: str, operator: OperatorHandle, cocoon_crd: Any
) -> None:
    ns = marked
    for name in ("vm-a", "vm-b", "vm-c"):
        cocoon_crd.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(vm_doc(name)))
    nodes = set()
    for name in ("vm-a", "vm-b"):
        obj = _wait(cocoon_crd, ns, name, "Scheduled", lambda c: c.get("status") == "True")
        node = obj["status"]["nodeName"]
        labels = json.loads(cocoon_crd.kubectl("get", "node", node, "-o", "json").stdout)["metadata"][
            "labels"
        ]
        assert (
            labels.get(HOST_LABEL) == "true"
            and labels.get("nvidia.com/gpu.workload.config") == "vm-passthrough"
        )
        nodes.add(node)
        pod = json.loads(cocoon_crd.kubectl("get", "pod", f"{name}-0", "-n", ns, "-o", "json").stdout)
        (main,) = pod["spec"]["containers"]
        assert main["resources"]["limits"][VFIO] == "1" and main["securityContext"]["privileged"] is True
        assert pod["spec"]["serviceAccountName"] == "cocoon-launcher"
    assert len(nodes) == 2, "two launchers with instance 0 never share a host (vsock CID, ports)"
    third = _wait(
        cocoon_crd,
        ns,
        "vm-c",
        "Scheduled",
        lambda c: c.get("status") == "False" and "instance 0" in c.get("message", ""),
    )
    message = _cond(third, "Scheduled")["message"]
    assert "2 already run a worker VM with instance 0" in message, message
    # Instance 1 fits beside them: the hosts have a second GPU.
    cocoon_crd.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(vm_doc("vm-c", {"instance": 1})))
    obj = _wait(cocoon_crd, ns, "vm-c", "Scheduled", lambda c: c.get("status") == "True", 120)
    assert obj["status"]["nodeName"] in nodes


def test_cocoon_vm_without_tdx_hosts_says_why_no_node_fits(
    cocoon_crd: Any, worker_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The operator of a cluster whose nodes carry no TDX-host label (the dev fleet's hosts are not
    # TDX hosts to it), so nothing can fit.
    _vm_env(monkeypatch, [worker_namespace], COCOON_TDX_HOST_LABELS='["example.invalid/tdx-host=true"]')
    handle = OperatorHandle(str(cocoon_crd.kubeconfig), worker_namespace)
    monkeypatch.setenv("KUBECONFIG", str(cocoon_crd.kubeconfig))
    monkeypatch.setenv("COCOON_RESYNC_SECONDS", "2")
    monkeypatch.setenv("COCOON_HEALTH_PROBES", "false")
    monkeypatch.setenv("COCOON_LEASE_NAMESPACE", worker_namespace)
    handle.start()
    try:
        cocoon_crd.kubectl("apply", "-n", worker_namespace, "-f", "-", input=json.dumps(vm_doc("vm-nowhere")))
        obj = _wait(
            cocoon_crd,
            worker_namespace,
            "vm-nowhere",
            "Scheduled",
            lambda c: c.get("reason") == "NoConfidentialGPUNode",
        )
        message = _cond(obj, "Scheduled")["message"]
        total = len(json.loads(cocoon_crd.kubectl("get", "nodes", "-o", "json").stdout)["items"])
        assert message.startswith(f"0 of {total} nodes fit: "), message
        assert "are not TDX hosts (no example.invalid/tdx-host=true)" in message
        assert "are not confidential (nvidia.com/cc.ready.state!=true)" in message
        sts = cocoon_crd.kubectl("get", "statefulset", "vm-nowhere", "-n", worker_namespace, check=False)
        assert sts.returncode != 0, "nothing starts where nothing fits"
    finally:
        cocoon_crd.kubectl(
            "delete", "cn", "--all", "-n", worker_namespace, "--wait=true", "--timeout=50s", check=False
        )
        handle.stop()


def test_edit_user_gets_no_launcher_outside_the_marked_namespaces(
    unmarked: str, operator: OperatorHandle, cocoon_crd: Any
) -> None:
    ns = unmarked
    as_tenant = ("--as", TENANT)
    made = cocoon_crd.kubectl(
        "apply", "-n", ns, *as_tenant, "-f", "-", input=json.dumps(vm_doc("sneaky")), check=False
    )
    assert made.returncode == 0, made.stderr
    obj = _wait(
        cocoon_crd, ns, "sneaky", "Configured", lambda c: c.get("reason") == "LauncherNamespaceNotAllowed"
    )
    message = _cond(obj, "Configured")["message"]
    assert f"namespace {ns} is not marked for launchers" in message and "nothing was created" in message
    assert _cond(obj, "Ready")["status"] == "False"
    for kind, name in (("statefulset", "sneaky"), ("configmap", "sneaky-launcher"), ("secret", "sneaky-wallet"),
                       ("service", "sneaky"), ("pod", "sneaky-0")):  # fmt: skip
        out = cocoon_crd.kubectl("get", kind, name, "-n", ns, check=False)
        assert out.returncode != 0, f"{kind}/{name} was created for a refused CocoonVM"
    events = cocoon_crd.kubectl("get", "events", "-n", ns, "-o", "json").stdout
    assert "LauncherNamespaceNotAllowed" in events
    # Nor can the tenant get privileges another way there: the namespace enforces the restricted
    # profile, and `edit` cannot relabel it.
    privileged = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "escalate"},
        "spec": {"containers": [{"name": "c", "image": "x", "securityContext": {"privileged": True}}]},
    }  # fmt: skip
    denied = cocoon_crd.kubectl(
        "apply", "-n", ns, *as_tenant, "-f", "-", input=json.dumps(privileged), check=False
    )
    assert denied.returncode != 0 and "privileged" in denied.stderr, denied.stderr
    relabel = cocoon_crd.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=privileged",
                                 "--overwrite", *as_tenant, check=False)  # fmt: skip
    assert relabel.returncode != 0 and "forbidden" in relabel.stderr.lower()


def test_edit_user_in_a_marked_namespace_cannot_pick_the_release(
    marked: str, operator: OperatorHandle, cocoon_crd: Any
) -> None:
    ns = marked
    bind_tenant_to_edit(cocoon_crd, ns)
    own = vm_doc("own-release", {"release": {"url": "https://evil.invalid/r.tar.xz", "sha256": "cd" * 32}})
    made = cocoon_crd.kubectl(
        "apply", "-n", ns, "--as", TENANT, "-f", "-", input=json.dumps(own), check=False
    )
    assert made.returncode == 0, made.stderr
    obj = _wait(cocoon_crd, ns, "own-release", "Configured", lambda c: c.get("reason") == "ReleaseNotAllowed")
    assert "cd" * 32 in _cond(obj, "Configured")["message"]
    assert cocoon_crd.kubectl("get", "statefulset", "own-release", "-n", ns, check=False).returncode != 0
    # The launcher image is not in the spec at all: an unknown field is pruned, never used.
    image = vm_doc("own-image", {"launcherImage": "evil/image:1"})
    cocoon_crd.kubectl(
        "apply", "-n", ns, "--as", TENANT, "--validate=ignore", "-f", "-", input=json.dumps(image)
    )
    _wait(cocoon_crd, ns, "own-image", "Scheduled", lambda c: c.get("status") == "True")
    sts = json.loads(cocoon_crd.kubectl("get", "statefulset", "own-image", "-n", ns, "-o", "json").stdout)
    images = {
        c["image"] for key in ("initContainers", "containers") for c in sts["spec"]["template"]["spec"][key]
    }
    assert images == {"localhost/cocoon-launcher:test"}


RUNTIME_CLASS = {
    "apiVersion": "node.k8s.io/v1",
    "kind": "RuntimeClass",
    "metadata": {"name": "kata-qemu-nvidia-gpu-tdx"},
    "handler": "kata-qemu-nvidia-gpu-tdx",
}


def test_triton_pod_on_a_kata_confidential_containers_node(
    cocoon_crd: Any, worker_namespace: str, operator: OperatorHandle
) -> None:
    """Kata nodes carry no GPU Feature Discovery labels: the TritonPod is placed by the TDX label, the CC
    label and the passthrough resource, and runs as a Kata guest (runtimeClassName)."""
    cocoon_crd.kubectl("apply", "-f", "-", input=json.dumps(RUNTIME_CLASS))
    spec = minimal_spec(
        wallet={"secretRef": {"name": "kata-wallet"}},
        placement={"tee": "TDX", "runtimeClassName": "kata-qemu-nvidia-gpu-tdx", "gpuResource": VFIO},
    )
    doc = {
        "apiVersion": "cocoon.tonops.dev/v1alpha1",
        "kind": "CocoonNode",
        "metadata": {"name": "kata"},
        "spec": spec,
    }
    cocoon_crd.kubectl("apply", "-n", worker_namespace, "-f", "-", input=json.dumps(doc))
    obj = _wait(cocoon_crd, worker_namespace, "kata", "Scheduled", lambda c: c.get("status") == "True", 120)
    node = json.loads(cocoon_crd.kubectl("get", "node", obj["status"]["nodeName"], "-o", "json").stdout)
    labels = node["metadata"]["labels"]
    assert (
        labels.get("intel.feature.node.kubernetes.io/tdx") == "true"
        and "nvidia.com/gpu.product" not in labels
    )
    pod = json.loads(cocoon_crd.kubectl("get", "pod", "kata-0", "-n", worker_namespace, "-o", "json").stdout)
    assert pod["spec"]["runtimeClassName"] == "kata-qemu-nvidia-gpu-tdx"
    triton = next(c for c in pod["spec"]["containers"] if c["name"] == "triton")
    assert triton["resources"]["limits"] == {VFIO: "1"}
