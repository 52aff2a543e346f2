"""What differs between the two runtimes of a CocoonNode, for the code that serves both (pure).

TritonPod: Triton and the runner in a pod on a confidential-VM GPU node (`children.py`).
CocoonVM: the official worker VM in a launcher pod on a bare-metal TDX host (`launcher.py`).
The money side only needs the runner's HTTP API, which both expose on the pod's IP: on 12000 in a
TritonPod, on 12000 + 10 x instance in a launcher pod (the official cocoon-launch forwards the guest's
12000 there).
"""

import re
from typing import Final

from cocoon_operator.api.spec import CocoonNodeSpec
from cocoon_operator.settings import Settings

# cocoon-launch: host port = guest port + 10 x instance, vsock CID = 6 + 10 x instance.
INSTANCE_STRIDE: Final = 10
GUEST_RUNNER_PORT: Final = 12000


def gpu_resource(spec: CocoonNodeSpec, settings: Settings) -> str:
    """The extended resource the worker's pod requests."""
    if spec.placement.gpu_resource:
        return spec.placement.gpu_resource
    return settings.vm_gpu_resource if spec.is_vm else settings.gpu_resource


def runner_port(spec: CocoonNodeSpec, settings: Settings) -> int:
    """Where the operator reaches the runner's HTTP API on the pod IP."""
    if spec.is_vm and spec.runtime.vm is not None:
        return GUEST_RUNNER_PORT + INSTANCE_STRIDE * spec.runtime.vm.instance
    return settings.runner_http_port


def pci_env_var(resource: str) -> str:
    """The variable a VFIO device plugin sets to the allocated PCI addresses (comma separated).

    KubeVirt's convention, which NVIDIA's sandbox device plugin follows: `PCI_RESOURCE_` plus the
    resource name in upper case with every character outside [A-Z0-9_] as `_`, e.g.
    `nvidia.com/GH100_H100_SXM5_80GB` -> `PCI_RESOURCE_NVIDIA_COM_GH100_H100_SXM5_80GB`.
    """
    return "PCI_RESOURCE_" + re.sub(r"[^A-Z0-9_]", "_", resource.upper())
