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

from cocoon_operator.ton.cells import (
    LayoutError,
    begin,
    check_coins,
    check_uint,
    ensure_end,
    load_address,
    load_coins,
    load_maybe_ref,
    load_ref,
    load_uint,
    op_query,
    parse_cell,
    store_address,
    store_maybe_ref,
)
from cocoon_operator.ton.ops import Op

# --- messages -------------------------------------------------------------------------------------

_PAYOUT_REQUEST_OPS: Final = (Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED, Op.EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED)


@dataclass(frozen=True)
class SignedPayout:
    """The signed inner cell: `op query_id new_tokens:uint64 expected_my_address` (§7.4)."""

    query_id: int
    new_tokens: int
    expected_my_address: Address
    op: int = Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED

    def to_cell(self) -> Cell:
        if self.op not in _PAYOUT_REQUEST_OPS:
            raise LayoutError(f"signed payout op {self.op:#010x} is not a payout request")
        b: Builder = begin().store_uint(self.op, 32)
        b.store_uint(check_uint(self.query_id, 64, "query_id"), 64)
        b.store_uint(check_uint(self.new_tokens, 64, "new_tokens"), 64)
        store_address(b, self.expected_my_address)
        return b.end_cell()

    @classmethod
    def from_cell(cls, cell: Cell) -> SignedPayout:
        s = parse_cell(cell)
        op = load_uint(s, 32, "signed_payout.op")
        if op not in _PAYOUT_REQUEST_OPS:
            raise LayoutError(f"signed_payout.op: {op:#010x} is not a payout request")
        query_id = load_uint(s, 64, "signed_payout.query_id")
        new_tokens = load_uint(s, 64, "signed_payout.new_tokens")
        address = load_address(s, "signed_payout.expected_my_address")
        ensure_end(s, "signed payout")
        return cls(query_id=query_id, new_tokens=new_tokens, expected_my_address=address, op=op)


@dataclass(frozen=True)
class PayoutRequest:
    """`op query_id send_excesses_to signature:bits512 inner:^SignedPayout` (§7.4).

    `inner` is kept as the original cell: the signature covers its representation hash.
    """

    query_id: int
    send_excesses_to: Address
    signature: bytes = field(repr=False)
    inner: Cell = field(repr=False)
    op: int = Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED

    @property
    def payout(self) -> SignedPayout:
        return SignedPayout.from_cell(self.inner)

    def to_cell(self) -> Cell:
        if self.op not in _PAYOUT_REQUEST_OPS:
            raise LayoutError(f"payout request op {self.op:#010x} is not a payout request")
        if len(self.signature) != 64:
            raise LayoutError("payout request signature must be 64 bytes")
        b: Builder = begin().store_uint(self.op, 32)
        b.store_uint(check_uint(self.query_id, 64, "query_id"), 64)
        store_address(b, self.send_excesses_to)
        b.store_bytes(self.signature)
        b.store_ref(self.inner)
        return b.end_cell()

    @classmethod
    def load_after_op(cls, op: int, s: Slice) -> PayoutRequest:
        query_id = load_uint(s, 64, "payout_request.query_id")
        excesses_to = load_address(s, "payout_request.send_excesses_to")
        if s.remaining_bits < 512:
            raise LayoutError("payout_request.signature: needs 512 bits")
        signature = s.load_bytes(64)
        inner = load_ref(s, "payout_request.inner")
        ensure_end(s, "payout request")
        return cls(query_id=query_id, send_excesses_to=excesses_to, signature=signature, inner=inner, op=op)

    @classmethod
    def from_cell(cls, cell: Cell) -> PayoutRequest:
        s = parse_cell(cell)
        op = load_uint(s, 32, "payout_request.op")
        if op not in _PAYOUT_REQUEST_OPS:
            raise LayoutError(f"payout_request.op: {op:#010x} is not a payout request")
        return cls.load_after_op(op, s)


@dataclass(frozen=True)
class WorkerProxyPayout:
    """`op:uint32 (=0x08e7d036) worker_part:Coins proxy_part:Coins send_excesses_to` (§7.4)."""

    worker_part: int
    proxy_part: int
    send_excesses_to: Address

    def to_cell(self) -> Cell:
        b: Builder = begin().store_uint(Op.WORKER_PROXY_PAYOUT, 32)
        b.store_coins(check_coins(self.worker_part, "worker_part"))
        b.store_coins(check_coins(self.proxy_part, "proxy_part"))
        store_address(b, self.send_excesses_to)
        return b.end_cell()

    @classmethod
    def from_cell(cls, cell: Cell) -> WorkerProxyPayout:
        s = parse_cell(cell)
        op = load_uint(s, 32, "worker_proxy_payout.op")
        if op != Op.WORKER_PROXY_PAYOUT:
            raise LayoutError(f"worker_proxy_payout.op: {op:#010x}, expected 0x08e7d036")
        worker_part = load_coins(s, "worker_proxy_payout.worker_part")
        proxy_part = load_coins(s, "worker_proxy_payout.proxy_part")
        excesses_to = load_address(s, "worker_proxy_payout.send_excesses_to")
        ensure_end(s, "worker proxy payout")
        return cls(worker_part, proxy_part, excesses_to)


