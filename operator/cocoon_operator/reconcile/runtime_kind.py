"""What a runtime kind (`spec.runtime.kind`) is to the reconcile (pure; the registry is `runtimes.py`).

A kind says what it builds (its ConfigMap, its StatefulSet, the ports the operator reaches), where its
pod may run (the placement explanation, the GPU resource it requests), what must hold before anything
is built for it (the admission guards), and how the steps reach its worker (the runner's port, how its
health is probed). The reconcile assembles the children and reports the conditions the same way for
every kind.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cocoon_operator.api.spec import CocoonNodeSpec
from cocoon_operator.conditions import Reason
from cocoon_operator.reconcile.children import Build
from cocoon_operator.reconcile.placement import Fleet, PlacementReport
from cocoon_operator.settings import Settings
from cocoon_operator.steps.contract import HealthProbe


@dataclass(frozen=True)
class Refusal:
    """Why nothing is created for a CocoonNode: `Configured=False` with this reason and message."""

    reason: Reason
    message: str


class Reads(Protocol):
    async def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None: ...


async def no_refusal(spec: CocoonNodeSpec, namespace: str, settings: Settings, kube: Reads) -> Refusal | None:
    """The guard of a kind that needs none beyond the spec's own rules."""
    return None


@dataclass(frozen=True)
class Runtime:
    """One runtime kind, from its own modules."""

    build: Build  # what it builds (children.Build)
    explain: Callable[[CocoonNodeSpec, Fleet, Settings], PlacementReport]  # where its pod may run
    # What must hold before anything is built for it (None: go ahead); reads only through `kube`.
    refusal: Callable[[CocoonNodeSpec, str, Settings, Reads], Awaitable[Refusal | None]]
    gpu_resource: Callable[[CocoonNodeSpec, Settings], str]  # the extended resource its pod requests
    runner_port: Callable[[CocoonNodeSpec, Settings], int]  # the runner's HTTP API on the pod IP
    probe: HealthProbe  # how the health step probes it
