"""An exactly-once record of reward claims, kept in the CocoonNode status (`status.claims`).

The whole state is one small JSON-serialisable record (`ClaimLedger`). Every transition is a pure
function of (record, observed chain facts, runner facts, now) and returns a new record plus events;
the caller persists the record before doing what the record says (write-ahead):

    observe()          ingest owner payouts since the cursor, resolve the pending intent
    begin_claim()      record an intent            -> persist -> (nothing sent yet)
    may_trigger()      is it still safe to call the runner for this intent?
    mark_triggering()  record "about to trigger"   -> persist -> GET /request/payout
    mark_triggered()   record the runner's answer  -> persist

Why this is exactly once (docs/money.md has the diagram):
- On chain, a voucher pays at most once: the worker contract refuses `new_tokens ≤ tokens` (1000).
- The runner is called at most once per intent: `mark_triggering` is persisted before the call and
  an intent in phase Triggering/Triggered is never triggered again; after a crash it is resolved
  from the chain (worker `tokens`, owner payouts) or timed out, never re-sent.
- A payout is recorded at most once: owner transactions are ingested strictly above a logical-time
  cursor that advances in the same record; a crash before the record is saved re-reads the same
  transactions. Payouts the operator did not trigger (runner self-claims, proxy-initiated claims)
  are ingested the same way, so none is lost.

Addresses are compared as given: callers pass raw form `0:<64 hex>` (see `ton.client.raw_address`).
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

from pydantic import Field

from cocoon_operator.api.records import CamelModel
from cocoon_operator.rewards.ledger_facts import Attribution as Attribution
from cocoon_operator.rewards.ledger_facts import ChainFacts as ChainFacts
from cocoon_operator.rewards.ledger_facts import ObservedPayout as ObservedPayout
from cocoon_operator.rewards.ledger_facts import RunnerFacts as RunnerFacts
from cocoon_operator.rewards.ledger_facts import RunnerProxyFacts as RunnerProxyFacts
from cocoon_operator.rewards.ledger_facts import WorkerFacts as WorkerFacts

DEFAULT_HISTORY_LIMIT = 20


class ClaimPhase(StrEnum):
    INTENT = "Intent"  # recorded; the runner has not been called
    TRIGGERING = "Triggering"  # about to call (or calling) the runner; never call again
    TRIGGERED = "Triggered"  # the runner answered "request sent"


class PayoutSource(StrEnum):
    OPERATOR = "Operator"  # matched to an intent this operator triggered
    EXTERNAL = "External"  # runner self-claim, proxy-initiated claim, or a claim we cannot attribute


class TriggerAnswer(StrEnum):
    """The runner's `/request/payout` answers (cocoon-protocol.md §4.4), plus transport failure."""

    SENT = "request sent"
    ALREADY_RUNNING = "request is already running"
    PROXY_NOT_FOUND = "proxy not found"
    NOT_INITED = "proxy is not inited"
    CLOSED = "proxy is closed"
    UNREACHABLE = "unreachable"  # no answer: the request may or may not have been queued
    UNKNOWN = "unknown answer"


class PendingClaim(CamelModel):
    attempt_id: str
    proxy: str
    worker_contract: str
    expected_tokens: int  # runner's committed tokens when the intent was recorded
    tokens_before: int  # worker contract `tokens` on chain when the intent was recorded
    fee_per_token: int
    created_at: int
    phase: ClaimPhase = ClaimPhase.INTENT
    triggered_at: int | None = None
    owner_lt_floor: int  # payouts at or below this owner lt predate the intent
    matched_tx_hashes: tuple[str, ...] = ()
    matched_nano: int = 0
    matched_tokens: int = 0
    # Payouts on this proxy after the intent that a sibling node's claim brought (not ours to record).
    sibling_tx_hashes: tuple[str, ...] = ()


class ClaimEntry(CamelModel):
    time: int
    proxy: str
    worker_contract: str
    tokens: int
    nano: int
    tx_hash: str
    lt: int
    query_id: int
    source: PayoutSource
    attempt_id: str | None = None


class ClaimTotals(CamelModel):
    claimed_nano: int = 0
    claimed_tokens: int = 0
    payouts: int = 0
    operator_claims: int = 0
    external_payouts: int = 0
    timed_out: int = 0
    rejected: int = 0


