"""A wallet transfer the operator signed, followed on chain until it has settled or can never apply.

The operator signs two kinds of transfers: treasury → cocoon wallet (funding) and cocoon wallet →
owner (sweep). Both are one external message to a standard wallet with a given seqno and
`valid_until`, written down as an intent before it is sent. A wallet applies at most one external per
seqno and none after `valid_until`, and Ed25519 signatures are deterministic, so re-sending the same
message is harmless. What is left is to learn, from the chain only, where the transfer stands:

    PENDING   the wallet's seqno has not moved and the message is still valid: (re)send it
    SENT      the wallet spent our seqno on our message; the money is on its way to `dest`
    SETTLED   `dest` shows the incoming transfer (only asked for when it matters: funding)
    DEAD      the seqno went to another message, or `valid_until` passed unused: it never applies
    UNKNOWN   the scan did not reach far enough back yet, or liteservers disagree: decide nothing

Rules that keep money safe:
- "not found" counts only when the scan reached the intent's start; a partial scan is UNKNOWN and is
  continued next time from where it stopped (`TransferProgress.scan`), never read as "not sent";
- the wallet state (seqno, last transaction) comes from `checked_state` (two liteservers agree, when
  the config lists two), and scans follow the transaction hash chain, so one lying or lagging
  liteserver cannot make a sent transfer look unsent;
- expiry is judged by the chain clock of both liteservers (`checked_time`), never the local clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pytoniq.contract.wallets.wallet import WALLET_V3_R2_CODE, WALLET_V4_R2_CODE
from pytoniq.contract.wallets.wallet_v5 import WALLET_V5_R1_CODE
from pytoniq_core.boc.slice import Slice

from cocoon_operator.api.records import CamelModel
from cocoon_operator.ton.client import AccountState, ChainClient, ChainError, TxCursor, TxView
from cocoon_operator.ton.codes import cocoon_wallet_code
from cocoon_operator.ton.storage import WalletStorage


class TransferState(StrEnum):
    PENDING = "Pending"
    SENT = "Sent"
    SETTLED = "Settled"
    DEAD = "Dead"
    UNKNOWN = "Unknown"


class ScanPoint(CamelModel):
    """Where a backwards scan goes on (a transaction's lt and hash, hex)."""

    lt: int
    hash: str

    @classmethod
    def of(cls, cursor: TxCursor) -> ScanPoint:
        return cls(lt=cursor.lt, hash=cursor.hash.hex())

    def cursor(self) -> TxCursor:
        return TxCursor(self.lt, bytes.fromhex(self.hash))


class TransferProgress(CamelModel):
    """What the chain has shown about one transfer so far (persisted inside its intent)."""

    sent_tx: str | None = None  # hash of the source transaction that sent it
    sent_lt: int | None = None
    scan: ScanPoint | None = None  # a source scan that has not reached the intent's start yet
    dest_after_lt: int | None = None  # dest transactions at or below this lt were already looked at


@dataclass(frozen=True)
class Transfer:
    """One signed transfer as the chain should show it."""

    source: str  # raw address of the sending wallet
    dest: str  # raw address of the receiver
    seqno: int  # the source wallet's seqno the external uses
    valid_until: int
    amount_nano: int
    source_after_lt: int  # source transactions at or below this lt predate the intent
    dest_after_lt: int  # dest transactions at or below this lt predate the intent
    body_hash: bytes | None  # hash of the signed external body (None: match by destination and amount)


@dataclass(frozen=True)
class Resolution:
    state: TransferState
    progress: TransferProgress
    source: AccountState | None = None  # the checked source state read on the way, when read
    detail: str = ""

    @property
    def tx_hash(self) -> str | None:
        return self.progress.sent_tx


def wallet_seqno(state: AccountState) -> int:
    """The seqno of a wallet the operator signs for, read from its (checked) state: 0 until deployed;
    the cocoon wallet, V3R2/V4R2 and V5R1 layouts. Any other code is an error, never a guess."""
    if not state.is_active or state.data is None:
        return 0
    code = state.code.hash if state.code is not None else None
    data = Slice.from_cell(state.data)
    if code == cocoon_wallet_code().hash:
        return WalletStorage.from_cell(state.data).seqno
    if code in (WALLET_V4_R2_CODE.hash, WALLET_V3_R2_CODE.hash):
        return int(data.load_uint(32))
    if code == WALLET_V5_R1_CODE.hash:
        data.skip_bits(1)  # is_signature_allowed
        return int(data.load_uint(32))
    raise ChainError(
        f"wallet {state.address} runs code {code.hex() if code else 'none'}: not a V4R2/V5R1 or cocoon "
        "wallet, its seqno cannot be read"
    )


def _is_ours(tx: TxView, transfer: Transfer) -> bool:
    msg = tx.in_msg
    if tx.aborted or msg is None or not msg.external:
        return False
    if transfer.body_hash is not None:
        return msg.body is not None and msg.body.hash == transfer.body_hash
    return any(o.dest == transfer.dest and o.value == transfer.amount_nano for o in tx.out_msgs)


def _arrived(tx: TxView, transfer: Transfer) -> bool:
    msg = tx.in_msg
    return (
        msg is not None
        and not msg.external
        and msg.src == transfer.source
        and msg.value == transfer.amount_nano
        and not msg.bounced
    )


async def resolve(
    client: ChainClient,
    transfer: Transfer,
    progress: TransferProgress | None,
    *,
    settle: bool,
    scan_limit: int | None = None,
) -> Resolution:
    """Where `transfer` stands (see the module docstring); `settle` also follows the money to `dest`."""
    progress = progress or TransferProgress()
    if progress.sent_tx is None:
        source = await client.checked_state(transfer.source)
        if wallet_seqno(source) <= transfer.seqno:
            if await client.checked_time() > transfer.valid_until:
                return Resolution(TransferState.DEAD, progress, source, "expired before it applied")
            return Resolution(TransferState.PENDING, progress, source)
        start = progress.scan.cursor() if progress.scan is not None else None
        if start is None:
            if source.last_tx_lt <= transfer.source_after_lt:
                return Resolution(
                    TransferState.UNKNOWN, progress, source, "seqno moved without a transaction"
                )
            start = TxCursor(source.last_tx_lt, source.last_tx_hash)
        page = await client.transactions(
            transfer.source, to_lt=transfer.source_after_lt, start=start, limit=scan_limit
        )
        mine = next((tx for tx in page.transactions if _is_ours(tx, transfer)), None)
        if mine is None:
            if not page.complete:
                scan = ScanPoint.of(page.resume) if page.resume is not None else None
                progress = progress.model_copy(update={"scan": scan})
                return Resolution(
                    TransferState.UNKNOWN, progress, source, "the scan has not reached the intent"
                )
            return Resolution(TransferState.DEAD, progress, source, "the seqno went to another message")
        progress = progress.model_copy(update={"sent_tx": mine.hash, "sent_lt": mine.lt, "scan": None})
        if not settle:
            return Resolution(TransferState.SENT, progress, source)
    if not settle:
        return Resolution(TransferState.SENT, progress)
    return await _settle(client, transfer, progress, scan_limit)


async def _settle(
    client: ChainClient, transfer: Transfer, progress: TransferProgress, scan_limit: int | None
) -> Resolution:
    """Has `dest` received it? Only transactions after the last look are scanned."""
    dest = await client.checked_state(transfer.dest)
    after = max(transfer.dest_after_lt, progress.dest_after_lt or 0)
    if dest.last_tx_lt <= after:
        return Resolution(TransferState.SENT, progress, detail="in flight to the destination")
    page = await client.transactions(
        transfer.dest, to_lt=after, start=TxCursor(dest.last_tx_lt, dest.last_tx_hash), limit=scan_limit
    )
    if any(_arrived(tx, transfer) for tx in page.transactions):
        return Resolution(TransferState.SETTLED, progress)
    if page.complete:  # nothing older than this look can be it: look only at newer ones next time
        progress = progress.model_copy(update={"dest_after_lt": dest.last_tx_lt})
    return Resolution(TransferState.SENT, progress, detail="in flight to the destination")
