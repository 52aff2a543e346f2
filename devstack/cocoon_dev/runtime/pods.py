"""Which worker pods the local runtime serves, found by one list + watch, and the runtime's state file.

Both modes (full: real processes; light: in-process stand-ins) use this: a pod is served when it is a
COCOON worker pod (`app.kubernetes.io/name=cocoon-worker`) that KWOK has made `Running` with a pod IP
and that is not being deleted. The informer keeps the pods in memory, so the runtime reads the API
once at start and then only receives changes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cocoon_dev import procs
from cocoon_dev.informer import Informer, by_uid
from cocoon_operator.k8s import KubeClient

log = logging.getLogger("cocoon_dev.runtime")

WORKER_SELECTOR = "app.kubernetes.io/name=cocoon-worker"
FAKE_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
STATE_FILE = "kubelet-state.json"
Pod = dict[str, Any]


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def key_of(pod: Pod) -> str:
    return f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"


def running_with_ip(pod: Pod) -> bool:
    meta, status = pod["metadata"], pod.get("status") or {}
    return (
        not meta.get("deletionTimestamp") and status.get("phase") == "Running" and bool(status.get("podIP"))
    )


def in_network(cidr: str | None) -> Callable[[Pod], bool]:
    """Only pod IPs inside `cidr` (None: any): a runtime never binds another cluster's pod IPs."""
    network = ipaddress.ip_network(cidr) if cidr else None

    def check(pod: Pod) -> bool:
        return network is None or ipaddress.ip_address(pod["status"]["podIP"]) in network

    return check


def pod_informer(kube: KubeClient, wanted: Callable[[Pod], bool]) -> Informer:
    """The served worker pods by uid, from one list + watch across namespaces."""
    return Informer(
        kube,
        "v1",
        "Pod",
        label_selector=WORKER_SELECTOR,
        keep=lambda pod: running_with_ip(pod) and wanted(pod),
        key=by_uid,
    )


async def fake_nodes(kube: KubeClient) -> set[str]:
    key, value = FAKE_NODE_ANNOTATION
    nodes = await kube.list("v1", "Node")
    return {
        n["metadata"]["name"] for n in nodes if (n["metadata"].get("annotations") or {}).get(key) == value
    }


async def ip_in_use(ip: str, ports: tuple[int, ...] = (8000, 12000)) -> int | None:
    """A port of the pod IP that something else already listens on, if any."""
    for port in ports:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), 0.5)
        except (OSError, TimeoutError):
            continue
        writer.close()
        return port
    return None


def ip_in_use_message(ip: str, port: int) -> str:
    return f"another process listens on {ip}:{port} (another local cluster with this pod CIDR?)"


def write_state(state_dir: Path, mode: str, pods: dict[str, dict[str, Any]]) -> None:
    """`kubelet-state.json`: the runtime's own identity and, per served pod, its IP, dir and processes
    (`cocoon-dev runtime status` and `down` read it)."""
    me = procs.ref(os.getpid(), f"runtime ({mode})")
    state = {"pid": os.getpid(), "proc": me.to_json() if me else None, "mode": mode, "pods": pods}
    path = state_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1) + "\n")
    tmp.replace(path)
