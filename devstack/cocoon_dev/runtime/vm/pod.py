"""What the local kubelet runs for the containers a CocoonVM's launcher pod and a TritonPod add.

- `launcher` (CocoonVM): the container's own `sh -c` script, with its mount paths mapped to the pod's
  volume directories (as init containers are run), and the environment a node would give it: the
  device plugin's `PCI_RESOURCE_<resource>` with a fake PCI address for the VFIO GPU it requests, the
  stand-in `qemu-system-x86_64` and the runtime's Python first on PATH, the pod IP and the dev chain's
  network.json for the runner simulator inside the stand-in VM;
- `openai` (TritonPod): the product's OpenAI adapter (`cocoon_operator.worker.openai_adapter`) with
  the container's own arguments, 127.0.0.1 read as the pod IP.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cocoon_operator.worker.runtime import pci_env_var

LAUNCHER = "launcher"
OPENAI = "openai"
SHELLS = ("/bin/sh", "sh", "/bin/bash", "bash")


def write_qemu_wrapper(bin_dir: Path, python: str) -> Path:
    """`<bin_dir>/qemu-system-x86_64`: runs the stand-in QEMU with the runtime's Python."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    wrapper = bin_dir / "qemu-system-x86_64"
    wrapper.write_text(f'#!/bin/sh\nexec "{python}" -m cocoon_dev.runtime.vm.qemu "$@"\n')
    wrapper.chmod(0o755)
    return bin_dir


def fake_pci_address(pod_uid: str) -> str:
    bus = int(hashlib.sha256(pod_uid.encode()).hexdigest()[:2], 16)
    return f"0000:{bus:02x}:00.0"


def device_plugin_env(spec: dict[str, Any], pod_uid: str) -> dict[str, str]:
    """`PCI_RESOURCE_*` for each NVIDIA passthrough resource the container requests (not nvidia.com/gpu)."""
    limits = (spec.get("resources") or {}).get("limits") or {}
    env = {}
    for resource in limits:
        if resource.startswith("nvidia.com/") and resource != "nvidia.com/gpu":
            env[pci_env_var(resource)] = fake_pci_address(pod_uid)
    return env


def launcher_process(
    spec: dict[str, Any],
    *,
    remap: Callable[[str], str],
    pod_uid: str,
    pod_ip: str,
    state_dir: Path,
    python: str,
    network_json: Path | None,
    record: Path,
) -> tuple[list[str], dict[str, str]]:
    """argv and extra environment of the launcher container (`remap`: container paths to local ones)."""
    argv = [*(spec.get("command") or []), *(spec.get("args") or [])]
    if len(argv) < 3 or argv[0] not in SHELLS or argv[1] != "-c":
        return [python, "-c", "import sys; sys.exit('cocoon-dev: the launcher is not a sh -c script')"], {}
    script = remap(argv[2])
    bin_dir = write_qemu_wrapper(state_dir / "vm-bin", python)
    env = {e["name"]: str(e["value"]) for e in spec.get("env") or [] if "value" in e}
    env |= device_plugin_env(spec, pod_uid)
    env |= {
        "PATH": os.pathsep.join(
            [str(bin_dir), str(Path(python).parent), os.environ.get("PATH", "/usr/bin:/bin")]
        ),
        "COCOON_DEV_POD_IP": pod_ip,
        "COCOON_DEV_QEMU_RECORD": str(record),
    }
    if network_json is not None:
        env["COCOON_DEV_NETWORK_JSON"] = str(network_json)
    return ["/bin/sh", "-c", script, *argv[3:]], env


def adapter_argv(spec: dict[str, Any], *, pod_ip: str, python: str) -> list[str]:
    args = [str(a).replace("127.0.0.1", pod_ip) for a in spec.get("args") or []]
    return [python, "-m", "cocoon_operator.worker.openai_adapter", *args]
