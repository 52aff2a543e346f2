"""A claim asked for by a person: the annotation `cocoon.tonops.dev/claim-requested: <nonce>` (what
`kubectl cocoon claim` sets), honoured at most once per nonce.

The record lives in `status.claims.request` (the ledger's free-form object, so the CRD needs no new
field) and moves Accepted → Claiming → Claimed | Failed, or Accepted → Declined:

- **Accepted** is written (resourceVersion-guarded, at once) *before* the claim cycle that may act on
  it, with a baseline of the ledger: the open attempt and the last outcome at that moment.
- While Accepted, the cycle runs with the claim-now policy (anything worth its gas, no interval) —
  but only if the ledger shows no attempt begun since the baseline. The ledger persists an intent
  before it triggers anything, so after a crash the next reconcile sees that attempt and never
  starts a second one for the same nonce.
- **Claiming** names the ledger attempt; **Claimed** / **Failed** follow that attempt's outcome on
  chain (payout at the owner, or the ledger's timeout / rejection).
- **Declined**: nothing worth claiming (`NothingToClaim`, `GasTooHigh`), or no claim could start
  within `REQUEST_TIMEOUT_S` (runner busy, not registered, wallet too low, chain down).

Every other reconcile repeats the stored record unchanged, so it costs no status write.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from cocoon_operator.api import identity
from cocoon_operator.k8s.errors import ApiError
from cocoon_operator.rewards import ledger as lg
from cocoon_operator.rewards.policy import ClaimDecision, ClaimReason
from cocoon_operator.steps.contract import Context, EventSpec, StepReport

ANNOTATION = f"{identity.GROUP}/claim-requested"
STATUS_KEY = "request"  # under status.claims
NONCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
REQUEST_TIMEOUT_S = 600
RECHECK_S = 3.0

ACCEPTED, CLAIMING, CLAIMED, FAILED, DECLINED = "Accepted", "Claiming", "Claimed", "Failed", "Declined"
OPEN = (ACCEPTED, CLAIMING)
# Reasons the claim-now policy can still give that waiting will not change.
FINAL_REASONS = {ClaimReason.NOTHING_TO_CLAIM, ClaimReason.GAS_TOO_HIGH, ClaimReason.BELOW_MINIMUM}


class Writer(Protocol):
    """The part of `providers.common.StatusWriter` used here."""

    async def write(self, fields: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class Request:
    """`status.claims.request`."""

    nonce: str
    phase: str
    accepted_at: int
    message: str = ""
    attempt_id: str | None = None
    baseline_pending: str | None = None
    baseline_outcome: str | None = None
    tx_hashes: tuple[str, ...] = ()
    amount_nano: int | None = None
    tokens: int | None = None

    @property
    def force(self) -> bool:
        """Whether this cycle may start the requested claim (set by `before`)."""
        return self.phase == ACCEPTED and self.attempt_id is None

    def to_status(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "nonce": self.nonce,
            "phase": self.phase,
            "acceptedAt": self.accepted_at,
            "message": self.message,
            "attemptId": self.attempt_id,
            "baseline": {"pending": self.baseline_pending, "lastOutcome": self.baseline_outcome},
            "txHashes": list(self.tx_hashes) or None,
            "amountNano": self.amount_nano,
            "tokens": self.tokens,
        }
        data["baseline"] = {k: v for k, v in data["baseline"].items() if v is not None}
        return {k: v for k, v in data.items() if v is not None and v != {}}

    @classmethod
    def from_status(cls, data: Any) -> Request | None:
        if not isinstance(data, Mapping) or not data.get("nonce") or not data.get("phase"):
            return None
        baseline = data.get("baseline") or {}
        return cls(
            nonce=str(data["nonce"]),
            phase=str(data["phase"]),
            accepted_at=int(data.get("acceptedAt") or 0),
            message=str(data.get("message") or ""),
            attempt_id=data.get("attemptId"),
            baseline_pending=baseline.get("pending"),
            baseline_outcome=baseline.get("lastOutcome"),
            tx_hashes=tuple(data.get("txHashes") or ()),
            amount_nano=data.get("amountNano"),
            tokens=data.get("tokens"),
        )


def requested_nonce(annotations: Mapping[str, str]) -> str | None:
    """The nonce of the annotation; a malformed one is ignored (never echoed into status)."""
    value = str(annotations.get(ANNOTATION) or "").strip()
    return value if NONCE.match(value) else None


def stored(status: Mapping[str, Any]) -> Request | None:
    claims = status.get("claims")
    return Request.from_status(claims.get(STATUS_KEY)) if isinstance(claims, Mapping) else None


def _ours(request: Request, ledger: lg.ClaimLedger) -> str | None:
    """The ledger attempt begun after the request was accepted, if any (open or already closed)."""
    known = {request.baseline_pending, request.baseline_outcome} - {None}
    if ledger.pending is not None and ledger.pending.attempt_id not in known:
        return ledger.pending.attempt_id
    outcome = ledger.last_outcome
    if outcome is not None and outcome.attempt_id is not None and outcome.attempt_id not in known:
        return outcome.attempt_id
    return None


def resolve(request: Request, ledger: lg.ClaimLedger) -> Request:
    """Follow the request's attempt in the ledger (pure)."""
    if request.phase not in OPEN:
        return request
    attempt = request.attempt_id or _ours(request, ledger)
    if attempt is None:
        return request
    pending = ledger.pending
    if pending is not None and pending.attempt_id == attempt:
        message = f"Claim on proxy {pending.proxy} is {pending.phase.value}; awaiting the chain"
        return replace(request, phase=CLAIMING, attempt_id=attempt, message=message)
    paid = [e for e in ledger.history if e.attempt_id == attempt]
    outcome = (
        ledger.last_outcome if (ledger.last_outcome and ledger.last_outcome.attempt_id == attempt) else None
    )
    if paid or (outcome is not None and outcome.reason == lg.EventKind.CLAIM_CONFIRMED.value):
        nano, tokens = sum(e.nano for e in paid), sum(e.tokens for e in paid)
        return replace(
            request,
            phase=CLAIMED,
            attempt_id=attempt,
            tx_hashes=tuple(e.tx_hash for e in paid),
            amount_nano=nano,
            tokens=tokens,
            message=outcome.message if outcome is not None else f"Claimed {nano} nanoTON ({tokens} tokens)",
        )
    if outcome is not None:
        return replace(
            request, phase=FAILED, attempt_id=attempt, message=f"{outcome.reason}: {outcome.message}"
        )
    return replace(request, phase=CLAIMING, attempt_id=attempt)


