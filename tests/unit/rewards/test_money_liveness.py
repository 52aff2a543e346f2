"""Money liveness over every wallet and claim setting the CRD accepts (issue 17, item 6).

A pure simulation of the two decisions that must keep claims flowing: the treasury's funding band
(`funding_band`) and the claim policy (`decide_claim`). Earnings accrue every check; a claim costs
its gas from the cocoon wallet; the treasury tops up below the floor. For the CRD's boundary values and
a spread between them, claims keep happening and claimable stays bounded by
max(minClaim, gas / maxFeeFraction) plus one check's accrual. The real chain runs the same in
tests/chain (soak) and tests/e2e.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest

from cocoon_operator.rewards.policy import (
    DEFAULT_ESTIMATED_GAS_NANO,
    MIN_WALLET_FOR_CLAIM_NANO,
    ClaimPolicy,
    ProxyEarnings,
    decide_claim,
)
from cocoon_operator.steps.funding import funding_band

TON = 1_000_000_000
# What the CRD accepts (crds/cocoonnodes.yaml): floor in [2.6, 100], target in [floor, 100],
# maxFeeFraction in [0.01, 1], minClaim > 0, checkInterval >= 10 s.
FLOORS = [2_600_000_000, 3 * TON, 10 * TON, 100 * TON]
TARGET_EXTRA = [0, 2 * TON, 50 * TON]
FEE_FRACTIONS = [Decimal("0.01"), Decimal("0.05"), Decimal("1")]
MIN_CLAIMS = [1, TON // 10, 20 * TON]
CLAIM_GAS = DEFAULT_ESTIMATED_GAS_NANO  # what a claim leaves of the wallet (the 0.5 TON attached comes back)


def _settings() -> list[tuple[int, int, Decimal, int]]:
    out = []
    for floor, extra, fraction, min_claim in itertools.product(
        FLOORS, TARGET_EXTRA, FEE_FRACTIONS, MIN_CLAIMS
    ):
        target = min(floor + extra, 100 * TON)
        out.append((floor, target, fraction, min_claim))
    return out


@pytest.mark.parametrize("floor,target,fraction,min_claim", _settings())
def test_claims_keep_flowing_for_every_accepted_setting(
    floor: int, target: int, fraction: Decimal, min_claim: int
) -> None:
    band_floor, band_target = funding_band(floor, target, runner_verified=True)
    assert band_floor >= MIN_WALLET_FOR_CLAIM_NANO and band_target >= band_floor
    policy = ClaimPolicy(min_claim_nano=min_claim, max_fee_fraction=fraction, min_interval_seconds=300)
    threshold = max(min_claim, int(Decimal(CLAIM_GAS) / fraction) + 1)
    per_check = max(TON // 3, threshold // 7)  # earnings per check: a few checks per claim
    wallet, committed, paid, claims, worst = 0, 0, 0, 0, 0
    fee_per_token = 1_000  # nanoTON per token
    for step in range(400):
        now = step * 300.0
        if wallet < band_floor:  # the treasury tops up to the target
            wallet = band_target
        committed += per_check // fee_per_token
        earnings = ProxyEarnings(
            proxy="p",
            worker_contract="w",
            committed_tokens=committed,
            paid_tokens=paid,
            fee_per_token=fee_per_token,
            sc_inited=True,
        )
        decision = decide_claim(policy, earnings, wallet_balance_nano=wallet, now=now, last_claim_at=None)
        worst = max(worst, decision.claimable_nano)
        assert decision.reason.value != "WalletTooLowForClaim", (step, wallet)
        if decision.claim:
            paid = committed
            wallet -= CLAIM_GAS
            claims += 1
    assert claims >= 20
    assert worst <= threshold + per_check + fee_per_token


def test_before_the_runner_reports_its_wallet_only_a_first_registration() -> None:
    assert funding_band(100 * TON, 100 * TON, runner_verified=False) == (2_200_000_000, 2_500_000_000)
    # A floor admitted before the CRD refused low floors still funds what a claim needs.
    assert funding_band(2_100_000_000, 2_100_000_000, runner_verified=True) == (
        MIN_WALLET_FOR_CLAIM_NANO,
        MIN_WALLET_FOR_CLAIM_NANO,
    )
