"""CocoonVM (issue 15) without a cluster: the spec rules, the rendered worker.conf, the launcher pod,
placement on TDX hosts with its explanation, the guards, and the health of a launcher pod."""

# ruff: noqa: E501  (expected messages and objects read better unwrapped)

from __future__ import annotations

import configparser
import copy
import subprocess
from typing import Any

import pytest
from pydantic import ValidationError

from cocoon_operator.api.spec import parse_spec
from cocoon_operator.conditions import Reason
from cocoon_operator.reconcile import (
    children,
    cocoon_vm,
    launcher,
    placement_vm,
    pod_security,
    runtimes,
    worker_conf,
)
from cocoon_operator.settings import Settings
from cocoon_operator.steps.health.probe import RunnerProbe
from cocoon_operator.steps.health.vm import evaluate_vm
from cocoon_operator.worker import runtime
from cocoon_operator.worker.triton_client import ErrorKind, ProbeError
from tests.unit.builders import default_fleet, minimal_spec
from tests.unit.health.builders import NOW, container, pod, runner_ok, running

SHA = "ab" * 32
SETTINGS = Settings(
    launcher_image="registry.example/cocoon-launcher:1",
    launcher_namespaces=("ns1",),
    vm_release_url="https://releases.example/cocoon-worker-release-1.tar.xz",
    vm_release_sha256=SHA,
)
OWNER = children.Owner(name="w1", namespace="ns1", uid="uid-1")
KEY = "gaEatwGNgLGOeFI/TRGfPdJG/K4G8picYHQkDHpLQ9w="