def _paid_by_baseline(request: Request, ledger: lg.ClaimLedger) -> Request | None:
    """The claim in flight when the request came paid what there was: that is the answer."""
    outcome = ledger.last_outcome
    attempt = request.baseline_pending
    if attempt is None or outcome is None or outcome.attempt_id != attempt:
        return None
    if outcome.reason != lg.EventKind.CLAIM_CONFIRMED.value:
        return None
    paid = [e for e in ledger.history if e.attempt_id == attempt]
    return replace(
        request,
        phase=CLAIMED,
        attempt_id=attempt,
        tx_hashes=tuple(e.tx_hash for e in paid),
        amount_nano=sum(e.nano for e in paid),
        tokens=sum(e.tokens for e in paid),
        message=f"Paid by the claim already in flight when it was asked for: {outcome.message}",
    )


def _why_not(decisions: Sequence[ClaimDecision], allowed: bool) -> tuple[bool, str]:
    """(final, message) when the claim-now policy started nothing."""
    if not allowed:
        return False, "waiting for the worker to be registered on chain (Registered=True)"
    if not decisions:
        return False, "waiting for the runner to report a worker contract"
    reasons = sorted({d.reason.value for d in decisions})
    claimable = sum(d.claimable_nano for d in decisions)
    final = all(d.reason in FINAL_REASONS for d in decisions)
    return final, f"{', '.join(reasons)} (claimable {claimable} nanoTON)"


