"""Money over time (issue 17, item 6): a soak of ≥ 300 claims per worker on the official contracts.

Two workers earn every 10 s of chain time (the clock is the chain's: it is advanced, not slept). Each
round runs what a reconcile runs for each: the funding step (the CRD's default floor and target
through `funding_band`, the 60 s minimum between top-ups) and the claim cycle (the default minClaim
and fee fraction, the shortest accepted checkInterval, so the wallet drains as fast as the CRD
allows). The "runner" submits each claim from the worker's own cocoon wallet with the 0.5 TON the
official runner attaches, so every claim costs the wallet real gas; this is how the 48-minute demo
run stalled at 2.587 TON with a 2.1 TON floor.

Afterwards: ≥ 300 claims per worker, claimable never above one claim's threshold plus one round's
earnings, never a claim held back by a low wallet, never stalled for three check intervals, and each
ledger equal to the chain to the nanoTON. `COCOON_SOAK_CLAIMS` sets the claims per worker.
"""

from __future__ import annotations

import os
import random
import time
from decimal import Decimal
from typing import Any

import pytest

from cocoon_dev.ton.network import CocoonNetwork
from cocoon_operator.money.funding import FundingStatus, Treasury, ensure_funded
from cocoon_operator.rewards import ledger as lg
from cocoon_operator.rewards.cycle import run_claim_cycle
from cocoon_operator.rewards.facts import LiveFacts, runner_trigger
from cocoon_operator.rewards.policy import ClaimPolicy, ClaimReason, claim_threshold
from cocoon_operator.steps.funding import funding_band
from cocoon_operator.ton.addresses import raw_address
from cocoon_operator.ton.client import ChainClient
from cocoon_operator.ton.payouts import scan_owner_payouts
from cocoon_operator.ton.worker_contracts import read_worker_contract
from cocoon_operator.worker.runner_client import PayoutAnswer, RunnerStats
from tests.chain.helpers import (
    MemoryIntentStore,
    chain_stats,
    cocoon_wallet_of_seed,
    register_worker,
    submit_voucher,
    treasury_key,
)
from tests.chain.wallets import TON

CLAIMS = int(os.environ.get("COCOON_SOAK_CLAIMS", "300"))

pytestmark = [pytest.mark.chain, pytest.mark.timeout(120 + CLAIMS * 4)]

ROUND_S = 10  # chain seconds per round: the shortest checkInterval the CRD accepts
MIN_CLAIM = TON // 10  # the CRD's defaults
FEE_FRACTION = Decimal("0.05")
FLOOR, TARGET = funding_band(3 * TON, 5 * TON, runner_verified=True)


class Worker:
    """One worker: its key, its contract, and a runner that claims on chain when asked."""

    def __init__(self, chain: Any, network: CocoonNetwork, client: ChainClient, proxy_index: int) -> None:
        self.chain, self.network, self.client = chain, network, client
        self.proxy_index = proxy_index
        self.key = os.urandom(32)
        self.wallet = cocoon_wallet_of_seed(self.key, network.owner.addr)
        self.proxy = raw_address(network.proxies[proxy_index].contract)
        self.contract = ""
        self.committed = 0
        self.qid = 1000 * proxy_index
        self.funding = MemoryIntentStore()
        self.ledger = lg.ClaimLedger()
        self.top_ups = 0

    async def jsonstats(self) -> RunnerStats:
        return await chain_stats(self.client, self.proxy, self.contract, self.committed)

    async def request_payout(self, proxy_address: str) -> PayoutAnswer:
        self.qid += 1
        await submit_voucher(
            self.chain, self.network, self.key, self.proxy_index, self.contract, self.committed, self.qid
        )
        return PayoutAnswer.SENT

    async def load(self) -> lg.ClaimLedger:
        return self.ledger

    async def save(self, ledger: lg.ClaimLedger) -> None:
        self.ledger = lg.ClaimLedger.from_status(ledger.to_status())


