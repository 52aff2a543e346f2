"""Level-based reconcile of CocoonNode (no kopf): desired children, placement, conditions."""

from cocoon_operator.k8s.api import KubeApi
from cocoon_operator.reconcile.deps import Deps
from cocoon_operator.reconcile.run import FinalizeOutcome, Outcome, finalize, run
from cocoon_operator.steps.contract import (
    ChainProvider,
    Context,
    EventSpec,
    HealthProvider,
    RewardsProvider,
    StepReport,
)

__all__ = [
    "ChainProvider",
    "Context",
    "Deps",
    "EventSpec",
    "FinalizeOutcome",
    "HealthProvider",
    "KubeApi",
    "Outcome",
    "RewardsProvider",
    "StepReport",
    "finalize",
    "run",
]
