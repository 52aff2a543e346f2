"""Worker health: probe Triton and the COCOON runner in a pod, evaluate, export metrics.

No kopf and no Kubernetes client here: the reconcile passes the pod it already read.
Entry points: `WorkerHealth.observe(ctx)` (the reconcile's `Deps.health`), `evaluate_health`
(pure), `probe_worker` / `HealthProber` (network), `HealthMetrics` (Prometheus).
"""

from cocoon_operator.steps.health.evaluate import (
    HealthNumbers,
    HealthReport,
    ModelStatus,
    Thresholds,
    evaluate_health,
)
from cocoon_operator.steps.health.metrics import HealthMetrics
from cocoon_operator.steps.health.pod_problems import PodLayout
from cocoon_operator.steps.health.pod_readiness import PodReadiness
from cocoon_operator.steps.health.probe import HealthProber, Ports, RunnerProbe, Timeouts, probe_worker
from cocoon_operator.steps.health.provider import WorkerHealth, default_metrics, from_settings

__all__ = [
    "HealthMetrics",
    "HealthNumbers",
    "HealthProber",
    "HealthReport",
    "ModelStatus",
    "PodLayout",
    "PodReadiness",
    "Ports",
    "RunnerProbe",
    "Thresholds",
    "Timeouts",
    "WorkerHealth",
    "default_metrics",
    "evaluate_health",
    "from_settings",
    "probe_worker",
]
