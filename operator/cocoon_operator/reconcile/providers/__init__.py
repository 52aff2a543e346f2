"""The chain and rewards providers (issue 6) that plug into `reconcile.deps`: `ChainSteps`
(`Deps.chain`) and `RewardSteps` (`Deps.rewards`), sharing one `ChainHub`."""

import logging
from typing import Any

from cocoon_operator import metrics as mx
from cocoon_operator.reconcile.providers.chain import ChainSteps
from cocoon_operator.reconcile.providers.common import ChainHub, StatusPatcher
from cocoon_operator.reconcile.providers.rewards import RewardSteps
from cocoon_operator.settings import Settings


def provider_factory(settings: Settings, kube: StatusPatcher) -> dict[str, Any]:
    """For `handlers.runtime.PROVIDER_FACTORIES`: `{"chain": ..., "rewards": ...}` on one hub."""
    for noisy in ("LiteClient", "LiteBalancer", "AdnlTransport", "sync"):
        logging.getLogger(noisy).setLevel(logging.WARNING)  # pytoniq logs every query at INFO
    metrics = mx.default()
    mx.serve_from_env()
    hub = ChainHub(trust_level=settings.ton_trust_level, metrics=metrics)
    return {
        "chain": ChainSteps(hub, kube, metrics),
        "rewards": RewardSteps(hub, kube, metrics),
    }


__all__ = ["ChainHub", "ChainSteps", "RewardSteps", "provider_factory"]
