"""Placement: node affinity and tolerations from `spec.placement`, and an explainer over the nodes.

Never places a worker on a non-confidential node: every affinity term requires the CC-ready label
plus a TEE label. The explainer counts, for every node, the first constraint that excludes it.
"""

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cocoon_operator.api.spec import CocoonNodeSpec, Placement, Toleration
from cocoon_operator.settings import Settings, parse_labels

Obj = Mapping[str, Any]


def resource_name(placement: Placement, settings: Settings) -> str:
    """The GPU resource a TritonPod requests: spec.placement.gpuResource (Kata passthrough), else the
    operator's COCOON_GPU_RESOURCE."""
    return placement.gpu_resource or settings.gpu_resource


def gpu_resource(spec: CocoonNodeSpec, settings: Settings) -> str:
    """The extended resource a TritonPod's pod requests."""
    return resource_name(spec.placement, settings)


def tee_label_alternatives(tee: str, settings: Settings) -> tuple[tuple[str, str], ...]:
    """The node labels (any one suffices) that identify the requested TEE kind."""
    if tee == "TDX":
        return parse_labels(settings.tdx_labels)
    if tee == "SEV-SNP":
        return parse_labels(settings.sev_snp_labels)
    return parse_labels(settings.tdx_labels) + parse_labels(settings.sev_snp_labels)


def node_affinity(placement: Placement, settings: Settings) -> dict[str, Any]:
    """Required node affinity: one term per TEE label alternative (terms are ORed, expressions ANDed)."""
    cc_key, cc_value = parse_labels((settings.cc_ready_label,))[0]
    terms = []
    for key, value in tee_label_alternatives(placement.tee, settings):
        expressions: list[dict[str, Any]] = [
            {"key": cc_key, "operator": "In", "values": [cc_value]},
            {"key": key, "operator": "In", "values": [value]},
        ]
        if placement.gpu_products:
            expressions.append(
                {"key": settings.gpu_product_label, "operator": "In", "values": list(placement.gpu_products)}
            )
        terms.append({"matchExpressions": expressions})
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}


def tolerations(placement: Placement, settings: Settings) -> list[dict[str, Any]]:
    gpu = {"key": settings.gpu_taint_key, "operator": "Exists", "effect": "NoSchedule"}
    extra = [t.model_dump(by_alias=True, exclude_none=True) for t in placement.tolerations]
    return [gpu, *[t for t in extra if t != gpu]]


def _tolerates(tols: Sequence[Toleration], taint: Obj) -> bool:
    for tol in tols:
        if tol.effect and tol.effect != taint.get("effect"):
            continue
        if not tol.key:
            if tol.operator == "Exists":
                return True
            continue
        if tol.key != taint.get("key"):
            continue
        if tol.operator == "Exists" or tol.value == taint.get("value", ""):
            return True
    return False


def gpu_requests(pod: Obj, resource: str) -> int:
    """GPUs a pod holds on its node (containers' requests, falling back to limits)."""
    total = 0
    for container in pod.get("spec", {}).get("containers", []) or []:
        res = container.get("resources", {}) or {}
        amount = (res.get("requests") or {}).get(resource, (res.get("limits") or {}).get(resource, 0))
        try:
            total += int(amount)
        except (TypeError, ValueError):
            continue
    return total


def requested_gpus_by_node(
    pods: Iterable[Obj], resource: str, exclude: Mapping[str, str] | None = None
) -> Counter[str]:
    """Sum of GPU requests of live pods per node; pods matching all `exclude` labels are skipped."""
    used: Counter[str] = Counter()
    for pod in pods:
        node = pod.get("spec", {}).get("nodeName")
        if not node or pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            continue
        labels = pod.get("metadata", {}).get("labels", {}) or {}
        if exclude and all(labels.get(k) == v for k, v in exclude.items()):
            continue
        used[node] += gpu_requests(pod, resource)
    return used


def _quantity(value: Any) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class PlacementReport:
    """Which nodes fit now, which could ever fit, and why the others do not."""

    total: int
    fitting: tuple[str, ...]
    feasible: tuple[str, ...]  # fit apart from transient state (free GPUs, cordon, readiness)
    exclusions: tuple[tuple[str, int], ...] = field(default=())

    @property
    def message(self) -> str:
        head = f"{len(self.fitting)} of {self.total} nodes fit"
        if not self.exclusions:
            return head
        return head + ": " + ", ".join(f"{count} {why}" for why, count in self.exclusions)


@dataclass(frozen=True)
class Fleet:
    """What a placement is explained against."""

    nodes: Sequence[Obj]
    used_gpus: Mapping[str, int]  # GPUs of the worker's resource held per node, its own pod's not counted
    pods: Sequence[Obj]  # the pods bound to nodes (the namespace's only, on a namespaced install)
    mine: Mapping[str, str]  # the worker's selector labels: its own pod is not in its way


