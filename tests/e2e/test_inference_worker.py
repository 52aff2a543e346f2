"""End to end: a CocoonNode's worker pod really serves, fails visibly and recovers.

The operator (in-process, health probes on) runs against the local control plane;
the local process runtime (real kubelet stand-in, full mode) runs the operator-generated pod: the
`fetch-model` init container downloads the model archive from a local HTTP server and checks its
SHA-256, a real tritonserver (CPU) serves it, the runner simulator sends real inference requests.

The `health_operator` fixture runs the operator with its health probes on. No chain: the TON
global config is `{}`, so the chain provider reports `ChainUnavailable` and lets the
workload run; the tests assert on `InferenceReady` (Ready also needs the chain conditions to settle).
"""

import hashlib
import http.server
import os
import signal
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client

from cocoon_dev.runtime import triton as triton_mod
from cocoon_operator.reconcile import children
from tests.e2e.conftest import OperatorHandle
from tests.fixtures.runtime import LocalRuntime
from tests.helpers import cocoonnodes
from tests.helpers.k8s import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.triton, pytest.mark.e2e, pytest.mark.timeout(900)]

SERVED_NAME = "Qwen/Qwen3-8B"  # the model name of minimal_spec's model string
# Reasons the health layer gives while Triton is down or restarting (docs/health.md).
DOWN_REASONS = {
    "TritonUnreachable",
    "ContainerCrashLooping",
    "ContainerTerminated",
    "ContainerWaiting",
    "TritonStarting",
    "TritonNotReady",
}


class ModelServer:
    """A local HTTP server with the stand-in model repository as a tar archive (the model URL)."""

    def __init__(self, root: Path) -> None:
        repo = triton_mod.write_model_repository(
            root / "repo", [triton_mod.StandInModel(served_model_name=SERVED_NAME)]
        )
        www = root / "www"
        www.mkdir()
        self.archive = www / "model.tar"
        with tarfile.open(self.archive, "w") as tar:
            for path in sorted(repo.rglob("*")):
                tar.add(path, arcname=str(path.relative_to(repo)), recursive=False)
        self.sha256 = hashlib.sha256(self.archive.read_bytes()).hexdigest()
        handler = partial(_QuietHandler, directory=str(www))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/model.tar"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def model_server(tmp_path: Path) -> Iterator[ModelServer]:
    server = ModelServer(tmp_path / "model-server")
    try:
        yield server
    finally:
        server.close()


def _wait_inference(
    cluster: Any, ns: str, name: str, status: str, timeout_s: float, reasons: set[str] | None = None
) -> dict[str, Any]:
    def done(obj: dict[str, Any]) -> bool:
        cond = cocoonnodes.condition(obj, "InferenceReady")
        return cond.get("status") == status and (reasons is None or cond.get("reason") in reasons)

    return wait_for(
        f"{name} InferenceReady={status}{f' ({sorted(reasons)})' if reasons else ''}",
        lambda: cocoonnodes.get(cluster, ns, name),
        done,
        timeout_s=timeout_s,
        interval_s=1.0,
    )["status"]


