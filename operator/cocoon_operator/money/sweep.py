"""Sweep the cocoon wallet's surplus above `spec.rewards.sweepAbove` to the owner, at most once per
intent (docs/money.md §5).

The operator holds the node wallet key, so it signs one external for the cocoon wallet (§10.3) with
a single non-bounceable transfer to the owner: a wallet transfer like a top-up (`money.transfer`):

1. The intent (wallet seqno it will use, `valid_until`, amount, the wallet's last lt) is saved in a
   durable store (the CocoonNode's `status.sweep`, a guarded write) BEFORE the external is sent.
2. The wallet applies at most one external per seqno and none after `valid_until`; Ed25519 is
   deterministic, so the rebuilt external is byte-identical and re-sending it is harmless.
3. With an open intent the chain decides (`money.transfer.resolve`): the wallet spent that seqno on
   exactly our external body → confirmed; on another message (the runner used it) or never before
   `valid_until` → it can never apply: dropped, try again later; a scan that has not reached the intent
   yet, or liteservers that disagree → unresolved, nothing new. A new external is only ever signed
   when no intent is open.

The seed is used to sign and never appears in results, logs or exception messages.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, Protocol, TypeAlias

from pydantic import Field
from pytoniq_core.boc.address import Address
from pytoniq_core.boc.cell import Cell

from cocoon_operator.api.records import CamelModel
from cocoon_operator.money.records import MoneyRecord, RecordStore
from cocoon_operator.money.transfer import Transfer, TransferProgress, TransferState, resolve
from cocoon_operator.ton.addresses import public_key_from_seed, raw_address
from cocoon_operator.ton.cells import LayoutError
from cocoon_operator.ton.client import AccountState, ChainClient, ExternalRejected
from cocoon_operator.ton.identity import cocoon_wallet_of
from cocoon_operator.ton.storage import WalletStorage
from cocoon_operator.ton.wallet_messages import (
    RUNNER_MIN_BALANCE_NANO,
    OutMessage,
    external_body,
    external_message,
    internal_message,
)

log = logging.getLogger(__name__)

SWEEP_TTL_S = 60  # valid_until = chain time + this
# Left on top of what stays, for the wallet's own compute/forward fees (mode 1 pays them from it).
SWEEP_FEE_RESERVE_NANO = 50_000_000
SEND_MODE_PAY_FEES_SEPARATELY = 1


class SweepIntent(CamelModel):
    """What is persisted before a sweep is sent (`status.sweep.pending`)."""

    wallet: str  # raw address of the cocoon wallet
    owner: str  # raw address of the owner
    seqno: int = Field(ge=0)
    valid_until: int
    amount_nano: int = Field(gt=0)
    wallet_last_lt: int  # wallet transactions at or below this lt predate the intent
    created_at: int
    progress: TransferProgress | None = None

    def transfer(self, body_hash: bytes) -> Transfer:
        return Transfer(
            source=self.wallet,
            dest=self.owner,
            seqno=self.seqno,
            valid_until=self.valid_until,
            amount_nano=self.amount_nano,
            source_after_lt=self.wallet_last_lt,
            dest_after_lt=0,
            body_hash=body_hash,
        )


class SweepRecord(MoneyRecord):
    """`status.sweep`: the open intent, when the last one was made, and what was swept so far."""

    pending: SweepIntent | None = None
    last_attempt_at: int = 0  # chain time of the last intent (the interval counts from here)
    last_tx_hash: str | None = None
    last_amount_nano: int = 0
    swept_nano: int = 0
    sweeps: int = 0

    @classmethod
    def from_status(cls, data: object) -> SweepRecord:
        return cls.model_validate(data) if isinstance(data, dict) and data else cls()


SweepStore: TypeAlias = RecordStore[SweepRecord]


class SweepStatus(StrEnum):
    DISABLED = "SweepDisabled"
    BELOW_CEILING = "BelowSweepCeiling"
    NOT_DEPLOYED = "WalletNotDeployed"
    WALLET_BLOCKED = "WalletBlocked"
    CLAIM_PENDING = "ClaimPending"
    RUNNER_BUSY = "RunnerTransactionsInFlight"
    TOO_SOON = "SweepIntervalNotElapsed"
    WALLET_MISMATCH = "WalletAddressMismatch"  # the runner uses another wallet than the derived one
    SEND = "SweepDue"  # a decision only; never a result
    SENT = "SweepSent"
    PENDING = "SweepPending"
    UNRESOLVED = "SweepUnresolved"  # a scan gap or disagreeing liteservers: nothing new until it clears
    CONFIRMED = "WalletSwept"
    DROPPED = "SweepDropped"


@dataclass(frozen=True)
class SweepPolicy:
    sweep_above_nano: int | None  # None: off (the default)
    keep_nano: int  # what stays on the wallet (`spec.wallet.target`)
    interval_s: int  # at most one new intent per interval

    def __post_init__(self) -> None:
        if self.sweep_above_nano is not None and self.sweep_above_nano <= 0:
            raise ValueError("spec.rewards.sweepAbove must be > 0 nanoTON")

    @property
    def stays_nano(self) -> int:
        """Never below the runner's own 2.1 TON minimum, whatever the spec says."""
        return max(self.keep_nano, RUNNER_MIN_BALANCE_NANO)


