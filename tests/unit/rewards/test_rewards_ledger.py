"""The claim ledger state machine, transition by transition (table-driven)."""

from __future__ import annotations

import json

import pytest

from cocoon_operator.rewards import ledger as lg

PROXY = "0:" + "a" * 64
OTHER_PROXY = "0:" + "c" * 64
WORKER = "0:" + "b" * 64
OTHER_WORKER = "0:" + "d" * 64
FEE = 3
LIMITS = lg.LedgerLimits(
    intent_timeout_s=100, confirm_timeout_s=200, hard_timeout_s=1000, stuck_after_s=300, history_limit=5
)


def chain(
    now: int = 1000,
    head: int = 10,
    tokens: int = 0,
    payouts: tuple[lg.ObservedPayout, ...] = (),
    complete: bool = True,
    other_tokens: int = 0,
    state: int = 0,
) -> lg.ChainFacts:
    return lg.ChainFacts(
        now=now,
        owner_head_lt=head,
        payouts=payouts,
        scan_complete=complete,
        workers=(
            lg.WorkerFacts(
                proxy=PROXY, worker_contract=WORKER, tokens=tokens, fee_per_token=FEE, state=state
            ),
            lg.WorkerFacts(
                proxy=OTHER_PROXY, worker_contract=OTHER_WORKER, tokens=other_tokens, fee_per_token=1
            ),
        ),
    )


def runner(
    running: bool = False,
    committed: int = 100,
    inited: bool = True,
    reachable: bool = True,
    expected_paid: int = 0,
) -> lg.RunnerFacts:
    return lg.RunnerFacts(
        reachable=reachable,
        proxies=(
            lg.RunnerProxyFacts(
                proxy=PROXY,
                worker_contract=WORKER,
                sc_inited=inited,
                running_request=running,
                committed_tokens=committed,
                expected_paid_tokens=expected_paid,
            ),
        ),
    )


def payout(lt: int, tokens: int, source: str = PROXY, fee: int = FEE, qid: int = 7) -> lg.ObservedPayout:
    return lg.ObservedPayout(
        lt=lt, tx_hash=f"{lt:064x}", source=source, value_nano=tokens * fee, query_id=qid, utime=900 + lt
    )


def started(head: int = 10) -> lg.ClaimLedger:
    return lg.start(lg.ClaimLedger(), head).ledger


def begin(ledger: lg.ClaimLedger, expected: int, before: int, now: int = 1000) -> lg.LedgerStep:
    """An intent to claim `expected` tokens (`before` already paid) on the runner's one proxy."""
    return lg.begin_claim(
        ledger,
        proxy=PROXY,
        worker_contract=WORKER,
        expected_tokens=expected,
        tokens_before=before,
        fee_per_token=FEE,
        now=now,
    )


def with_intent(
    phase: lg.ClaimPhase = lg.ClaimPhase.INTENT,
    tokens_before: int = 0,
    expected: int = 100,
    created: int = 1000,
) -> lg.ClaimLedger:
    led = begin(started(), expected, tokens_before, now=created).ledger
    if phase is not lg.ClaimPhase.INTENT:
        led = lg.mark_triggering(led, created).ledger
    if phase is lg.ClaimPhase.TRIGGERED:
        led = lg.mark_triggered(led, lg.TriggerAnswer.SENT, created).ledger
    return led


# --------------------------------------------------------------------------------------------- start


def test_first_observation_starts_at_the_head_and_ignores_old_payouts() -> None:
    step = lg.observe(lg.ClaimLedger(), chain(head=50, payouts=(payout(40, 10),)), None)
    assert step.ledger.owner_cursor_lt == 50
    assert step.ledger.history == ()
    assert [e.kind for e in step.events] == [lg.EventKind.LEDGER_STARTED]


@pytest.mark.parametrize(
    ("ledger", "expected", "before", "match"),
    [
        (lg.ClaimLedger(), 5, 0, "scanning"),
        (started(), 5, 5, "Nothing to claim"),
        (with_intent(), 500, 100, "already pending"),
    ],
    ids=["not-started", "nothing-to-claim", "pending"],
)
def test_begin_requires_a_started_ledger_and_something_to_claim(
    ledger: lg.ClaimLedger, expected: int, before: int, match: str
) -> None:
    with pytest.raises(lg.LedgerError, match=match):
        begin(ledger, expected, before)


