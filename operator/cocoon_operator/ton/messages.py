"""Bit-exact codecs of the COCOON messages the operator reads or sends: signed payouts and their
requests, the worker/proxy exchange, payouts, excesses, text commands (cocoon-protocol.md §7-§10);
`parse_body` names any body the contracts send.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, TypeAlias

from pytoniq_core.boc.address import Address
from pytoniq_core.boc.builder import Builder
from pytoniq_core.boc.cell import Cell
from pytoniq_core.boc.slice import Slice

from cocoon_operator.ton.cells import LayoutError, begin, parse_cell
from cocoon_operator.ton.ops import Op
from cocoon_operator.ton.tlb import Layout, OneOf, Struct

# --- messages -------------------------------------------------------------------------------------

_PAYOUT_REQUEST_OP: Final = OneOf(  # a payout request's op is a field: it comes in two kinds
    32,
    (Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED, Op.EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED),
    "{what}: {value:#010x} is not a payout request",
)


@dataclass(frozen=True)
class SignedPayout(Struct):
    """The signed inner cell of a payout request: cumulative tokens for one worker contract (§7.4)."""

    query_id: int
    new_tokens: int
    expected_my_address: Address
    op: int = Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED

    LAYOUT = Layout(
        "signed_payout op:Op query_id:uint64 new_tokens:uint64 expected_my_address:MsgAddress",
        types={"Op": _PAYOUT_REQUEST_OP},
    )


@dataclass(frozen=True)
class PayoutRequest(Struct):
    """A proxy-signed payout request, as submitted to the worker contract (§7.4).

    `inner` (a SignedPayout) is kept as the original cell: the signature covers its representation hash.
    """

    query_id: int
    send_excesses_to: Address
    signature: bytes = field(repr=False)
    inner: Cell = field(repr=False)
    op: int = Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED

    LAYOUT = Layout(
        "payout_request op:Op query_id:uint64 send_excesses_to:MsgAddress signature:bits512 inner:^Cell",
        types={"Op": _PAYOUT_REQUEST_OP},
    )

    @property
    def payout(self) -> SignedPayout:
        return SignedPayout.from_cell(self.inner)


@dataclass(frozen=True)
class WorkerProxyPayout(Struct):
    """The payout split a worker contract sends to its proxy contract (§7.4)."""

    worker_part: int
    proxy_part: int
    send_excesses_to: Address

    LAYOUT = Layout(
        f"worker_proxy_payout#{Op.WORKER_PROXY_PAYOUT:08x} worker_part:Coins proxy_part:Coins"
        " send_excesses_to:MsgAddress"
    )


@dataclass(frozen=True)
class WorkerProxyRequest(Struct):
    """A worker contract's message to its proxy contract, with a payout split as payload or none."""

    query_id: int
    owner_address: Address
    state: int
    tokens: int
    payload: WorkerProxyPayout | None = None

    LAYOUT = Layout(
        f"worker_proxy_request#{Op.WORKER_PROXY_REQUEST:08x} query_id:uint64 owner_address:MsgAddress"
        " state:uint2 tokens:uint64 payload:(Maybe ^WorkerProxyPayout)"
    )


@dataclass(frozen=True)
class Excesses(Struct):
    """What is left of a message's value, returned."""

    query_id: int

    LAYOUT = Layout(f"excesses#{Op.EXCESSES:08x} query_id:uint64")


@dataclass(frozen=True)
class Payout(Struct):
    """The worker owner's reward (value = worker_part)."""

    query_id: int

    LAYOUT = Layout(f"payout#{Op.PAYOUT:08x} query_id:uint64")


@dataclass(frozen=True)
class OwnerWorkerRegister(Struct):
    """The worker owner's op that registers a worker contract."""

    query_id: int
    send_excesses_to: Address

    LAYOUT = Layout(
        f"owner_worker_register#{Op.OWNER_WORKER_REGISTER:08x} query_id:uint64 send_excesses_to:MsgAddress"
    )


@dataclass(frozen=True)
class ProxySaveState(Struct):
    """A proxy's on-chain commit (§9.5)."""

    seqno: int
    unique_hash: bytes

    LAYOUT = Layout(f"proxy_save_state#{Op.PROXY_SAVE_STATE:08x} seqno:int32 unique_hash:bits256")