class ClaimRequests:
    """The hook the rewards provider calls around its claim cycle (`before`, then `after`)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._current: dict[tuple[str, str], tuple[Request, Writer]] = {}

    async def before(self, ctx: Context, writer: Writer) -> bool:
        """Record a new request (write-ahead) and say whether this cycle may start its claim."""
        key = (ctx.namespace, ctx.name)
        self._current.pop(key, None)
        nonce = requested_nonce(ctx.annotations)
        request = stored(ctx.status)
        if nonce is not None and (request is None or request.nonce != nonce):
            claims = ctx.status.get("claims") or {}
            ledger = lg.ClaimLedger.from_status(claims)
            request = Request(
                nonce=nonce,
                phase=ACCEPTED,
                accepted_at=int(self.clock()),
                message="Claim requested; waiting for the claim cycle",
                baseline_pending=ledger.pending.attempt_id if ledger.pending is not None else None,
                baseline_outcome=ledger.last_outcome.attempt_id if ledger.last_outcome is not None else None,
            )
            await writer.write({"claims": {STATUS_KEY: request.to_status()}})
        if request is None:
            return False
        if request.phase == ACCEPTED:
            # A claim begun for this nonce before a crash is in the ledger: follow it, never start another.
            request = resolve(request, lg.ClaimLedger.from_status(ctx.status.get("claims")))
        self._current[key] = (request, writer)
        return request.force

    async def after(
        self, ctx: Context, ledger: lg.ClaimLedger, decisions: Sequence[ClaimDecision], report: StepReport
    ) -> StepReport:
        """The request's new state: written at once when it changed (a guarded write, like the
        ledger's: `status.claims` is a money record), and repeated in the report's `claims` field so an
        unchanged record compares equal; an Event when it ends."""
        current = self._current.pop((ctx.namespace, ctx.name), None)
        if current is None or "claims" not in report.status:
            return report
        request, writer = current
        before = request
        request = resolve(request, ledger)
        if request.phase == ACCEPTED and request.attempt_id is None:
            final, why = _why_not(decisions, allowed=_registered(ctx))
            covered = _paid_by_baseline(request, ledger)
            if ledger.pending is not None:
                # A claim already in flight (the policy's own) leaves nothing claimable until it settles.
                pending = ledger.pending
                request = replace(
                    request,
                    message=f"Waiting for the claim already in flight on proxy {pending.proxy} to settle",
                )
            elif final and covered is not None:
                request = covered
            elif final:
                request = replace(request, phase=DECLINED, message=f"Nothing to claim now: {why}")
            elif self.clock() - request.accepted_at > REQUEST_TIMEOUT_S:
                request = replace(
                    request,
                    phase=DECLINED,
                    message=f"No claim could start within {REQUEST_TIMEOUT_S}s: {why}",
                )
            else:
                request = replace(request, message=f"Claim requested; {why}")
        events = list(report.events)
        if before.phase != request.phase:
            if request.phase == DECLINED:
                events.append(
                    EventSpec("Warning", "ClaimRequestDeclined", f"{request.nonce}: {request.message}")
                )
            elif request.phase == FAILED:
                events.append(
                    EventSpec("Warning", "ClaimRequestFailed", f"{request.nonce}: {request.message}")
                )
            elif request.phase == CLAIMING and before.phase == ACCEPTED:
                events.append(
                    EventSpec("Normal", "ClaimRequested", f"Started the claim asked for ({request.nonce})")
                )
        record = request.to_status()
        if record != (stored(ctx.status) or Request("", "", 0)).to_status():
            try:
                await writer.write({"claims": {STATUS_KEY: record}})
            except (ApiError, RuntimeError):
                # Another writer since our read (or the object is gone): the record follows from the
                # ledger and the stored request, so the next reconcile writes it again.
                return report
        fields = dict(report.status)
        fields["claims"] = {**fields["claims"], STATUS_KEY: record}
        retry = report.retry_after
        if request.phase in OPEN:
            retry = min(retry, RECHECK_S) if retry is not None else RECHECK_S
        return replace(report, status=fields, events=events, retry_after=retry)


def _registered(ctx: Context) -> bool:
    for cond in ctx.status.get("conditions") or []:
        if cond.get("type") == "Registered":
            return bool(cond.get("status") == "True")
    return False
