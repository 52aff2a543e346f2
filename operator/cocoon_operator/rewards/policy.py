"""When a claim is worth triggering.

Numbers follow cocoon-protocol.md §12 (claimable tokens), §8.3/§10 (the 0.5 TON attached to a
claim and the wallet's 2 TON hard floor) and §16 ("Trigger a claim"). All amounts are nanoTON.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

NANO_PER_TON = 1_000_000_000

# The cocoon wallet refuses externals below 2 TON (error 1035) and a claim attaches 0.5 TON,
# so the operator keeps 0.1 TON of headroom on top: 2.6 TON (§16).
MIN_WALLET_FOR_CLAIM_NANO = 2_600_000_000
# A claim is four transactions (wallet, worker, proxy, payout/excesses); ~0.01 TON each (§8.3).
DEFAULT_ESTIMATED_GAS_NANO = 50_000_000


class ClaimPolicy(BaseModel):
    """The provider's claim policy (`spec.rewards`). The fee fraction is an exact Decimal: no floats."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_claim_nano: int = Field(default=NANO_PER_TON // 10, ge=1)
    max_fee_fraction: Decimal = Field(default=Decimal("0.05"), ge=0, le=1)
    min_interval_seconds: int = Field(default=300, ge=0)
    estimated_gas_nano: int = Field(default=DEFAULT_ESTIMATED_GAS_NANO, ge=0)
    min_wallet_nano: int = Field(default=MIN_WALLET_FOR_CLAIM_NANO, ge=0)


class ProxyEarnings(BaseModel):
    """What the operator knows about one (proxy contract, worker contract) pair."""

    model_config = ConfigDict(frozen=True)

    proxy: str
    worker_contract: str
    committed_tokens: int = Field(ge=0)  # runner: earned_tokens_committed_to_blockchain
    paid_tokens: int = Field(ge=0)  # chain: worker contract `tokens` (or runner cached_out_tokens)
    expected_paid_tokens: int = Field(default=0, ge=0)  # runner: expected_cached_out_tokens
    fee_per_token: int = Field(ge=0)  # worker_fee_per_token of THIS contract's params_version
    running_request: bool = False
    sc_inited: bool = False


class ClaimReason(StrEnum):
    """CamelCase reasons, usable as condition reasons and metric labels."""

    CLAIM = "ClaimDue"
    NOTHING_TO_CLAIM = "NothingToClaim"
    BELOW_MINIMUM = "BelowMinimum"
    GAS_TOO_HIGH = "GasTooHigh"
    TOO_SOON = "TooSoon"
    REQUEST_RUNNING = "RequestRunning"
    NOT_INITED = "WorkerContractNotInited"
    WALLET_LOW = "WalletTooLowForClaim"
    PENDING = "ClaimPending"


class ClaimDecision(BaseModel):
    model_config = ConfigDict(frozen=True)

    claim: bool
    reason: ClaimReason
    claimable_tokens: int
    claimable_nano: int


def claimable_tokens(committed: int, paid: int, expected_paid: int = 0) -> int:
    """committed - max(paid, expected paid), never negative (the runner's `to_payout()`)."""
    return max(0, committed - max(paid, expected_paid))


def claimable_nano(tokens: int, fee_per_token: int) -> int:
    return tokens * fee_per_token


def gas_is_acceptable(policy: ClaimPolicy, claimable: int) -> bool:
    """estimated gas <= max fee fraction * claimable, exactly (Decimal, no floats)."""
    return Decimal(policy.estimated_gas_nano) <= policy.max_fee_fraction * claimable


def claim_threshold(policy: ClaimPolicy) -> int:
    """The least claimable nanoTON this policy claims: minClaim, or what makes the gas estimate at
    most the fee fraction, whichever is more. Below it, waiting is the policy, not a stall."""
    if policy.max_fee_fraction <= 0:
        return max(policy.min_claim_nano, 2**63)
    by_fee = -(-Decimal(policy.estimated_gas_nano) // policy.max_fee_fraction)  # ceil, exact
    return max(policy.min_claim_nano, int(by_fee))


def decide_claim(
    policy: ClaimPolicy,
    earnings: ProxyEarnings,
    *,
    wallet_balance_nano: int,
    now: float,
    last_claim_at: float | None,
    pending: bool = False,
) -> ClaimDecision:
    """Whether to start a claim for this proxy now. The first failing rule is the reason."""
    tokens = claimable_tokens(earnings.committed_tokens, earnings.paid_tokens, earnings.expected_paid_tokens)
    nano = claimable_nano(tokens, earnings.fee_per_token)

    def no(reason: ClaimReason) -> ClaimDecision:
        return ClaimDecision(claim=False, reason=reason, claimable_tokens=tokens, claimable_nano=nano)

    # Never call /request/payout with nothing to claim: the runner does not check (§4.4).
    if tokens <= 0 or nano <= 0:
        return no(ClaimReason.NOTHING_TO_CLAIM)
    if pending:
        return no(ClaimReason.PENDING)
    if not earnings.sc_inited:
        return no(ClaimReason.NOT_INITED)
    if earnings.running_request:
        return no(ClaimReason.REQUEST_RUNNING)
    if nano < policy.min_claim_nano:
        return no(ClaimReason.BELOW_MINIMUM)
    if not gas_is_acceptable(policy, nano):
        return no(ClaimReason.GAS_TOO_HIGH)
    if wallet_balance_nano < policy.min_wallet_nano:
        return no(ClaimReason.WALLET_LOW)
    if last_claim_at is not None and now - last_claim_at < policy.min_interval_seconds:
        return no(ClaimReason.TOO_SOON)
    return ClaimDecision(claim=True, reason=ClaimReason.CLAIM, claimable_tokens=tokens, claimable_nano=nano)
