"""What differs between the runtime kinds for the code below the reconcile that serves all (pure).

TritonPod: Triton and the runner in a pod on a confidential-VM GPU node (`children.py`).
CocoonVM: the official worker VM in a launcher pod on a bare-metal TDX host (`launcher.py`).
The money side only needs the runner's HTTP API, which both expose on the pod's IP: on 12000 in a
TritonPod, on 12000 + 10 x instance in a launcher pod (the official cocoon-launch forwards the guest's
12000 there). One `KINDS` entry per kind, as in `reconcile/runtimes.py`.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from cocoon_operator.api.spec import COCOON_VM, TRITON_POD, CocoonNodeSpec, RuntimeKind
from cocoon_operator.settings import Settings

# cocoon-launch: host port = guest port + 10 x instance, vsock CID = 6 + 10 x instance.
INSTANCE_STRIDE: Final = 10
GUEST_RUNNER_PORT: Final = 12000


@dataclass(frozen=True)
class Traits:
    """What the layers below the reconcile (the health, chain and rewards steps) need of a runtime kind;
    its children, placement and guards are in `reconcile/runtimes.py`, which they may not import."""

    default_gpu_resource: Callable[[Settings], str]  # when spec.placement.gpuResource is not set
    runner_port: Callable[[CocoonNodeSpec, Settings], int]


def _pod_runner_port(spec: CocoonNodeSpec, settings: Settings) -> int:
    return settings.runner_http_port


def _forwarded_runner_port(spec: CocoonNodeSpec, settings: Settings) -> int:
    vm = spec.runtime.vm
    if vm is None:  # (the spec's rules require it)
        return settings.runner_http_port
    return GUEST_RUNNER_PORT + INSTANCE_STRIDE * vm.instance


KINDS: Final[Mapping[RuntimeKind, Traits]] = {
    TRITON_POD: Traits(lambda settings: settings.gpu_resource, _pod_runner_port),
    COCOON_VM: Traits(lambda settings: settings.vm_gpu_resource, _forwarded_runner_port),
}


def gpu_resource(spec: CocoonNodeSpec, settings: Settings) -> str:
    """The extended resource the worker's pod requests."""
    if spec.placement.gpu_resource:
        return spec.placement.gpu_resource
    return KINDS[spec.runtime.kind].default_gpu_resource(settings)


def runner_port(spec: CocoonNodeSpec, settings: Settings) -> int:
    """Where the operator reaches the runner's HTTP API on the pod IP."""
    return KINDS[spec.runtime.kind].runner_port(spec, settings)


def pci_env_var(resource: str) -> str:
    """The variable a VFIO device plugin sets to the allocated PCI addresses (comma separated).

    KubeVirt's convention, which NVIDIA's sandbox device plugin follows: `PCI_RESOURCE_` plus the
    resource name in upper case with every character outside [A-Z0-9_] as `_`, e.g.
    `nvidia.com/GH100_H100_SXM5_80GB` -> `PCI_RESOURCE_NVIDIA_COM_GH100_H100_SXM5_80GB`.
    """
    return "PCI_RESOURCE_" + re.sub(r"[^A-Z0-9_]", "_", resource.upper())
