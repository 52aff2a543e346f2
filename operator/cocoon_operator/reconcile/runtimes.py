"""The runtime kinds, one entry each (`spec.runtime.kind`); the reconcile reaches a kind only here.

TritonPod: Triton and the runner in a pod on a confidential-VM GPU node (children.py, placement.py).
CocoonVM: the official worker VM in a launcher pod on a bare-metal TDX host (launcher.py,
placement_vm.py, its guards in cocoon_vm.py).
The steps below the reconcile get what they need of a kind (the runner's port, how its health is
probed) in their Context (`worker_access`), so a new kind is its enum value, its module and a line here.
"""

from collections.abc import Mapping
from typing import Final

from cocoon_operator.api.spec import COCOON_VM, TRITON_POD, CocoonNodeSpec, RuntimeKind
from cocoon_operator.reconcile import children, cocoon_vm, launcher, placement, placement_vm
from cocoon_operator.reconcile.runtime_kind import Runtime, no_refusal
from cocoon_operator.settings import Settings
from cocoon_operator.steps.contract import HealthProbe, WorkerAccess

RUNTIMES: Final[Mapping[RuntimeKind, Runtime]] = {
    TRITON_POD: Runtime(
        build=children.BUILD,
        explain=placement.explain_pod,
        refusal=no_refusal,
        gpu_resource=placement.gpu_resource,
        runner_port=lambda spec, settings: settings.runner_http_port,
        probe=HealthProbe.TRITON_AND_RUNNER,
    ),
    COCOON_VM: Runtime(
        build=launcher.BUILD,
        explain=placement_vm.explain_launcher,
        refusal=cocoon_vm.refusal,
        gpu_resource=placement_vm.gpu_resource,
        runner_port=launcher.runner_port,
        probe=HealthProbe.RUNNER,
    ),
}


def of(spec: CocoonNodeSpec) -> Runtime:
    return RUNTIMES[spec.runtime.kind]


def worker_access(spec: CocoonNodeSpec, settings: Settings) -> WorkerAccess:
    """What the steps need of the CocoonNode's runtime kind."""
    kind = of(spec)
    return WorkerAccess(runner_port=kind.runner_port(spec, settings), probe=kind.probe)
