"""Fleet profiles: YAML node classes + groups, expanded into fake Node manifests (pure, no API calls)."""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ClusterError

# Label conventions (team-conventions.md): GPU Feature Discovery, NVIDIA CC manager, NFD, GKE.
GPU_PRESENT = "nvidia.com/gpu.present"
GPU_PRODUCT = "nvidia.com/gpu.product"
GPU_COUNT = "nvidia.com/gpu.count"
GPU_MEMORY = "nvidia.com/gpu.memory"
GPU_FAMILY = "nvidia.com/gpu.family"
CC_MODE = "nvidia.com/cc.mode"
CC_MODE_STATE = "nvidia.com/cc.mode.state"
CC_READY_STATE = "nvidia.com/cc.ready.state"
NFD_TDX = "feature.node.kubernetes.io/cpu-security.tdx.protected"
NFD_SEV_SNP = "feature.node.kubernetes.io/cpu-security.sev.snp.enabled"
GKE_CONFIDENTIAL = "cloud.google.com/gke-confidential-nodes-instance-type"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT: dict[str, str] = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
KWOK_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
PROFILE_ANNOTATION = "cocoon.tonops.dev/fleet-profile"

TEES: dict[str, dict[str, str]] = {
    "tdx": {NFD_TDX: "true", GKE_CONFIDENTIAL: "TDX"},
    "sev-snp": {NFD_SEV_SNP: "true", GKE_CONFIDENTIAL: "SEV_SNP"},
    "none": {},
}
FLEETS_PACKAGE = "cocoon_dev.cluster.fleets"


class FleetError(ClusterError):
    """A profile that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class FakeNode:
    """One fake Node as declared (what the tests compare the live Node against)."""

    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    taints: list[dict[str, str]]
    capacity: dict[str, str]
    allocatable: dict[str, str]

    @property
    def gpus(self) -> int:
        return int(self.capacity.get(GPU_RESOURCE, "0"))

    def manifest(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": dict(self.labels),
                "annotations": dict(self.annotations),
            },
            "spec": {"taints": [dict(t) for t in self.taints]},
            "status": {"capacity": dict(self.capacity), "allocatable": dict(self.allocatable)},
        }


@dataclass(frozen=True)
class FleetProfile:
    name: str
    description: str
    source: str
    classes: dict[str, dict[str, Any]]
    groups: list[dict[str, Any]] = field(default_factory=list)

    def nodes(self, scale: int = 1) -> list[FakeNode]:
        """Every node of the profile; `scale` multiplies each group's count (benchmarks)."""
        if scale < 1:
            raise FleetError(f"fleet profile {self.name}: scale must be >= 1, got {scale}")
        out: list[FakeNode] = []
        for group in self.groups:
            for index in range(group["count"] * scale):
                out.append(_expand(self, group["class"], f"{group['name']}-{index}"))
        return out