def _metric(text: str, name: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


def _served_requests(ip: str) -> tuple[float, int]:
    """(Triton's successful inference requests, the runner's successful requests) on the pod IP."""
    metrics = httpx.get(f"http://{ip}:8002/metrics", timeout=5).text
    stats = httpx.get(f"http://{ip}:12000/jsonstats", timeout=5).json()
    return _metric(metrics, "nv_inference_request_success"), int(
        stats["stats"]["success"][0]
    )  # [total, rates…]


def test_worker_serves_fails_and_recovers(
    local_runtime: LocalRuntime,
    health_operator: OperatorHandle,
    cocoon_crd: Any,
    core_v1: client.CoreV1Api,
    model_server: ModelServer,
) -> None:
    ns = health_operator.namespace
    source = {"modelSource": {"url": model_server.url}, "startupTimeout": "5m"}
    cocoonnodes.create(cocoon_crd, ns, "llm", inference={**source, "modelSha256": model_server.sha256})
    # The same archive with a hash it does not have: Triton must never start.
    cocoonnodes.create(cocoon_crd, ns, "tampered", inference={**source, "modelSha256": "0" * 64})

    # 1. Serving: the verified archive is what Triton loads, and real requests are counted.
    status = _wait_inference(cocoon_crd, ns, "llm", "True", timeout_s=300)
    assert cocoonnodes.condition({"status": status}, "InferenceReady")["reason"] == "Serving"
    ip = status["podIP"]
    assert any(m.get("ready") for m in status.get("models", [])), status.get("models")
    chat = httpx.post(
        f"http://{ip}:9000/v1/chat/completions",
        json={"model": SERVED_NAME, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8},
        timeout=30,
    )
    assert chat.status_code == 200 and chat.json()["usage"]["prompt_tokens"] > 0
    counts = wait_for(
        "Triton and the runner count served requests",
        lambda: _served_requests(ip),
        lambda c: c[0] >= 2 and c[1] >= 1,
        timeout_s=90,
        interval_s=1.0,
    )
    print(f"served: triton success={counts[0]:.0f}, runner success={counts[1]}")
    pod = core_v1.read_namespaced_pod("llm-0", ns)
    fetch = next(s for s in pod.status.init_container_statuses if s.name == "fetch-model")
    assert fetch.state.terminated is not None and fetch.state.terminated.exit_code == 0

    # 2. Kill tritonserver: InferenceReady turns False with a reason, within a bounded time.
    pid_file = local_runtime.pod_dir(ns, "llm-0", pod.metadata.uid) / "tritonserver.pid"
    old_pid = int(pid_file.read_text())
    os.kill(old_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    down = _wait_inference(cocoon_crd, ns, "llm", "False", timeout_s=60, reasons=DOWN_REASONS)
    down_cond = cocoonnodes.condition({"status": down}, "InferenceReady")
    print(f"down after {time.monotonic() - killed_at:.1f} s: {down_cond}")
    assert down_cond["message"]

    # 3. The runtime restarts the container (a new tritonserver) and the node serves again.
    up = _wait_inference(cocoon_crd, ns, "llm", "True", timeout_s=240, reasons={"Serving"})
    assert int(pid_file.read_text()) != old_pid
    assert up["podIP"] == ip
    restarted = core_v1.read_namespaced_pod("llm-0", ns)
    triton = next(s for s in restarted.status.container_statuses if s.name == "triton")
    assert triton.restart_count >= 1 and triton.last_state.terminated.exit_code == 137

    # 4. The tampered one: the init container's message reaches the condition; Triton never ran.
    bad = _wait_inference(
        cocoon_crd, ns, "tampered", "False", timeout_s=120, reasons={"ModelIntegrityFailed"}
    )
    message = cocoonnodes.condition({"status": bad}, "InferenceReady")["message"]
    assert "does not match spec.inference.modelSha256" in message
    assert model_server.sha256 in message and "0" * 64 in message
    assert "kubectl logs" in message and "fetch-model" in message
    tampered = core_v1.read_namespaced_pod("tampered-0", ns)
    [init] = [s for s in tampered.status.init_container_statuses if s.name == "fetch-model"]
    assert init.last_state.terminated.exit_code == 3
    assert not any(s.ready for s in tampered.status.container_statuses or [])
    assert "tritonserver.pid" not in {
        p.name for p in local_runtime.pod_dir(ns, "tampered-0", tampered.metadata.uid).glob("*")
    }


def _manifest_digest(repo: Path) -> str:
    """The PVC scheme of docs/worker-pod.md §2, computed the documented way."""
    out = subprocess.run(
        ["/bin/sh", "-c", f"({children.MANIFEST_COMMAND}) | sha256sum"],
        cwd=repo, capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return out.stdout.split()[0]


@pytest.fixture
def model_claim(
    health_operator: OperatorHandle, core_v1: client.CoreV1Api, tmp_path: Path
) -> Iterator[tuple[str, str]]:
    """PVC `models` bound to a hostPath PV holding the stand-in repository under `llm/v1`: (claim, digest)."""
    ns = health_operator.namespace
    root = tmp_path / "pv"
    repo = triton_mod.write_model_repository(
        root / "llm" / "v1", [triton_mod.StandInModel(served_model_name=SERVED_NAME)]
    )
    pv_name = f"{ns}-models"
    core_v1.create_persistent_volume(
        {
            "metadata": {"name": pv_name},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadOnlyMany"],
                "storageClassName": "",
                "persistentVolumeReclaimPolicy": "Retain",
                "hostPath": {"path": str(root), "type": "Directory"},
                "claimRef": {"namespace": ns, "name": "models"},
            },
        }
    )
    try:
        core_v1.create_namespaced_persistent_volume_claim(
            ns,
            {
                "metadata": {"name": "models"},
                "spec": {
                    "accessModes": ["ReadOnlyMany"],
                    "storageClassName": "",
                    "volumeName": pv_name,
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
        )
        wait_for(
            "PVC models Bound",
            lambda: core_v1.read_namespaced_persistent_volume_claim("models", ns),
            lambda pvc: pvc.status.phase == "Bound",
            timeout_s=60,
        )
        yield "models", _manifest_digest(repo)
    finally:
        core_v1.delete_persistent_volume(pv_name)


def test_pvc_model_is_verified_in_place(
    local_runtime: LocalRuntime,
    health_operator: OperatorHandle,
    cocoon_crd: Any,
    core_v1: client.CoreV1Api,
    model_claim: tuple[str, str],
) -> None:
    ns = health_operator.namespace
    claim, digest = model_claim
    pvc = {"pvc": {"claimName": claim, "subPath": "llm/v1"}}
    cocoonnodes.create(cocoon_crd, ns, "pvc-llm", inference={"modelSource": pvc, "modelSha256": digest})
    cocoonnodes.create(
        cocoon_crd, ns, "pvc-tampered", inference={"modelSource": pvc, "modelSha256": "f" * 64}
    )

    status = _wait_inference(cocoon_crd, ns, "pvc-llm", "True", timeout_s=300, reasons={"Serving"})
    assert [m["name"] for m in status.get("models", [])] == [triton_mod.STANDIN_MODEL]
    pod = core_v1.read_namespaced_pod("pvc-llm-0", ns)
    [verify] = [s for s in pod.status.init_container_statuses if s.name == "verify-model"]
    assert verify.state.terminated is not None and verify.state.terminated.exit_code == 0

    bad = _wait_inference(
        cocoon_crd, ns, "pvc-tampered", "False", timeout_s=120, reasons={"ModelIntegrityFailed"}
    )
    message = cocoonnodes.condition({"status": bad}, "InferenceReady")["message"]
    assert "manifest SHA-256" in message and digest in message and "f" * 64 in message, message
    assert "spec.inference.modelSource.pvc" in message and "-c verify-model" in message
