"""The reconcile's steps, side by side, with one contract (`steps/contract.py`):

- health (`steps/health/`): probes Triton and the runner in the worker pod -> InferenceReady,
  RunnerHealthy (`WorkerHealth`); without probes, the pod's readiness (`PodReadiness`);
- chain (`steps/chain.py`): root pre-flight, funding, registration -> WalletFunded, Registered;
- rewards (`steps/rewards.py`, `steps/claim_request.py`): claims, ledger, sweep -> RewardsHealthy.

Chain and rewards share one `ChainHub` (`steps/common.py`). `build` makes the set the operator runs.
Steps import the layers below them (money, rewards, ton, worker, k8s, api, status), never the
reconcile.
"""

import logging
from dataclasses import dataclass

from cocoon_operator import metrics as mx
from cocoon_operator.settings import Settings
from cocoon_operator.steps.chain import ChainSteps
from cocoon_operator.steps.common import ChainHub, StatusPatcher
from cocoon_operator.steps.contract import ChainProvider, HealthProvider, RewardsProvider
from cocoon_operator.steps.health import PodReadiness, default_metrics, from_settings
from cocoon_operator.steps.rewards import RewardSteps


@dataclass(frozen=True)
class StepSet:
    """The steps one operator process runs (None: that step is off; its conditions say NotChecked)."""

    chain: ChainProvider | None = None
    health: HealthProvider | None = None
    rewards: RewardsProvider | None = None


def build(settings: Settings, kube: StatusPatcher) -> StepSet:
    """Chain and rewards on one hub; health with probes unless switched off (COCOON_HEALTH_PROBES)."""
    for noisy in ("LiteClient", "LiteBalancer", "AdnlTransport", "sync"):
        logging.getLogger(noisy).setLevel(logging.WARNING)  # pytoniq logs every query at INFO
    metrics = mx.default()
    mx.serve_from_env()
    hub = ChainHub(trust_level=settings.ton_trust_level, metrics=metrics)
    if not settings.ton_follow_blocks:
        hub.settings = hub.settings.model_copy(update={"follow_blocks": False})
    mx.followers().follow(lambda: hub.followers)
    health = from_settings(settings, metrics=default_metrics()) if settings.health_probes else PodReadiness()
    return StepSet(
        chain=ChainSteps(hub, kube, metrics), health=health, rewards=RewardSteps(hub, kube, metrics)
    )


__all__ = ["ChainHub", "ChainSteps", "PodReadiness", "RewardSteps", "StepSet", "build"]
