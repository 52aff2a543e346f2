"""The operator's whole exposition in a private registry, every family with one series, so tests can
compare it with the docs, the alert rules and the dashboard's queries."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from cocoon_operator import metrics, status_metrics
from cocoon_operator.steps.health import HealthMetrics, evaluate_health
from cocoon_operator.ton.follower import FollowerStats
from tests.unit.health.builders import NOW, model, pod, runner_ok, triton_ok


@dataclass(frozen=True)
class Family:
    name: str  # as on the wire: counters with `_total`
    type: str  # counter, gauge, histogram
    labels: frozenset[str]


def _fill(metric: MetricWrapperBase) -> None:
    names = metric._labelnames  # prometheus_client keeps them here; a test may look
    child = metric.labels(*(f"x{i}" for i in range(len(names)))) if names else metric
    if hasattr(child, "observe"):
        child.observe(0.5)
    elif hasattr(child, "inc"):
        child.inc()


def populated_registry() -> CollectorRegistry:
    """Every metric family the operator process registers, each with at least one series."""
    registry = CollectorRegistry()
    money = metrics.create(registry)
    for value in vars(money).values():
        _fill(value)
    controller = metrics.create_controller(registry)
    for value in vars(controller).values():
        if value is not controller.build_info:
            _fill(value)
    health = HealthMetrics(registry)
    health.observe("ns", "w", evaluate_health(pod(), triton_ok(model()), runner_ok(), NOW))
    nodes = status_metrics.StatusMetrics(registry)
    nodes.observe(
        "ns",
        "w",
        status_metrics.NodeView(
            conditions=(("Ready", "true"),),
            tee="TDX",
            node="gpu-0",
            model="Qwen/Qwen3-8B",
            floor_nano=1,
            target_nano=2,
            last_claim_at=4,
            claim_pending_since=5,
        ),
    )
    metrics.FollowerMetrics(registry).follow(lambda: {"net": _Follower()})
    return registry


@dataclass
class _Follower:
    """Stands for a block follower in step (the exposition's shape is all that counts here)."""

    stats: FollowerStats = field(default_factory=lambda: FollowerStats(blocks=3, hits=5, misses=1))
    mc_seqno: int | None = 7

    def in_step(self) -> bool:
        return True

    def watched(self) -> int:
        return 2


def exposition() -> str:
    return generate_latest(populated_registry()).decode()


def families() -> dict[str, Family]:
    """Wire name → family (name, type, label names) of the populated exposition."""
    found: dict[str, Family] = {}
    for fam in text_string_to_metric_families(exposition()):
        labels: set[str] = set()
        for sample in fam.samples:
            labels |= set(sample.labels) - {"le"}
        name = f"{fam.name}_total" if fam.type == "counter" else fam.name
        found[name] = Family(name, fam.type, frozenset(labels))
    return found


def series_names() -> set[str]:
    """Every sample name a query can select (`_bucket`, `_sum`, `_count`, `_total`, `_created`)."""
    return {s.name for fam in text_string_to_metric_families(exposition()) for s in fam.samples}
