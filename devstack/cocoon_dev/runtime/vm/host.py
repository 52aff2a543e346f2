"""Fake TDX hosts for the local runtime: a directory tree per node that hostPath volumes map to.

A launcher pod mounts host paths: `/dev`, `/sys` and `/proc` (read-only, for its `check-host` init
container), the release cache and the worker's state directory. The local kubelet maps a hostPath
`<path>` of a pod on node N to `<state dir>/hosts/N/<path>`, so every pod on one node shares them
(the release cache is per host, as in a cluster).

The host's TDX prerequisites are simulated as the files `check-host` looks at: `dev/kvm`, `dev/iommu`,
`dev/vhost-vsock`, `dev/vfio/vfio`, `sys/module/kvm_intel/parameters/tdx` (Y), IOMMU groups in
`sys/kernel/iommu_groups/`, and the processes `qgs` and `seal-server` in `proc/<pid>/comm`. The node
annotation `dev.cocoon.tonops.dev/host-missing: "tdx,qgs"` takes the named ones away (tests of the
HostPrerequisitesMissing condition); the tree follows the annotation each time a pod is started.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from cocoon_operator.k8s import ApiError, KubeClient

HOST_MISSING_ANNOTATION = "dev.cocoon.tonops.dev/host-missing"
PREREQUISITES = ("kvm", "tdx", "iommu", "iommufd", "vsock", "qgs", "seal-server")
SIMULATED = ("dev", "sys", "proc")


def host_root(state_dir: Path, node: str) -> Path:
    return state_dir / "hosts" / node


def prepare(root: Path, missing: set[str] | frozenset[str] = frozenset()) -> None:
    """(Re)write the simulated prerequisites of one host; other directories (caches) are kept."""
    unknown = set(missing) - set(PREREQUISITES)
    if unknown:
        raise ValueError(f"unknown host prerequisites {sorted(unknown)}; known: {PREREQUISITES}")
    for part in SIMULATED:
        shutil.rmtree(root / part, ignore_errors=True)
    files: dict[str, str] = {
        "dev/vfio/vfio": "",
        "proc/sys/kernel/osrelease": "6.16.0-cocoon-dev\n",
        "proc/1/comm": "systemd\n",
        "sys/module/kvm_intel/parameters/tdx": "N\n" if "tdx" in missing else "Y\n",
    }
    if "kvm" not in missing:
        files["dev/kvm"] = ""
    if "iommufd" not in missing:
        files["dev/iommu"] = ""
    if "vsock" not in missing:
        files["dev/vhost-vsock"] = ""
    if "qgs" not in missing:
        files["proc/1001/comm"] = "qgs\n"
    if "seal-server" not in missing:
        files["proc/1002/comm"] = "seal-server\n"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    groups = root / "sys" / "kernel" / "iommu_groups"
    groups.mkdir(parents=True, exist_ok=True)
    if "iommu" not in missing:
        for group in range(8):
            (groups / str(group)).mkdir(exist_ok=True)


def missing_of(node: dict[str, Any]) -> set[str]:
    value = ((node.get("metadata") or {}).get("annotations") or {}).get(HOST_MISSING_ANNOTATION, "")
    return {item.strip() for item in str(value).split(",") if item.strip()}


async def host_path(kube: KubeClient, pod: dict[str, Any], path: str, state_dir: Path) -> Path:
    """The local directory for a hostPath volume of this pod (created; simulated parts prepared)."""
    node_name = str(pod["spec"].get("nodeName") or "unknown-node")
    root = host_root(state_dir, node_name)
    rel = path.strip("/")
    if rel.split("/", 1)[0] in SIMULATED:
        try:
            node = await kube.get("v1", "Node", None, node_name) or {}
        except ApiError:  # the API answered badly: an intact host
            node = {}
        prepare(root, missing_of(node) & set(PREREQUISITES))
    local = root / rel if rel else root
    if not local.exists():  # DirectoryOrCreate; a device or file the host lacks stays absent
        local.mkdir(parents=True, exist_ok=True)
    return local
