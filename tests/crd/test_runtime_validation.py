"""spec.runtime and the placement rules that come with it (issue 15): the real API server rejects bad
CocoonVM and Kata specs with messages that name the field, and accepts the good ones with defaults."""

# ruff: noqa: E501  (one row per case reads better unwrapped)

import json
from typing import Any

import pytest

from tests.unit.builders import minimal_spec

pytestmark = pytest.mark.cluster

SHA = "ab" * 32


def _doc(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "cocoon.tonops.dev/v1alpha1",
        "kind": "CocoonNode",
        "metadata": {"name": name},
        "spec": spec,
    }


def _vm(vm: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    spec = minimal_spec(runtime={"kind": "CocoonVM", "vm": {} if vm is None else vm}, **overrides)
    if "worker" not in overrides:
        spec["worker"] = {"mode": "Test"}
    return spec


def _create(cluster: Any, namespace: str, name: str, spec: dict[str, Any]) -> Any:
    return cluster.kubectl(
        "create", "-n", namespace, "-f", "-", input=json.dumps(_doc(name, spec)), check=False
    )


BAD = [
    ("vm-without-vm", minimal_spec(runtime={"kind": "CocoonVM"}), "spec.runtime.vm is required with kind CocoonVM"),
    ("vm-on-tritonpod", minimal_spec(runtime={"kind": "TritonPod", "vm": {}}), "spec.runtime.vm is required with kind CocoonVM and only allowed with it"),
    ("unknown-kind", minimal_spec(runtime={"kind": "KubeVirt"}), "spec.runtime.kind"),
    ("vm-sev-snp", _vm(placement={"tee": "SEV-SNP"}), "spec.placement.tee must be TDX with runtime kind CocoonVM"),
    ("vm-two-gpus", _vm(placement={"gpuCount": 2}), "spec.placement.gpuCount must be 1 with runtime kind CocoonVM"),
    ("vm-gpu-products", _vm(placement={"gpuProducts": ["NVIDIA-H100-80GB-HBM3"]}), "spec.placement.gpuProducts cannot be used with runtime kind CocoonVM"),
    ("vm-runtime-class", _vm(placement={"runtimeClassName": "kata-qemu-nvidia-gpu-tdx"}), "spec.placement.runtimeClassName cannot be used with runtime kind CocoonVM"),
    ("vm-instance", _vm({"instance": 64}), "spec.runtime.vm.instance"),
    ("vm-release-sha", _vm({"release": {"url": "https://r.invalid/r.tar.xz", "sha256": "XYZ"}}), "spec.runtime.vm.release.sha256"),
    ("vm-release-scheme", _vm({"release": {"url": "ftp://r.invalid/r.tar.xz", "sha256": SHA}}), "spec.runtime.vm.release.url"),
    ("vm-release-no-sha", _vm({"release": {"url": "https://r.invalid/r.tar.xz"}}), "spec.runtime.vm.release.sha256"),
    ("vm-startup", _vm({"startupTimeout": "30s"}), "spec.runtime.vm.startupTimeout must be between 1m and 12h"),
    ("vm-hf-no-name", _vm({"hfTokenSecretRef": {"key": "token"}}), "spec.runtime.vm.hfTokenSecretRef.name"),
    ("tritonpod-no-image", minimal_spec(worker={"mode": "Test"}), "spec.worker.image is required with runtime kind TritonPod"),
    ("kata-gpu-products", minimal_spec(placement={"runtimeClassName": "kata", "gpuProducts": ["NVIDIA-H200"]}), "Kata nodes carry no GPU Feature Discovery labels"),
    ("foreign-resource", minimal_spec(placement={"gpuResource": "devices.kubevirt.io/kvm"}), "spec.placement.gpuResource"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "spec", "expected"), BAD, ids=[b[0] for b in BAD])
def test_runtime_rules_name_the_field(
    cocoon_crd: Any, namespace: str, name: str, spec: dict[str, Any], expected: str
) -> None:
    out = _create(cocoon_crd, namespace, name, spec)
    assert out.returncode != 0, f"{name} was accepted"
    assert expected in out.stderr, out.stderr


def test_good_runtimes_are_accepted_with_defaults(cocoon_crd: Any, namespace: str) -> None:
    assert _create(cocoon_crd, namespace, "triton", minimal_spec()).returncode == 0
    vm = _vm(
        {"hfTokenSecretRef": {"name": "hf"}, "release": {"url": "https://r.invalid/r.tar.xz", "sha256": SHA}}
    )
    assert _create(cocoon_crd, namespace, "vm", vm).returncode == 0
    kata = minimal_spec(
        placement={"runtimeClassName": "kata-qemu-nvidia-gpu-tdx", "gpuResource": "nvidia.com/pgpu"}
    )
    assert _create(cocoon_crd, namespace, "kata", kata).returncode == 0
    triton = json.loads(cocoon_crd.kubectl("get", "cn", "triton", "-n", namespace, "-o", "json").stdout)
    assert triton["spec"]["runtime"] == {"kind": "TritonPod"}
    stored = json.loads(cocoon_crd.kubectl("get", "cn", "vm", "-n", namespace, "-o", "json").stdout)["spec"][
        "runtime"
    ]
    assert stored["vm"]["instance"] == 0 and stored["vm"]["startupTimeout"] == "2h"
    assert stored["vm"]["hfTokenSecretRef"] == {"name": "hf", "key": "token"}
