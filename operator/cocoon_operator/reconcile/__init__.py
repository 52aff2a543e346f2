"""Level-based reconcile of CocoonNode (no kopf): desired children, placement, conditions."""

from cocoon_operator.reconcile.deps import (
    ChainProvider,
    Context,
    Deps,
    EventSpec,
    HealthProvider,
    KubeApi,
    RewardsProvider,
    StepReport,
)
from cocoon_operator.reconcile.run import FinalizeOutcome, Outcome, finalize, run

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