def _str_map(where: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FleetError(f"{where}: must be a mapping")
    return {str(k): _scalar(f"{where}.{k}", v) for k, v in value.items()}


def _scalar(where: str, value: Any) -> str:
    if isinstance(value, bool):  # YAML 1.1 reads on/off/yes/no as booleans
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise FleetError(f"{where}: must be a string or number, got {type(value).__name__}")


def _cc_mode(where: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "on" if value else "off"
    if value in ("on", "off"):
        return str(value)
    raise FleetError(f'{where}: must be "on" or "off" (quoted), got {value!r}')


def _expand(profile: FleetProfile, class_name: str, node_name: str) -> FakeNode:
    where = f"fleet profile {profile.name} ({profile.source}): classes.{class_name}"
    cls = profile.classes[class_name]
    labels = {
        "kubernetes.io/hostname": node_name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
    }
    if "instanceType" in cls:
        labels[INSTANCE_TYPE] = _scalar(f"{where}.instanceType", cls["instanceType"])
    labels.update(TEES[cls.get("tee", "none")])
    capacity = _str_map(f"{where}.capacity", cls.get("capacity"))
    gpu = cls.get("gpu")
    taints: list[dict[str, str]] = []
    if gpu is not None:
        count = gpu["count"]
        labels.update({GPU_PRESENT: "true", GPU_PRODUCT: str(gpu["product"]), GPU_COUNT: str(count)})
        if "memoryMiB" in gpu:
            labels[GPU_MEMORY] = str(gpu["memoryMiB"])
        if "family" in gpu:
            labels[GPU_FAMILY] = str(gpu["family"])
        capacity[GPU_RESOURCE] = str(count)
        taints.append(dict(GPU_TAINT))
        mode = _cc_mode(f"{where}.ccMode", cls.get("ccMode")) or "off"
        labels.update(
            {CC_MODE: mode, CC_MODE_STATE: mode, CC_READY_STATE: "true" if mode == "on" else "false"}
        )
    allocatable = _str_map(f"{where}.allocatable", cls.get("allocatable")) or dict(capacity)
    if gpu is not None:
        allocatable.setdefault(GPU_RESOURCE, capacity[GPU_RESOURCE])
    labels.update(_str_map(f"{where}.labels", cls.get("labels")))
    if "taints" in cls:
        taints = [_taint(f"{where}.taints[{i}]", t) for i, t in enumerate(cls["taints"] or [])]
    annotations = {KWOK_ANNOTATION[0]: KWOK_ANNOTATION[1], PROFILE_ANNOTATION: profile.name}
    annotations.update(_str_map(f"{where}.annotations", cls.get("annotations")))
    return FakeNode(node_name, labels, annotations, taints, capacity, allocatable)


def _taint(where: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or "key" not in value or "effect" not in value:
        raise FleetError(f"{where}: a taint needs `key` and `effect` (and optionally `value`)")
    if value["effect"] not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
        raise FleetError(f"{where}.effect: must be NoSchedule, PreferNoSchedule or NoExecute")
    return {k: str(v) for k, v in value.items() if k in ("key", "value", "effect")}


def _validate_class(where: str, cls: Any) -> None:
    if not isinstance(cls, dict):
        raise FleetError(f"{where}: must be a mapping")
    known = {
        "instanceType",
        "tee",
        "ccMode",
        "gpu",
        "capacity",
        "allocatable",
        "labels",
        "annotations",
        "taints",
    }
    unknown = set(cls) - known
    if unknown:
        raise FleetError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(known)}")
    if cls.get("tee", "none") not in TEES:
        raise FleetError(f"{where}.tee: must be one of {sorted(TEES)}, got {cls.get('tee')!r}")
    _cc_mode(f"{where}.ccMode", cls.get("ccMode"))
    gpu = cls.get("gpu")
    if gpu is not None:
        if not isinstance(gpu, dict) or "product" not in gpu or "count" not in gpu:
            raise FleetError(f"{where}.gpu: needs `product` and `count`")
        if not isinstance(gpu["count"], int) or isinstance(gpu["count"], bool) or gpu["count"] < 1:
            raise FleetError(f"{where}.gpu.count: must be a positive integer")
    capacity = _str_map(f"{where}.capacity", cls.get("capacity"))
    for key in ("cpu", "memory", "pods"):
        if key not in capacity:
            raise FleetError(f"{where}.capacity.{key}: required")


def parse_profile(data: Any, source: str) -> FleetProfile:
    """Validate a loaded YAML document; every error names the file and the field."""
    if not isinstance(data, dict):
        raise FleetError(f"fleet profile {source}: must be a YAML mapping")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise FleetError(f"fleet profile {source}: `name` is required")
    where = f"fleet profile {name} ({source})"
    classes: dict[str, dict[str, Any]] = {}
    if "classesFrom" in data:
        classes.update(load_profile(str(data["classesFrom"])).classes)
    own = data.get("classes") or {}
    if not isinstance(own, dict):
        raise FleetError(f"{where}: classes must be a mapping of class name to node shape")
    for cname, cls in own.items():
        _validate_class(f"{where}: classes.{cname}", cls)
        classes[str(cname)] = cls
    groups = data.get("groups")
    if not isinstance(groups, list) or not groups:
        raise FleetError(f"{where}: groups must be a non-empty list")
    seen: set[str] = set()
    for i, group in enumerate(groups):
        gw = f"{where}: groups[{i}]"
        if not isinstance(group, dict):
            raise FleetError(f"{gw}: must be a mapping with name, class, count")
        if not isinstance(group.get("name"), str) or not group["name"]:
            raise FleetError(f"{gw}.name: required")
        if group["name"] in seen:
            raise FleetError(f"{gw}.name: duplicate group name {group['name']!r}")
        seen.add(group["name"])
        if group.get("class") not in classes:
            raise FleetError(f"{gw}.class: unknown class {group.get('class')!r}; known: {sorted(classes)}")
        count = group.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise FleetError(f"{gw}.count: must be a non-negative integer")
        group["count"] = count
    return FleetProfile(
        name=name, description=str(data.get("description", "")), source=source, classes=classes, groups=groups
    )


def builtin_profiles() -> list[str]:
    files = importlib.resources.files(FLEETS_PACKAGE)
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".yaml"))


def load_profile(ref: str | Path) -> FleetProfile:
    """A built-in profile by name (`default`, `large`) or a profile file by path."""
    path = Path(ref)
    if isinstance(ref, Path) or path.suffix in (".yaml", ".yml") or "/" in str(ref):
        if not path.is_file():
            raise FleetError(f"fleet profile file not found: {path}")
        text, source = path.read_text(), str(path.resolve())
    else:
        resource = importlib.resources.files(FLEETS_PACKAGE) / f"{ref}.yaml"
        if not resource.is_file():
            raise FleetError(
                f"no built-in fleet profile {ref!r}; built-in: {builtin_profiles()} (or pass a path)"
            )
        text, source = resource.read_text(), f"built-in {ref}"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FleetError(f"fleet profile {source}: not valid YAML: {exc}") from exc
    return parse_profile(data, source)
