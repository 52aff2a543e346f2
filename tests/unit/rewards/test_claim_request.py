"""A claim asked for through the annotation is honoured at most once per nonce: the record is written
before the cycle may act, a claim begun for the nonce is followed (never a second one, across crashes),
and the record ends Claimed, Failed or Declined."""

from __future__ import annotations

from typing import Any

from tests.unit.builders import minimal_spec, step_context

from cocoon_operator.api.spec import parse_spec
from cocoon_operator.rewards import ledger as lg
from cocoon_operator.rewards.policy import ClaimDecision, ClaimReason
from cocoon_operator.steps import claim_request as cr
from cocoon_operator.steps.contract import Context, StepReport

PROXY = "0:" + "a" * 64
WORKER = "0:" + "b" * 64


class Writer:
    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []

    async def write(self, fields: Any) -> None:
        self.writes.append(dict(fields))


def _ctx(status: dict[str, Any], nonce: str | None = "n-1", registered: bool = True) -> Context:
    conditions = [{"type": "Registered", "status": "True" if registered else "False"}]
    annotations = {cr.ANNOTATION: nonce} if nonce else {}
    return step_context(
        parse_spec(minimal_spec()), status={"conditions": conditions, **status}, annotations=annotations
    )


def _ledger(**kw: Any) -> lg.ClaimLedger:
    return lg.ClaimLedger(owner_cursor_lt=1, **kw)


def _paid(attempt_id: str, nano: int, tx_hash: str, *, lt: int, query_id: int, at: int) -> lg.ClaimLedger:
    """A ledger whose claim `attempt_id` was paid in one payout of `nano` (at fee 1), confirmed at `at`."""
    entry = lg.ClaimEntry(
        time=5, proxy=PROXY, worker_contract=WORKER, tokens=nano, nano=nano, tx_hash=tx_hash, lt=lt,
        query_id=query_id, source=lg.PayoutSource.OPERATOR, attempt_id=attempt_id,
    )  # fmt: skip
    outcome = lg.ClaimOutcome(
        time=at, reason="RewardClaimed", message=f"Claimed {nano}", attempt_id=attempt_id
    )
    return _ledger(history=(entry,), last_outcome=outcome)


def _pending(attempt: str) -> lg.PendingClaim:
    return lg.PendingClaim(
        attempt_id=attempt, proxy=PROXY, worker_contract=WORKER, expected_tokens=10, tokens_before=0,
        fee_per_token=1, created_at=1, owner_lt_floor=1, phase=lg.ClaimPhase.TRIGGERED,
    )  # fmt: skip


def _status(ledger: lg.ClaimLedger, request: cr.Request | None = None) -> dict[str, Any]:
    claims = ledger.to_status()
    if request is not None:
        claims[cr.STATUS_KEY] = request.to_status()
    return {"claims": claims}


def _report(ledger: lg.ClaimLedger) -> StepReport:
    return StepReport(status={"claims": ledger.to_status()})


def _decision(reason: ClaimReason, nano: int = 0) -> ClaimDecision:
    return ClaimDecision(claim=False, reason=reason, claimable_tokens=nano, claimable_nano=nano)


async def test_a_new_nonce_is_recorded_before_the_cycle_and_forces_one_claim() -> None:
    old = _ledger(last_outcome=lg.ClaimOutcome(time=1, reason="RewardClaimed", message="", attempt_id="old"))
    requests, writer = cr.ClaimRequests(clock=lambda: 1000.0), Writer()
    ctx = _ctx(_status(old))
    assert await requests.before(ctx, writer) is True
    (written,) = writer.writes
    record = written["claims"][cr.STATUS_KEY]
    assert record["nonce"] == "n-1" and record["phase"] == "Accepted"
    assert record["baseline"] == {"lastOutcome": "old"}
    # The cycle began attempt "mine": the request follows it.
    now = _ledger(pending=_pending("mine"), last_outcome=old.last_outcome)
    report = await requests.after(ctx, now, (), _report(now))
    request = cr.Request.from_status(report.status["claims"][cr.STATUS_KEY])
    assert request is not None and request.phase == "Claiming" and request.attempt_id == "mine"
    assert [e.reason for e in report.events] == ["ClaimRequested"]
    assert report.retry_after == cr.RECHECK_S
    # status.claims is a money record: the new phase is written at once, not left to the reconcile's patch
    assert writer.writes[-1]["claims"][cr.STATUS_KEY]["phase"] == "Claiming"


async def test_a_crash_after_the_claim_began_never_starts_a_second_one() -> None:
    """Accepted was stored, the cycle stored its intent, the operator died before the request said
    Claiming: the next reconcile finds the attempt and does not force."""
    accepted = cr.Request(nonce="n-1", phase="Accepted", accepted_at=1000)
    for ledger in (
        _ledger(pending=_pending("mine")),  # still open
        _ledger(last_outcome=lg.ClaimOutcome(time=2, reason="ClaimTimedOut", message="x", attempt_id="mine")),
    ):
        requests, writer = cr.ClaimRequests(clock=lambda: 1001.0), Writer()
        assert await requests.before(_ctx(_status(ledger, accepted)), writer) is False
        assert writer.writes == []


