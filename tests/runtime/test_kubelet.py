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


def worker_pod(name: str, node: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": "cocoon-worker", "app.kubernetes.io/instance": name,
              "cocoon.tonops.dev/node": name}  # fmt: skip
    http_probe = {
        "httpGet": {"path": "/v2/health/ready", "port": "http"},
        "periodSeconds": 1,
        "failureThreshold": 1,
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{name}-0", "labels": labels},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": node},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "terminationGracePeriodSeconds": 20,
            "containers": [
                {
                    "name": "triton",
                    "image": "nvcr.io/nvidia/tritonserver:24.10-py3",
                    "args": ["tritonserver", "--model-repository=/models", "--exit-timeout-secs=10"],
                    "ports": [
                        {"name": "http", "containerPort": 8000},
                        {"name": "grpc", "containerPort": 8001},
                        {"name": "metrics", "containerPort": 8002},
                    ],
                    "readinessProbe": http_probe,
                    "livenessProbe": {
                        "httpGet": {"path": "/v2/health/live", "port": "http"},
                        "periodSeconds": 5,
                        "failureThreshold": 3,
                        "initialDelaySeconds": 30,
                    },
                    "resources": {"limits": {"nvidia.com/gpu": "1"}},
                },
                {
                    "name": "runner",
                    "image": "ghcr.io/example/cocoon-worker-runner:dev",
                    "args": ["-c", "/etc/cocoon/worker-config.json"],
                    "ports": [{"name": "stats", "containerPort": 12000}],
                    "readinessProbe": {"tcpSocket": {"port": "stats"}, "periodSeconds": 1},
                    "volumeMounts": [
                        {"name": "config", "mountPath": "/etc/cocoon", "readOnly": True},
                        {"name": "wallet", "mountPath": "/var/run/cocoon/wallet", "readOnly": True},
                    ],
                },
            ],
            "volumes": [
                {"name": "config", "configMap": {"name": f"{name}-runner"}},
                {"name": "wallet", "secret": {"secretName": f"{name}-wallet"}},
            ],
        },
    }


def ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def test_worker_pod_runs_on_its_ip_and_recovers(
    cluster: Any, core_v1: client.CoreV1Api, namespace: str, local_runtime: LocalRuntime
) -> None:
    name = "rt-worker"
    config = worker_config(node_wallet_key="$NODE_WALLET_KEY")  # the key comes from the Secret file
    core_v1.create_namespaced_config_map(
        namespace,
        {"metadata": {"name": f"{name}-runner"}, "data": {"worker-config.json": json.dumps(config)}},
    )
    core_v1.create_namespaced_secret(
        namespace,
        {"metadata": {"name": f"{name}-wallet"},
         "data": {"node_wallet_key": base64.b64encode(TEST_WALLET_KEY.encode()).decode()}},
    )  # fmt: skip
    core_v1.create_namespaced_pod(namespace, worker_pod(name, gpu_node(cluster)))

    def get() -> Any:
        return core_v1.read_namespaced_pod(f"{name}-0", namespace)

    pod = wait("pod Running with an IP", lambda: (p := get()).status.pod_ip and p)
    ip, uid = pod.status.pod_ip, pod.metadata.uid
    assert ip.startswith("127.100.")

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
    core_v1.create_namespaced_config_map(
        namespace,
        {"metadata": {"name": f"{name}-runner"}, "data": {"worker-config.json": json.dumps(worker_config())}},
    )
    core_v1.create_namespaced_secret(
        namespace,
        {
            "metadata": {"name": f"{name}-wallet"},
            "data": {"node_wallet_key": base64.b64encode(b"x").decode()},
        },
    )
    core_v1.create_namespaced_pod(namespace, worker_pod(name, gpu_node(cluster)))
    pod = wait(
        "pod Running with an IP",
        lambda: (p := core_v1.read_namespaced_pod(f"{name}-0", namespace)).status.pod_ip and p,
    )
    ip = pod.status.pod_ip
    wait(
        "Triton health", lambda: httpx.get(f"http://{ip}:8000/v2/health/ready", timeout=2).status_code == 200
    )
    stats = wait("runner /jsonstats", lambda: httpx.get(f"http://{ip}:12000/jsonstats", timeout=2).json())
    assert stats["status"]["git_commit"] == "cocoon-dev-simulator" and stats["stats"]["queries"][0] == 0
    assert local_runtime_light.state()["pods"][f"{namespace}/{name}-0"]["pids"] == {}
    core_v1.delete_namespaced_pod(f"{name}-0", namespace, grace_period_seconds=0)
    wait(
        "pod gone from the runtime",
        lambda: f"{namespace}/{name}-0" not in local_runtime_light.state()["pods"],
    )
