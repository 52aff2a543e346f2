"""Claim cycles against a simulated world, with a crash injected at every step.

The world models what the runner and the contracts guarantee (cocoon-protocol.md §8): a claim
submits the runner's best voucher; the worker contract refuses vouchers that do not raise `tokens`;
the proxy pays delta-tokens * fee to the owner. The runner also self-claims now and then. The operator
process "crashes" (an exception out of the cycle, losing all memory) before or after any durable
write and before or after the runner call. Afterwards the ledger must equal the chain.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from cocoon_operator.rewards import ledger as lg
from cocoon_operator.rewards.cycle import CycleResult, Trigger, run_claim_cycle
from cocoon_operator.rewards.policy import ClaimPolicy

PROXIES = ("0:" + "1" * 64, "0:" + "2" * 64)
WORKERS = {PROXIES[0]: "0:" + "a" * 64, PROXIES[1]: "0:" + "b" * 64}
FEES = {PROXIES[0]: 2, PROXIES[1]: 5}
POLICY = ClaimPolicy(
    min_claim_nano=1000, max_fee_fraction=Decimal(1), min_interval_seconds=30, estimated_gas_nano=1
)
LIMITS = lg.LedgerLimits(intent_timeout_s=60, confirm_timeout_s=90, hard_timeout_s=300, stuck_after_s=200)


class Crash(Exception):
    """The operator process died here."""


@dataclass
class World:
    rng: random.Random
    now: int = 10_000
    lt: int = 100
    committed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PROXIES, 0))
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PROXIES, 0))
    in_flight: dict[str, int | None] = field(default_factory=lambda: dict.fromkeys(PROXIES, None))
    # The last voucher the runner sent per proxy (`expected_cached_out_tokens`; lost on a restart).
    sent: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PROXIES, 0))
    owner_txs: list[lg.ObservedPayout] = field(default_factory=list)
    operator_triggers: list[str] = field(default_factory=list)
    refused_vouchers: int = 0
    scan_limit: int = 1_000  # owner transactions one look reads

    def next_lt(self) -> int:
        self.lt += self.rng.randint(1, 5)
        return self.lt

    def earn(self) -> None:
        for p in PROXIES:
            self.committed[p] += self.rng.choice((0, 0, 300, 1000, 5000))

    def runner_claim(self, proxy: str) -> bool:
        if self.in_flight[proxy] is not None:
            return False
        self.in_flight[proxy] = self.committed[proxy]
        return True

    def settle(self) -> None:
        """Blocks pass: in-flight claims land (or are refused by the contract)."""
        for p in PROXIES:
            voucher = self.in_flight[p]
            if voucher is None or self.rng.random() < 0.3:
                continue  # still in flight
            self.in_flight[p] = None
            if voucher <= self.tokens[p]:
                self.refused_vouchers += 1  # error 1000: no money moves
                continue
            self.pay(p, voucher, query_id=self.rng.getrandbits(64))

    def pay(self, proxy: str, voucher: int, query_id: int) -> None:
        """A voucher above what the worker contract paid lands: the owner receives the difference."""
        delta = voucher - self.tokens[proxy]
        self.tokens[proxy] = voucher
        lt = self.next_lt()
        self.owner_txs.append(
            lg.ObservedPayout(
                lt=lt,
                tx_hash=f"{lt:064x}",
                source=proxy,
                value_nano=delta * FEES[proxy],
                query_id=query_id,
                utime=self.now,
            )
        )

    # --- facts as the operator sees them
    def chain_facts(self, cursor: int | None, gap: lg.ScanGap | None = None) -> lg.ChainFacts:
        """A bounded backwards scan, as the chain client does it: at most `scan_limit` transactions
        from the head (or from an open gap's resume point) down to the cursor."""
        head = self.owner_txs[-1].lt if self.owner_txs else 100
        newest_first = [t for t in reversed(self.owner_txs) if cursor is not None and t.lt > cursor]
        if gap is not None:
            newest_first = [t for t in newest_first if t.lt <= gap.resume_lt]
        seen = newest_first[: self.scan_limit]
        rest = newest_first[self.scan_limit :]
        resume = (rest[0].lt, rest[0].tx_hash) if rest else None
        return lg.ChainFacts(
            now=self.now,
            owner_head_lt=gap.top_lt if gap is not None else head,
            payouts=tuple(reversed(seen)),
            scan_complete=not rest,
            scan_resume=resume,
            workers=tuple(
                lg.WorkerFacts(
                    proxy=p, worker_contract=WORKERS[p], tokens=self.tokens[p], fee_per_token=FEES[p]
                )
                for p in PROXIES
            ),
        )

    def runner_facts(self) -> lg.RunnerFacts:
        return lg.RunnerFacts(
            proxies=tuple(
                lg.RunnerProxyFacts(
                    proxy=p,
                    worker_contract=WORKERS[p],
                    sc_inited=True,
                    running_request=self.in_flight[p] is not None,
                    committed_tokens=self.committed[p],
                    paid_tokens=self.tokens[p],
                    expected_paid_tokens=max(self.tokens[p], self.in_flight[p] or 0, self.sent[p]),
                )
                for p in PROXIES
            )
        )


@dataclass
class Harness:
    world: World
    crash_at: int | None = None  # index of the I/O step that crashes
    crash_after: bool = False  # crash after the step took effect (vs before)
    step_no: int = 0
    persisted: lg.ClaimLedger = field(default_factory=lg.ClaimLedger)
    triggered_attempts: list[str] = field(default_factory=list)
    start_lt: int | None = None  # where the ledger started: earlier payouts are not the ledger's

    def _io(self) -> bool:
        """Count an I/O step; returns True when this one must crash."""
        self.step_no += 1
        return self.crash_at is not None and self.step_no == self.crash_at

    # LedgerStore
    async def load(self) -> lg.ClaimLedger:
        return self.persisted

    async def save(self, ledger: lg.ClaimLedger) -> None:
        crash = self._io()
        if crash and not self.crash_after:
            raise Crash("before save")
        self.persisted = lg.ClaimLedger.from_status(ledger.to_status())  # through JSON, as in status
        if self.start_lt is None:
            self.start_lt = self.persisted.owner_cursor_lt
        if crash:
            raise Crash("after save")

    # FactsSource
    async def chain_facts(
        self, cursor_lt: int | None, gap: lg.ScanGap | None = None, *, fresh: bool = False
    ) -> lg.ChainFacts:
        return self.world.chain_facts(cursor_lt, gap)

    async def runner_facts(self) -> lg.RunnerFacts | None:
        return self.world.runner_facts()

    # Trigger
    async def __call__(self, proxy: str) -> lg.TriggerAnswer:
        crash = self._io()
        if crash and not self.crash_after:
            raise Crash("before trigger")
        pending = self.persisted.pending
        # Write-ahead: the durable record says Triggering for exactly this proxy, and this attempt
        # was never triggered before.
        assert pending is not None and pending.phase is lg.ClaimPhase.TRIGGERING and pending.proxy == proxy
        assert pending.attempt_id not in self.triggered_attempts
        assert self.world.in_flight[proxy] is None, "triggered while the runner had a request running"
        assert self.world.committed[proxy] > self.world.tokens[proxy], "triggered with nothing to claim"
        self.triggered_attempts.append(pending.attempt_id)
        self.world.operator_triggers.append(proxy)
        answer = lg.TriggerAnswer.SENT if self.world.runner_claim(proxy) else lg.TriggerAnswer.ALREADY_RUNNING
        if crash:
            raise Crash("after trigger, answer lost")
        return answer


async def cycle(
    harness: Harness,
    trigger: Trigger | None = None,
    *,
    wallet_nano: int = 10**10,
    allow_new_claims: bool = True,
) -> CycleResult:
    """One claim cycle with this module's policy and limits; the harness is the ledger store, the facts
    and (unless `trigger` stands in) the runner."""
    return await run_claim_cycle(
        harness,
        harness,
        trigger or harness,
        policy=POLICY,
        wallet_balance_nano=wallet_nano,
        limits=LIMITS,
        allow_new_claims=allow_new_claims,
    )


async def drive(
    seed: int, cycles: int, crash_every: int, scan_limit: int = 1_000
) -> tuple[World, Harness, int]:
    rng = random.Random(seed)
    world = World(rng=rng, scan_limit=scan_limit)
    harness = Harness(world=world)
    crashes = 0
    for i in range(cycles):
        world.now += rng.randint(5, 40)
        world.earn()
        if rng.random() < 0.1:  # runner self-claim (§8.4)
            world.runner_claim(rng.choice(PROXIES))
        world.settle()
        harness.step_no = 0
        harness.crash_at = rng.randint(1, 3) if i % crash_every == 0 else None
        harness.crash_after = rng.random() < 0.5
        try:
            await cycle(harness)
        except Crash:
            crashes += 1
    # Quiesce: no more earnings, let everything in flight land, and keep reconciling.
    for _ in range(60):
        world.now += 30
        world.settle()
        harness.crash_at = None
        await cycle(harness)
    return world, harness, crashes


def assert_ledger_equals_chain(world: World, ledger: lg.ClaimLedger, start_lt: int | None) -> None:
    assert start_lt is not None
    since_start = [t for t in world.owner_txs if t.lt > start_lt]
    assert ledger.totals.claimed_nano == sum(t.value_nano for t in since_start)
    assert ledger.totals.payouts == len(since_start)
    assert ledger.totals.claimed_tokens == sum(t.value_nano // FEES[t.source] for t in since_start)
    assert ledger.owner_cursor_lt == (world.owner_txs[-1].lt if world.owner_txs else 100)
    assert ledger.scan_gap is None
    hashes = [e.tx_hash for e in ledger.history]
    assert len(hashes) == len(set(hashes))
    assert ledger.pending is None


@pytest.mark.parametrize("seed", range(12))
async def test_crash_anywhere_keeps_ledger_equal_to_chain(seed: int) -> None:
    world, harness, crashes = await drive(seed, cycles=250, crash_every=1)
    assert crashes >= 50, crashes
    assert world.operator_triggers, "the operator never claimed"
    assert_ledger_equals_chain(world, harness.persisted, harness.start_lt)
    totals = harness.persisted.totals
    assert totals.operator_claims + totals.external_payouts <= totals.payouts + totals.operator_claims
    assert totals.operator_claims >= 1


@pytest.mark.parametrize("seed", range(6))
async def test_scans_shorter_than_the_payouts_between_looks_lose_and_double_nothing(seed: int) -> None:
    """Each look reads at most 2 owner transactions while several land between looks (the chain
    client's 256 with a busy owner): the cursor never passes a gap, and every payout counts once."""
    world, harness, _ = await drive(seed, cycles=120, crash_every=3, scan_limit=2)
    assert_ledger_equals_chain(world, harness.persisted, harness.start_lt)


async def _earning(seed: int, proxy: str, committed: int) -> tuple[World, Harness]:
    """A started ledger (its first cycle saved it; no crash), then `committed` tokens earned at `proxy`."""
    world = World(rng=random.Random(seed))
    harness = Harness(world=world)
    await cycle(harness)
    world.committed[proxy] = committed
    return world, harness


@pytest.mark.parametrize("crash_at", [1, 2, 3, 4])
@pytest.mark.parametrize("crash_after", [False, True])
async def test_single_claim_with_a_crash_at_each_step(crash_at: int, crash_after: bool) -> None:
    """Deterministic: one proxy earns, one claim, one crash at a named step, then recovery."""
    world, harness = await _earning(0, PROXIES[0], 10_000)
    world.now += 100
    harness.step_no, harness.crash_at, harness.crash_after = 0, crash_at, crash_after
    # I/O steps of a claiming cycle: 1 save(intent), 2 save(triggering), 3 trigger, 4 save(answer)
    with pytest.raises(Crash):
        await cycle(harness)
    harness.crash_at = None
    for _ in range(12):
        world.now += 20
        _settle_all(world)
        await cycle(harness)
    _settle_all(world)
    await cycle(harness)
    assert world.tokens[PROXIES[0]] == 10_000, "the voucher was paid"
    assert len(world.owner_txs) == 1, "exactly one payout"
    assert len(set(harness.triggered_attempts)) == len(harness.triggered_attempts)
    assert_ledger_equals_chain(world, harness.persisted, harness.start_lt)
    # The runner was called exactly once: a crash after "Triggering" was persisted is resolved
    # from the chain, never by calling again.
    assert len(world.operator_triggers) == 1


def _settle_all(world: World) -> None:
    for p in PROXIES:
        voucher = world.in_flight[p]
        if voucher is None:
            continue
        world.in_flight[p] = None
        if voucher > world.tokens[p]:
            world.pay(p, voucher, query_id=1)


async def test_unreachable_runner_answer_is_never_retried() -> None:
    world, harness = await _earning(3, PROXIES[1], 700)
    calls: list[str] = []

    async def broken(proxy: str) -> lg.TriggerAnswer:
        calls.append(proxy)
        raise ConnectionError("runner went away")

    for _ in range(5):
        world.now += 10
        await cycle(harness, broken)
    assert calls == [PROXIES[1]]
    assert harness.persisted.pending is not None
    assert harness.persisted.pending.phase is lg.ClaimPhase.TRIGGERING
    world.now += LIMITS.confirm_timeout_s + 1
    res = await cycle(harness, broken, allow_new_claims=False)
    # The runner stayed idle and never learnt of a claim: the request did not reach it, so the intent
    # is dropped (a new one may follow; the worker contract would refuse a replayed voucher anyway).
    assert [e.kind for e in res.events] == [lg.EventKind.CLAIM_DROPPED]
    assert harness.persisted.pending is None and harness.persisted.totals.timed_out == 0


async def test_triggered_claim_the_runner_knows_about_waits_for_the_chain_then_times_out() -> None:
    world, harness = await _earning(3, PROXIES[1], 700)
    calls: list[str] = []

    async def sent_but_lost(proxy: str) -> lg.TriggerAnswer:
        calls.append(proxy)
        world.sent[proxy] = world.committed[proxy]  # the runner remembers the voucher it sent
        return lg.TriggerAnswer.SENT  # the runner accepted it; the chain never shows it

    await cycle(harness, sent_but_lost)
    assert harness.persisted.pending is not None
    assert harness.persisted.pending.phase is lg.ClaimPhase.TRIGGERED
    world.now += LIMITS.unsent_grace_s + 1
    await cycle(harness, sent_but_lost)
    assert calls == [PROXIES[1]] and harness.persisted.pending is not None  # not dropped, not retried
    world.now += LIMITS.confirm_timeout_s + 1
    res = await cycle(harness, sent_but_lost, allow_new_claims=False)
    assert [e.kind for e in res.events] == [lg.EventKind.CLAIM_TIMED_OUT]
    assert harness.persisted.totals.timed_out == 1


async def test_a_claim_the_runner_forgot_in_a_restart_is_dropped_and_claimed_again() -> None:
    """The runner answers "request sent", then restarts before its payout message leaves: it keeps
    neither `running_request` nor the voucher, and nothing reaches the chain. After the grace the
    intent is dropped (not held for `confirm_timeout_s`) and the next cycle claims again."""
    world, harness = await _earning(3, PROXIES[1], 700)
    calls: list[str] = []

    async def accepted_then_restarted(proxy: str) -> lg.TriggerAnswer:
        calls.append(proxy)
        return lg.TriggerAnswer.SENT  # and the runner forgets it at once (its state is not kept)

    await cycle(harness, accepted_then_restarted)
    assert harness.persisted.pending is not None
    assert harness.persisted.pending.phase is lg.ClaimPhase.TRIGGERED
    await cycle(harness, accepted_then_restarted)
    assert calls == [PROXIES[1]]  # within the grace: wait for the chain
    world.now += LIMITS.unsent_grace_s + 1
    res = await cycle(harness, accepted_then_restarted, allow_new_claims=False)
    assert [e.kind for e in res.events] == [lg.EventKind.CLAIM_DROPPED]
    assert harness.persisted.pending is None and harness.persisted.totals.timed_out == 0
    world.now += 60
    await cycle(harness)  # the runner, back, takes the next claim
    assert world.in_flight[PROXIES[1]] is not None


async def test_no_claim_when_wallet_is_low() -> None:
    _, harness = await _earning(4, PROXIES[0], 10_000)
    res = await cycle(harness, wallet_nano=2_500_000_000)
    assert not res.triggered and harness.persisted.pending is None
    assert {d.reason.value for d in res.decisions} == {"WalletTooLowForClaim", "NothingToClaim"}


async def test_a_claim_the_runner_keeps_running_with_nothing_on_chain_is_closed_as_stuck() -> None:
    """The runner's payout message was lost (a liteserver down as it sent it): the runner says running
    until it restarts, and nothing lands. The claim closes as stuck (no PDB hold for an hour), no other
    claim starts while the runner says running, and a late landing is still recorded."""
    world, harness = await _earning(5, PROXIES[1], 700)
    await cycle(harness)
    assert harness.persisted.pending is not None and world.in_flight[PROXIES[1]] is not None
    world.now += LIMITS.stuck_after_s // 2
    await cycle(harness)
    assert harness.persisted.pending is not None  # a slow chain is not a stuck runner
    world.now += LIMITS.stuck_after_s
    res = await cycle(harness)
    assert [e.kind for e in res.events] == [lg.EventKind.CLAIM_STUCK]
    assert harness.persisted.pending is None and harness.persisted.totals.timed_out == 1
    assert harness.persisted.last_outcome is not None
    assert harness.persisted.last_outcome.reason == "RunnerClaimStuck"
    triggers = len(world.operator_triggers)
    world.now += 60
    await cycle(harness)
    assert len(world.operator_triggers) == triggers  # the runner still says running: no new claim
    _settle_all(world)  # the message landed after all
    await cycle(harness)
    assert world.tokens[PROXIES[1]] == 700 and len(world.owner_txs) == 1
    assert_ledger_equals_chain(world, harness.persisted, harness.start_lt)
