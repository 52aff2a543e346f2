"""Placement of a CocoonVM launcher pod: bare-metal TDX hosts whose GPUs are bound to VFIO (pure).

A launcher pod asks for a node that is a TDX *host* (not a TDX guest: the worker VM is the guest),
whose GPUs the NVIDIA GPU Operator passes through (`nvidia.com/gpu.workload.config=vm-passthrough`,
its sandbox device plugin advertising a resource such as `nvidia.com/GH100_H100_SXM5_80GB`) and whose
GPUs are in confidential-computing mode (`nvidia.com/cc.ready.state=true`). Two launchers with the
same instance number cannot share a host (the VM's vsock CID and ports derive from it): a required pod
anti-affinity keeps them apart. The explainer says, as for a TritonPod, which constraint rules out
which nodes.
"""

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from cocoon_operator.api import identity
from cocoon_operator.api.spec import CocoonNodeSpec, Placement, Toleration
from cocoon_operator.reconcile import placement
from cocoon_operator.reconcile.placement import PlacementReport
from cocoon_operator.settings import Settings, parse_labels
from cocoon_operator.worker import runtime

Obj = Mapping[str, Any]
INSTANCE_LABEL: Final = f"{identity.GROUP}/vm-instance"
HOSTNAME: Final = "kubernetes.io/hostname"


def node_affinity(spec: CocoonNodeSpec, settings: Settings) -> dict[str, Any]:
    """Required: CC-ready, a TDX host label (any one), every VFIO label."""
    cc_key, cc_value = parse_labels((settings.cc_ready_label,))[0]
    vfio = [
        {"key": key, "operator": "In", "values": [value]} for key, value in parse_labels(settings.vfio_labels)
    ]
    terms = [
        {
            "matchExpressions": [
                {"key": cc_key, "operator": "In", "values": [cc_value]},
                {"key": key, "operator": "In", "values": [value]},
                *vfio,
            ]
        }
        for key, value in parse_labels(settings.tdx_host_labels)
    ]
    return {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}


def instance_labels(spec: CocoonNodeSpec) -> dict[str, str]:
    vm = spec.runtime.vm
    return {INSTANCE_LABEL: str(vm.instance if vm is not None else 0)}


def pod_anti_affinity(spec: CocoonNodeSpec) -> dict[str, Any]:
    """No two launchers with one instance number on a host, in any namespace."""
    return {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {
                "labelSelector": {
                    "matchLabels": {identity.LABEL_NAME: identity.WORKER_APP, **instance_labels(spec)}
                },
                "namespaceSelector": {},
                "topologyKey": HOSTNAME,
            }
        ]
    }


def affinity(spec: CocoonNodeSpec, settings: Settings) -> dict[str, Any]:
    return {"nodeAffinity": node_affinity(spec, settings), "podAntiAffinity": pod_anti_affinity(spec)}


def instances_by_node(pods: Iterable[Obj], exclude: Mapping[str, str] | None = None) -> dict[str, set[str]]:
    """Launcher instance numbers in use per node (live pods; `exclude` labels skip the worker's own)."""
    used: dict[str, set[str]] = {}
    for pod in pods:
        node = pod.get("spec", {}).get("nodeName")
        labels = pod.get("metadata", {}).get("labels", {}) or {}
        if not node or INSTANCE_LABEL not in labels:
            continue
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            continue
        if exclude and all(labels.get(k) == v for k, v in exclude.items()):
            continue
        used.setdefault(str(node), set()).add(str(labels[INSTANCE_LABEL]))
    return used


def explain(
    spec: CocoonNodeSpec,
    nodes: Iterable[Obj],
    used_gpus: Mapping[str, int],
    settings: Settings,
    instances: Mapping[str, set[str]] | None = None,
) -> PlacementReport:
    """Which nodes can host the launcher now, which could, and the first reason for every other."""
    place = spec.placement
    resource = runtime.gpu_resource(spec, settings)
    instance = instance_labels(spec)[INSTANCE_LABEL]
    tols = (
        Toleration(key=settings.gpu_taint_key, operator="Exists", effect="NoSchedule"),
        *place.tolerations,
    )
    reasons: Counter[str] = Counter()
    fitting: list[str] = []
    feasible: list[str] = []
    total = 0
    for node in nodes:
        total += 1
        name = str(node.get("metadata", {}).get("name", ""))
        allocatable = _quantity((node.get("status", {}).get("allocatable") or {}).get(resource, 0))
        why = _static_reason(node, place, settings, resource, allocatable, tols)
        if why:
            reasons[why] += 1
            continue
        feasible.append(name)
        if (node.get("spec") or {}).get("unschedulable"):
            reasons["are cordoned"] += 1
        elif not _node_ready(node):
            reasons["are not Ready"] += 1
        elif allocatable - used_gpus.get(name, 0) < 1:
            reasons[f"have no free {resource}"] += 1
        elif instances is not None and instance in instances.get(name, set()):
            reasons[f"already run a worker VM with instance {instance}"] += 1
        else:
            fitting.append(name)
    ordered = tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    return PlacementReport(total=total, fitting=tuple(fitting), feasible=tuple(feasible), exclusions=ordered)


def _static_reason(
    node: Obj,
    place: Placement,
    settings: Settings,
    resource: str,
    allocatable: int,
    tols: Sequence[Toleration],
) -> str | None:
    labels = node.get("metadata", {}).get("labels", {}) or {}
    cc_key, cc_value = parse_labels((settings.cc_ready_label,))[0]
    if labels.get(cc_key) != cc_value:
        return f"are not confidential ({cc_key}!={cc_value})"
    hosts = parse_labels(settings.tdx_host_labels)
    if not any(labels.get(k) == v for k, v in hosts):
        keys = " or ".join(f"{k}={v}" for k, v in hosts)
        return f"are not TDX hosts (no {keys})"
    for key, value in parse_labels(settings.vfio_labels):
        if labels.get(key) != value:
            return f"do not pass GPUs through to VMs ({key}!={value})"
    for key, value in place.node_selector.items():
        if labels.get(key) != value:
            return f"do not match nodeSelector {key}={value}"
    for taint in (node.get("spec") or {}).get("taints", []) or []:
        blocking = taint.get("effect") in ("NoSchedule", "NoExecute")
        if (
            blocking
            and taint.get("key") != "node.kubernetes.io/unschedulable"
            and not placement.tolerates(tols, taint)
        ):
            return f"have the untolerated taint {taint.get('key')}:{taint.get('effect')}"
    if allocatable < 1:
        return f"have no {resource}"
    return None


def _quantity(value: Any) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


def _node_ready(node: Obj) -> bool:
    conditions = node.get("status", {}).get("conditions") or []
    if not conditions:
        return True
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