async def test_claims_keep_flowing_for_hundreds_of_claims(
    ton_chain: Any, client: ChainClient, network: CocoonNetwork
) -> None:
    chain, _ = ton_chain
    rng = random.Random(300)
    treasury = await Treasury.open(client, treasury_key(network))
    owner = raw_address(network.owner.address)
    workers = [Worker(chain, network, client, i) for i in (0, 1)]
    fee = network.params.worker_fee_per_token
    policy = ClaimPolicy(
        min_claim_nano=MIN_CLAIM, max_fee_fraction=FEE_FRACTION, min_interval_seconds=ROUND_S
    )
    threshold = claim_threshold(policy)
    for w in workers:
        await ensure_funded(client, treasury, w.wallet, floor_nano=FLOOR, target_nano=TARGET, store=w.funding)
        w.contract = await register_worker(chain, network, w.key, w.proxy_index)
    worst_claimable, wallet_low, longest_wait, rounds = 0, 0, 0, 0
    waiting = {id(w): 0 for w in workers}
    started = time.monotonic()
    while min(w.ledger.totals.operator_claims for w in workers) < CLAIMS:
        rounds += 1
        assert rounds < CLAIMS * 3, "claims stopped flowing"
        await chain.advance(ROUND_S)
        for w in workers:
            # Earnings vary per round: from a fifth of a claim's threshold to a bit more than one.
            w.committed += rng.randint(threshold // 5, threshold + threshold // 4) // fee
            funded = await ensure_funded(
                client, treasury, w.wallet, floor_nano=FLOOR, target_nano=TARGET, store=w.funding
            )
            assert funded.status not in (FundingStatus.TREASURY_INSUFFICIENT, FundingStatus.POLICY_REFUSED)
            w.top_ups += funded.status is FundingStatus.CONFIRMED
            balance = (await client.account_state(w.wallet)).balance
            facts = LiveFacts(client, w, owner=owner)  # type: ignore[arg-type]
            result = await run_claim_cycle(
                w,
                facts,
                runner_trigger(w, facts),
                policy=policy,
                wallet_balance_nano=balance,  # type: ignore[arg-type]
            )
            claimable = sum(d.claimable_nano for d in result.decisions)
            worst_claimable = max(worst_claimable, claimable)
            wallet_low += any(d.reason is ClaimReason.WALLET_LOW for d in result.decisions)
            # A stall: a claim-worthy amount claimable and nothing started for rounds on end.
            waiting[id(w)] = 0 if result.triggered or claimable < threshold else waiting[id(w)] + 1
            longest_wait = max(longest_wait, waiting[id(w)])
    elapsed = time.monotonic() - started

    for w in workers:
        await run_claim_cycle(w, LiveFacts(client, w, owner=owner), runner_trigger(w), policy=policy,  # type: ignore[arg-type]
                              wallet_balance_nano=0)  # fmt: skip
        scan = await scan_owner_payouts(client, owner, after_lt=0, sources=[w.proxy], limit=4 * CLAIMS + 64)
        paid = (await read_worker_contract(client, w.contract)).data.tokens
        assert scan.complete
        assert w.ledger.totals.claimed_nano == sum(p.value for p in scan.payouts) == paid * fee
        assert w.ledger.totals.payouts == len(scan.payouts) == w.ledger.totals.operator_claims
        assert w.ledger.totals.timed_out == 0 and w.ledger.totals.rejected == 0
    claims = [w.ledger.totals.operator_claims for w in workers]
    print(
        f"soak: {claims} claims in {rounds} rounds ({rounds * ROUND_S} chain s, {elapsed:.0f} s wall); "
        f"top-ups {[w.top_ups for w in workers]}; worst claimable {worst_claimable / TON:.3f} TON "
        f"(threshold {threshold / TON:.3f} TON); longest wait {longest_wait} round(s)"
    )
    # Bounded: a claim is confirmed the round after it is sent and the next may go one round later, so
    # at most three rounds of earnings accrue above the threshold.
    assert worst_claimable <= threshold + 3 * (threshold + threshold // 4)
    assert wallet_low == 0
    assert longest_wait < 3  # stallAfter's minimum is three check intervals
    assert all(w.top_ups >= 2 for w in workers)  # the wallets were drained and refilled, repeatedly