# ------------------------------------------------------------------------------------------- ingest


def test_external_payouts_are_recorded_once_in_lt_order() -> None:
    led = started(head=10)
    facts = chain(head=30, payouts=(payout(25, 4), payout(20, 2), payout(5, 99)))  # 5 is below the cursor
    step = lg.observe(led, facts, None, LIMITS)
    assert [e.lt for e in step.ledger.history] == [20, 25]
    assert all(e.source is lg.PayoutSource.EXTERNAL for e in step.ledger.history)
    assert step.ledger.totals.claimed_nano == 6 * FEE
    assert step.ledger.totals.claimed_tokens == 6
    assert step.ledger.totals.external_payouts == 2
    assert step.ledger.owner_cursor_lt == 30
    # The same facts again (a retry after a crash that did save): nothing new.
    again = lg.observe(step.ledger, facts, None, LIMITS)
    assert again.ledger == step.ledger


def test_payouts_from_unknown_sources_are_ignored_but_the_cursor_moves() -> None:
    step = lg.observe(started(), chain(head=40, payouts=(payout(30, 5, source="0:" + "e" * 64),)), None)
    assert step.ledger.history == () and step.ledger.owner_cursor_lt == 40


def test_fee_per_contract_is_used_for_tokens() -> None:
    step = lg.observe(started(), chain(head=40, payouts=(payout(30, 5, source=OTHER_PROXY, fee=1),)), None)
    assert step.ledger.history[0].tokens == 5 and step.ledger.history[0].worker_contract == OTHER_WORKER


def test_history_is_bounded_but_totals_are_not() -> None:
    payouts = tuple(payout(11 + i, 1) for i in range(8))
    step = lg.observe(started(), chain(head=19, payouts=payouts), None, LIMITS)
    assert len(step.ledger.history) == LIMITS.history_limit
    assert step.ledger.totals.payouts == 8


def test_incomplete_scan_keeps_the_cursor_and_is_reported_once() -> None:
    led = started()
    facts = chain(head=40, payouts=(payout(35, 3),), complete=False).model_copy(
        update={"scan_resume": (30, "aa" * 32)}
    )
    step = lg.observe(led, facts, None)
    assert [e.kind for e in step.events] == [lg.EventKind.SCAN_GAP, lg.EventKind.PAYOUT_RECORDED]
    assert step.ledger.owner_cursor_lt == led.owner_cursor_lt  # never past the gap
    assert step.ledger.scan_gap == lg.ScanGap(top_lt=40, resume_lt=30, resume_hash="aa" * 32)
    # The gap is filled from its resume point; the window already read is not read again.
    fill = chain(head=40, payouts=(payout(20, 2),), complete=True)
    done = lg.observe(step.ledger, fill, None)
    assert [e.kind for e in done.events] == [lg.EventKind.PAYOUT_RECORDED]
    assert done.ledger.owner_cursor_lt == 40 and done.ledger.scan_gap is None
    assert done.ledger.totals.payouts == 2
    with pytest.raises(lg.LedgerError):
        lg.observe(led, chain(head=40, complete=False), None)


def test_ledger_round_trips_through_status_json() -> None:
    led = lg.observe(
        with_intent(lg.ClaimPhase.TRIGGERED), chain(head=30, payouts=(payout(20, 3),)), None
    ).ledger
    data = json.loads(json.dumps(led.to_status()))
    assert "ownerCursorLt" in data and "expectedTokens" in data["pending"]
    assert lg.ClaimLedger.from_status(data) == led
    assert lg.ClaimLedger.from_status(None) == lg.ClaimLedger()


# ------------------------------------------------------------------------------------------ resolve

T = lg.ClaimPhase
K = lg.EventKind


