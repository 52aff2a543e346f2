"""Placement of a CocoonVM launcher pod: bare-metal TDX hosts whose GPUs are bound to VFIO (pure).

A launcher pod asks for a node that is a TDX *host* (not a TDX guest: the worker VM is the guest),
whose GPUs the NVIDIA GPU Operator passes through (`nvidia.com/gpu.workload.config=vm-passthrough`,
its sandbox device plugin advertising a resource such as `nvidia.com/GH100_H100_SXM5_80GB`) and whose
GPUs are in confidential-computing mode (`nvidia.com/cc.ready.state=true`). Two launchers with the
same instance number cannot share a host (the VM's vsock CID and ports derive from it): a required pod
anti-affinity keeps them apart. The explainer says, as for a TritonPod, which constraint rules out
which nodes.
"""

from collections.abc import Iterable, Mapping
from typing import Any, Final

from cocoon_operator.api import identity
from cocoon_operator.api.spec import CocoonNodeSpec
from cocoon_operator.reconcile import placement
from cocoon_operator.reconcile.placement import Fleet, PlacementReport
from cocoon_operator.settings import Settings, parse_labels

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


def gpu_resource(spec: CocoonNodeSpec, settings: Settings) -> str:
    """The VFIO GPU resource a launcher pod requests: spec.placement.gpuResource, else the operator's
    COCOON_VM_GPU_RESOURCE (the GPU Operator's sandbox device plugin names it after the GPU model)."""
    return spec.placement.gpu_resource or settings.vm_gpu_resource


def explain(
    spec: CocoonNodeSpec,
    nodes: Iterable[Obj],
    used_gpus: Mapping[str, int],
    settings: Settings,
    instances: Mapping[str, set[str]] | None = None,
) -> PlacementReport:
    """Which nodes can host the launcher now, which could, and the first reason for every other."""
    place = spec.placement
    resource = gpu_resource(spec, settings)
    instance = instance_labels(spec)[INSTANCE_LABEL]
    tols = placement.gpu_tolerations(place, settings)
    cc_key, cc_value = parse_labels((settings.cc_ready_label,))[0]
    hosts = parse_labels(settings.tdx_host_labels)

    def static_reason(node: Obj, allocatable: int) -> str | None:
        labels = node.get("metadata", {}).get("labels", {}) or {}
        if labels.get(cc_key) != cc_value:
            return f"are not confidential ({cc_key}!={cc_value})"
        if not any(labels.get(k) == v for k, v in hosts):
            keys = " or ".join(f"{k}={v}" for k, v in hosts)
            return f"are not TDX hosts (no {keys})"
        for key, value in parse_labels(settings.vfio_labels):
            if labels.get(key) != value:
                return f"do not pass GPUs through to VMs ({key}!={value})"
        why = placement.unselected(labels, place) or placement.untolerated(node, tols)
        if why:
            return why
        return f"have no {resource}" if allocatable < 1 else None

    def busy(name: str) -> str | None:
        if instances is not None and instance in instances.get(name, set()):
            return f"already run a worker VM with instance {instance}"
        return None

    return placement.tally(nodes, used_gpus, resource, 1, static_reason, busy)


def explain_launcher(spec: CocoonNodeSpec, fleet: Fleet, settings: Settings) -> PlacementReport:
    """`explain` as a runtime kind explains it, with the instance numbers other launchers hold."""
    instances = instances_by_node(fleet.pods, exclude=fleet.mine)
    return explain(spec, fleet.nodes, fleet.used_gpus, settings, instances)
