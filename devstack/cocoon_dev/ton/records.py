"""What the local chain hands out and keeps: errors, executed transactions, message results, parsed
accounts; and the message-cell helpers its cascade uses (pure: no chain state)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pytoniq.liteclient.client import LiteServerError
from pytoniq_core.boc.address import Address
from pytoniq_core.boc.builder import Builder
from pytoniq_core.boc.cell import Cell
from pytoniq_core.boc.slice import Slice
from pytoniq_core.crypto.crc import crc16
from pytoniq_core.tlb.account import ShardAccount, StateInit
from pytoniq_core.tlb.transaction import Transaction
from pytoniq_core.tlb.vm_stack import VmStack

from cocoon_dev.ton.boc import b64_to_cell, cell_to_b64

EXTERNAL_REJECTED_CODE = 0  # pytoniq surfaces it as LiteServerError(code, message)


class LocalChainError(RuntimeError):
    """A request the chain cannot serve (bad message, unknown transaction...). Names the field at fault."""


class ExternalNotAccepted(LiteServerError):
    """The destination contract did not accept the external message (the chain is unchanged).

    Subclasses pytoniq's `LiteServerError`, so the same `except` works in process and over the
    liteserver.
    """

    def __init__(self, address: str, exit_code: int | None, detail: str) -> None:
        self.address = address
        self.exit_code = exit_code
        super().__init__(
            EXTERNAL_REJECTED_CODE,
            f"cannot apply external message to current state : External message was not accepted "
            f"by {address}: exitcode={exit_code}: {detail}",
        )


def raw_address(address: Address | str) -> str:
    """The chain's account key: "wc:hex" (raw form), from any address form."""
    addr = Address(address) if isinstance(address, str) else address
    return f"{addr.wc}:{addr.hash_part.hex()}"


def method_id(method: str | int) -> int:
    """A get-method id, as pytoniq computes it (crc16 of the name, | 0x10000)."""
    if isinstance(method, int):
        return method
    return (int.from_bytes(crc16(method.encode()), "big") & 0xFFFF) | 0x10000


def synthetic_hash(*parts: object) -> bytes:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()


@dataclass(frozen=True)
class TxRecord:
    """One executed transaction as stored: account, lt, hash, block seqno and the BoC (base64)."""

    address: str
    lt: int
    hash: bytes
    seqno: int
    boc_b64: str

    @cached_property
    def cell(self) -> Cell:
        return b64_to_cell(self.boc_b64)

    @cached_property
    def transaction(self) -> Transaction:
        """The parsed pytoniq `Transaction` (in_msg, out_msgs, description with every phase)."""
        tx: Transaction = Transaction.deserialize(self.cell.begin_parse())
        return tx

    @property
    def aborted(self) -> bool:
        return bool(getattr(self.transaction.description, "aborted", False))

    @property
    def exit_code(self) -> int | None:
        """Compute-phase exit code, or None when the compute phase was skipped."""
        compute = getattr(self.transaction.description, "compute_ph", None)
        if compute is None or getattr(compute, "type_", "") != "vm":
            return None
        code: int = compute.exit_code
        return code

    @property
    def success(self) -> bool:
        """Compute phase ran with exit code 0/1 and the transaction was not aborted."""
        return not self.aborted and self.exit_code in (0, 1)


@dataclass
class MessageResult:
    """What one message did. `transactions` in execution (breadth-first) order, empty when pending."""

    transactions: list[TxRecord] = field(default_factory=list)
    seqno: int = 0
    duplicate: bool = False  # a copy of an already accepted message: answered, not executed
    pending: bool = False  # block-interval mode: accepted, executed when the next block is sealed

    @property
    def first(self) -> TxRecord:
        if not self.transactions:
            raise LocalChainError("the message produced no transaction (duplicate or pending)")
        return self.transactions[0]

    def for_account(self, address: Address | str) -> list[TxRecord]:
        key = raw_address(address)
        return [tx for tx in self.transactions if tx.address == key]


@dataclass
class GetMethodResult:
    exit_code: int
    stack_b64: str
    gas_used: int

    @property
    def stack(self) -> list[Any]:
        return list(VmStack.deserialize(Slice.one_from_boc(base64.b64decode(self.stack_b64))))


