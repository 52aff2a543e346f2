"""The reconcile-facing provider (WorkerHealth.observe) and the Prometheus collector."""

from __future__ import annotations

import datetime as dt
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from cocoon_operator.api.spec import parse_spec
from cocoon_operator.conditions import Reason
from cocoon_operator.status import INFERENCE_READY, RUNNER_HEALTHY
from cocoon_operator.steps.contract import Context
from cocoon_operator.steps.health import HealthMetrics, WorkerHealth, evaluate_health
from tests.unit.builders import minimal_spec, step_context
from tests.unit.health.builders import NOW, TON, StubProber, model, pod, runner_ok, triton_down, triton_ok


def _ctx(pod_obj: dict[str, Any] | None, **fields: Any) -> Context:
    return step_context(parse_spec(minimal_spec(**fields)), pod=pod_obj)


async def test_observe_healthy() -> None:
    registry = CollectorRegistry()
    metrics = HealthMetrics(registry)
    prober = StubProber((triton_ok(), runner_ok()))
    health = WorkerHealth(prober, metrics=metrics, clock=lambda: NOW)
    report = await health.observe(_ctx(pod()))
    assert prober.asked == [("127.100.0.7", None)]
    conds = {c.type: c for c in report.conditions}
    assert conds[INFERENCE_READY].status == "True" and conds[RUNNER_HEALTHY].status == "True"
    assert report.status == {"models": [{"name": "cocoon_llm", "ready": True}]}
    assert report.retry_after is None
    text = generate_latest(registry).decode()
    assert 'cocoon_worker_ready{name="w1",namespace="ns1"} 1.0' in text
    assert 'cocoon_worker_inference_requests_total{name="w1",namespace="ns1",outcome="success"} 120.0' in text


async def test_observe_unhealthy_asks_for_an_early_recheck() -> None:
    health = WorkerHealth(StubProber((triton_down(), runner_ok())), clock=lambda: NOW)
    report = await health.observe(_ctx(pod()))
    inference = next(c for c in report.conditions if c.type == INFERENCE_READY)
    assert inference.reason == Reason.TRITON_UNREACHABLE
    assert report.retry_after is not None and report.retry_after <= 15
    assert report.status == {"models": None}


async def test_observe_without_pod_or_ip_does_not_probe() -> None:
    prober = StubProber((triton_ok(), runner_ok()))
    health = WorkerHealth(prober, clock=lambda: NOW)
    assert (await health.observe(_ctx(None))).conditions[0].reason == Reason.NO_POD
    pending = pod("Pending", ip=None, node=None)
    assert (await health.observe(_ctx(pending))).conditions[0].reason == Reason.POD_NOT_RUNNING
    assert prober.asked == []


async def test_observe_paused() -> None:
    registry = CollectorRegistry()
    metrics = HealthMetrics(registry)
    metrics.observe("ns1", "w1", evaluate_health(pod(), triton_ok(), runner_ok(), NOW))
    prober = StubProber((triton_ok(), runner_ok()))
    report = await WorkerHealth(prober, metrics=metrics).observe(_ctx(pod(), paused=True))
    assert {c.reason for c in report.conditions} == {Reason.PAUSED}
    assert prober.asked == [] and "w1" not in generate_latest(registry).decode()


def test_metrics_names_and_values() -> None:
    registry = CollectorRegistry()
    metrics = HealthMetrics(registry)
    report = evaluate_health(
        pod(), triton_ok(model(), model("broken_llm", "UNAVAILABLE", "x")), runner_ok(), NOW
    )
    metrics.observe("ns1", "w1", report)
    metrics.observe("ns2", "down", evaluate_health(pod(), triton_down(), runner_ok(), NOW))
    text = generate_latest(registry).decode()
    samples = {ln.rsplit(" ", 1)[0]: float(ln.rsplit(" ", 1)[1]) for ln in text.splitlines() if ln[:1] != "#"}
    key = 'name="w1",namespace="ns1"'
    for line in (
        f"cocoon_worker_ready{{{key}}} 0.0",
        f"cocoon_worker_runner_healthy{{{key}}} 1.0",
        f'cocoon_worker_model_ready{{model="cocoon_llm",{key}}} 1.0',
        f'cocoon_worker_model_ready{{model="broken_llm",{key}}} 0.0',
        f'cocoon_worker_inference_requests_total{{{key},outcome="failure"}} 2.0',
        f"cocoon_worker_inference_queue_seconds_total{{{key}}} 0.061",
        f"cocoon_worker_inference_compute_seconds_total{{{key}}} 0.9",
        f"cocoon_worker_inference_pending_requests{{{key}}} 1.0",
        f'cocoon_worker_runner_requests_total{{{key},outcome="success"}} 128.0',
        f"cocoon_worker_adjusted_tokens_total{{{key}}} 5400.0",
        f"cocoon_worker_wallet_balance_nanoton{{{key}}} {float(12 * TON)}",
        f"cocoon_worker_ton_sync_age_seconds{{{key}}} 20.0",
        'cocoon_worker_ready{name="down",namespace="ns2"} 0.0',
    ):
        name_labels, value = line.rsplit(" ", 1)
        assert samples.get(name_labels) == float(value), line
    assert "# TYPE cocoon_worker_inference_requests_total counter" in text
    # Triton unreachable: no stale counters for that worker.
    assert 'cocoon_worker_inference_requests_total{name="down"' not in text
    metrics.forget("ns1", "w1")
    assert key not in generate_latest(registry).decode()


def test_now_is_timezone_aware() -> None:
    # The provider's default clock must be comparable with the runner's unix timestamps.
    from cocoon_operator.steps.health.provider import _utcnow

    assert _utcnow().tzinfo is dt.UTC


def test_health_package_imports_neither_kopf_nor_kubernetes() -> None:
    import subprocess
    import sys

    code = (
        "import sys, cocoon_operator.steps.health, cocoon_operator.worker.triton_client; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'kopf', 'kubernetes', 'kubernetes_asyncio'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
