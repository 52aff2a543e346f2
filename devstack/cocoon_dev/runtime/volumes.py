"""A pod's volumes on the host, as a kubelet mounts them: ConfigMap and Secret files written out,
emptyDirs as local dirs, hostPath/local PVCs as their directory; and container paths mapped to them."""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path
from typing import Any

from cocoon_dev.runtime.vm import host as vm_host
from cocoon_operator.k8s import ApiError, KubeClient

Mounts = list[tuple[str, Path]]  # (mountPath, local path), longest mount path first


def safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


async def materialize_volumes(kube: KubeClient, pod: dict[str, Any], root: Path) -> dict[str, Path]:
    """Write the pod's ConfigMap/Secret volumes under `root`; return volume name → local dir."""
    ns = pod["metadata"]["namespace"]
    dirs: dict[str, Path] = {}
    for vol in pod["spec"].get("volumes") or []:
        name = vol["name"]
        target = root / safe_name(name)
        if "configMap" in vol:
            src = vol["configMap"]
            obj = await _read(kube, "ConfigMap", ns, src["name"])
            files = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
            files |= {k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()}
            secret = False
        elif "secret" in vol:
            src = vol["secret"]
            obj = await _read(kube, "Secret", ns, src["secretName"])
            files = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
            secret = True
        elif "hostPath" in vol:  # a directory of the pod's node, shared by its pods (vm/host.py)
            dirs[name] = await vm_host.host_path(kube, pod, vol["hostPath"]["path"], root.parents[2])
            continue
        else:
            if "persistentVolumeClaim" in vol:
                # A claim bound to a hostPath/local PV is that directory (shared, not copied: the
                # content is the point, e.g. a model repository); any other claim is an empty dir.
                found = await claim_path(kube, ns, vol["persistentVolumeClaim"]["claimName"])
                if found is not None and found.is_dir():
                    dirs[name] = found
                    continue
            target.mkdir(parents=True, exist_ok=True)  # emptyDir, other PVCs, ...: an empty local dir
            dirs[name] = target
            continue
        items = src.get("items")
        if items:
            files = {item["path"]: files[item["key"]] for item in items if item["key"] in files}
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True, mode=0o700)
        for rel, content in files.items():
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            if secret:
                path.chmod(0o600)
        dirs[name] = target
    return dirs


def mount_map(container: dict[str, Any], volumes: dict[str, Path]) -> Mounts:
    """(mountPath, local path) for a container, longest mount path first."""
    mounts = []
    for m in container.get("volumeMounts") or []:
        local = volumes.get(m["name"])
        if local is None:
            continue
        if m.get("subPath"):
            local = local / m["subPath"]
        mounts.append((m["mountPath"].rstrip("/") or "/", local))
    return sorted(mounts, key=lambda x: len(x[0]), reverse=True)


def resolve_path(path: str, mounts: Mounts) -> Path | None:
    for mount_path, local in mounts:
        if path == mount_path:
            return local
        if path.startswith(mount_path + "/"):
            return local / path[len(mount_path) + 1 :]
    return None


def remap_paths(script: str, mounts: Mounts) -> str:
    """Replace container mount paths in a shell script by the pod's local volume dirs (one pass, so
    a local dir is never rewritten again by a shorter mount path)."""
    if not mounts:
        return script
    mapping = {mount_path: str(local) for mount_path, local in mounts}
    alternatives = "|".join(re.escape(m) for m in sorted(mapping, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w./-])({alternatives})(?=$|[/\s\"';:|&)])")
    return pattern.sub(lambda m: mapping[m.group(1)], script)


async def _read(kube: KubeClient, kind: str, namespace: str, name: str) -> dict[str, Any]:
    obj = await kube.get("v1", kind, namespace, name)
    if obj is None:  # a kubelet waits for it; the pod's run fails and is retried from the start
        raise ApiError(404, "NotFound", f"{kind} {namespace}/{name} of a pod volume", "GET", "")
    return obj


async def claim_path(kube: KubeClient, namespace: str, claim: str) -> Path | None:
    """The directory of a PVC bound to a `hostPath` or `local` PV (what a node would mount), else None."""
    try:
        pvc = await kube.get("v1", "PersistentVolumeClaim", namespace, claim)
        volume = ((pvc or {}).get("spec") or {}).get("volumeName")
        pv = await kube.get("v1", "PersistentVolume", None, volume) if volume else None
    except ApiError:
        return None
    spec = (pv or {}).get("spec") or {}
    path = (spec.get("hostPath") or spec.get("local") or {}).get("path")
    return Path(path) if path else None
