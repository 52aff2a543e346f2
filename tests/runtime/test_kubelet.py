"""The local process runtime on the local control plane: worker pods on fake nodes really run.

The pod here is shaped like the operator's worker pod (containers `triton` and `runner`, the runner
config in a ConfigMap, the wallet key in a Secret file), created directly so that this tier does not
depend on the operator.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from kubernetes import client

from tests.fixtures.runtime import TEST_WALLET_KEY, LocalRuntime, worker_config

pytestmark = [pytest.mark.cluster, pytest.mark.triton]


def wait(what: str, probe: Callable[[], Any], timeout: float = 90.0) -> Any:
    end = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < end:
        try:
            last = probe()
            if last:
                return last
        except Exception as exc:  # API hiccups and refused connections while things start
            last = exc
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last: {last})")


def gpu_node(cluster: Any) -> str:
    for node in cluster.fleet:
        labels = node.labels
        if (
            node.gpus == 1
            and labels.get("feature.node.kubernetes.io/cpu-security.tdx.protected") == "true"
            and (labels.get("nvidia.com/cc.ready.state") == "true")
        ):
            return str(node.name)
    raise AssertionError("no single-GPU TDX node in the fleet")


RENDER = (
    'set -eu; umask 077; key="$(cat /run/cocoon/wallet/node_wallet_key)"; '
    'sed "s|\\$NODE_WALLET_KEY|${key}|" /etc/cocoon/runner/worker-config.json.tmpl '
    "> /run/cocoon/config/worker-config.json"
)


def worker_pod(name: str, node: str, init_script: str | None = None) -> dict[str, Any]:
    """Shaped like the operator's worker pod: the runner config is rendered by an init container from
    the ConfigMap template and the wallet Secret file into a memory emptyDir."""
    labels = {"app.kubernetes.io/name": "cocoon-worker", "app.kubernetes.io/instance": name,
              "cocoon.tonops.dev/node": name}  # fmt: skip
    init = [
        {
            "name": "render-config",
            "image": "ghcr.io/example/cocoon-worker-runner:dev",
            "command": ["/bin/sh", "-c", RENDER],
            "volumeMounts": [
                {"name": "runner-template", "mountPath": "/etc/cocoon/runner", "readOnly": True},
                {"name": "wallet", "mountPath": "/run/cocoon/wallet", "readOnly": True},
                {"name": "runner-config", "mountPath": "/run/cocoon/config"},
            ],
        }
    ]
    if init_script is not None:
        init.append({"name": "fetch-model", "image": "busybox", "command": ["/bin/sh", "-c", init_script]})
    http = {"path": "/v2/health/ready", "port": "http"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{name}-0", "labels": labels},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": node},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "terminationGracePeriodSeconds": 20,
            "automountServiceAccountToken": False,
            "initContainers": init,
            "containers": [
                {
                    "name": "triton",
                    "image": "nvcr.io/nvidia/tritonserver:24.10-py3",
                    "command": ["tritonserver"],
                    "args": [
                        "--model-repository=/models",
                        "--model-control-mode=none",
                        "--exit-timeout-secs=10",
                    ],
                    "ports": [
                        {"name": "http", "containerPort": 8000},
                        {"name": "grpc", "containerPort": 8001},
                        {"name": "metrics", "containerPort": 8002},
                    ],
                    "startupProbe": {"httpGet": http, "periodSeconds": 10, "failureThreshold": 30},
                    "readinessProbe": {"httpGet": http, "periodSeconds": 5},
                    "livenessProbe": {
                        "httpGet": {"path": "/v2/health/live", "port": "http"},
                        "periodSeconds": 10,
                    },
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                    "volumeMounts": [{"name": "model", "mountPath": "/models", "readOnly": True}],
                },
                {
                    "name": "runner",
                    "image": "ghcr.io/example/cocoon-worker-runner:dev",
                    "args": ["-c", "/run/cocoon/config/worker-config.json"],
                    "ports": [{"name": "runner", "containerPort": 12000}],
                    "volumeMounts": [
                        {"name": "runner-config", "mountPath": "/run/cocoon/config", "readOnly": True}
                    ],
                },
            ],
            "volumes": [
                {"name": "model", "emptyDir": {}},
                {"name": "runner-template", "configMap": {"name": f"{name}-runner"}},
                {"name": "runner-config", "emptyDir": {"medium": "Memory"}},
                {
                    "name": "wallet",
                    "secret": {
                        "secretName": f"{name}-wallet",
                        "items": [{"key": "node_wallet_key", "path": "node_wallet_key"}],
                    },
                },
            ],
        },
    }


def create_worker(
    core_v1: client.CoreV1Api, namespace: str, name: str, node: str, **kw: Any
) -> dict[str, Any]:
    config = worker_config(node_wallet_key="$NODE_WALLET_KEY")  # the key comes from the Secret file
    core_v1.create_namespaced_config_map(
        namespace,
        {"metadata": {"name": f"{name}-runner"}, "data": {"worker-config.json.tmpl": json.dumps(config)}},
    )
    core_v1.create_namespaced_secret(
        namespace,
        {"metadata": {"name": f"{name}-wallet"},
         "data": {"node_wallet_key": base64.b64encode(TEST_WALLET_KEY.encode()).decode()}},
    )  # fmt: skip
    core_v1.create_namespaced_pod(namespace, worker_pod(name, node, **kw))
    return config


def taken_over(pod: Any) -> bool:
    return any(
        (st.container_id or "").startswith("cocoon-dev://") for st in pod.status.container_statuses or []
    )


def blocked(pod: Any) -> bool:
    return any(
        st.state.waiting is not None and st.state.waiting.reason == "PodIPInUse"
        for st in pod.status.container_statuses or []
    )


def skip_if_ip_taken(pod: Any) -> None:
    for st in pod.status.container_statuses or []:
        if st.state.waiting is not None and st.state.waiting.reason == "PodIPInUse":
            pytest.skip(
                f"pod IP {pod.status.pod_ip} is served by another local cluster: {st.state.waiting.message}"
            )


def ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def test_worker_pod_runs_on_its_ip_and_recovers(
    cluster: Any, core_v1: client.CoreV1Api, namespace: str, local_runtime: LocalRuntime
) -> None:
    name = "rt-worker"
    config = create_worker(core_v1, namespace, name, gpu_node(cluster))

    def get() -> Any:
        return core_v1.read_namespaced_pod(f"{name}-0", namespace)

    pod = wait("pod Running with an IP", lambda: (p := get()).status.pod_ip and p)
    ip, uid = pod.status.pod_ip, pod.metadata.uid
    assert ip.startswith("127.")
    pod = wait("the runtime took the pod over", lambda: (p := get()) and (taken_over(p) or blocked(p)) and p)
    skip_if_ip_taken(pod)
    init = {s.name: s for s in pod.status.init_container_statuses}
    assert init["render-config"].state.terminated.exit_code == 0

    # Real processes on the pod IP: Triton, the OpenAI front, the runner simulator.
    wait("Triton ready on the pod IP", lambda: httpx.get(f"http://{ip}:8000/v2/health/ready", timeout=2)
         .status_code == 200)  # fmt: skip
    assert httpx.get(f"http://{ip}:9000/v1/models", timeout=5).json()["data"][0]["id"] == "Qwen/Qwen3-8B"
    stats = wait("runner /jsonstats", lambda: httpx.get(f"http://{ip}:12000/jsonstats", timeout=2).json())
    assert stats["status"]["git_commit"] == "cocoon-dev-simulator"
    assert stats["localconfig"]["owner_address"] == config["owner_address"]

    def ours(p: Any) -> bool:
        return all((s.container_id or "").startswith("cocoon-dev://") for s in p.status.container_statuses)

    pod = wait("pod Ready from the runtime", lambda: (p := get()) and ready(p) and ours(p) and p)
    assert pod.status.phase == "Running"

    # Kill Triton: the pod goes not Ready, the container reports the kill, then it restarts.
    pod_dir = local_runtime.pod_dir(namespace, f"{name}-0", uid)
    os.kill(int((pod_dir / "tritonserver.pid").read_text()), signal.SIGKILL)

    def triton_status(p: Any) -> Any:
        return next(s for s in p.status.container_statuses if s.name == "triton")

    pod = wait("pod not Ready after the kill", lambda: (p := get()) and not ready(p) and p, timeout=30)
    cond = next(c for c in pod.status.conditions if c.type == "Ready")
    assert cond.reason == "ContainersNotReady" and "triton" in cond.message
    pod = wait(
        "triton restarted and Ready again",
        lambda: (p := get()) and ready(p) and triton_status(p).restart_count >= 1 and p,
        timeout=120,
    )
    last = triton_status(pod).last_state.terminated
    assert last is not None and last.exit_code == 137 and last.reason == "Error"
    assert httpx.get(f"http://{ip}:8000/v2/health/ready", timeout=5).status_code == 200

    # Delete the pod: its processes stop and the IP's ports close.
    core_v1.delete_namespaced_pod(f"{name}-0", namespace, grace_period_seconds=0)
    wait(
        "pod processes gone", lambda: f"{namespace}/{name}-0" not in local_runtime.state()["pods"], timeout=60
    )

    def closed() -> bool:
        try:
            httpx.get(f"http://{ip}:12000/perf", timeout=1)
        except httpx.HTTPError:
            return True
        return False

    wait("runner port closed", closed, timeout=60)


def test_light_mode_answers_for_every_pod(
    cluster: Any, core_v1: client.CoreV1Api, namespace: str, local_runtime_light: LocalRuntime
) -> None:
    name = "rt-light"
    create_worker(core_v1, namespace, name, gpu_node(cluster))
    pod = wait(
        "pod Running with an IP",
        lambda: (p := core_v1.read_namespaced_pod(f"{name}-0", namespace)).status.pod_ip and p,
    )
    ip = pod.status.pod_ip
    pod = wait(
        "the runtime took the pod over",
        lambda: (
            (p := core_v1.read_namespaced_pod(f"{name}-0", namespace)) and (taken_over(p) or blocked(p)) and p
        ),
    )
    skip_if_ip_taken(pod)
    wait(
        "Triton health", lambda: httpx.get(f"http://{ip}:8000/v2/health/ready", timeout=2).status_code == 200
    )
    stats = wait("runner /jsonstats", lambda: httpx.get(f"http://{ip}:12000/jsonstats", timeout=2).json())
    assert stats["status"]["git_commit"] == "cocoon-dev-simulator" and stats["stats"]["queries"][0] == 0
    assert local_runtime_light.state()["pods"][f"{namespace}/{name}-0"]["procs"] == {}
    core_v1.delete_namespaced_pod(f"{name}-0", namespace, grace_period_seconds=0)
    wait(
        "pod gone from the runtime",
        lambda: f"{namespace}/{name}-0" not in local_runtime_light.state()["pods"],
    )


def test_failing_init_container_blocks_the_pod(
    cluster: Any, core_v1: client.CoreV1Api, namespace: str, local_runtime: LocalRuntime
) -> None:
    """Like the model fetch with a hash mismatch: exit 3, message from the log, pod never initialised."""
    name = "rt-badmodel"
    script = 'echo "model SHA-256 mismatch for http://example.invalid/m.tar" >&2; exit 3'
    create_worker(core_v1, namespace, name, gpu_node(cluster), init_script=script)

    def failed_init(p: Any) -> Any:
        st = {s.name: s for s in p.status.init_container_statuses or []}.get("fetch-model")
        return st is not None and st.last_state is not None and st.last_state.terminated is not None and st

    pod = wait("fetch-model failed", lambda: (p := core_v1.read_namespaced_pod(f"{name}-0", namespace))
               and (failed_init(p) or blocked(p)) and p)  # fmt: skip
    skip_if_ip_taken(pod)
    status = failed_init(pod)
    assert status.last_state.terminated.exit_code == 3
    assert "SHA-256 mismatch" in status.last_state.terminated.message
    assert status.state.waiting.reason == "CrashLoopBackOff"
    conditions = {c.type: c for c in pod.status.conditions}
    assert conditions["Initialized"].status == "False" and "fetch-model" in conditions["Initialized"].message
    assert conditions["Ready"].status == "False"
    assert all(s.state.waiting.reason == "PodInitializing" for s in pod.status.container_statuses)