@dataclass(frozen=True)
class Decision:
    status: SweepStatus
    amount_nano: int = 0

    @property
    def send(self) -> bool:
        return self.status is SweepStatus.SEND


def decide(
    policy: SweepPolicy,
    *,
    balance_nano: int,
    deployed: bool,
    blocked: bool,
    claim_pending: bool,
    runner_busy: bool,
    last_attempt_at: int,
    now: int,
    wallet_mismatch: bool = False,
) -> Decision:
    """Whether to sweep now, and how much (pure; call only without an open intent)."""
    if policy.sweep_above_nano is None:
        return Decision(SweepStatus.DISABLED)
    amount = balance_nano - policy.stays_nano - SWEEP_FEE_RESERVE_NANO
    if balance_nano <= policy.sweep_above_nano or amount <= 0:
        return Decision(SweepStatus.BELOW_CEILING)
    if not deployed:
        return Decision(SweepStatus.NOT_DEPLOYED)  # the runner deploys it with its first external
    if blocked:
        return Decision(SweepStatus.WALLET_BLOCKED)
    if wallet_mismatch:
        return Decision(SweepStatus.WALLET_MISMATCH)
    if claim_pending:
        return Decision(SweepStatus.CLAIM_PENDING)
    if runner_busy:
        return Decision(SweepStatus.RUNNER_BUSY)
    if last_attempt_at and now < last_attempt_at + policy.interval_s:
        return Decision(SweepStatus.TOO_SOON)
    return Decision(SweepStatus.SEND, amount)


@dataclass(frozen=True)
class SweepResult:
    status: SweepStatus
    message: str
    wallet: str
    balance_nano: int
    amount_nano: int = 0
    tx_hash: str | None = None
    record: SweepRecord | None = None


def _messages(intent: SweepIntent) -> list[OutMessage]:
    transfer = internal_message(Address(intent.owner), intent.amount_nano, bounce=False)
    return [OutMessage(transfer, SEND_MODE_PAY_FEES_SEPARATELY)]


def _body(seed: bytes, intent: SweepIntent) -> Cell:
    return external_body(seed, seqno=intent.seqno, valid_until=intent.valid_until, messages=_messages(intent))


def _wallet_seqno(state: AccountState) -> tuple[int, bool]:
    if not state.is_active or state.data is None:
        return 0, False
    try:
        storage = WalletStorage.from_cell(state.data)
    except (LayoutError, ValueError):
        return 0, False
    return storage.seqno, storage.blocked


class _Resolution(Enum):
    PENDING = "pending"  # seqno not advanced and still valid: may be re-sent (identical)
    DEAD = "dead"  # can never apply
    UNKNOWN = "unknown"  # not decidable yet (scan gap, disagreeing liteservers)


async def _resolve(
    client: ChainClient, seed: bytes, intent: SweepIntent, store: SweepStore, record: SweepRecord
) -> tuple[str | _Resolution, SweepRecord, SweepIntent]:
    res = await resolve(client, intent.transfer(_body(seed, intent).hash), intent.progress, settle=False)
    if res.progress != intent.progress:
        intent = intent.model_copy(update={"progress": res.progress})
        record = record.model_copy(update={"pending": intent})
        await store.save(record)
    if res.state in (TransferState.SENT, TransferState.SETTLED) and res.tx_hash is not None:
        return res.tx_hash, record, intent
    mapped = {TransferState.DEAD: _Resolution.DEAD, TransferState.UNKNOWN: _Resolution.UNKNOWN}
    return mapped.get(res.state, _Resolution.PENDING), record, intent


async def _send(client: ChainClient, seed: bytes, intent: SweepIntent) -> None:
    message: Any = external_message(Address(intent.wallet), _body(seed, intent))
    boc = bytes(message.to_boc())
    try:
        await client.send_external(boc)
    except ExternalRejected as exc:
        # Applied already, expired, or seqno taken: the next resolve decides. Never re-sign anew here.
        log.info("Sweep external for seqno %d was refused: %s", intent.seqno, exc)


