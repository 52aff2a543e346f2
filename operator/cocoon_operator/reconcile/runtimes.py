"""The runtime kinds, one entry each (`spec.runtime.kind`); the reconcile reaches a kind only here.

TritonPod: Triton and the runner in a pod on a confidential-VM GPU node (children.py, placement.py).
CocoonVM: the official worker VM in a launcher pod on a bare-metal TDX host (launcher.py,
placement_vm.py, its guards in cocoon_vm.py).
What the code below the reconcile needs of a kind (the runner's port, the GPU resource, how its health
is probed) is keyed by the same kind in `worker/runtime.py` and `steps/health/provider.py`.
"""

from collections.abc import Mapping
from typing import Final

from cocoon_operator.api.spec import COCOON_VM, TRITON_POD, CocoonNodeSpec, RuntimeKind
from cocoon_operator.reconcile import children, cocoon_vm, launcher, placement, placement_vm
from cocoon_operator.reconcile.runtime_kind import Runtime, no_refusal

RUNTIMES: Final[Mapping[RuntimeKind, Runtime]] = {
    TRITON_POD: Runtime(children.BUILD, placement.explain_pod, no_refusal),
    COCOON_VM: Runtime(launcher.BUILD, placement_vm.explain_launcher, cocoon_vm.refusal),
}


def of(spec: CocoonNodeSpec) -> Runtime:
    return RUNTIMES[spec.runtime.kind]