@dataclass(frozen=True)
class WorkerProxyRequest:
    """`worker_proxy_request#4d725d2c query_id owner state:uint2 tokens:uint64 payload:(Maybe ^...)`."""

    query_id: int
    owner_address: Address
    state: int
    tokens: int
    payload: WorkerProxyPayout | None = None

    def to_cell(self) -> Cell:
        b: Builder = begin().store_uint(Op.WORKER_PROXY_REQUEST, 32)
        b.store_uint(check_uint(self.query_id, 64, "query_id"), 64)
        store_address(b, self.owner_address)
        b.store_uint(check_uint(self.state, 2, "state"), 2)
        b.store_uint(check_uint(self.tokens, 64, "tokens"), 64)
        store_maybe_ref(b, self.payload.to_cell() if self.payload else None)
        return b.end_cell()

    @classmethod
    def load_after_op(cls, s: Slice) -> WorkerProxyRequest:
        query_id = load_uint(s, 64, "worker_proxy_request.query_id")
        owner = load_address(s, "worker_proxy_request.owner_address")
        state = load_uint(s, 2, "worker_proxy_request.state")
        tokens = load_uint(s, 64, "worker_proxy_request.tokens")
        payload_cell = load_maybe_ref(s, "worker_proxy_request.payload")
        ensure_end(s, "worker proxy request")
        payload = WorkerProxyPayout.from_cell(payload_cell) if payload_cell is not None else None
        return cls(query_id, owner, state, tokens, payload)


@dataclass(frozen=True)
class Excesses:
    """`excesses#2565934c query_id:uint64`."""

    query_id: int

    def to_cell(self) -> Cell:
        return op_query(Op.EXCESSES, self.query_id)


@dataclass(frozen=True)
class Payout:
    """`payout#c59a7cd3 query_id:uint64`: the worker owner's reward (value = worker_part)."""

    query_id: int

    def to_cell(self) -> Cell:
        return op_query(Op.PAYOUT, self.query_id)


@dataclass(frozen=True)
class OwnerWorkerRegister:
    """`owner_worker_register#26ed7f65 query_id:uint64 send_excesses_to`."""

    query_id: int
    send_excesses_to: Address

    def to_cell(self) -> Cell:
        b: Builder = begin().store_uint(Op.OWNER_WORKER_REGISTER, 32).store_uint(self.query_id, 64)
        return store_address(b, self.send_excesses_to).end_cell()


@dataclass(frozen=True)
class ProxySaveState:
    """`proxy_save_state#53109c0f seqno:int32 unique_hash:bits256` (a proxy's on-chain commit, §9.5)."""

    seqno: int
    unique_hash: bytes


@dataclass(frozen=True)
class DoNotProcess:
    """`do_not_process#9a1247c0 query_id:uint64 ...`; `commit` is set for proxy_save_state commits."""

    query_id: int
    commit: ProxySaveState | None = None

    def to_cell(self) -> Cell:
        b: Builder = begin().store_uint(Op.DO_NOT_PROCESS, 32).store_uint(self.query_id, 64)
        if self.commit is not None:
            if len(self.commit.unique_hash) != 32:
                raise LayoutError("proxy_save_state.unique_hash must be 32 bytes")
            b.store_uint(Op.PROXY_SAVE_STATE, 32).store_int(self.commit.seqno, 32)
            b.store_bytes(self.commit.unique_hash)
        return b.end_cell()


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


def _parse_query_only(s: Slice, what: str) -> int:
    query_id = load_uint(s, 64, f"{what}.query_id")
    ensure_end(s, what)
    return query_id


def _parse_do_not_process(s: Slice) -> DoNotProcess:
    query_id = load_uint(s, 64, "do_not_process.query_id")
    commit = None
    if s.remaining_bits >= 32 + 32 + 256 and s.preload_uint(32) == Op.PROXY_SAVE_STATE:
        s.load_uint(32)
        seqno = int(s.load_int(32))
        commit = ProxySaveState(seqno=seqno, unique_hash=s.load_bytes(32))
    return DoNotProcess(query_id=query_id, commit=commit)


_BodyParser = Callable[[Slice], ParsedBody]

_PARSERS: dict[int, _BodyParser] = {
    Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED: lambda s: PayoutRequest.load_after_op(
        Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED, s
    ),
    Op.EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED: lambda s: PayoutRequest.load_after_op(
        Op.EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED, s
    ),
    Op.WORKER_PROXY_REQUEST: WorkerProxyRequest.load_after_op,
    Op.EXCESSES: lambda s: Excesses(_parse_query_only(s, "excesses")),
    Op.PAYOUT: lambda s: Payout(_parse_query_only(s, "payout")),
    Op.OWNER_WORKER_REGISTER: lambda s: _parse_owner_worker_register(s),
    Op.DO_NOT_PROCESS: _parse_do_not_process,
}


def _parse_owner_worker_register(s: Slice) -> OwnerWorkerRegister:
    query_id = load_uint(s, 64, "owner_worker_register.query_id")
    excesses_to = load_address(s, "owner_worker_register.send_excesses_to")
    ensure_end(s, "owner_worker_register")
    return OwnerWorkerRegister(query_id, excesses_to)


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
    return parser(s)


def body_query_id(cell: Cell | None) -> int | None:
    """Bits 32-95 of a body (the query_id of every `op query_id ...` message), if present."""
    if cell is None:
        return None
    s = parse_cell(cell)
    if s.remaining_bits < 96:
        return None
    s.skip_bits(32)
    return int(s.load_uint(64))