@pytest.mark.parametrize(
    ("case", "phase", "facts", "run", "kind", "still_pending"),
    [
        # confirmed: tokens reached + payout matched
        (
            "triggered, paid",
            T.TRIGGERED,
            chain(tokens=100, head=30, payouts=(payout(20, 100),)),
            runner(),
            K.CLAIM_CONFIRMED,
            False,
        ),
        (
            "triggering (answer lost), paid",
            T.TRIGGERING,
            chain(tokens=120, head=30, payouts=(payout(20, 120),)),
            None,
            K.CLAIM_CONFIRMED,
            False,
        ),
        # tokens reached but payout not yet seen: wait
        ("tokens moved, payout later", T.TRIGGERED, chain(tokens=100), runner(), None, True),
        # payout seen but tokens below expected (a smaller foreign voucher): wait
        (
            "smaller payout",
            T.TRIGGERED,
            chain(tokens=50, head=30, payouts=(payout(20, 50),)),
            runner(),
            None,
            True,
        ),
        # nothing yet, within the timeout
        ("waiting", T.TRIGGERED, chain(now=1100), runner(running=True), None, True),
        # timed out, runner idle (it remembers the voucher it sent: nothing to retry yet)
        ("timeout", T.TRIGGERED, chain(now=1201), runner(expected_paid=100), K.CLAIM_TIMED_OUT, False),
        # the runner restarted after "request sent" and forgot the claim; nothing reached the chain
        ("runner forgot, grace", T.TRIGGERED, chain(now=1050), runner(), None, True),
        ("runner forgot", T.TRIGGERED, chain(now=1061), runner(), K.CLAIM_DROPPED, False),
        ("runner forgot, tokens moved", T.TRIGGERED, chain(now=1061, tokens=100), runner(), None, True),
        ("timeout from triggering", T.TRIGGERING, chain(now=1201), None, K.CLAIM_TIMED_OUT, False),
        # runner still running: hard timeout only
        ("running extends", T.TRIGGERED, chain(now=1201), runner(running=True), None, True),
        # ... unless nothing reached the chain for `stuck_after_s`: the runner's message was lost
        ("runner stuck", T.TRIGGERED, chain(now=1301), runner(running=True), K.CLAIM_STUCK, False),
        (
            "hard timeout",
            T.TRIGGERED,
            chain(now=2001, tokens=50),
            runner(running=True),
            K.CLAIM_TIMED_OUT,
            False,
        ),
        (
            "tokens moved, payout missing",
            T.TRIGGERED,
            chain(now=1201, tokens=100),
            runner(),
            K.CLAIM_PAYOUT_MISSING,
            False,
        ),
        # intents that never got triggered
        ("intent superseded by self-claim", T.INTENT, chain(tokens=60), runner(), K.CLAIM_SUPERSEDED, False),
        (
            "intent paid externally",
            T.INTENT,
            chain(tokens=100, head=30, payouts=(payout(20, 100),)),
            runner(),
            K.CLAIM_SUPERSEDED,
            False,
        ),
        ("intent waits", T.INTENT, chain(now=1050), runner(running=True), None, True),
        ("intent dropped", T.INTENT, chain(now=1101), runner(), K.CLAIM_DROPPED, False),
    ],
)
def test_resolve_table(
    case: str,
    phase: lg.ClaimPhase,
    facts: lg.ChainFacts,
    run: lg.RunnerFacts | None,
    kind: lg.EventKind | None,
    still_pending: bool,
) -> None:
    led = with_intent(phase)
    step = lg.observe(led, facts, run, LIMITS)
    kinds = [e.kind for e in step.events if e.kind is not K.PAYOUT_RECORDED]
    assert kinds == ([kind] if kind else []), case
    assert (step.ledger.pending is not None) is still_pending, case
    if kind is K.CLAIM_CONFIRMED:
        assert step.ledger.totals.operator_claims == 1
        assert step.ledger.last_claim_at == facts.now
        assert all(e.source is lg.PayoutSource.OPERATOR for e in step.ledger.history)
        assert step.ledger.history[-1].attempt_id == led.pending.attempt_id  # type: ignore[union-attr]
    if kind in (K.CLAIM_TIMED_OUT, K.CLAIM_PAYOUT_MISSING):
        assert step.ledger.totals.timed_out == 1
        assert step.ledger.last_outcome is not None and step.ledger.last_outcome.reason == kind.value
    if kind is K.CLAIM_SUPERSEDED:
        assert step.ledger.totals.operator_claims == 0


