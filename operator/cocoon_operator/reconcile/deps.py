"""What a reconcile needs from outside: the API client, the settings, the steps and the caches.

`Deps.chain`, `Deps.health` and `Deps.rewards` are optional providers: reconcile works without them
(their conditions stay Unknown with reason NotChecked). Each provider returns a `StepReport`; a
provider that raises or times out becomes an Unknown condition, never a failed reconcile.
"""

from dataclasses import dataclass, field

from cocoon_operator.k8s.api import KubeApi
from cocoon_operator.reconcile.child_cache import ChildCache
from cocoon_operator.reconcile.gpu_usage import PodListCache
from cocoon_operator.settings import Settings
from cocoon_operator.steps.contract import ChainProvider, HealthProvider, RewardsProvider


@dataclass(frozen=True)
class Deps:
    kube: KubeApi
    settings: Settings
    chain: ChainProvider | None = None
    health: HealthProvider | None = None
    rewards: RewardsProvider | None = None
    provider_timeout_seconds: float = 20.0
    # Shared by all reconciles of this process: one pod LIST serves a burst of placement explanations.
    pods: PodListCache = field(default_factory=PodListCache)
    # Fed by the operator's watches; None (tests without watches): every child is read each time.
    children: ChildCache | None = None
