"""A claim cycle looks through the block follower's cache and acts only on fresh reads (issue 20).

Facts read through the cache (`fresh=False`) are real chain states, at most a few blocks old. They may
confirm a claim or say there is nothing to do; before the cycle closes a claim any other way, starts
one or triggers one, it reads fresh and decides on that.
"""

from __future__ import annotations

from decimal import Decimal

from tests.unit.rewards.test_rewards_ledger import LIMITS, T, chain, payout, runner, started, with_intent

from cocoon_operator.rewards import ledger as lg
from cocoon_operator.rewards.cycle import run_claim_cycle
from cocoon_operator.rewards.policy import ClaimPolicy

POLICY = ClaimPolicy(
    min_claim_nano=1, max_fee_fraction=Decimal(1), min_interval_seconds=0, estimated_gas_nano=0
)
WALLET = 10**10


class Source:
    """The ledger's store, and facts that differ by how they were read."""

    def __init__(self, ledger: lg.ClaimLedger, cached: lg.ChainFacts, fresh: lg.ChainFacts) -> None:
        self.ledger = ledger
        self.cached = cached.model_copy(update={"fresh": False})
        self.fresh = fresh
        self.reads: list[bool] = []  # fresh or not, per chain read
        self.runner = runner()
        self.triggers: list[str] = []

    async def load(self) -> lg.ClaimLedger:
        return self.ledger

    async def save(self, ledger: lg.ClaimLedger) -> None:
        self.ledger = ledger

    async def chain_facts(
        self, cursor_lt: int | None, gap: lg.ScanGap | None = None, *, fresh: bool = False
    ) -> lg.ChainFacts:
        self.reads.append(fresh)
        return self.fresh if fresh else self.cached

    async def runner_facts(self) -> lg.RunnerFacts | None:
        return self.runner

    async def trigger(self, proxy: str) -> lg.TriggerAnswer:
        self.triggers.append(proxy)
        return lg.TriggerAnswer.SENT


async def _cycle(source: Source) -> tuple[lg.EventKind, ...]:
    result = await run_claim_cycle(
        source, source, source.trigger, policy=POLICY, wallet_balance_nano=WALLET, limits=LIMITS
    )
    return tuple(e.kind for e in result.events if e.kind is not lg.EventKind.PAYOUT_RECORDED)


async def test_nothing_to_do_costs_no_fresh_read() -> None:
    source = Source(started(), chain(tokens=100), chain(tokens=100))
    source.runner = runner(committed=100)  # everything committed is paid
    assert await _cycle(source) == ()
    assert source.reads == [False] and source.triggers == []


async def test_a_claim_is_started_only_on_fresh_facts() -> None:
    # The cache is a block behind: the contract has paid the 100 tokens since (someone claimed them).
    source = Source(started(), chain(tokens=0), chain(tokens=100))
    source.runner = runner(committed=100)
    assert await _cycle(source) == ()
    assert source.reads == [False, True] and source.triggers == [] and source.ledger.pending is None
    # Fresh facts that agree: the claim starts and is triggered, on them.
    source = Source(started(), chain(tokens=0), chain(tokens=0))
    source.runner = runner(committed=100)
    await _cycle(source)
    assert source.reads == [False, True] and len(source.triggers) == 1
    assert source.ledger.pending is not None and source.ledger.pending.phase is T.TRIGGERED


async def test_a_claim_is_confirmed_on_cached_facts() -> None:
    paid = chain(now=1010, tokens=100, head=30, payouts=(payout(20, 100),))
    source = Source(with_intent(T.TRIGGERED), paid, paid)
    source.runner = runner(committed=100, expected_paid=100)
    assert await _cycle(source) == (lg.EventKind.CLAIM_CONFIRMED,)
    assert source.reads == [False]


async def test_a_claim_is_timed_out_only_on_fresh_facts() -> None:
    # The cached facts still show nothing on chain after the timeout; fresh ones show the payout.
    cached = chain(now=1201)
    fresh = chain(now=1201, tokens=100, head=30, payouts=(payout(20, 100),))
    source = Source(with_intent(T.TRIGGERED), cached, fresh)
    source.runner = runner(committed=100, expected_paid=100)
    assert await _cycle(source) == (lg.EventKind.CLAIM_CONFIRMED,)
    assert source.reads == [False, True] and source.ledger.totals.timed_out == 0
    # Fresh facts that agree: it times out, decided on them.
    source = Source(with_intent(T.TRIGGERED), cached, cached)
    source.runner = runner(committed=100, expected_paid=100)
    assert await _cycle(source) == (lg.EventKind.CLAIM_TIMED_OUT,)
    assert source.reads == [False, True]