@dataclass
class ParsedAccount:
    """Parsed view of one ShardAccount BoC (cached per account while its BoC is unchanged)."""

    boc_b64: str
    cell: Cell
    shard_account: ShardAccount

    @cached_property
    def code_data_b64(self) -> tuple[str, str] | None:
        account = self.shard_account.account
        if account is None or account.storage.state.type_ != "account_active":
            return None
        state_init: StateInit = account.storage.state.state_init
        if state_init.code is None or state_init.data is None:
            return None
        return cell_to_b64(state_init.code), cell_to_b64(state_init.data)


def tx_lt_and_out_msgs(tx_cell: Cell) -> tuple[int, list[Cell]]:
    """lt and out message cells (in index order) of a transaction, without parsing everything."""
    s = tx_cell.begin_parse()
    s.skip_bits(4 + 256)
    lt = s.load_uint(64)
    msgs = tx_cell.refs[0].begin_parse()
    msgs.load_maybe_ref()
    out = msgs.load_dict(15, value_deserializer=lambda v: v.load_ref())
    if not out:
        return lt, []
    return lt, [out[k] for k in sorted(out)]


def internal_destination(msg_cell: Cell) -> str | None:
    """Destination key of an internal message cell; None for an outbound external (a log)."""
    s = msg_cell.begin_parse()
    if s.load_bit():  # ext_out_msg_info$11
        return None
    s.skip_bits(3)  # ihr_disabled, bounce, bounced
    s.load_address()  # src
    dest = s.load_address()
    return raw_address(dest) if dest is not None else None


def internal_message(
    src: Address,
    dest: Address,
    value: int,
    body: Cell | None,
    state_init: StateInit | None,
    bounce: bool,
    lt: int,
    now: int,
) -> Cell:
    """int_msg_info$0 with ihr_disabled, no fees; body and state_init as refs."""
    b: Builder = Builder()
    b.store_uint(0, 1).store_bit(1).store_bit(1 if bounce else 0).store_bit(0)
    b.store_address(src).store_address(dest).store_coins(value).store_bit(0)  # no extra currencies
    b.store_coins(0).store_coins(0).store_uint(lt, 64).store_uint(now, 32)
    if state_init is not None:
        b.store_bit(1).store_bit(1).store_ref(state_init.serialize())
    else:
        b.store_bit(0)
    if body is not None:
        b.store_bit(1).store_ref(body)
    else:
        b.store_bit(0)
    return b.end_cell()


def shard_account_balance(shard_account_b64: str) -> int:
    """The balance (nanoTON) in an emulator's shard account; 0 for an account that does not exist."""
    parsed = ShardAccount.deserialize(b64_to_cell(shard_account_b64).begin_parse())
    account = parsed.account
    return int(account.storage.balance.grams) if account is not None and account.storage is not None else 0


class FrozenView:
    """Account states frozen at one block: what a liteserver that lags behind would answer."""

    def __init__(self, accounts: dict[str, str], seqno: int, lt: int, now: int) -> None:
        self._accounts, self.seqno, self.lt, self.now = accounts, seqno, lt, now

    def shard_account_cell(self, address: Address | str) -> Cell | None:
        boc = self._accounts.get(raw_address(address))
        return b64_to_cell(boc) if boc is not None else None

    def balance(self, address: Address | str) -> int:
        cell = self.shard_account_cell(address)
        if cell is None:
            return 0
        account = ShardAccount.deserialize(cell.begin_parse()).account
        return int(account.storage.balance.grams) if account is not None else 0


@dataclass
class Pending:
    """An external waiting for the next block (block-interval mode)."""

    boc: bytes
    msg_hash: bytes


@dataclass
class Cascade:
    """What one message caused, computed on an overlay of the state and committed at once."""

    accounts: dict[str, str]
    records: list[TxRecord]
    lt: int
    deferred: list[tuple[int, str, str]] = field(default_factory=list)  # held-back deliveries
    traced: list[tuple[str, int, int]] = field(default_factory=list)  # (address, lt, balance after)


def set_result_safe(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