def vm_spec(vm: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    spec = minimal_spec(runtime={"kind": "CocoonVM", "vm": vm or {}}, **overrides)
    if "worker" not in overrides:
        spec["worker"] = {"mode": "Production"}  # no runner image: the VM brings its own runner
    return spec


def host_node(
    name: str, *, gpus: int = 2, tdx: bool = True, vfio: bool = True, cc: bool = True
) -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": name, "nvidia.com/gpu.present": "true"}
    if tdx:
        labels["feature.node.kubernetes.io/cpu-security.tdx.enabled"] = "true"
    if vfio:
        labels["nvidia.com/gpu.workload.config"] = "vm-passthrough"
    labels["nvidia.com/cc.ready.state"] = "true" if cc else "false"
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
        "status": {
            "allocatable": {"cpu": "224", "nvidia.com/GH100_H100_SXM5_80GB": str(gpus)},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


# --- the spec --------------------------------------------------------------------------------------


def test_tritonpod_is_the_default_and_vm_needs_no_runner_image() -> None:
    assert parse_spec(minimal_spec()).runtime.kind == "TritonPod"
    spec = parse_spec(vm_spec())
    assert spec.is_vm and spec.runtime.vm is not None and spec.runtime.vm.instance == 0
    assert spec.worker.image is None


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"placement": {"tee": "SEV-SNP"}}, "spec.placement.tee must be TDX"),
        ({"placement": {"gpuCount": 2}}, "spec.placement.gpuCount must be 1"),
        ({"placement": {"gpuProducts": ["NVIDIA-H100-80GB-HBM3"]}}, "spec.placement.gpuProducts cannot"),
        ({"placement": {"runtimeClassName": "kata"}}, "spec.placement.runtimeClassName cannot"),
    ],
)
def test_vm_rules_name_the_field(overrides: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        parse_spec(vm_spec(**overrides))


def test_tritonpod_rules() -> None:
    no_image = minimal_spec()
    no_image["worker"] = {"mode": "Test"}
    with pytest.raises(ValidationError, match=r"spec\.worker\.image is required"):
        parse_spec(no_image)
    with pytest.raises(ValidationError, match=r"spec\.runtime\.vm is only allowed"):
        parse_spec(minimal_spec(runtime={"kind": "TritonPod", "vm": {}}))
    with pytest.raises(ValidationError, match="Kata nodes carry no GPU Feature Discovery labels"):
        parse_spec(minimal_spec(placement={"runtimeClassName": "k", "gpuProducts": ["NVIDIA-H200"]}))
    with pytest.raises(ValidationError, match=r"gpu_resource|gpuResource"):
        parse_spec(minimal_spec(placement={"gpuResource": "devices.kubevirt.io/kvm"}))


def test_ports_and_device_plugin_variable() -> None:
    assert runtimes.worker_access(parse_spec(minimal_spec()), SETTINGS).runner_port == 12000
    assert runtimes.worker_access(parse_spec(vm_spec({"instance": 3})), SETTINGS).runner_port == 12030
    assert (
        runtime.pci_env_var("nvidia.com/GH100_H100_SXM5_80GB")
        == "PCI_RESOURCE_NVIDIA_COM_GH100_H100_SXM5_80GB"
    )
    vm = parse_spec(vm_spec())
    assert runtimes.of(vm).gpu_resource(vm, SETTINGS) == "nvidia.com/GH100_H100_SXM5_80GB"
    kata = parse_spec(minimal_spec(placement={"runtimeClassName": "k", "gpuResource": "nvidia.com/pgpu"}))
    assert runtimes.of(kata).gpu_resource(kata, SETTINGS) == "nvidia.com/pgpu"


# --- worker.conf -----------------------------------------------------------------------------------


def test_worker_conf_has_every_value_and_no_secret() -> None:
    spec = parse_spec(vm_spec({"instance": 2, "hfTokenSecretRef": {"name": "hf"}}, workerCoefficient=1500))
    text = worker_conf.render(spec, name="w1", namespace="ns1")
    ini = configparser.ConfigParser()
    ini.read_string(text)
    node = ini["node"]
    assert node["type"] == "worker"
    assert node["model"] == str(spec.model) and node["owner_address"] == spec.owner_address
    assert node["root_contract_address"] == spec.network.root_contract_address
    assert node["worker_coefficient"] == "1500" and node["instance"] == "2"
    assert node["node_wallet_key"] == "$NODE_WALLET_KEY" and node["hf_token"] == "$HF_TOKEN"
    assert node["gpu"] == "$GPU_PCI_ADDRESS" and node["ton_config"] == "$TON_CONFIG"
    assert "test" not in node
    assert KEY not in text
    without_hf = worker_conf.render(parse_spec(vm_spec(worker={"mode": "Test"})), name="w1", namespace="ns1")
    assert "hf_token" not in without_hf and "test = true" in without_hf


def test_worker_conf_refuses_values_that_change_its_structure() -> None:
    spec = parse_spec(vm_spec())
    bad = spec.model_copy(update={"owner_address": "UQ\n[evil]\nimage-dir = /x"})
    with pytest.raises(worker_conf.UnsafeValue, match=r"spec\.ownerAddress"):
        worker_conf.render(bad, name="w1", namespace="ns1")


# --- the launcher pod ------------------------------------------------------------------------------


def _objects(vm: dict[str, Any] | None = None, **overrides: Any) -> dict[str, dict[str, Any]]:
    spec = parse_spec(vm_spec(vm, **overrides))
    return {o["kind"]: o for o in launcher.desired(OWNER, spec, SETTINGS)}


def test_launcher_pod_shape() -> None:
    objs = _objects({"instance": 1, "hfTokenSecretRef": {"name": "hf", "key": "hf_token"}})
    assert set(objs) == {"ConfigMap", "Service", "PodDisruptionBudget", "NetworkPolicy", "StatefulSet"}
    assert objs["ConfigMap"]["metadata"]["name"] == "w1-launcher"
    assert objs["Service"]["spec"]["ports"] == [{"name": "runner", "port": 12010, "protocol": "TCP"}]
    assert objs["NetworkPolicy"]["spec"]["ingress"][0]["ports"] == [{"port": 12010, "protocol": "TCP"}]
    template = objs["StatefulSet"]["spec"]["template"]
    assert template["metadata"]["labels"][placement_vm.INSTANCE_LABEL] == "1"
    pod_spec = template["spec"]
    assert (
        pod_spec["serviceAccountName"] == "cocoon-launcher"
        and pod_spec["automountServiceAccountToken"] is False
    )
    assert [c["name"] for c in pod_spec["initContainers"]] == ["check-host", "fetch-release"]
    (main,) = pod_spec["containers"]
    assert main["name"] == "launcher" and main["image"] == SETTINGS.launcher_image
    assert main["securityContext"]["privileged"] is True
    for init in pod_spec["initContainers"]:
        assert init["securityContext"]["privileged"] is False
        assert init["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    res = main["resources"]
    assert (
        res["requests"]["nvidia.com/GH100_H100_SXM5_80GB"]
        == res["limits"]["nvidia.com/GH100_H100_SXM5_80GB"]
        == "1"
    )
    assert res["requests"]["cpu"] == "32" and res["requests"]["memory"] == "104Gi"
    assert main["ports"] == [{"name": "runner", "containerPort": 12010, "protocol": "TCP"}]
    script = main["command"][2]
    assert "PCI_RESOURCE_NVIDIA_COM_GH100_H100_SXM5_80GB" in script and "scripts/cocoon-launch" in script
    assert {"name": "RELEASE_SHA256", "value": SHA} in main["env"]
    fetch = pod_spec["initContainers"][1]
    assert {"name": "RELEASE_URL", "value": SETTINGS.vm_release_url} in fetch["env"]
    volumes = {v["name"]: v for v in pod_spec["volumes"]}
    assert volumes["state"]["hostPath"]["path"] == "/var/lib/cocoon/vm/ns1_w1"
    assert volumes["release-cache"]["hostPath"]["path"] == "/var/lib/cocoon/releases"
    assert volumes["hf-token"]["secret"] == {
        "secretName": "hf",
        "items": [{"key": "hf_token", "path": "token"}],
        "defaultMode": 0o400,
    }
    assert volumes["wallet"]["secret"]["secretName"] == "w1-wallet"
    assert "launcher-template" in volumes and volumes["work"]["emptyDir"]["medium"] == "Memory"
    assert volumes["kvm"]["hostPath"] == {"path": "/dev/kvm", "type": "CharDevice"}
    assert volumes["vhost-vsock"]["hostPath"] == {"path": "/dev/vhost-vsock", "type": "CharDevice"}
    assert {"name": "kvm", "mountPath": "/dev/kvm"} in main["volumeMounts"]
    for c in pod_spec["initContainers"] + pod_spec["containers"]:
        for env in c.get("env", []):
            assert "KEY" not in env["name"] and "TOKEN" not in env["name"], "no secret in an env variable"


def test_launcher_affinity_and_anti_affinity() -> None:
    pod_spec = _objects({"instance": 4})["StatefulSet"]["spec"]["template"]["spec"]
    terms = pod_spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    for term in terms:
        keys = {e["key"]: e["values"] for e in term["matchExpressions"]}
        assert keys["nvidia.com/cc.ready.state"] == ["true"]
        assert keys["nvidia.com/gpu.workload.config"] == ["vm-passthrough"]
    assert {
        next(iter(k for k in (e["key"] for e in t["matchExpressions"]) if "tdx" in k)) for t in terms
    } == {
        "feature.node.kubernetes.io/cpu-security.tdx.enabled",
        "intel.feature.node.kubernetes.io/tdx",
    }
    (anti,) = pod_spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert anti["labelSelector"]["matchLabels"][placement_vm.INSTANCE_LABEL] == "4"
    assert anti["topologyKey"] == "kubernetes.io/hostname" and anti["namespaceSelector"] == {}


def test_launcher_scripts_are_valid_sh() -> None:
    pod_spec = _objects({"hfTokenSecretRef": {"name": "hf"}})["StatefulSet"]["spec"]["template"]["spec"]
    for c in pod_spec["initContainers"] + pod_spec["containers"]:
        assert c["command"][:2] == ["/bin/sh", "-c"]
        out = subprocess.run(["sh", "-n", "-c", c["command"][2]], capture_output=True, text=True, check=False)
        assert out.returncode == 0, (c["name"], out.stderr)


def test_config_hash_follows_the_release_and_the_config() -> None:
    one = _objects()["StatefulSet"]["spec"]["template"]["metadata"]["annotations"]
    other_release = _objects({"release": {"url": "https://r.example/x.tar.xz", "sha256": "cd" * 32}})
    coefficient = _objects(workerCoefficient=2000)
    assert one != other_release["StatefulSet"]["spec"]["template"]["metadata"]["annotations"]
    assert one != coefficient["StatefulSet"]["spec"]["template"]["metadata"]["annotations"]


def test_tritonpod_stays_restricted_and_vm_is_not() -> None:
    spec = parse_spec(minimal_spec())
    sts = children.statefulset(OWNER, spec, SETTINGS, "x")
    assert pod_security.restricted_violations(sts["spec"]["template"]["spec"]) == []
    vm_pod = _objects()["StatefulSet"]["spec"]["template"]["spec"]
    assert any("privileged" in v for v in pod_security.restricted_violations(vm_pod))


def test_tritonpod_has_router_and_openai_adapter() -> None:
    spec = parse_spec(minimal_spec(worker={"image": "localhost/runner:dev", "mode": "Test"}))
    pod_spec = children.statefulset(OWNER, spec, SETTINGS, "x")["spec"]["template"]["spec"]
    by = {c["name"]: c for c in pod_spec["containers"]}
    assert by["router"]["args"] == ["-S", "8116@any", "--serialize-info"]
    assert by["router"]["image"] == "localhost/runner:dev"
    prod = parse_spec(minimal_spec())
    prod_pod = children.statefulset(OWNER, prod, SETTINGS, "x")["spec"]["template"]["spec"]
    assert {c["name"]: c for c in prod_pod["containers"]}["router"]["args"][1] == "8116@tdx"
    args = by["openai"]["args"]
    assert args[args.index("--served-model-name") + 1] == "Qwen/Qwen3-8B"
    assert args[args.index("--listen") + 1] == "127.0.0.1:9000"
    kata = parse_spec(minimal_spec(placement={"runtimeClassName": "kata-qemu-nvidia-gpu-tdx",
                                              "gpuResource": "nvidia.com/pgpu"}))  # fmt: skip
    triton = children.statefulset(OWNER, kata, SETTINGS, "x")["spec"]["template"]["spec"]["containers"][0]
    assert triton["resources"]["limits"] == {"nvidia.com/pgpu": "1"}


# --- placement -------------------------------------------------------------------------------------


def test_explainer_on_a_cluster_without_tdx_hosts() -> None:
    report = placement_vm.explain(parse_spec(vm_spec()), default_fleet(), {}, SETTINGS)
    assert report.fitting == () and report.feasible == ()
    assert report.message == (
        "0 of 10 nodes fit: 6 are not TDX hosts (no feature.node.kubernetes.io/cpu-security.tdx.enabled=true "
        "or intel.feature.node.kubernetes.io/tdx=true), 4 are not confidential (nvidia.com/cc.ready.state!=true)"
    )


def test_explainer_counts_hosts_by_reason() -> None:
    nodes = [
        host_node("h-ok"),
        host_node("h-full", gpus=1),
        host_node("h-novfio", vfio=False),
        host_node("h-cc-off", cc=False),
        host_node("h-taken"),
        *default_fleet()[:2],
    ]
    used = {"h-full": 1}
    instances = {"h-taken": {"0"}}
    report = placement_vm.explain(parse_spec(vm_spec()), nodes, used, SETTINGS, instances)
    assert report.fitting == ("h-ok",)
    assert set(report.feasible) == {"h-ok", "h-full", "h-taken"}
    assert "1 have no free nvidia.com/GH100_H100_SXM5_80GB" in report.message
    assert "1 already run a worker VM with instance 0" in report.message
    assert (
        "1 do not pass GPUs through to VMs (nvidia.com/gpu.workload.config!=vm-passthrough)" in report.message
    )
    assert "2 are not TDX hosts" in report.message and "1 are not confidential" in report.message


def test_instances_by_node_skips_the_worker_itself() -> None:
    pods = [
        {"metadata": {"labels": {placement_vm.INSTANCE_LABEL: "0", "cocoon.tonops.dev/node": "w1"}},
         "spec": {"nodeName": "h1"}, "status": {"phase": "Running"}},
        {"metadata": {"labels": {placement_vm.INSTANCE_LABEL: "1", "cocoon.tonops.dev/node": "w2"}},
         "spec": {"nodeName": "h1"}, "status": {"phase": "Running"}},
    ]  # fmt: skip
    assert placement_vm.instances_by_node(pods, exclude={"cocoon.tonops.dev/node": "w1"}) == {"h1": {"1"}}


# --- guards ----------------------------------------------------------------------------------------


def test_guards() -> None:
    spec = parse_spec(vm_spec())
    assert cocoon_vm.static_refusal(spec, "ns1", SETTINGS) is None
    refused = cocoon_vm.static_refusal(spec, "tenant-a", SETTINGS)
    assert refused is not None and refused.reason == "LauncherNamespaceNotAllowed"
    assert (
        "tenant-a" in refused.message
        and "ns1" in refused.message
        and "nothing was created" in refused.message
    )
    no_image = cocoon_vm.static_refusal(spec, "ns1", SETTINGS.model_copy(update={"launcher_image": ""}))
    assert no_image is not None and no_image.reason == "LauncherNotConfigured"
    no_release = cocoon_vm.static_refusal(spec, "ns1", SETTINGS.model_copy(update={"vm_release_url": ""}))
    assert no_release is not None and no_release.reason == "ReleaseNotConfigured"
    other = parse_spec(vm_spec({"release": {"url": "https://evil.example/r.tar.xz", "sha256": "ef" * 32}}))
    not_allowed = cocoon_vm.static_refusal(other, "ns1", SETTINGS)
    assert (
        not_allowed is not None
        and not_allowed.reason == "ReleaseNotAllowed"
        and "ef" * 32 in not_allowed.message
    )
    allowed = SETTINGS.model_copy(update={"vm_allowed_release_sha256s": ("ef" * 32,)})
    assert cocoon_vm.static_refusal(other, "ns1", allowed) is None


async def test_hf_token_secret_is_checked_without_reading_it() -> None:
    class Reads:
        def __init__(self, secrets: dict[str, dict[str, Any]]) -> None:
            self.secrets = secrets

        async def get(
            self, api_version: str, kind: str, namespace: str | None, name: str
        ) -> dict[str, Any] | None:
            return copy.deepcopy(self.secrets.get(name))

    spec = parse_spec(vm_spec({"hfTokenSecretRef": {"name": "hf"}}))
    missing = await cocoon_vm.refusal(spec, "ns1", SETTINGS, Reads({}))
    assert missing is not None and missing.reason == "HfTokenSecretNotFound"
    no_key = await cocoon_vm.refusal(spec, "ns1", SETTINGS, Reads({"hf": {"data": {"other": "eA=="}}}))
    assert no_key is not None and no_key.reason == "HfTokenSecretKeyMissing"
    assert await cocoon_vm.refusal(spec, "ns1", SETTINGS, Reads({"hf": {"data": {"token": "eA=="}}})) is None
    # A TritonPod has no guards: the registry gives it none.
    pod_spec = parse_spec(minimal_spec())
    assert await runtimes.of(pod_spec).refusal(pod_spec, "elsewhere", SETTINGS, Reads({})) is None


# --- health of the launcher pod --------------------------------------------------------------------


def launcher_pod(
    *, init: list[dict[str, Any]] | None = None, main: dict[str, Any] | None = None
) -> dict[str, Any]:
    body = pod("Running" if main else "Pending", init=init, node="tdx-host-0")
    body["spec"]["containers"] = [{"name": "launcher", "image": "x"}]
    body["spec"]["initContainers"] = [{"name": "check-host"}, {"name": "fetch-release"}]
    body["status"]["containerStatuses"] = [main] if main else []
    return body


def _term(code: int, message: str) -> dict[str, Any]:
    return {"terminated": {"exitCode": code, "reason": "Error", "message": message}}


UNREACHABLE = RunnerProbe(
    url="http://127.100.0.7:12000/jsonstats",
    error=ProbeError(kind=ErrorKind.UNREACHABLE, detail="connection refused"),
)


def test_vm_health_host_missing_a_prerequisite() -> None:
    init = [container("check-host", {"waiting": {"reason": "CrashLoopBackOff"}}, ready=False, restarts=2,
                      last=_term(4, "host prerequisites missing: tdx: KVM has TDX off; qgs: no Quote Generation"))]  # fmt: skip
    report = evaluate_vm(launcher_pod(init=init), UNREACHABLE, NOW)
    assert report.inference.reason == Reason.HOST_PREREQUISITES_MISSING
    assert "Node tdx-host-0 cannot run the worker VM: tdx: KVM has TDX off; qgs" in report.inference.message


def test_vm_health_release_mismatch_names_both_hashes() -> None:
    said = f"release integrity check failed: SHA-256 of the archive at u is {'1' * 64}, the CocoonNode expects {SHA}"
    init = [
        container("check-host", _term(0, ""), ready=True),
        container("fetch-release", _term(3, said), ready=False),
    ]
    report = evaluate_vm(launcher_pod(init=init), UNREACHABLE, NOW)
    assert report.inference.reason == Reason.RELEASE_INTEGRITY_FAILED
    assert "1" * 64 in report.inference.message and SHA in report.inference.message
    assert report.runner.status == "False"


def test_vm_health_booting_then_serving() -> None:
    init = [
        container("check-host", _term(0, ""), ready=True),
        container("fetch-release", _term(0, ""), ready=True),
    ]
    booting = evaluate_vm(
        launcher_pod(init=init, main=container("launcher", running(), ready=False)), UNREACHABLE, NOW
    )
    assert booting.inference.reason == Reason.VM_STARTING and booting.inference.status == "False"
    serving = evaluate_vm(launcher_pod(init=init, main=container("launcher", running())), runner_ok(), NOW)
    assert serving.inference.status == "True" and serving.inference.reason == Reason.VM_SERVING
    assert serving.runner.status == "True"
