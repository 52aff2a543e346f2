"""One claim cycle: observe, maybe start a claim, maybe trigger it, persisting before every action.

This is the only place that sequences the pure ledger transitions with I/O. The I/O is injected
(store, facts, trigger) so the reconcile can wire the CocoonNode status, the chain layer and the
runner client, and the tests can crash it at every step.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict

from cocoon_operator.rewards import ledger as lg
from cocoon_operator.rewards.policy import ClaimDecision, ClaimPolicy, ProxyEarnings, decide_claim


class LedgerStore(Protocol):
    """Durable home of the ledger record (later: `status.claims` of the CocoonNode)."""

    async def load(self) -> lg.ClaimLedger: ...

    async def save(self, ledger: lg.ClaimLedger) -> None: ...


class FactsSource(Protocol):
    async def chain_facts(
        self, cursor_lt: int | None, gap: lg.ScanGap | None = None, *, fresh: bool = False
    ) -> lg.ChainFacts: ...

    async def runner_facts(self) -> lg.RunnerFacts | None: ...


class Trigger(Protocol):
    async def __call__(self, proxy: str) -> lg.TriggerAnswer: ...


class CycleResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    ledger: lg.ClaimLedger
    events: tuple[lg.LedgerEvent, ...]
    decisions: tuple[ClaimDecision, ...]
    earnings: tuple[ProxyEarnings, ...]
    triggered: bool


def earnings_of(chain: lg.ChainFacts, runner: lg.RunnerFacts | None) -> tuple[ProxyEarnings, ...]:
    """Per proxy: runner's committed tokens against the chain's paid tokens, at that contract's fee."""
    if runner is None or not runner.reachable:
        return ()
    result = []
    for proxy in runner.proxies:
        worker = chain.worker(proxy.proxy)
        if worker is None:
            continue  # not (yet) a worker contract the chain layer recognises as ours
        result.append(
            ProxyEarnings(
                proxy=proxy.proxy,
                worker_contract=worker.worker_contract,
                committed_tokens=proxy.committed_tokens,
                paid_tokens=max(worker.tokens, proxy.paid_tokens),
                expected_paid_tokens=proxy.expected_paid_tokens,
                fee_per_token=worker.fee_per_token,
                running_request=proxy.running_request,
                sc_inited=proxy.sc_inited and worker.active and worker.state == 0,
            )
        )
    return tuple(result)


async def run_claim_cycle(
    store: LedgerStore,
    facts: FactsSource,
    trigger: Trigger,
    *,
    policy: ClaimPolicy,
    wallet_balance_nano: int,
    limits: lg.LedgerLimits | None = None,
    allow_new_claims: bool = True,
) -> CycleResult:
    """Run one cycle. Exceptions from I/O propagate; the persisted record is always consistent."""
    limits = limits or lg.LedgerLimits()
    events: list[lg.LedgerEvent] = []
    ledger = await store.load()
    # Runner first, chain second: runner facts only ever stop an action, chain facts confirm.
    runner = await facts.runner_facts()
    chain = await facts.chain_facts(ledger.owner_cursor_lt, ledger.scan_gap)
    look = _look(ledger, chain, runner, policy, wallet_balance_nano, limits, allow_new_claims)
    if not chain.fresh and look.acts:
        # Facts from the block follower's cache may confirm a claim or say there is nothing to do; to
        # close a claim any other way, start one or trigger one, read fresh (the worker contracts'
        # tokens and state, what those turn on: `LiveFacts.chain_facts`) and decide again.
        chain = await facts.chain_facts(ledger.owner_cursor_lt, ledger.scan_gap, fresh=True)
        look = _look(ledger, chain, runner, policy, wallet_balance_nano, limits, allow_new_claims)

    step, earnings, decisions = look.step, look.earnings, look.decisions
    events.extend(step.events)
    if step.ledger != ledger:
        await store.save(step.ledger)
    ledger = step.ledger

    if allow_new_claims and ledger.pending is None and ledger.owner_cursor_lt is not None:
        due = next(((e, d) for e, d in zip(earnings, decisions, strict=True) if d.claim), None)
        if due is not None:
            chosen, _ = due
            step = lg.begin_claim(
                ledger,
                proxy=chosen.proxy,
                worker_contract=chosen.worker_contract,
                expected_tokens=chosen.committed_tokens,
                tokens_before=(w.tokens if (w := chain.worker(chosen.proxy)) else chosen.paid_tokens),
                fee_per_token=chosen.fee_per_token,
                now=chain.now,
            )
            await store.save(step.ledger)  # write-ahead: the intent exists before anything is sent
            events.extend(step.events)
            ledger = step.ledger

    triggered = False
    if lg.may_trigger(ledger, chain, runner).allowed:
        pending = ledger.pending
        assert pending is not None
        step = lg.mark_triggering(ledger, chain.now)
        await store.save(step.ledger)  # from here on this intent is never triggered again
        ledger = step.ledger
        answer = await _safe_trigger(trigger, pending.proxy)
        triggered = True
        step = lg.mark_triggered(ledger, answer, chain.now)
        if step.ledger != ledger:
            await store.save(step.ledger)
        events.extend(step.events)
        ledger = step.ledger

    return CycleResult(
        ledger=ledger, events=tuple(events), decisions=decisions, earnings=earnings, triggered=triggered
    )


class _Look(BaseModel):
    """What one set of facts makes of the ledger, before anything is saved or sent."""

    model_config = ConfigDict(frozen=True)

    step: lg.LedgerStep
    earnings: tuple[ProxyEarnings, ...]
    decisions: tuple[ClaimDecision, ...]
    acts: bool  # it would close a claim other than as confirmed, start one or trigger one


def _look(
    ledger: lg.ClaimLedger,
    chain: lg.ChainFacts,
    runner: lg.RunnerFacts | None,
    policy: ClaimPolicy,
    wallet_balance_nano: int,
    limits: lg.LedgerLimits,
    allow_new_claims: bool,
) -> _Look:
    step = lg.observe(ledger, chain, runner, limits)
    observed = step.ledger
    earnings = earnings_of(chain, runner)
    decisions = tuple(
        decide_claim(
            policy,
            e,
            wallet_balance_nano=wallet_balance_nano,
            now=chain.now,
            last_claim_at=observed.last_claim_at,
            pending=observed.pending is not None,
        )
        for e in earnings
    )
    closed_unconfirmed = (
        ledger.pending is not None
        and observed.pending is None
        and not any(e.kind is lg.EventKind.CLAIM_CONFIRMED for e in step.events)
    )
    starts = (
        allow_new_claims
        and observed.pending is None
        and observed.owner_cursor_lt is not None
        and any(d.claim for d in decisions)
    )
    triggers = observed.pending is not None and lg.may_trigger(observed, chain, runner).allowed
    return _Look(
        step=step,
        earnings=earnings,
        decisions=decisions,
        acts=closed_unconfirmed or starts or triggers,
    )


async def _safe_trigger(trigger: Trigger, proxy: str) -> lg.TriggerAnswer:
    """Transport errors mean "unknown": the intent stays in Triggering and the chain decides."""
    try:
        return await trigger(proxy)
    except (OSError, TimeoutError):
        return lg.TriggerAnswer.UNREACHABLE
