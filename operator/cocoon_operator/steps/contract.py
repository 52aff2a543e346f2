"""The one contract between the reconcile and its steps (health, chain, rewards).

The reconcile hands a step a `Context` (one CocoonNode, as read this time) and gets a `StepReport`
back: conditions, status fields, Events and decisions (may the workload run, when to look again, the
PDB). A step that raises or times out becomes an Unknown condition, never a failed reconcile. Steps
import this module and the layers below them, never the reconcile.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

from cocoon_operator.api.spec import CocoonNodeSpec
from cocoon_operator.k8s.api import KubeApi
from cocoon_operator.settings import Settings
from cocoon_operator.status import Cond


@dataclass(frozen=True)
class EventSpec:
    """A Kubernetes Event to post (CamelCase reason; never secrets in the message)."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


class HealthProbe(StrEnum):
    """How the health step probes a runtime kind's worker."""

    TRITON_AND_RUNNER = "TritonAndRunner"  # Triton's health and metrics and the runner, in one pod
    RUNNER = "Runner"  # only the runner's HTTP API (Triton, if any, is inside a guest the pod runs)


@dataclass(frozen=True)
class WorkerAccess:
    """How the steps reach a CocoonNode's worker: what its runtime kind says (reconcile/runtimes.py)."""

    runner_port: int  # the runner's HTTP API on the pod IP
    probe: HealthProbe


@dataclass(frozen=True)
class Context:
    """What a provider sees of one CocoonNode during one reconcile."""

    name: str
    namespace: str
    uid: str
    generation: int
    spec: CocoonNodeSpec
    status: Mapping[str, Any]  # the status as last written (providers read their own fields back)
    pod: Mapping[str, Any] | None  # the worker pod, when it exists
    wallet_secret_name: str
    settings: Settings
    kube: KubeApi
    worker: WorkerAccess
    deleting: bool = False
    annotations: Mapping[str, str] = field(default_factory=dict)  # e.g. a claim asked for by a person


@dataclass(frozen=True)
class StepReport:
    """A provider's findings: conditions, status fields to set, Events, and decisions."""

    conditions: Sequence[Cond] = ()
    status: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"walletAddress": ...}; None removes a key
    events: Sequence[EventSpec] = ()
    allow_workload: bool = True  # chain pre-flight: False keeps the worker from starting (replicas 0)
    retry_after: float | None = None  # ask for an earlier reconcile (seconds)
    pdb_max_unavailable: int | None = None  # e.g. 0 while a claim awaits confirmation


class ChainProvider(Protocol):
    """Issue 6: root pre-flight, wallet funding, registration."""

    async def preflight(self, ctx: Context) -> StepReport:
        """Before the workload: allowed model/image hashes, is_test, proxies. allow_workload=False blocks."""
        ...

    async def observe(self, ctx: Context) -> StepReport:
        """After the workload: WalletFunded, Registered, walletAddress, workerContracts."""
        ...

    async def finalize(self, ctx: Context) -> bool:
        """On deletion: True when done (or nothing to do); called until done or the deadline passes."""
        ...


class HealthProvider(Protocol):
    """Issue 5: Triton and runner probes; sets InferenceReady (and may add a runner condition), models."""

    async def observe(self, ctx: Context) -> StepReport: ...


class RewardsProvider(Protocol):
    """Issue 6: claim policy and ledger; sets RewardsHealthy, earnings, lastClaims."""

    async def observe(self, ctx: Context) -> StepReport: ...

    async def finalize(self, ctx: Context) -> bool:
        """On deletion with claimOnDelete: last claim and sweep; True when done."""
        ...