class ClaimOutcome(CamelModel):
    time: int
    reason: str
    message: str
    attempt_id: str | None = None


class ScanGap(CamelModel):
    """Owner transactions in (cursor, the oldest one scanned) not read yet: a scan stopped early.

    Everything from there up to `top_lt` was ingested; the next looks go on backwards from
    `resume_lt`/`resume_hash` until they reach the cursor, and only then does the cursor move (to
    `top_lt`). Newer transactions wait until the gap is closed."""

    top_lt: int
    resume_lt: int
    resume_hash: str  # hex


class ClaimLedger(CamelModel):
    """`status.claims`. `owner_cursor_lt` None means the ledger has not started scanning yet.

    Invariant: every owner transaction with lt ≤ `owner_cursor_lt` has been ingested (and, while
    `scan_gap` is set, those in [its oldest scanned, `top_lt`]); the cursor never passes a gap."""

    pending: PendingClaim | None = None
    history: tuple[ClaimEntry, ...] = ()
    totals: ClaimTotals = Field(default_factory=ClaimTotals)
    owner_cursor_lt: int | None = None
    scan_gap: ScanGap | None = None
    last_claim_at: int | None = None
    last_outcome: ClaimOutcome | None = None

    def to_status(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_status(cls, data: object) -> ClaimLedger:
        if not data:
            return cls()
        return cls.model_validate(data)


# ---------------------------------------------------------------------------------------------
# Facts (inputs). Built by the caller from the chain and the runner; never persisted.


class LedgerLimits(CamelModel):
    intent_timeout_s: int = 600  # an intent that never got triggered
    confirm_timeout_s: int = 900  # triggered but no chain confirmation, runner idle
    hard_timeout_s: int = 3600  # even while the runner says running_request
    # Triggering (the operator stopped around the runner call): the runner idle and unaware of any claim
    # beyond what was paid before the intent for this long means it never got the request.
    unsent_grace_s: int = 60
    # Triggered, the runner says running, and nothing reached the chain for this long: the runner's payout
    # message was lost. The runner clears `running_request` only when it sees the claim on chain (it never
    # will) or when it restarts (cocoon-protocol.md §8.3), so waiting `hard_timeout_s` gains nothing.
    stuck_after_s: int = 300
    history_limit: int = DEFAULT_HISTORY_LIMIT


class EventKind(StrEnum):
    PAYOUT_RECORDED = "PayoutRecorded"
    CLAIM_CONFIRMED = "RewardClaimed"
    CLAIM_SUPERSEDED = "ClaimSuperseded"
    CLAIM_TIMED_OUT = "ClaimTimedOut"
    CLAIM_PAYOUT_MISSING = "ClaimPayoutMissing"
    CLAIM_REJECTED = "ClaimRejected"
    CLAIM_STARTED = "ClaimStarted"
    CLAIM_TRIGGERED = "ClaimTriggered"
    CLAIM_DROPPED = "ClaimDropped"
    CLAIM_STUCK = "RunnerClaimStuck"
    SCAN_GAP = "PayoutScanGap"
    LEDGER_STARTED = "LedgerStarted"


class LedgerEvent(CamelModel):
    kind: EventKind
    message: str
    proxy: str | None = None
    tokens: int = 0
    nano: int = 0
    attempt_id: str | None = None
    warning: bool = False


class LedgerStep(CamelModel):
    ledger: ClaimLedger
    events: tuple[LedgerEvent, ...] = ()


# ---------------------------------------------------------------------------------------------
# Transitions


def start(ledger: ClaimLedger, owner_head_lt: int) -> LedgerStep:
    """Start scanning at the owner's current head: payouts before the ledger existed are not ours."""
    if ledger.owner_cursor_lt is not None:
        return LedgerStep(ledger=ledger)
    return LedgerStep(
        ledger=ledger.model_copy(update={"owner_cursor_lt": owner_head_lt}),
        events=(
            LedgerEvent(kind=EventKind.LEDGER_STARTED, message=f"Started ledger at owner lt {owner_head_lt}"),
        ),
    )


def observe(
    ledger: ClaimLedger, chain: ChainFacts, runner: RunnerFacts | None, limits: LedgerLimits | None = None
) -> LedgerStep:
    """Ingest payouts above the cursor, then resolve the pending intent from chain facts."""
    limits = limits or LedgerLimits()
    if ledger.owner_cursor_lt is None:
        return start(ledger, chain.owner_head_lt)
    step = _ingest_payouts(ledger, chain, limits)
    return _resolve_pending(step, chain, runner, limits)


def _fee_for(chain: ChainFacts, pending: PendingClaim | None, proxy: str) -> int | None:
    worker = chain.worker(proxy)
    if worker is not None:
        return worker.fee_per_token
    if pending is not None and pending.proxy == proxy:
        return pending.fee_per_token
    return None


def _ingest_payouts(ledger: ClaimLedger, chain: ChainFacts, limits: LedgerLimits) -> LedgerStep:
    cursor = ledger.owner_cursor_lt or 0
    events: list[LedgerEvent] = []
    gap = ledger.scan_gap
    if chain.scan_complete:
        # The scan reached the cursor: everything up to its top is ingested now.
        new_cursor, gap = max(cursor, chain.owner_head_lt), None
    else:
        # The cursor stays; the gap below the oldest transaction read is filled on the next looks.
        if chain.scan_resume is None:
            raise LedgerError("an incomplete owner scan must say where it goes on")
        if gap is None:
            events.append(
                LedgerEvent(
                    kind=EventKind.SCAN_GAP,
                    message=f"Owner transaction scan did not reach lt {cursor} in one look; the older "
                    "transactions are read on the next reconciles before the cursor moves",
                    warning=True,
                )
            )
        new_cursor = cursor
        gap = ScanGap(
            top_lt=chain.owner_head_lt, resume_lt=chain.scan_resume[0], resume_hash=chain.scan_resume[1]
        )
    pending = ledger.pending
    history = list(ledger.history)
    totals = ledger.totals
    seen = {e.tx_hash for e in ledger.history}
    for payout in sorted(chain.payouts, key=lambda p: p.lt):
        if payout.lt <= cursor or payout.tx_hash in seen:
            continue  # already ingested (the cursor is the guarantee; the hash set a second guard)
        fee = _fee_for(chain, pending, payout.source)
        if fee is None:
            continue  # not from one of this node's proxy contracts
        seen.add(payout.tx_hash)
        if not chain.owns(payout):
            # Another node of the same owner claimed it: its ledger records it, this one never does.
            if pending is not None and pending.proxy == payout.source and payout.lt > pending.owner_lt_floor:
                pending = pending.model_copy(
                    update={"sibling_tx_hashes": (*pending.sibling_tx_hashes, payout.tx_hash)}
                )
            continue
        tokens = payout.value_nano // fee if fee > 0 else 0
        attempt_id: str | None = None
        source = PayoutSource.EXTERNAL
        if pending is not None and pending.proxy == payout.source and payout.lt > pending.owner_lt_floor:
            pending = pending.model_copy(
                update={
                    "matched_tx_hashes": (*pending.matched_tx_hashes, payout.tx_hash),
                    "matched_nano": pending.matched_nano + payout.value_nano,
                    "matched_tokens": pending.matched_tokens + tokens,
                }
            )
            if pending.phase is not ClaimPhase.INTENT:
                source, attempt_id = PayoutSource.OPERATOR, pending.attempt_id
        worker = chain.worker(payout.source)
        history.append(
            ClaimEntry(
                time=payout.utime,
                proxy=payout.source,
                worker_contract=worker.worker_contract
                if worker
                else (pending.worker_contract if pending else ""),
                tokens=tokens,
                nano=payout.value_nano,
                tx_hash=payout.tx_hash,
                lt=payout.lt,
                query_id=payout.query_id,
                source=source,
                attempt_id=attempt_id,
            )
        )
        totals = totals.model_copy(
            update={
                "claimed_nano": totals.claimed_nano + payout.value_nano,
                "claimed_tokens": totals.claimed_tokens + tokens,
                "payouts": totals.payouts + 1,
                "external_payouts": totals.external_payouts + (source is PayoutSource.EXTERNAL),
            }
        )
        events.append(
            LedgerEvent(
                kind=EventKind.PAYOUT_RECORDED,
                message=f"Recorded payout of {payout.value_nano} nanoTON ({tokens} tokens) from proxy "
                f"{payout.source} ({source.value})",
                proxy=payout.source,
                tokens=tokens,
                nano=payout.value_nano,
                attempt_id=attempt_id,
            )
        )
    updated = ledger.model_copy(
        update={
            "pending": pending,
            "history": tuple(history[-limits.history_limit :]),
            "totals": totals,
            "owner_cursor_lt": new_cursor,
            "scan_gap": gap,
        }
    )
    return LedgerStep(ledger=updated, events=tuple(events))


def _resolve_pending(
    step: LedgerStep, chain: ChainFacts, runner: RunnerFacts | None, limits: LedgerLimits
) -> LedgerStep:
    ledger, events = step.ledger, list(step.events)
    pending = ledger.pending
    if pending is None:
        return step
    worker = chain.worker(pending.proxy)
    tokens_now = worker.tokens if worker is not None else pending.tokens_before
    runner_proxy = runner.proxy(pending.proxy) if runner is not None and runner.reachable else None
    running = runner_proxy is not None and runner_proxy.running_request
    age = chain.now - (pending.triggered_at if pending.triggered_at is not None else pending.created_at)

    def close(kind: EventKind, message: str, *, warning: bool, **totals_update: int) -> LedgerStep:
        event = LedgerEvent(
            kind=kind,
            message=message,
            proxy=pending.proxy,
            tokens=pending.matched_tokens,
            nano=pending.matched_nano,
            attempt_id=pending.attempt_id,
            warning=warning,
        )
        closed = _close(ledger, event, chain.now, **totals_update)
        return LedgerStep(ledger=closed.ledger, events=(*events, *closed.events))

    if tokens_now >= pending.expected_tokens and pending.matched_tx_hashes:
        if pending.phase is ClaimPhase.INTENT:
            # Paid by someone else (runner self-claim / proxy) before we triggered: nothing to do.
            return close(
                EventKind.CLAIM_SUPERSEDED,
                f"Claim on proxy {pending.proxy} was paid before the operator triggered it "
                f"({pending.matched_nano} nanoTON recorded as external)",
                warning=False,
            )
        return close(
            EventKind.CLAIM_CONFIRMED,
            f"Claimed {pending.matched_nano} nanoTON ({pending.matched_tokens} tokens) from proxy "
            f"{pending.proxy}; worker contract tokens {tokens_now}",
            warning=False,
            operator_claims=1,
        )
    if tokens_now >= pending.expected_tokens and pending.sibling_tx_hashes and not pending.matched_tx_hashes:
        # A sibling's claim (same owner, same worker contract) paid these tokens first; the contract
        # refuses ours as old (1000) if it was sent at all. Nothing is lost: the sibling records it.
        return close(
            EventKind.CLAIM_SUPERSEDED,
            f"Claim on proxy {pending.proxy} was paid by another worker of the same owner "
            f"(worker contract tokens {tokens_now}); recorded in that worker's ledger",
            warning=False,
        )
    if pending.phase is ClaimPhase.INTENT and tokens_now > pending.tokens_before:
        return close(
            EventKind.CLAIM_SUPERSEDED,
            f"Worker contract tokens moved from {pending.tokens_before} to {tokens_now} before the "
            f"operator triggered the claim on proxy {pending.proxy}",
            warning=False,
        )
    if pending.phase is ClaimPhase.INTENT:
        if age > limits.intent_timeout_s:
            return close(
                EventKind.CLAIM_DROPPED,
                f"Claim intent on proxy {pending.proxy} was not triggered within {limits.intent_timeout_s}s",
                warning=True,
            )
        return LedgerStep(ledger=ledger, events=tuple(events))
    if (
        pending.phase in (ClaimPhase.TRIGGERING, ClaimPhase.TRIGGERED)
        and runner_proxy is not None
        and not running
        and runner_proxy.expected_paid_tokens <= pending.tokens_before
        and tokens_now <= pending.tokens_before
        and age > limits.unsent_grace_s
    ):
        # A runner that got `/request/payout` marks the claim running and remembers its voucher
        # (`expected_cached_out_tokens`) until the chain shows it; this one shows neither: the call never
        # reached it, or the runner restarted since (it keeps neither across a restart), and nothing
        # reached the chain. Without this a restart right after "request sent" held the claim open for
        # `confirm_timeout_s` with no new claim. Closing lets a new intent try again. Money-safe even if
        # its message still lands: the worker contract refuses a voucher twice (error 1000), and a late
        # payout is recorded like any other.
        lost = (
            "the operator stopped before it was sent"
            if pending.phase is ClaimPhase.TRIGGERING
            else "the runner restarted before its payout message reached the chain"
        )
        return close(
            EventKind.CLAIM_DROPPED,
            f"The runner does not know the payout request for proxy {pending.proxy} any more ({lost}); "
            "a new claim will be made",
            warning=pending.phase is ClaimPhase.TRIGGERED,
        )
    if (
        running
        and tokens_now <= pending.tokens_before
        and not pending.matched_tx_hashes
        and not pending.sibling_tx_hashes
        and age > limits.stuck_after_s
    ):
        # Money-safe to close: the runner, still "running", starts no other claim, and if its message
        # lands after all, the payout is recorded like any other (the ledger follows the owner's payouts).
        return close(
            EventKind.CLAIM_STUCK,
            f"The runner has held the claim on proxy {pending.proxy} as running for {age}s and nothing "
            f"reached the chain (worker contract tokens still {tokens_now}): its payout message was lost. "
            "The runner clears a running claim only when it sees it on chain or restarts: restart the "
            "worker (its pod, or its VM) to resume claims; until then the proxy still pays out on its own "
            "from 10 TON",
            warning=True,
            timed_out=1,
        )
    # Triggering / Triggered: wait for the chain, bounded.
    timeout = limits.hard_timeout_s if running else limits.confirm_timeout_s
    if age > timeout:
        if tokens_now >= pending.expected_tokens:
            return close(
                EventKind.CLAIM_PAYOUT_MISSING,
                f"Worker contract tokens reached {tokens_now} but no payout from proxy {pending.proxy} "
                f"reached the owner within {timeout}s",
                warning=True,
                timed_out=1,
            )
        return close(
            EventKind.CLAIM_TIMED_OUT,
            f"Claim on proxy {pending.proxy} was not confirmed on chain within {timeout}s "
            f"(worker contract tokens {tokens_now}, expected {pending.expected_tokens})",
            warning=True,
            timed_out=1,
        )
    return LedgerStep(ledger=ledger, events=tuple(events))


# A claim that ends confirmed or refused counts for the claim interval; a refused one too, so a
# misbehaving runner is not hammered.
_INTERVAL_OUTCOMES = (EventKind.CLAIM_CONFIRMED, EventKind.CLAIM_REJECTED)


def _close(ledger: ClaimLedger, event: LedgerEvent, now: int, **totals_update: int) -> LedgerStep:
    """End the pending claim with `event` as its outcome, adding `totals_update` to the totals."""
    totals = ledger.totals.model_copy(
        update={k: getattr(ledger.totals, k) + v for k, v in totals_update.items()}
    )
    outcome = ClaimOutcome(
        time=now, reason=event.kind.value, message=event.message, attempt_id=event.attempt_id
    )
    update: dict[str, object] = {"pending": None, "totals": totals, "last_outcome": outcome}
    if event.kind in _INTERVAL_OUTCOMES:
        update["last_claim_at"] = now
    return LedgerStep(ledger=ledger.model_copy(update=update), events=(event,))


def attempt_id_for(worker_contract: str, tokens_before: int, expected_tokens: int, now: int) -> str:
    """Deterministic id: the same inputs name the same intent (no randomness in transitions)."""
    raw = f"{worker_contract}|{tokens_before}|{expected_tokens}|{now}".encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def begin_claim(
    ledger: ClaimLedger,
    *,
    proxy: str,
    worker_contract: str,
    expected_tokens: int,
    tokens_before: int,
    fee_per_token: int,
    now: int,
) -> LedgerStep:
    """Record an intent. Persist the result BEFORE calling the runner."""
    if ledger.pending is not None:
        raise LedgerError(f"A claim is already pending on proxy {ledger.pending.proxy}")
    if ledger.owner_cursor_lt is None:
        raise LedgerError("The ledger has not started scanning owner transactions yet")
    if expected_tokens <= tokens_before:
        raise LedgerError(
            f"Nothing to claim on proxy {proxy}: expected {expected_tokens} ≤ paid {tokens_before}"
        )
    attempt = attempt_id_for(worker_contract, tokens_before, expected_tokens, now)
    pending = PendingClaim(
        attempt_id=attempt,
        proxy=proxy,
        worker_contract=worker_contract,
        expected_tokens=expected_tokens,
        tokens_before=tokens_before,
        fee_per_token=fee_per_token,
        created_at=now,
        owner_lt_floor=ledger.owner_cursor_lt,
    )
    delta = expected_tokens - tokens_before
    event = LedgerEvent(
        kind=EventKind.CLAIM_STARTED,
        message=f"Recorded claim intent for {delta} tokens on proxy {proxy}",
        proxy=proxy,
        tokens=delta,
        nano=delta * fee_per_token,
        attempt_id=attempt,
    )
    return LedgerStep(ledger=ledger.model_copy(update={"pending": pending}), events=(event,))


class TriggerCheck(CamelModel):
    allowed: bool
    reason: str


def may_trigger(ledger: ClaimLedger, chain: ChainFacts, runner: RunnerFacts | None) -> TriggerCheck:
    """Safe to call `/request/payout` for the pending intent now? Only once, only if nothing moved."""
    pending = ledger.pending
    if pending is None:
        return TriggerCheck(allowed=False, reason="NoPendingClaim")
    if pending.phase is not ClaimPhase.INTENT:
        return TriggerCheck(allowed=False, reason="AlreadyTriggered")
    worker = chain.worker(pending.proxy)
    if worker is None or not worker.active or worker.state != 0:
        return TriggerCheck(allowed=False, reason="WorkerContractNotActive")
    if worker.tokens != pending.tokens_before or pending.matched_tx_hashes:
        return TriggerCheck(allowed=False, reason="TokensAdvanced")
    if runner is None or not runner.reachable:
        return TriggerCheck(allowed=False, reason="RunnerUnreachable")
    proxy = runner.proxy(pending.proxy)
    if proxy is None:
        return TriggerCheck(allowed=False, reason="ProxyUnknownToRunner")
    if proxy.running_request:
        return TriggerCheck(allowed=False, reason="RequestRunning")
    if not proxy.sc_inited:
        return TriggerCheck(allowed=False, reason="WorkerContractNotInited")
    paid = max(worker.tokens, proxy.paid_tokens, proxy.expected_paid_tokens)
    if proxy.committed_tokens <= paid:
        return TriggerCheck(allowed=False, reason="NothingToClaim")
    return TriggerCheck(allowed=True, reason="Ready")


def mark_triggering(ledger: ClaimLedger, now: int) -> LedgerStep:
    """Record that the runner is about to be called. Persist BEFORE the HTTP call."""
    pending = ledger.pending
    if pending is None or pending.phase is not ClaimPhase.INTENT:
        raise LedgerError("Only a pending intent that was never triggered can be triggered")
    updated = pending.model_copy(update={"phase": ClaimPhase.TRIGGERING, "triggered_at": now})
    return LedgerStep(ledger=ledger.model_copy(update={"pending": updated}))


def mark_triggered(ledger: ClaimLedger, answer: TriggerAnswer, now: int) -> LedgerStep:
    """Record the runner's answer. A refusal closes the intent; no answer keeps it (unknown)."""
    pending = ledger.pending
    if pending is None or pending.phase is ClaimPhase.INTENT:
        raise LedgerError("mark_triggering must be recorded before the runner is called")
    if answer is TriggerAnswer.SENT:
        event = LedgerEvent(
            kind=EventKind.CLAIM_TRIGGERED,
            message=f"Runner accepted the claim on proxy {pending.proxy}",
            proxy=pending.proxy,
            attempt_id=pending.attempt_id,
        )
        updated = pending.model_copy(update={"phase": ClaimPhase.TRIGGERED})
        return LedgerStep(ledger=ledger.model_copy(update={"pending": updated}), events=(event,))
    if answer in (TriggerAnswer.UNREACHABLE, TriggerAnswer.UNKNOWN):
        # The runner may have queued the claim: keep the intent; the chain or the timeout decides.
        return LedgerStep(ledger=ledger)
    event = LedgerEvent(
        kind=EventKind.CLAIM_REJECTED,
        message=f"Runner refused the claim on proxy {pending.proxy}: {answer.value}",
        proxy=pending.proxy,
        attempt_id=pending.attempt_id,
        warning=answer is not TriggerAnswer.ALREADY_RUNNING,
    )
    return _close(ledger, event, now, rejected=1)


class LedgerError(ValueError):
    """A transition was asked for that the state machine does not allow (a caller bug)."""