async def sweep_surplus(
    client: ChainClient,
    seed: bytes,
    owner: Address | str,
    *,
    policy: SweepPolicy,
    store: SweepStore,
    claim_pending: bool = False,
    runner_busy: bool = False,
    wallet_mismatch: bool = False,
    message_ttl_s: int = SWEEP_TTL_S,
    confirm_wait_s: float = 0.0,
) -> SweepResult:
    """Resolve an open sweep intent, or start one when the policy says so. Never two externals
    for one intent; a new intent only when none is open."""
    if len(seed) != 32:
        raise ValueError("sweep: the node wallet key must be a 32-byte Ed25519 seed")
    owner_raw = raw_address(owner)
    wallet = raw_address(cocoon_wallet_of(public_key_from_seed(seed), owner_raw))
    record = await store.load()
    state = await client.checked_state(wallet)
    seqno, blocked = _wallet_seqno(state)

    def result(status: SweepStatus, message: str, amount: int = 0, tx: str | None = None) -> SweepResult:
        return SweepResult(status, message, wallet, state.balance, amount, tx, record)

    intent = record.pending
    if intent is not None and (intent.wallet != wallet or intent.owner != owner_raw):
        record = record.model_copy(update={"pending": None})  # another key/owner: not ours to resolve
        await store.save(record)
        intent = None

    if intent is not None:
        resolved, record, intent = await _resolve(client, seed, intent, store, record)
        if resolved is _Resolution.PENDING:
            await _send(client, seed, intent)  # the identical message again: harmless
            resolved, record, intent = await _wait(client, seed, intent, store, record, confirm_wait_s)
        if resolved is _Resolution.PENDING:
            return result(
                SweepStatus.PENDING,
                f"Sweep of {intent.amount_nano} nanoTON to owner {owner_raw} (wallet seqno "
                f"{intent.seqno}) is not on chain yet",
                intent.amount_nano,
            )
        if resolved is _Resolution.UNKNOWN:
            return result(
                SweepStatus.UNRESOLVED,
                f"Sweep of {intent.amount_nano} nanoTON (wallet seqno {intent.seqno}) cannot be resolved "
                "yet; nothing new is sent",
                intent.amount_nano,
            )
        return await _close(client, store, record, intent, resolved, result)

    now = await client.checked_time()
    decision = decide(
        policy,
        balance_nano=state.balance,
        deployed=state.is_active,
        blocked=blocked,
        claim_pending=claim_pending,
        runner_busy=runner_busy,
        wallet_mismatch=wallet_mismatch,
        last_attempt_at=record.last_attempt_at,
        now=now,
    )
    if not decision.send:
        return result(
            decision.status,
            f"Cocoon wallet {wallet} holds {state.balance} nanoTON (sweep above "
            f"{policy.sweep_above_nano}): {decision.status.value}",
        )
    intent = SweepIntent(
        wallet=wallet,
        owner=owner_raw,
        seqno=seqno,
        valid_until=now + message_ttl_s,
        amount_nano=decision.amount_nano,
        wallet_last_lt=state.last_tx_lt,
        created_at=now,
    )
    record = record.model_copy(update={"pending": intent, "last_attempt_at": now})
    await store.save(record)  # write-ahead: from here on the chain decides
    await _send(client, seed, intent)
    resolved, record, intent = await _wait(client, seed, intent, store, record, confirm_wait_s)
    if resolved in (_Resolution.PENDING, _Resolution.UNKNOWN):
        return result(
            SweepStatus.SENT,
            f"Sent a sweep of {intent.amount_nano} nanoTON from cocoon wallet {wallet} to owner "
            f"{owner_raw} (wallet seqno {intent.seqno})",
            intent.amount_nano,
        )
    return await _close(client, store, record, intent, resolved, result)


async def _wait(
    client: ChainClient,
    seed: bytes,
    intent: SweepIntent,
    store: SweepStore,
    record: SweepRecord,
    wait_s: float,
) -> tuple[str | _Resolution, SweepRecord, SweepIntent]:
    deadline = time.monotonic() + wait_s
    while True:
        resolved, record, intent = await _resolve(client, seed, intent, store, record)
        if resolved is not _Resolution.PENDING or time.monotonic() >= deadline:
            return resolved, record, intent
        await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


class _Make(Protocol):
    def __call__(
        self, status: SweepStatus, message: str, amount: int = 0, tx: str | None = None
    ) -> SweepResult: ...


async def _close(
    client: ChainClient,
    store: SweepStore,
    record: SweepRecord,
    intent: SweepIntent,
    resolved: str | _Resolution,
    make: _Make,
) -> SweepResult:
    if isinstance(resolved, str):
        record = record.model_copy(
            update={
                "pending": None,
                "last_tx_hash": resolved,
                "last_amount_nano": intent.amount_nano,
                "swept_nano": record.swept_nano + intent.amount_nano,
                "sweeps": record.sweeps + 1,
            }
        )
        await store.save(record)
        done = make(
            SweepStatus.CONFIRMED,
            f"Swept {intent.amount_nano} nanoTON from cocoon wallet {intent.wallet} to owner {intent.owner}",
            intent.amount_nano,
            resolved,
        )
    else:
        record = record.model_copy(update={"pending": None})
        await store.save(record)
        done = make(
            SweepStatus.DROPPED,
            f"Sweep with wallet seqno {intent.seqno} can no longer apply (seqno used by another "
            f"message or expired); nothing was sent to the owner, retrying after the interval",
            intent.amount_nano,
        )
    balance = (await client.checked_state(intent.wallet)).balance
    return SweepResult(
        done.status, done.message, done.wallet, balance, done.amount_nano, done.tx_hash, record
    )
