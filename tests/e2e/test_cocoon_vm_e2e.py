"""CocoonVM and the whole TritonPod end to end (issue 15): the operator process, the local control plane,
the local TON chain (real TVM behind a real liteserver) and the process runtime.

- A CocoonVM worker: its launcher pod lands on a fake bare-metal TDX host, asks for the VFIO GPU, runs
  the launcher script the operator rendered, which downloads and verifies the stand-in release and runs
  its `cocoon-launch` (the official one when ../shared/reference is here) with the rendered worker.conf;
  the stand-in QEMU boots "the guest" (real Triton on CPU + the runner simulator behind the forwarded
  port). The operator funds it, sees it registered and claims its rewards, confirmed on chain, beside a
  TritonPod worker.
- The TritonPod's OpenAI endpoint (the operator's adapter container in front of real Triton) answers a
  chat completion for the model's Hugging Face name, `/` included.
- Bad input: a release whose SHA-256 differs (nothing starts; the condition names both hashes) and a
  host without TDX and the QGS (the condition names what is missing).
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cocoon_dev.runtime.vm import host as vm_host
from cocoon_dev.runtime.vm import release as vm_release
from tests.e2e.test_rewards_e2e import (
    Stack,
    _chain_matches_ledger,
    _secrets,
    cond,
    running_stack,
    totals,
)
from tests.helpers.reference import reference_dir

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.chain,
    pytest.mark.triton,
    pytest.mark.e2e,
    pytest.mark.timeout(1200),
]

WRONG_SHA = "0" * 64
HF_TOKEN = "hf_cocoonE2eTokenNotReal0123456789"
HOST_LABEL = "feature.node.kubernetes.io/cpu-security.tdx.enabled"
VFIO = "nvidia.com/GH100_H100_SXM5_80GB"
BROKEN_HOST = "tdx-host-1"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class VmStack:
    base: Stack
    release: vm_release.PackedRelease
    http_url: str  # the release archive over HTTP (what a spec's release.url must be)
    official_launcher: bool


@pytest.fixture(scope="module")
def vm_stack(cocoon_crd: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VmStack]:
    from cocoon_dev.runtime import triton

    if not triton.triton_available():
        pytest.skip(f"Triton is not installed ({triton.SETUP_COMMAND})")
    tmp = tmp_path_factory.mktemp("cocoon-vm")
    ref = reference_dir()
    official = ref / "cocoon-runner" / "scripts" / "cocoon-launch" if ref is not None else None
    packed = vm_release.build(tmp / "release", launcher=official if official and official.is_file() else None)
    www = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(packed.archive.parent))
    )
    threading.Thread(target=www.serve_forever, daemon=True).start()
    http_url = f"http://127.0.0.1:{www.server_address[1]}/{packed.archive.name}"

    def prepare(cluster: Any, ns: str) -> None:
        cluster.kubectl("create", "secret", "generic", "hf", "-n", ns, f"--from-literal=token={HF_TOKEN}")
        cluster.kubectl("create", "serviceaccount", "cocoon-launcher", "-n", ns)

    def launchers_in(ns: str) -> dict[str, str]:
        return {
            "COCOON_LAUNCHER_NAMESPACES": json.dumps([ns]),
            "COCOON_LAUNCHER_IMAGE": "localhost/cocoon-launcher:dev",
            "COCOON_VM_RELEASE_URL": packed.url,
            "COCOON_VM_RELEASE_SHA256": packed.sha256,
            # The admin allows one more release hash: the one the bad-release test names (wrong on purpose).
            "COCOON_VM_ALLOWED_RELEASE_SHA256S": json.dumps([WRONG_SHA]),
        }

    try:
        with running_stack(cocoon_crd, tmp, "vm", prepare=prepare, operator_env=launchers_in) as base:
            try:
                yield VmStack(base, packed, http_url, official is not None and official.is_file())
            finally:
                cocoon_crd.kubectl(
                    "annotate", "node", BROKEN_HOST, f"{vm_host.HOST_MISSING_ANNOTATION}-", check=False
                )
    finally:
        www.shutdown()
        www.server_close()


def create_vm(stack: Stack, name: str, vm: dict[str, Any] | None = None, **overrides: Any) -> None:
    stack.create(
        name, tee="TDX", runtime={"kind": "CocoonVM", "vm": vm or {}}, worker={"mode": "Test"}, **overrides
    )


def pod_of(stack: Stack, name: str) -> dict[str, Any]:
    out = stack.kubectl("get", "pod", f"{name}-0", "-n", stack.namespace, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def pod_dir(stack: Stack, name: str) -> Path:
    pod = pod_of(stack, name)
    return stack.runtime.pod_dir(stack.namespace, f"{name}-0", pod["metadata"]["uid"])


async def test_cocoon_vm_earns_beside_a_triton_pod(vm_stack: VmStack) -> None:
    stack = vm_stack.base
    create_vm(stack, "vm-a", {"hfTokenSecretRef": {"name": "hf"}})
    stack.create("tp-a", tee="TDX")
    vm = stack.wait("vm-a registered", "vm-a", lambda o: cond(o, "Registered").get("status") == "True", 420)
    assert cond(vm, "InferenceReady")["reason"] == "VmServing"
    node = vm["status"]["nodeName"]
    labels = json.loads(stack.kubectl("get", "node", node, "-o", "json").stdout)["metadata"]["labels"]
    assert labels.get(HOST_LABEL) == "true", f"the launcher sits on {node}, not a TDX host"
    pod = pod_of(stack, "vm-a")
    (main,) = pod["spec"]["containers"]
    assert main["resources"]["limits"][VFIO] == "1" and main["securityContext"]["privileged"] is True
    assert {v["name"] for v in pod["spec"]["volumes"]} >= {"host-dev", "release-cache", "state", "kvm"}
    assert {"name": "kvm", "mountPath": "/dev/kvm"} in main["volumeMounts"]
    # What the launcher ran: the recorded QEMU command line of the worker VM.
    argv = json.loads((pod_dir(stack, "vm-a") / "qemu-cmdline.json").read_text())["argv"]
    joined = " ".join(argv)
    assert '"qom-type":"tdx-guest"' in joined and "confidential-guest-support=tdx" in joined
    assert "vfio-pci,host=0000:" in joined and "hostfwd=tcp::12000-:12000" in joined
    print("launcher:", "official cocoon-launch" if vm_stack.official_launcher else "stand-in cocoon-launch")
    # Money: claims of both workers confirmed on chain, each ledger equal to the chain.
    for name in ("vm-a", "tp-a"):
        obj = stack.wait(
            f"{name} claimed",
            name,
            lambda o: totals(o).get("operatorClaims", 0) >= 1 and not o["status"]["claims"].get("pending"),
            420,
        )
        assert cond(obj, "WalletFunded")["status"] == "True"
    vm = stack.wait("vm-a Ready", "vm-a", lambda o: cond(o, "Ready").get("status") == "True", 120)
    figures = {name: await _chain_matches_ledger(stack, name) for name in ("vm-a", "tp-a")}
    print("payouts (chain == ledger):", figures)
    assert all(f["nano"] > 0 for f in figures.values())
    # No key material anywhere it must not be: operator log, events, status, the launcher's own log.
    launcher_log = (pod_dir(stack, "vm-a") / "logs" / "launcher.log").read_text(errors="replace")
    haystacks = {"operator log": stack.operator.text(), "events": stack.events(),
                 "status": json.dumps(vm.get("status")), "launcher log": launcher_log}  # fmt: skip
    for secret in [*_secrets(stack, ["vm-a", "tp-a"]), HF_TOKEN]:
        for where, text in haystacks.items():
            assert secret not in text, f"key material in the {where}"
    configmaps = stack.kubectl(
        "get", "configmap", "vm-a-launcher", "-n", stack.namespace, "-o", "json"
    ).stdout
    assert "$NODE_WALLET_KEY" in configmaps and HF_TOKEN not in configmaps


def test_triton_pod_answers_openai_chat_for_the_hugging_face_name(vm_stack: VmStack) -> None:
    stack = vm_stack.base
    obj = stack.wait("tp-a serving", "tp-a", lambda o: cond(o, "InferenceReady").get("status") == "True", 300)
    ip = obj["status"]["podIP"]
    base = f"http://{ip}:9000"  # the adapter's 127.0.0.1:9000 is the pod IP in the local runtime
    name = str(stack.network.model).split("@", 1)[0]
    assert "/" in name
    models = httpx.get(f"{base}/v1/models", timeout=10).json()
    assert [m["id"] for m in models["data"]] == [name]
    assert httpx.get(f"{base}/v1/models/{name}", timeout=10).status_code == 200
    body = {
        "model": name,
        "messages": [{"role": "user", "content": "say something about TON"}],
        "max_tokens": 7,
    }
    answer = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["model"] == name and data["choices"][0]["message"]["content"]
    assert data["usage"]["completion_tokens"] == 7 and data["usage"]["prompt_tokens"] > 0
    stream = httpx.post(
        f"{base}/v1/chat/completions",
        json=body | {"stream": True, "stream_options": {"include_usage": True}},
        timeout=60,
    )
    chunks = [line[6:] for line in stream.text.splitlines() if line.startswith("data: ")]
    assert chunks[-1] == "[DONE]" and json.loads(chunks[-2])["usage"]["completion_tokens"] == 7
    wrong = httpx.post(f"{base}/v1/chat/completions", json=body | {"model": "Qwen/Other"}, timeout=30)
    assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "model_not_found"
    # The runner in the pod reaches the same endpoint: its uplink is up and requests were served.
    stats = httpx.get(f"http://{ip}:12000/jsonstats", timeout=10).json()
    assert stats["stats"]["success"][0] > 0


def test_release_with_another_sha256_starts_nothing(vm_stack: VmStack) -> None:
    stack = vm_stack.base
    create_vm(
        stack, "vm-bad-release", {"instance": 2, "release": {"url": vm_stack.http_url, "sha256": WRONG_SHA}}
    )
    obj = stack.wait_reason("vm-bad-release", "InferenceReady", "ReleaseIntegrityFailed", 240)
    message = cond(obj, "InferenceReady")["message"]
    assert WRONG_SHA in message and vm_stack.release.sha256 in message, message
    assert cond(obj, "Ready")["status"] == "False"
    assert not (pod_dir(stack, "vm-bad-release") / "qemu-cmdline.json").exists(), (
        "no VM without a verified release"
    )
    statuses = pod_of(stack, "vm-bad-release")["status"].get("containerStatuses") or []
    assert all("running" not in (s.get("state") or {}) for s in statuses)
    stack.kubectl("delete", "cn", "vm-bad-release", "-n", stack.namespace, "--wait=true", "--timeout=60s")


def test_host_without_tdx_and_qgs_is_named(vm_stack: VmStack) -> None:
    stack = vm_stack.base
    stack.kubectl(
        "annotate", "node", BROKEN_HOST, f"{vm_host.HOST_MISSING_ANNOTATION}=tdx,qgs", "--overwrite"
    )
    create_vm(
        stack,
        "vm-no-tdx",
        {"instance": 3},
        placement={"tee": "TDX", "nodeSelector": {"kubernetes.io/hostname": BROKEN_HOST}},
    )
    obj = stack.wait_reason("vm-no-tdx", "InferenceReady", "HostPrerequisitesMissing", 240)
    message = cond(obj, "InferenceReady")["message"]
    assert f"Node {BROKEN_HOST} cannot run the worker VM" in message
    assert "tdx: KVM has TDX off" in message and "qgs: no Quote Generation Service" in message, message
    assert "kvm:" not in message, "only what is missing is named"
    assert not (pod_dir(stack, "vm-no-tdx") / "qemu-cmdline.json").exists()
    stack.kubectl("delete", "cn", "vm-no-tdx", "-n", stack.namespace, "--wait=true", "--timeout=60s")
