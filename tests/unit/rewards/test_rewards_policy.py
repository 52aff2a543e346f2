"""Claim policy: claimable amounts and the decision table."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cocoon_operator.rewards.policy import (
    MIN_WALLET_FOR_CLAIM_NANO,
    NANO_PER_TON,
    ClaimPolicy,
    ClaimReason,
    ProxyEarnings,
    claimable_nano,
    claimable_tokens,
    decide_claim,
    gas_is_acceptable,
)


@pytest.mark.parametrize(
    ("committed", "paid", "expected_paid", "claimable"),
    [
        (100, 0, 0, 100),
        (100, 40, 0, 60),
        (100, 40, 70, 30),  # a claim in flight counts as paid
        (100, 70, 40, 30),
        (100, 100, 0, 0),
        (100, 150, 0, 0),  # never negative
        (0, 0, 0, 0),
    ],
)
def test_claimable_tokens(committed: int, paid: int, expected_paid: int, claimable: int) -> None:
    assert claimable_tokens(committed, paid, expected_paid) == claimable


def test_claimable_nano_uses_the_contract_fee() -> None:
    assert claimable_nano(3_000_000_000, 1) == 3_000_000_000
    assert claimable_nano(7, 250) == 1750


POLICY = ClaimPolicy(
    min_claim_nano=NANO_PER_TON,
    max_fee_fraction=Decimal("0.1"),
    min_interval_seconds=600,
    estimated_gas_nano=50_000_000,
)


def earnings(**kw: object) -> ProxyEarnings:
    base: dict[str, object] = {
        "proxy": "0:" + "a" * 64,
        "worker_contract": "0:" + "b" * 64,
        "committed_tokens": 2_000_000_000,
        "paid_tokens": 0,
        "expected_paid_tokens": 0,
        "fee_per_token": 1,
        "running_request": False,
        "sc_inited": True,
    }
    base.update(kw)
    return ProxyEarnings.model_validate(base)


WALLET_OK = 3 * NANO_PER_TON


@pytest.mark.parametrize(
    ("case", "kw", "wallet", "last", "pending", "reason"),
    [
        ("due", {}, WALLET_OK, None, False, ClaimReason.CLAIM),
        ("due after interval", {}, WALLET_OK, 1000.0 - 600, False, ClaimReason.CLAIM),
        ("nothing", {"committed_tokens": 0}, WALLET_OK, None, False, ClaimReason.NOTHING_TO_CLAIM),
        ("all paid", {"paid_tokens": 2_000_000_000}, WALLET_OK, None, False, ClaimReason.NOTHING_TO_CLAIM),
        (
            "in flight covers it",
            {"expected_paid_tokens": 2_000_000_000},
            WALLET_OK,
            None,
            False,
            ClaimReason.NOTHING_TO_CLAIM,
        ),
        ("zero fee", {"fee_per_token": 0}, WALLET_OK, None, False, ClaimReason.NOTHING_TO_CLAIM),
        ("pending", {}, WALLET_OK, None, True, ClaimReason.PENDING),
        ("not inited", {"sc_inited": False}, WALLET_OK, None, False, ClaimReason.NOT_INITED),
        ("running", {"running_request": True}, WALLET_OK, None, False, ClaimReason.REQUEST_RUNNING),
        (
            "below minimum",
            {"committed_tokens": 999_999_999},
            WALLET_OK,
            None,
            False,
            ClaimReason.BELOW_MINIMUM,
        ),
        ("wallet low", {}, MIN_WALLET_FOR_CLAIM_NANO - 1, None, False, ClaimReason.WALLET_LOW),
        ("wallet exactly 2.6", {}, MIN_WALLET_FOR_CLAIM_NANO, None, False, ClaimReason.CLAIM),
        ("too soon", {}, WALLET_OK, 1000.0 - 599, False, ClaimReason.TOO_SOON),
    ],
)
def test_decision_table(
    case: str, kw: dict[str, object], wallet: int, last: float | None, pending: bool, reason: ClaimReason
) -> None:
    decision = decide_claim(
        POLICY, earnings(**kw), wallet_balance_nano=wallet, now=1000.0, last_claim_at=last, pending=pending
    )
    assert decision.reason is reason, case
    assert decision.claim is (reason is ClaimReason.CLAIM)


def test_gas_fraction_is_integer_exact() -> None:
    # 10 % of 0.5 TON = 0.05 TON: exactly at the limit is acceptable, one nano less is not.
    assert gas_is_acceptable(POLICY, 500_000_000)
    assert not gas_is_acceptable(POLICY, 499_999_999)
    high_gas = POLICY.model_copy(update={"min_claim_nano": 1})
    d = decide_claim(
        high_gas,
        earnings(committed_tokens=400_000_000),
        wallet_balance_nano=WALLET_OK,
        now=0,
        last_claim_at=None,
    )
    assert d.reason is ClaimReason.GAS_TOO_HIGH


def test_never_claims_zero_even_with_a_zero_minimum() -> None:
    policy = ClaimPolicy(min_claim_nano=1, max_fee_fraction=Decimal(1), estimated_gas_nano=0)
    d = decide_claim(
        policy,
        earnings(committed_tokens=5, paid_tokens=5),
        wallet_balance_nano=WALLET_OK,
        now=0,
        last_claim_at=None,
    )
    assert not d.claim and d.claimable_nano == 0


def test_policy_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="max_fee_fraction"):
        ClaimPolicy(max_fee_fraction=Decimal("1.01"))
    with pytest.raises(ValueError, match="min_claim_nano"):
        ClaimPolicy(min_claim_nano=0)
