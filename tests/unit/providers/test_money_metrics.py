"""The money metrics follow Prometheus conventions (base units in the name, `_total` counters)."""

from prometheus_client import CollectorRegistry, generate_latest

from cocoon_operator import metrics


def test_names_and_units() -> None:
    registry = CollectorRegistry()
    m = metrics.create(registry)
    m.claimable.labels("ns", "w", "0:ab").set(5)
    m.claimed.labels("ns", "w", "0:ab", "Operator").inc(7)
    m.claims.labels("ns", "w", "RewardClaimed").inc()
    m.funding.labels("ns", "w", "TopUpConfirmed").inc()
    m.wallet_balance.labels("ns", "w").set(3)
    m.ton_requests.labels("readRoot").inc()
    m.ton_failures.labels("readRoot").inc()
    m.ton_latency.labels("readRoot").observe(0.1)
    m.reconcile_duration.labels("rewards").observe(0.2)
    m.reconcile_errors.labels("chain", "ChainUnavailable").inc()
    m.root_param.labels("0:cd", "worker_fee_per_token_nanoton").set(1)
    text = generate_latest(registry).decode()
    for name in (
        'cocoon_claimable_nanoton{name="w",namespace="ns",proxy="0:ab"} 5.0',
        "cocoon_claimed_nanoton_total{",
        'cocoon_claims_total{name="w",namespace="ns",outcome="RewardClaimed"} 1.0',
        "cocoon_funding_transfers_total{",
        "cocoon_wallet_balance_nanoton{",
        "cocoon_ton_requests_total{",
        "cocoon_ton_request_failures_total{",
        "cocoon_ton_request_duration_seconds_bucket{",
        "cocoon_provider_duration_seconds_bucket{",
        "cocoon_provider_errors_total{",
        "cocoon_root_param{",
    ):
        assert name in text, name
    m.forget("ns", "w")
    assert "cocoon_wallet_balance_nanoton{" not in generate_latest(registry).decode()
