"""Generic Kubernetes test helpers: bounded waits that report the last state seen, manifest builders."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes import client
from kubernetes.client import ApiException

T = TypeVar("T")

GPU_TOLERATION: dict[str, str] = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
FAKE_IMAGE = "cocoon-test/fake:1"  # never pulled: KWOK runs no containers


def wait_for(
    what: str,
    probe: Callable[[], T],
    done: Callable[[T], bool],
    timeout_s: float = 60.0,
    interval_s: float = 0.5,
    show: Callable[[Any], Any] = lambda last: last,
) -> T:
    """Poll `probe` until `done(value)`; on timeout fail with `what` and the last value (or error) seen,
    as `show` renders it (a short view keeps the reason in a truncated CI log)."""
    deadline = time.monotonic() + timeout_s
    last: Any = "<never probed>"
    while True:
        try:
            value = probe()
            if done(value):
                return value
            last = value
        except ApiException as exc:  # e.g. 404 before the object exists: keep polling
            last = f"ApiException {exc.status} {exc.reason}"
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout_s:.0f} s waiting for {what}; last state seen: {show(last)}"
            )
        time.sleep(interval_s)


def wait_gone(what: str, read: Callable[[], Any], timeout_s: float = 60.0) -> None:
    """Wait until `read` raises 404."""

    def probe() -> str:
        try:
            obj = read()
        except ApiException as exc:
            if exc.status == 404:
                return "gone"
            raise
        meta = getattr(obj, "metadata", None)
        return f"still there (deletionTimestamp={getattr(meta, 'deletion_timestamp', None)})"

    wait_for(what, probe, lambda s: s == "gone", timeout_s)


def pod_summary(pod: client.V1Pod) -> str:
    conds = {c.type: c.status for c in (pod.status.conditions or [])}
    return (
        f"pod {pod.metadata.name}: phase={pod.status.phase} node={pod.spec.node_name} "
        f"podIP={pod.status.pod_ip} conditions={conds}"
    )


def wait_pod_running(
    core: client.CoreV1Api, namespace: str, name: str, timeout_s: float = 60.0
) -> client.V1Pod:
    pod: client.V1Pod = wait_for(
        f"pod {namespace}/{name} to be Running with an IP",
        lambda: core.read_namespaced_pod(name, namespace),
        lambda p: p.status.phase == "Running" and bool(p.status.pod_ip),
        timeout_s,
    )
    return pod


def events_for(core: client.CoreV1Api, namespace: str, name: str) -> list[client.CoreV1Event]:
    items: list[client.CoreV1Event] = core.list_namespaced_event(
        namespace, field_selector=f"involvedObject.name={name}"
    ).items
    return items


def wait_event(
    core: client.CoreV1Api, namespace: str, name: str, reason: str, timeout_s: float = 60.0
) -> client.CoreV1Event:
    """Wait for an Event with `reason` about object `name`; failure lists the events seen."""
    events = wait_for(
        f"a {reason} event for {namespace}/{name}",
        lambda: events_for(core, namespace, name),
        lambda evs: any(e.reason == reason for e in evs),
        timeout_s,
    )
    return next(e for e in events if e.reason == reason)


def pod_manifest(
    name: str,
    gpus: int = 0,
    node_selector: dict[str, str] | None = None,
    required_labels: dict[str, str] | None = None,
    tolerate_gpu: bool = True,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A pod for the fake cluster; `required_labels` become required node affinity (`In` one value)."""
    container: dict[str, Any] = {"name": "main", "image": FAKE_IMAGE}
    if gpus:
        container["resources"] = {"limits": {"nvidia.com/gpu": str(gpus)}}
    spec: dict[str, Any] = {"containers": [container], "terminationGracePeriodSeconds": 0}
    if node_selector:
        spec["nodeSelector"] = node_selector
    if required_labels:
        exprs = [{"key": k, "operator": "In", "values": [v]} for k, v in required_labels.items()]
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": exprs}]
                }
            }
        }
    if tolerate_gpu:
        spec["tolerations"] = [dict(GPU_TOLERATION)]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": spec,
    }


def token_kubeconfig(admin: Path, user: str, token: str, path: Path) -> Path:
    """A kubeconfig for the admin kubeconfig's API server whose only credential is `token` (a
    ServiceAccount's), written to `path`."""
    doc = yaml.safe_load(admin.read_text())
    current = next(c["context"] for c in doc["contexts"] if c["name"] == doc["current-context"])
    cluster = dict(next(c["cluster"] for c in doc["clusters"] if c["name"] == current["cluster"]))
    if "certificate-authority" in cluster:  # inline it: the file path may be relative to the admin config
        ca = (admin.parent / cluster.pop("certificate-authority")).read_bytes()
        cluster["certificate-authority-data"] = base64.b64encode(ca).decode()
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": cluster}],
                "users": [{"name": user, "user": {"token": token}}],
                "contexts": [{"name": "sa", "context": {"cluster": "c", "user": user}}],
                "current-context": "sa",
            }
        )
    )
    path.chmod(0o600)
    return path
