"""What the harness watches and counts: pods and CocoonNodes through list + watch caches, when each
stage happened (object timestamps), and the API server's request counters by verb and resource."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from bench.harness import check_stop
from cocoon_dev.informer import Informer
from cocoon_operator.k8s import KubeClient

GROUP = "cocoon.tonops.dev"
WORKER_SELECTOR = "app.kubernetes.io/name=cocoon-worker"
WRITE_VERBS = {"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION", "CREATE", "UPDATE"}
READ_VERBS = {"GET", "LIST"}
# Resources only the operator writes while nothing changes (subresource "" = the object itself).
# DELETE is left out (the namespace controller deletes in terminating namespaces, the operator does
# not delete these), and so are Events (the built-in controllers post and patch them too): the
# operator's own client count (its `writes` probe) is reported next to this figure.
OPERATOR_WRITES = {
    ("cocoonnodes", ""),
    ("cocoonnodes", "status"),
    ("statefulsets", ""),
    ("services", ""),
    ("configmaps", ""),
    ("secrets", ""),
    ("poddisruptionbudgets", ""),
    ("networkpolicies", ""),
}
OPERATOR_WRITE_VERBS = {"POST", "PUT", "PATCH", "APPLY", "CREATE", "UPDATE"}


def pod_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    return (
        status.get("phase") == "Running"
        and conds.get("Ready") == "True"
        and not pod["metadata"].get("deletionTimestamp")
    )


def cn_conditions(cn: dict[str, Any]) -> dict[str, str]:
    return {c.get("type"): c.get("status") for c in (cn.get("status") or {}).get("conditions") or []}


def pods_of(kube: KubeClient, ns: str, selector: str = WORKER_SELECTOR) -> Informer:
    return Informer(kube, "v1", "Pod", ns, label_selector=selector)


def cocoonnodes_of(kube: KubeClient, ns: str) -> Informer:
    return Informer(kube, f"{GROUP}/v1alpha1", "CocoonNode", ns)


async def wait_for(
    objects: Informer, pred: Callable[[dict[str, dict[str, Any]]], bool], timeout: float
) -> bool:
    """Until `pred(objects.objects)` holds (True) or the timeout passes (False); Ctrl-C stops it."""
    deadline = time.monotonic() + timeout
    while not pred(objects.objects):
        check_stop()
        objects.changed.clear()
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(objects.changed.wait(), min(left, 2.0))
    return True


def probe_pod_ip(pods: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One worker pod's IP answers Triton health and /jsonstats (the runtime's light mode serves it)."""
    ip = next((p["status"].get("podIP") for p in pods.values() if pod_ready(p)), None)
    out: dict[str, Any] = {"ip": ip}
    for label, url in (
        ("triton_ready", f"http://{ip}:8000/v2/health/ready"),
        ("jsonstats", f"http://{ip}:12000/jsonstats"),
    ):
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                body = resp.read()
                out[label] = resp.status if label != "jsonstats" else sorted(json.loads(body))
        except (OSError, ValueError) as exc:
            out[label] = f"error: {exc}"
    return out


def timestamp(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def quantiles(values: list[float], t0: float) -> dict[str, float] | None:
    vals = sorted(v - t0 for v in values)
    if not vals:
        return None
    pick = {"p10": 0.1, "p50": 0.5, "p90": 0.9}
    out = {k: round(vals[min(len(vals) - 1, int(q * len(vals)))], 1) for k, q in pick.items()}
    out["max"] = round(vals[-1], 1)
    out["count"] = len(vals)
    return out


async def pipeline(kube: KubeClient, ns: str, t0_wall: float) -> dict[str, Any]:
    """When each stage happened (seconds after the first create; object timestamps, 1 s resolution):
    StatefulSets created, pods created, pods scheduled, pods Ready. Shows which stage holds the others up."""
    sts = {"items": await kube.list("apps/v1", "StatefulSet", ns)}
    pods = {"items": await kube.list("v1", "Pod", ns, label_selector=WORKER_SELECTOR)}

    def cond_time(pod: dict[str, Any], type_: str) -> float | None:
        for c in (pod.get("status") or {}).get("conditions") or []:
            if c.get("type") == type_ and c.get("status") == "True":
                return timestamp(c.get("lastTransitionTime"))
        return None

    stages: dict[str, list[float | None]] = {
        "statefulset_created": [timestamp(o["metadata"].get("creationTimestamp")) for o in sts["items"]],
        "pod_created": [timestamp(p["metadata"].get("creationTimestamp")) for p in pods["items"]],
        "pod_scheduled": [cond_time(p, "PodScheduled") for p in pods["items"]],
        "pod_ready": [cond_time(p, "Ready") for p in pods["items"]],
    }
    return {k: quantiles([v for v in vals if v is not None], t0_wall) for k, vals in stages.items()}


def cn_done(cn: dict[str, Any], need_inference: bool) -> bool:
    conds = cn_conditions(cn)
    return conds.get("Scheduled") == "True" and (not need_inference or conds.get("InferenceReady") == "True")


def summarize_requests(delta: dict[tuple[str, str, str], float]) -> dict[str, Any]:
    writes = {
        f"{v} {r}/{s}".rstrip("/"): c
        for (v, r, s), c in delta.items()
        if v in OPERATOR_WRITE_VERBS and (r, s) in OPERATOR_WRITES
    }
    all_writes = {f"{v} {r}/{s}".rstrip("/"): c for (v, r, s), c in delta.items() if v in WRITE_VERBS}
    reads = {f"{v} {r}/{s}".rstrip("/"): c for (v, r, s), c in delta.items() if v in READ_VERBS and r}
    watches = {f"{v} {r}".rstrip("/"): c for (v, r, s), c in delta.items() if v == "WATCH"}
    return {
        "writes": sum(writes.values()),
        "reads": sum(reads.values()),
        "watches": sum(watches.values()),
        "writes_by": dict(sorted(writes.items())),
        "all_writes_by": dict(sorted(all_writes.items(), key=lambda kv: -kv[1])[:15]),
        "events_posted": delta.get(("POST", "events", ""), 0.0),
        "reads_by": dict(sorted(reads.items(), key=lambda kv: -kv[1])[:12]),
    }