_PROXY_SAVE_STATE_BITS: Final = 32 + 32 + 256


@dataclass(frozen=True)
class DoNotProcess(Struct):
    """`do_not_process` with any payload; `commit` is set for proxy_save_state commits.

    Anything may follow the query_id: a load takes a proxy_save_state commit when one is there and
    ignores the rest."""

    query_id: int
    commit: ProxySaveState | None = None

    LAYOUT = Layout(f"do_not_process#{Op.DO_NOT_PROCESS:08x} query_id:uint64")

    def store(self, b: Builder) -> Builder:
        super().store(b)
        return self.commit.store(b) if self.commit is not None else b

    @classmethod
    def load(cls, s: Slice) -> DoNotProcess:
        query_id: int = cls.LAYOUT.load(s)["query_id"]
        commit = None
        if s.remaining_bits >= _PROXY_SAVE_STATE_BITS and s.preload_uint(32) == Op.PROXY_SAVE_STATE:
            commit = ProxySaveState.load(s)
        return cls(query_id=query_id, commit=commit)

    @classmethod
    def from_cell(cls, cell: Cell) -> DoNotProcess:
        return cls.load(parse_cell(cell))


@dataclass(frozen=True)
class TextCommand:
    """A text op: 32 zero bits then ASCII (the owner ops "w", "b", "u", "c")."""

    text: str

    def to_cell(self) -> Cell:
        return text_body(self.text)


@dataclass(frozen=True)
class UnknownBody:
    """A body whose opcode this module does not decode (or that is too short to carry one)."""

    op: int | None
    cell: Cell


ParsedBody: TypeAlias = (
    PayoutRequest
    | WorkerProxyRequest
    | Excesses
    | Payout
    | OwnerWorkerRegister
    | DoNotProcess
    | TextCommand
    | UnknownBody
)


def text_body(text: str) -> Cell:
    """Op 0 followed by the ASCII text, in one cell (owner text ops are a single character)."""
    raw = text.encode("ascii")
    if len(raw) > 123:
        raise LayoutError("text op longer than one cell")
    b = begin()
    b.store_uint(0, 32)
    b.store_bytes(raw)
    return b.end_cell()


# Each decodes the whole body again, opcode included.
_PARSERS: dict[int, Callable[[Cell], ParsedBody]] = {
    Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED: PayoutRequest.from_cell,
    Op.EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED: PayoutRequest.from_cell,
    Op.WORKER_PROXY_REQUEST: WorkerProxyRequest.from_cell,
    Op.EXCESSES: Excesses.from_cell,
    Op.PAYOUT: Payout.from_cell,
    Op.OWNER_WORKER_REGISTER: OwnerWorkerRegister.from_cell,
    Op.DO_NOT_PROCESS: DoNotProcess.from_cell,
}


def parse_body(cell: Cell | None) -> ParsedBody | None:
    """Decode a message body by its opcode. `None` for an empty body.

    Known opcodes are decoded strictly (LayoutError on a malformed body); unknown ones come back as
    `UnknownBody` so transaction scans can skip them.
    """
    if cell is None:
        return None
    s = parse_cell(cell)
    if s.remaining_bits == 0 and s.remaining_refs == 0:
        return None
    if s.remaining_bits < 32:
        return UnknownBody(op=None, cell=cell)
    op = int(s.load_uint(32))
    if op == 0:
        if s.remaining_bits % 8:
            return UnknownBody(op=0, cell=cell)
        try:
            return TextCommand(s.load_bytes(s.remaining_bits // 8).decode("ascii"))
        except UnicodeDecodeError:
            return UnknownBody(op=0, cell=cell)
    parser = _PARSERS.get(op)
    if parser is None:
        return UnknownBody(op=op, cell=cell)
    return parser(cell)


def body_query_id(cell: Cell | None) -> int | None:
    """Bits 32-95 of a body (the query_id of every `op query_id ...` message), if present."""
    if cell is None:
        return None
    s = parse_cell(cell)
    if s.remaining_bits < 96:
        return None
    s.skip_bits(32)
    return int(s.load_uint(64))
