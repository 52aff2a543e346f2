"""The money metrics follow Prometheus conventions (base units in the name, `_total` counters), and
a deleted CocoonNode's series go from every per-node family."""

from prometheus_client import CollectorRegistry, generate_latest

from cocoon_operator import metrics


def test_names_and_units() -> None:
    registry = CollectorRegistry()
    m = metrics.create(registry)
    m.claimable.labels("ns", "w", "0:ab").set(5)
    m.claimed.labels("ns", "w", "0:ab", "Operator").inc(7)
    m.claims.labels("ns", "w", "RewardClaimed").inc()
    m.funding.labels("ns", "w", "TopUpConfirmed").inc()
    m.topped_up.labels("ns", "w", "0:tr").inc(4)
    m.wallet_balance.labels("ns", "w").set(3)
    m.ton_requests.labels("readRoot").inc()
    m.ton_failures.labels("readRoot").inc()
    m.ton_latency.labels("readRoot").observe(0.1)
    m.reconcile_duration.labels("rewards").observe(0.2)
    m.reconcile_errors.labels("chain", "ChainUnavailable").inc()
    m.observe_root("0:cd", params_version=3, price_per_token=2, worker_fee_per_token=1, proxies=2)
    text = generate_latest(registry).decode()
    for name in (
        'cocoon_claimable_nanoton{name="w",namespace="ns",proxy="0:ab"} 5.0',
        "cocoon_claimed_nanoton_total{",
        'cocoon_claims_total{name="w",namespace="ns",outcome="RewardClaimed"} 1.0',
        "cocoon_funding_transfers_total{",
        'cocoon_funding_topped_up_nanoton_total{name="w",namespace="ns",treasury="0:tr"} 4.0',
        "cocoon_wallet_balance_nanoton{",
        "cocoon_ton_requests_total{",
        "cocoon_ton_request_failures_total{",
        "cocoon_ton_request_duration_seconds_bucket{",
        "cocoon_provider_duration_seconds_bucket{",
        "cocoon_provider_errors_total{",
        'cocoon_root_params_version{root="0:cd"} 3.0',
        'cocoon_root_price_per_token_nanoton{root="0:cd"} 2.0',
        'cocoon_root_worker_fee_per_token_nanoton{root="0:cd"} 1.0',
        'cocoon_root_registered_proxies{root="0:cd"} 2.0',
    ):
        assert name in text, name
    assert "_created" not in text


def test_forget_drops_every_per_node_series_and_keeps_the_others() -> None:
    registry = CollectorRegistry()
    m = metrics.create(registry)
    for node in ("w", "other"):
        m.claimable.labels("ns", node, "0:ab").set(5)
        m.claimable.labels("ns", node, "0:cd").set(6)
        m.claimed.labels("ns", node, "0:ab", "External").inc(7)
        m.claims.labels("ns", node, "ClaimTimedOut").inc()
        m.funding.labels("ns", node, "TopUpSent").inc()
        m.topped_up.labels("ns", node, "0:tr").inc(1)
        m.sweeps.labels("ns", node, "WalletSwept").inc()
        m.wallet_balance.labels("ns", node).set(3)
    m.wallet_balance.labels("elsewhere", "w").set(3)  # same name, another namespace
    m.ton_requests.labels("readRoot").inc()
    metrics.forget_node("ns", "w")
    text = generate_latest(registry).decode()
    assert 'name="w",namespace="ns"' not in text
    assert text.count('name="other",namespace="ns"') == 8
    assert 'cocoon_wallet_balance_nanoton{name="w",namespace="elsewhere"}' in text
    assert "cocoon_ton_requests_total{" in text
    metrics.forget_node("ns", "w")  # twice is harmless
