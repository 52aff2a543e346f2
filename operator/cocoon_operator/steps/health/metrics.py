"""Prometheus metrics of worker health, labelled by CocoonNode (namespace, name).

A collector, not client-side counters: the numbers are counters kept by Triton and the runner
(cumulative since their start). Re-exporting the last observed value with counter type lets
Prometheus' `rate()` handle their restarts, which `Counter.inc()` could not.

Durations are exported in seconds and balances in nanoTON (Prometheus base-unit convention).
Container restarts are not re-exported: kube-state-metrics has them
(`kube_pod_container_status_restarts_total`).
"""

from __future__ import annotations

import math

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from cocoon_operator import metrics as node_series
from cocoon_operator.steps.health.evaluate import HealthReport

LABELS = ("namespace", "name")


class HealthMetrics(node_series.LatestPerNode[HealthReport]):
    """Holds the latest `HealthReport` per CocoonNode and renders it at scrape time."""

    def add(self, families: list[node_series.Family], key: list[str], report: HealthReport) -> None:
        ready, runner, model_ready, requests, queue, compute, pending = families[:7]
        runner_requests, tokens, balance, sync_age = families[7:]
        ready.add_metric(key, 1.0 if report.inference.status == "True" else 0.0)
        runner.add_metric(key, 1.0 if report.runner.status == "True" else 0.0)
        for model in report.models:
            model_ready.add_metric([*key, model.name], 1.0 if model.ready else 0.0)
        n = report.numbers
        _add(requests, [*key, "success"], n.inference_success)
        _add(requests, [*key, "failure"], n.inference_failure)
        _add(queue, key, _us_to_s(n.inference_queue_us))
        _add(compute, key, _us_to_s(n.inference_compute_us))
        _add(pending, key, n.inference_pending)
        _add(runner_requests, [*key, "success"], n.runner_success)
        _add(runner_requests, [*key, "failure"], n.runner_failed)
        _add(tokens, key, n.adjusted_tokens)
        _add(balance, key, None if n.wallet_balance_nano is None else float(n.wallet_balance_nano))
        _add(sync_age, key, n.ton_sync_age_s)

    def families(self) -> list[node_series.Family]:
        model_labels = [*LABELS, "model"]
        outcome = [*LABELS, "outcome"]
        return [
            GaugeMetricFamily(
                "cocoon_worker_ready", "1 when Triton serves the model (InferenceReady=True)", labels=LABELS
            ),
            GaugeMetricFamily(
                "cocoon_worker_runner_healthy",
                "1 when the runner is accepted, synced, funded and registered (RunnerHealthy=True)",
                labels=LABELS,
            ),
            GaugeMetricFamily(
                "cocoon_worker_model_ready", "1 when Triton reports the model READY", labels=model_labels
            ),
            CounterMetricFamily(
                "cocoon_worker_inference_requests",
                "Inference requests Triton finished, by outcome (since Triton started)",
                labels=outcome,
            ),
            CounterMetricFamily(
                "cocoon_worker_inference_queue_seconds",
                "Time requests spent in Triton's queue (cumulative)",
                labels=LABELS,
            ),
            CounterMetricFamily(
                "cocoon_worker_inference_compute_seconds",
                "Time Triton spent computing (input, infer, output; cumulative)",
                labels=LABELS,
            ),
            GaugeMetricFamily(
                "cocoon_worker_inference_pending_requests",
                "Requests waiting in Triton's queue",
                labels=LABELS,
            ),
            CounterMetricFamily(
                "cocoon_worker_runner_requests",
                "Requests the COCOON runner handled for proxies, by outcome (since the runner started)",
                labels=outcome,
            ),
            CounterMetricFamily(
                "cocoon_worker_adjusted_tokens",
                "Adjusted tokens credited to the worker (runner total_adjusted_tokens_used)",
                labels=LABELS,
            ),
            GaugeMetricFamily(
                "cocoon_worker_wallet_balance_nanoton",
                "Cocoon wallet balance as the runner reports it, in nanoTON",
                labels=LABELS,
            ),
            GaugeMetricFamily(
                "cocoon_worker_ton_sync_age_seconds",
                "Seconds since the runner last read the root contract",
                labels=LABELS,
            ),
        ]


def _us_to_s(value: float | None) -> float | None:
    return None if value is None else value / 1e6


def _add(family: GaugeMetricFamily | CounterMetricFamily, labels: list[str], value: float | None) -> None:
    if value is not None and math.isfinite(value):
        family.add_metric(labels, value)
