"""Prometheus metrics of money and chain access (issue 6), on prometheus_client's default registry
(the same one `health.metrics.HealthMetrics` registers on, so one exporter serves both).

Amounts are nanoTON (base unit, stated in the name); durations seconds; counters end in `_total`.
The chain-observed wallet balance is `cocoon_wallet_balance_nanoton`; the runner-reported one stays
`cocoon_worker_wallet_balance_nanoton` (health).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, start_http_server
from prometheus_client.registry import CollectorRegistry

NODE = ("namespace", "name")
METRICS_PORT_ENV = "COCOON_METRICS_PORT"


@dataclass(frozen=True)
class MoneyMetrics:
    claimable: Gauge
    claimed: Counter
    claims: Counter
    claims_stalled: Gauge
    funding: Counter
    sweeps: Counter
    wallet_balance: Gauge
    wallet_address_mismatch: Gauge
    treasury_balance: Gauge
    ton_requests: Counter
    liteserver_queries: Counter
    ton_failures: Counter
    ton_latency: Histogram
    reconcile_duration: Histogram
    reconcile_errors: Counter
    root_param: Gauge

    def forget(self, namespace: str, name: str) -> None:
        """Drop the per-node series of a deleted CocoonNode (best effort)."""
        for metric in (self.wallet_balance, self.wallet_address_mismatch, self.claims_stalled):
            with contextlib.suppress(KeyError):
                metric.remove(namespace, name)


def create(registry: CollectorRegistry | None = REGISTRY) -> MoneyMetrics:
    reg = registry if registry is not None else CollectorRegistry()
    return MoneyMetrics(
        claimable=Gauge(
            "cocoon_claimable_nanoton",
            "Rewards claimable now per proxy contract (committed minus paid tokens, times the fee)",
            [*NODE, "proxy"],
            registry=reg,
        ),
        claimed=Counter(
            "cocoon_claimed_nanoton",
            "Rewards paid to the owner per proxy contract, as recorded in the ledger",
            [*NODE, "proxy", "source"],
            registry=reg,
        ),
        claims=Counter(
            "cocoon_claims",
            "Claim outcomes (RewardClaimed, ClaimTimedOut, ...)",
            [*NODE, "outcome"],
            registry=reg,
        ),
        claims_stalled=Gauge(
            "cocoon_claims_stalled",
            "1 while claimable earnings have gone unclaimed for longer than spec.rewards.stallAfter",
            NODE,
            registry=reg,
        ),
        funding=Counter(
            "cocoon_funding_transfers", "Treasury top-ups by result", [*NODE, "result"], registry=reg
        ),
        sweeps=Counter(
            "cocoon_sweeps", "Surplus sweeps to the owner by result", [*NODE, "result"], registry=reg
        ),
        wallet_balance=Gauge(
            "cocoon_wallet_balance_nanoton", "Cocoon wallet balance read from the chain", NODE, registry=reg
        ),
        wallet_address_mismatch=Gauge(
            "cocoon_wallet_address_mismatch",
            "1 while the worker runner reports a cocoon wallet address other than the derived one "
            "(no top-up, no sweep)",
            NODE,
            registry=reg,
        ),
        treasury_balance=Gauge(
            "cocoon_treasury_balance_nanoton",
            "Treasury wallet balance read from the chain when a top-up was decided (admins only: it is not "
            "in any CocoonNode's status)",
            ["treasury"],
            registry=reg,
        ),
        ton_requests=Counter(
            "cocoon_ton_requests", "Chain (liteserver) operations by kind", ["operation"], registry=reg
        ),
        liteserver_queries=Counter(
            "cocoon_ton_liteserver_queries",
            "Liteserver queries sent (round trips, retries included) by method",
            ["method"],
            registry=reg,
        ),
        ton_failures=Counter(
            "cocoon_ton_request_failures",
            "Chain operations that failed (liteserver unavailable)",
            ["operation"],
            registry=reg,
        ),
        ton_latency=Histogram(
            "cocoon_ton_request_duration_seconds", "Duration of chain operations", ["operation"], registry=reg
        ),
        reconcile_duration=Histogram(
            "cocoon_provider_duration_seconds",
            "Duration of the chain and rewards reconcile steps",
            ["step"],
            registry=reg,
        ),
        reconcile_errors=Counter(
            "cocoon_provider_errors",
            "Chain and rewards reconcile steps that failed",
            ["step", "reason"],
            registry=reg,
        ),
        root_param=Gauge(
            "cocoon_root_param",
            "Root contract parameters (fees in nanoTON per token)",
            ["root", "param"],
            registry=reg,
        ),
    )


@dataclass(frozen=True)
class ControllerMetrics:
    """The reconcile loop itself: how long reconciles take, how many fail, how much work waits."""

    reconcile_seconds: Histogram
    reconciles: Counter
    queue_depth: Gauge


def create_controller(registry: CollectorRegistry | None = REGISTRY) -> ControllerMetrics:
    reg = registry if registry is not None else CollectorRegistry()
    return ControllerMetrics(
        reconcile_seconds=Histogram(
            "cocoon_reconcile_duration_seconds",
            "Duration of one reconcile of a CocoonNode (API calls, probes and chain steps included)",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=reg,
        ),
        reconciles=Counter(
            "cocoon_reconciles",
            "Reconciles of CocoonNodes by result (success, error)",
            ["result"],
            registry=reg,
        ),
        queue_depth=Gauge(
            "cocoon_reconcile_queue_depth",
            "CocoonNodes due or waiting for a worker of the reconcile queue (not those being reconciled)",
            registry=reg,
        ),
    )


_CONTROLLER: ControllerMetrics | None = None


def controller() -> ControllerMetrics:
    """The process-wide instance on the default registry (created once)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        _CONTROLLER = create_controller()
    return _CONTROLLER


_DEFAULT: MoneyMetrics | None = None
_SERVED = False


def default() -> MoneyMetrics:
    """The process-wide instance on the default registry (created once)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = create()
    return _DEFAULT


def serve_from_env() -> int | None:
    """Start the exporter once when `COCOON_METRICS_PORT` is set (it serves the default registry)."""
    global _SERVED
    port = os.environ.get(METRICS_PORT_ENV)
    if not port or _SERVED:
        return None
    start_http_server(int(port))
    _SERVED = True
    return int(port)
