"""Series derived from a CocoonNode's spec and status: conditions the kube-state-metrics way, spec
thresholds, the claim clock; all gone once the CocoonNode is forgotten."""

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest

from cocoon_operator import metrics
from cocoon_operator.status_metrics import StatusMetrics, view_of
from cocoon_operator.steps.health import HealthMetrics, evaluate_health
from tests.unit.builders import minimal_spec
from tests.unit.health.builders import NOW, pod, runner_ok, triton_ok

TON = 10**9


def _status(pending: bool = False) -> dict[str, Any]:
    claims: dict[str, Any] = {"lastClaimAt": 1_764_100_007, "totals": {"claimedNano": 5}}
    if pending:
        claims["pending"] = {"attemptId": "a", "createdAt": 1_764_100_100}
    return {
        "nodeName": "gpu-0",
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "WalletUnderfunded"},
            {"type": "Registered", "status": "True", "reason": "Registered"},
            {"type": "RewardsHealthy", "status": "Unknown", "reason": "ChainUnavailable"},
        ],
        "claims": claims,
    }


def test_series_from_spec_and_status() -> None:
    registry = CollectorRegistry()
    collector = StatusMetrics(registry)
    spec = minimal_spec(
        paused=True, wallet={"secretRef": {"name": "w-wallet"}, "floor": "2.7", "target": "5"}
    )
    collector.observe("ns", "w", view_of(spec, _status(pending=True)))
    text = generate_latest(registry).decode()
    ready = 'cocoon_node_status_condition{condition="Ready",name="w",namespace="ns",status="%s"}'
    assert f"{ready % 'false'} 1.0" in text
    assert f"{ready % 'true'} 0.0" in text and f"{ready % 'unknown'} 0.0" in text
    assert 'condition="RewardsHealthy",name="w",namespace="ns",status="unknown"} 1.0' in text
    assert 'cocoon_node_spec_paused{name="w",namespace="ns"} 1.0' in text
    assert 'cocoon_wallet_floor_nanoton{name="w",namespace="ns"} 2.7e+09' in text
    assert 'cocoon_wallet_target_nanoton{name="w",namespace="ns"} 5e+09' in text
    assert "cocoon_treasury_balance_nanoton" not in text  # the funding step's gauge, never from a status
    assert 'cocoon_last_claim_timestamp_seconds{name="w",namespace="ns"} 1.764100007e+09' in text
    assert 'cocoon_claim_pending_since_timestamp_seconds{name="w",namespace="ns"} 1.7641001e+09' in text
    assert 'node="gpu-0"' in text and "cocoon_node_info{" in text


def test_an_invalid_spec_still_reports_its_conditions() -> None:
    view = view_of({"model": 3}, _status())
    assert view.floor_nano is None and ("Ready", "false") in view.conditions


def test_forget_node_clears_status_and_health_series() -> None:
    registry = CollectorRegistry()
    status = StatusMetrics(registry)
    health = HealthMetrics(registry)
    for name in ("w", "keep"):
        status.observe("ns", name, view_of(minimal_spec(), _status()))
        health.observe("ns", name, evaluate_health(pod(), triton_ok(), runner_ok(), NOW))
    metrics.forget_node("ns", "w")
    text = generate_latest(registry).decode()
    assert 'name="w"' not in text
    assert 'cocoon_worker_ready{name="keep",namespace="ns"}' in text
    assert 'cocoon_node_status_condition{condition="Ready",name="keep"' in text