def test_confirmation_can_span_two_observations() -> None:
    led = with_intent(T.TRIGGERED)
    first = lg.observe(led, chain(tokens=100, head=25, payouts=()), runner(), LIMITS)
    assert first.ledger.pending is not None
    second = lg.observe(
        first.ledger, chain(tokens=100, head=30, payouts=(payout(28, 100),)), runner(), LIMITS
    )
    assert second.ledger.pending is None and second.ledger.totals.operator_claims == 1
    assert second.ledger.totals.claimed_nano == 100 * FEE


def test_payout_before_the_intent_is_not_matched() -> None:
    led = with_intent(T.TRIGGERED)
    assert led.pending is not None
    # lt 10 is the floor (the cursor at intent time): an old payout cannot confirm a new claim
    facts = chain(tokens=100, head=30, payouts=(payout(10, 100),))
    step = lg.observe(led, facts, runner(), LIMITS)
    assert step.ledger.pending is not None


# ------------------------------------------------------------------------------------------ trigger


@pytest.mark.parametrize(
    ("case", "led", "facts", "run", "allowed", "reason"),
    [
        ("ready", with_intent(), chain(), runner(), True, "Ready"),
        ("no pending", started(), chain(), runner(), False, "NoPendingClaim"),
        ("triggering", with_intent(T.TRIGGERING), chain(), runner(), False, "AlreadyTriggered"),
        ("triggered", with_intent(T.TRIGGERED), chain(), runner(), False, "AlreadyTriggered"),
        ("tokens advanced", with_intent(), chain(tokens=1), runner(), False, "TokensAdvanced"),
        ("closed contract", with_intent(), chain(state=2), runner(), False, "WorkerContractNotActive"),
        ("runner down", with_intent(), chain(), runner(reachable=False), False, "RunnerUnreachable"),
        ("no runner", with_intent(), chain(), None, False, "RunnerUnreachable"),
        ("running", with_intent(), chain(), runner(running=True), False, "RequestRunning"),
        ("not inited", with_intent(), chain(), runner(inited=False), False, "WorkerContractNotInited"),
        ("nothing", with_intent(), chain(), runner(committed=0), False, "NothingToClaim"),
        ("in flight", with_intent(), chain(), runner(expected_paid=100), False, "NothingToClaim"),
    ],
)
def test_may_trigger_table(
    case: str,
    led: lg.ClaimLedger,
    facts: lg.ChainFacts,
    run: lg.RunnerFacts | None,
    allowed: bool,
    reason: str,
) -> None:
    check = lg.may_trigger(led, facts, run)
    assert (check.allowed, check.reason) == (allowed, reason), case


def test_trigger_sequence_enforces_write_ahead() -> None:
    with pytest.raises(lg.LedgerError):
        lg.mark_triggered(with_intent(), lg.TriggerAnswer.SENT, 0)
    with pytest.raises(lg.LedgerError):
        lg.mark_triggering(with_intent(T.TRIGGERING), 0)
    with pytest.raises(lg.LedgerError):
        lg.mark_triggering(started(), 0)


@pytest.mark.parametrize(
    ("answer", "pending_phase", "rejected"),
    [
        (lg.TriggerAnswer.SENT, T.TRIGGERED, 0),
        (lg.TriggerAnswer.UNREACHABLE, T.TRIGGERING, 0),
        (lg.TriggerAnswer.UNKNOWN, T.TRIGGERING, 0),
        (lg.TriggerAnswer.ALREADY_RUNNING, None, 1),
        (lg.TriggerAnswer.PROXY_NOT_FOUND, None, 1),
        (lg.TriggerAnswer.NOT_INITED, None, 1),
        (lg.TriggerAnswer.CLOSED, None, 1),
    ],
)
def test_runner_answers(answer: lg.TriggerAnswer, pending_phase: lg.ClaimPhase | None, rejected: int) -> None:
    step = lg.mark_triggered(with_intent(T.TRIGGERING), answer, 1005)
    assert (step.ledger.pending.phase if step.ledger.pending else None) == pending_phase
    assert step.ledger.totals.rejected == rejected
    if rejected:
        assert step.ledger.last_claim_at == 1005  # a refusal still spaces out the next attempt


def test_attempt_ids_are_deterministic() -> None:
    assert lg.attempt_id_for(WORKER, 0, 5, 1) == lg.attempt_id_for(WORKER, 0, 5, 1)
    assert lg.attempt_id_for(WORKER, 0, 5, 1) != lg.attempt_id_for(WORKER, 0, 6, 1)
