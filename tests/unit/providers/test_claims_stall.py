"""Money liveness: claimable earnings that nobody claims for longer than spec.rewards.stallAfter are a
RewardsHealthy=False condition (ClaimsStalled), an Event and a metric."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from prometheus_client import CollectorRegistry

from cocoon_dev.memory_kube import FakeKube
from cocoon_operator import metrics as mx
from cocoon_operator.api.spec import parse_spec
from cocoon_operator.rewards import ledger as lg
from cocoon_operator.rewards.cycle import CycleResult
from cocoon_operator.rewards.policy import ClaimDecision, ClaimReason
from cocoon_operator.steps.common import ChainHub
from cocoon_operator.steps.contract import Context
from cocoon_operator.steps.rewards import RewardSteps
from tests.unit.builders import minimal_spec, step_context

TON = 10**9


def _ctx(status: dict[str, Any]) -> Context:
    spec = parse_spec(minimal_spec(rewards={"minClaim": "1", "stallAfter": "30m", "checkInterval": "5m"}))
    return step_context(spec, name="w", namespace="ns", status=status, kube=FakeKube([]))


def _result(claimable_nano: int, payouts: int = 0) -> CycleResult:
    ledger = lg.ClaimLedger(owner_cursor_lt=1, totals=lg.ClaimTotals(payouts=payouts))
    decision = ClaimDecision(
        claim=False,
        reason=ClaimReason.WALLET_LOW,
        claimable_tokens=claimable_nano,
        claimable_nano=claimable_nano,
    )
    return CycleResult(ledger=ledger, events=(), decisions=(decision,), earnings=(), triggered=False)


def test_unclaimed_earnings_turn_into_a_stall_and_a_payout_clears_it() -> None:
    metrics = mx.create(CollectorRegistry())
    steps = RewardSteps(ChainHub(), FakeKube([]), metrics)
    first = steps._report(_ctx({}), _result(5 * TON))
    since = first.status["earnings"]["claimableSince"]
    assert first.conditions[0].reason == "ClaimsHealthy"
    # 40 minutes later nothing was paid out: stalled, with an Event and the metric.
    old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 40 * 60))
    status = {"earnings": {"claimableSince": old, "payouts": 0}}
    stalled = steps._report(_ctx(status), _result(9 * TON))
    cond = stalled.conditions[0]
    assert (cond.status, cond.reason) == ("False", "ClaimsStalled")
    assert "WalletTooLowForClaim" in cond.message and "stallAfter" in cond.message
    assert [e.reason for e in stalled.events] == ["ClaimsStalled"]
    assert metrics.claims_stalled.labels("ns", "w")._value.get() == 1
    # A payout landed: the clock starts again.
    paid = steps._report(_ctx(status), _result(9 * TON, payouts=1))
    assert paid.conditions[0].reason == "ClaimsHealthy"
    assert paid.status["earnings"]["claimableSince"] != old and since
    # Below minClaim: nothing is stalled.
    assert "claimableSince" not in steps._report(_ctx(status), _result(TON // 2)).status["earnings"]


def test_unset_stall_after_is_an_hour_or_three_check_intervals() -> None:
    assert parse_spec(minimal_spec()).rewards.stall_seconds == 3600
    slow = parse_spec(minimal_spec(rewards={"checkInterval": "30m"}))
    assert slow.rewards.stall_seconds == 3 * 1800
    assert parse_spec(minimal_spec(rewards={"stallAfter": "2h"})).rewards.stall_seconds == 7200


def test_an_amount_not_worth_its_gas_is_waiting_not_stalled() -> None:
    """A slow earner: 0.5 TON claimable for hours with minClaim 0.1 but a 5 % fee limit (a claim needs
    1 TON to be worth its ~0.05 TON gas) is the policy waiting, not a stall."""
    steps = RewardSteps(ChainHub(), FakeKube([]), mx.create(CollectorRegistry()))
    spec = parse_spec(minimal_spec(rewards={"minClaim": "0.1", "maxFeeFraction": "0.05"}))
    old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 5 * 3600))
    ctx = replace(_ctx({"earnings": {"claimableSince": old, "payouts": 0}}), spec=spec)
    report = steps._report(ctx, _result(TON // 2))
    assert report.conditions[0].reason == "ClaimsHealthy"
    assert "claimableSince" not in report.status["earnings"]
