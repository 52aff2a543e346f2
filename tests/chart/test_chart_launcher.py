"""The chart's CocoonVM values (issue 15): launcher namespaces and ServiceAccounts, the operator's
launcher settings, the seal-server DaemonSet, and the TritonPod's OpenAI adapter image."""

from __future__ import annotations

from typing import Any

import pytest

from cocoon_operator.reconcile.launcher import FETCH_RELEASE_SCRIPT
from cocoon_operator.settings import Settings
from tests.chart.tools import of_kind, one, render, template

SHA = "ab" * 32
VM_VALUES = {
    "launcher.namespaces": "{gpu-vms,gpu-vms-b}",
    "launcher.createNamespaces": "true",
    "launcher.image": "registry.example/cocoon-launcher:1",
    "launcher.release.url": "https://releases.example/cocoon-worker-release-1.tar.xz",
    "launcher.release.sha256": SHA,
    "launcher.allowedReleaseSha256s": "{" + "cd" * 32 + "}",
}


def _env(objs: list[dict[str, Any]]) -> dict[str, str]:
    deploy = one(objs, "Deployment", "cocoon-operator")
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_defaults_mark_no_namespace() -> None:
    objs = render()
    env = _env(objs)
    assert env["COCOON_LAUNCHER_NAMESPACES"] == "[]" and env["COCOON_LAUNCHER_IMAGE"] == ""
    assert env["COCOON_OPENAI_ADAPTER_IMAGE"].startswith("cocoon-operator:"), "the operator image by default"
    assert not of_kind(objs, "DaemonSet") and not of_kind(objs, "Namespace")
    assert [
        sa["metadata"]["name"]
        for sa in of_kind(objs, "ServiceAccount")
        if "launcher" in sa["metadata"]["name"]
    ] == []


def test_launcher_values_reach_the_operator_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    objs = render(VM_VALUES)
    for key, value in _env(objs).items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.launcher_namespaces == ("gpu-vms", "gpu-vms-b")
    assert settings.launcher_image == "registry.example/cocoon-launcher:1"
    assert settings.vm_release_sha256 == SHA and settings.vm_allowed_release_sha256s == ("cd" * 32,)
    assert (
        settings.vm_gpu_resource == "nvidia.com/GH100_H100_SXM5_80GB"
        and settings.vm_check_seal_server is True
    )


def test_launcher_namespaces_and_service_accounts() -> None:
    objs = render(VM_VALUES)
    namespaces = {n["metadata"]["name"]: n for n in of_kind(objs, "Namespace")}
    assert set(namespaces) == {"gpu-vms", "gpu-vms-b"}
    for ns in namespaces.values():
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    accounts = [sa for sa in of_kind(objs, "ServiceAccount") if sa["metadata"]["name"] == "cocoon-launcher"]
    assert {sa["metadata"]["namespace"] for sa in accounts} == {"gpu-vms", "gpu-vms-b"}
    assert all(sa["automountServiceAccountToken"] is False for sa in accounts)
    bindings = of_kind(objs, "RoleBinding") + of_kind(objs, "ClusterRoleBinding")
    assert not [
        b for b in bindings if any(s.get("name") == "cocoon-launcher" for s in b.get("subjects", []))
    ], "a launcher needs no Kubernetes API access"


def test_seal_server_daemonset_fetches_the_release_like_the_launchers() -> None:
    objs = render(VM_VALUES | {"sealServer.enabled": "true"})
    ds = one(objs, "DaemonSet", "seal-server")
    assert ds["metadata"]["namespace"] == "gpu-vms"
    pod = ds["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"feature.node.kubernetes.io/cpu-security.tdx.enabled": "true"}
    (fetch,) = pod["initContainers"]
    assert fetch["command"] == ["/bin/sh", "-c", FETCH_RELEASE_SCRIPT], (
        "the chart's copy drifted from the launcher's"
    )
    assert {"name": "RELEASE_SHA256", "value": SHA} in fetch["env"]
    (server,) = pod["containers"]
    assert "bin/seal-server" in server["command"][2] and "enclave.signed.so" in server["command"][2]
    assert server["securityContext"]["privileged"] is True and pod["automountServiceAccountToken"] is False


def test_seal_server_needs_the_release() -> None:
    out = template({"sealServer.enabled": "true"}, check=False)
    assert out.returncode != 0 and "sealServer.enabled needs launcher.image" in out.stderr


def test_bad_launcher_values_are_refused() -> None:
    out = template({"launcher.release.sha256": "not-a-hash"}, check=False)
    assert out.returncode != 0 and "sha256" in out.stderr
    out = template({"launcher.gpuResource": "devices.kubevirt.io/kvm"}, check=False)
    assert out.returncode != 0 and "gpuResource" in out.stderr