def explain(
    placement: Placement,
    nodes: Iterable[Obj],
    used_gpus: Mapping[str, int],
    settings: Settings,
) -> PlacementReport:
    cc_key, cc_value = parse_labels((settings.cc_ready_label,))[0]
    tee_alternatives = tee_label_alternatives(placement.tee, settings)
    tee_name = {"TDX": "TDX", "SEV-SNP": "SEV-SNP"}.get(placement.tee, "TDX or SEV-SNP")
    tols = gpu_tolerations(placement, settings)
    required_products = " or ".join(placement.gpu_products)
    resource = resource_name(placement, settings)

    def static_reason(node: Obj, allocatable: int) -> str | None:
        """The first constraint that rules a node out for good (labels, taints, GPU capacity)."""
        labels = node.get("metadata", {}).get("labels", {}) or {}
        if labels.get(cc_key) != cc_value:
            return f"are not confidential ({cc_key}!={cc_value})"
        if not any(labels.get(k) == v for k, v in tee_alternatives):
            return f"lack {tee_name}"
        if placement.gpu_products and labels.get(settings.gpu_product_label) not in placement.gpu_products:
            product = labels.get(settings.gpu_product_label) or "without a GPU product label"
            return f"are {product} but {required_products} is required"
        why = unselected(labels, placement) or untolerated(node, tols)
        if why:
            return why
        if allocatable < placement.gpu_count:
            if allocatable == 0:
                return f"have no {resource}"
            return f"have fewer than {placement.gpu_count} {resource}"
        return None

    return tally(nodes, used_gpus, resource, placement.gpu_count, static_reason)


def explain_pod(spec: CocoonNodeSpec, fleet: Fleet, settings: Settings) -> PlacementReport:
    """A TritonPod's placement as a runtime kind explains it: other pods are in its way only by the
    GPUs they hold."""
    return explain(spec.placement, fleet.nodes, fleet.used_gpus, settings)


def gpu_tolerations(placement: Placement, settings: Settings) -> tuple[Toleration, ...]:
    """What the pod tolerates: the GPU taint and the spec's own tolerations."""
    gpu = Toleration(key=settings.gpu_taint_key, operator="Exists", effect="NoSchedule")
    return (gpu, *placement.tolerations)


def unselected(labels: Mapping[str, str], placement: Placement) -> str | None:
    """The first spec.placement.nodeSelector entry the node's labels miss."""
    for key, value in placement.node_selector.items():
        if labels.get(key) != value:
            return f"do not match nodeSelector {key}={value}"
    return None


def untolerated(node: Obj, tols: Sequence[Toleration]) -> str | None:
    """The first taint that keeps the pod off the node for good (a cordon is transient: not here)."""
    for taint in (node.get("spec") or {}).get("taints", []) or []:
        blocking = taint.get("effect") in ("NoSchedule", "NoExecute")
        if (
            blocking
            and taint.get("key") != "node.kubernetes.io/unschedulable"
            and not _tolerates(tols, taint)
        ):
            return f"have the untolerated taint {taint.get('key')}:{taint.get('effect')}"
    return None


def tally(
    nodes: Iterable[Obj],
    used_gpus: Mapping[str, int],
    resource: str,
    gpus: int,
    static_reason: Callable[[Obj, int], str | None],
    busy: Callable[[str], str | None] = lambda _: None,
) -> PlacementReport:
    """Count every node's first reason against the pod: `static_reason(node, allocatable GPUs)` rules
    it out for good; a feasible node does not fit now when it is cordoned, not Ready, without `gpus`
    free GPUs, or `busy(name)` says why not."""
    reasons: Counter[str] = Counter()
    fitting: list[str] = []
    feasible: list[str] = []
    total = 0
    for node in nodes:
        total += 1
        name = str(node.get("metadata", {}).get("name", ""))
        allocatable = _quantity((node.get("status", {}).get("allocatable") or {}).get(resource, 0))
        why = static_reason(node, allocatable)
        if why:
            reasons[why] += 1
            continue
        feasible.append(name)
        if (node.get("spec") or {}).get("unschedulable"):
            why = "are cordoned"
        elif not _node_ready(node):
            why = "are not Ready"
        elif allocatable - used_gpus.get(name, 0) < gpus:
            why = f"have no free {resource}"
        else:
            why = busy(name)
        if why:
            reasons[why] += 1
        else:
            fitting.append(name)
    ordered = tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    return PlacementReport(total=total, fitting=tuple(fitting), feasible=tuple(feasible), exclusions=ordered)


def _node_ready(node: Obj) -> bool:
    conditions = node.get("status", {}).get("conditions") or []
    if not conditions:
        return True  # a node nobody reports on yet: let the scheduler decide
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