async def test_the_same_nonce_is_honoured_once() -> None:
    done = cr.Request(nonce="n-1", phase="Claimed", accepted_at=1000, attempt_id="mine", amount_nano=5)
    requests, writer = cr.ClaimRequests(), Writer()
    ctx = _ctx(_status(_ledger(), done))
    assert await requests.before(ctx, writer) is False and writer.writes == []
    report = await requests.after(ctx, _ledger(), (), _report(_ledger()))
    assert report.status["claims"][cr.STATUS_KEY] == done.to_status(), "stored record repeated unchanged"
    assert writer.writes == [], "an unchanged record is not written"
    # A new nonce is a new request.
    assert await requests.before(_ctx(_status(_ledger(), done), nonce="n-2"), writer) is True


async def test_claimed_with_the_payouts_of_its_attempt() -> None:
    accepted = cr.Request(nonce="n-1", phase="Claiming", accepted_at=1000, attempt_id="mine")
    ledger = _paid("mine", 10, "ab" * 32, lt=7, query_id=1, at=5)
    resolved = cr.resolve(accepted, ledger)
    assert resolved.phase == "Claimed" and resolved.amount_nano == 10 and resolved.tx_hashes == ("ab" * 32,)
    failed = cr.resolve(
        accepted,
        _ledger(
            last_outcome=lg.ClaimOutcome(time=5, reason="ClaimRejected", message="no", attempt_id="mine")
        ),
    )
    assert failed.phase == "Failed" and failed.message.startswith("ClaimRejected")


async def test_declined_when_nothing_is_worth_claiming_waits_when_busy() -> None:
    requests = cr.ClaimRequests(clock=lambda: 1000.0)
    ctx = _ctx(_status(_ledger()))
    await requests.before(ctx, Writer())
    report = await requests.after(
        ctx, _ledger(), (_decision(ClaimReason.NOTHING_TO_CLAIM),), _report(_ledger())
    )
    record = report.status["claims"][cr.STATUS_KEY]
    assert record["phase"] == "Declined" and "NothingToClaim" in record["message"]
    assert [e.reason for e in report.events] == ["ClaimRequestDeclined"]

    # The runner is busy: the request waits, then gives up after the timeout.
    clock = [1000.0]
    requests = cr.ClaimRequests(clock=lambda: clock[0])
    await requests.before(ctx, Writer())
    busy = (_decision(ClaimReason.REQUEST_RUNNING, 10),)
    report = await requests.after(ctx, _ledger(), busy, _report(_ledger()))
    waiting = cr.Request.from_status(report.status["claims"][cr.STATUS_KEY])
    assert waiting is not None and waiting.phase == "Accepted" and "RequestRunning" in waiting.message
    clock[0] += cr.REQUEST_TIMEOUT_S + 1
    await requests.before(_ctx(_status(_ledger(), waiting)), Writer())
    report = await requests.after(ctx, _ledger(), busy, _report(_ledger()))
    assert report.status["claims"][cr.STATUS_KEY]["phase"] == "Declined"


async def test_not_registered_waits_and_a_malformed_nonce_is_ignored() -> None:
    requests = cr.ClaimRequests(clock=lambda: 1000.0)
    ctx = _ctx(_status(_ledger()), registered=False)
    await requests.before(ctx, Writer())
    report = await requests.after(ctx, _ledger(), (), _report(_ledger()))
    assert "Registered=True" in report.status["claims"][cr.STATUS_KEY]["message"]
    writer = Writer()
    assert await cr.ClaimRequests().before(_ctx({}, nonce="bad nonce; rm -rf"), writer) is False
    assert writer.writes == []


async def test_a_claim_already_in_flight_is_waited_for_and_counts_when_it_pays() -> None:
    """Asked for while the policy's own claim is open: no decline for "nothing to claim" (the open
    claim covers it); when that claim is confirmed and nothing more is claimable, it is the answer."""
    in_flight = _ledger(pending=_pending("theirs"))
    requests = cr.ClaimRequests(clock=lambda: 1000.0)
    ctx = _ctx(_status(in_flight))
    assert await requests.before(ctx, Writer()) is True
    nothing = (_decision(ClaimReason.NOTHING_TO_CLAIM),)
    report = await requests.after(ctx, in_flight, nothing, _report(in_flight))
    waiting = cr.Request.from_status(report.status["claims"][cr.STATUS_KEY])
    assert waiting is not None and waiting.phase == "Accepted" and "in flight" in waiting.message
    assert waiting.baseline_pending == "theirs"
    paid = _paid("theirs", 7, "cd" * 32, lt=9, query_id=2, at=6)
    ctx = _ctx(_status(paid, waiting))
    assert await requests.before(ctx, Writer()) is True  # still allowed to claim anything new
    report = await requests.after(ctx, paid, nothing, _report(paid))
    done = cr.Request.from_status(report.status["claims"][cr.STATUS_KEY])
    assert done is not None and done.phase == "Claimed" and done.tx_hashes == ("cd" * 32,)
    assert done.amount_nano == 7 and "already in flight" in done.message
