"""Bit-exact cell codecs of the COCOON contracts' storage and messages (cocoon-protocol.md §6-§10).

Every `from_cell`/`load` rejects trailing bits and refs, like the official runner's parsers do
("extra data ..."), and every `to_cell`/`store` writes exactly the published layout. Amounts are
integers of nanoTON; addresses are `addr_std` in workchain 0 (anycast is refused).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Final, TypeAlias

from pytoniq_core.boc.address import Address
from pytoniq_core.boc.builder import Builder
from pytoniq_core.boc.cell import Cell
from pytoniq_core.boc.hashmap.hashmap import HashMap
from pytoniq_core.boc.slice import Slice

PARAMS_STRUCT_VERSION: Final = 3  # what the official contracts write and read
# The params layouts the official runner parses (RootContractConfig): v1 added the stakes, v2 the
# cached and reasoning multipliers, v3 the prompt and completion ones; older fields default.
PARAMS_STRUCT_VERSIONS: Final = (0, 1, 2, 3)
DEFAULT_STAKE: Final = 1_000_000_000
DEFAULT_MULTIPLIER: Final = 10_000  # multipliers are fixed-point /10000


class LayoutError(ValueError):
    """A cell does not match the published layout (wrong tag, version, size or trailing data)."""


class Op(IntEnum):
    """Opcodes of the COCOON contracts (cocoon-protocol.md §6.3, §7.4, §9.3, §10.4)."""

    EXCESSES = 0x2565934C
    PAYOUT = 0xC59A7CD3
    DO_NOT_PROCESS = 0x9A1247C0
    PROXY_SAVE_STATE = 0x53109C0F
    # root owner ops
    ADD_WORKER_TYPE = 0xE34B1C60
    DEL_WORKER_TYPE = 0x8D94A79A
    ADD_MODEL_TYPE = 0xC146134D
    DEL_MODEL_TYPE = 0x92B11C18
    ADD_PROXY_TYPE = 0x71860E80
    DEL_PROXY_TYPE = 0x3C41D0B2
    REGISTER_PROXY = 0x927C7CB5
    UNREGISTER_PROXY = 0x6D49EAF2
    UPDATE_PROXY = 0x9C7924BA
    CHANGE_PRICE = 0xC52ED8D4
    CHANGE_PARAMS = 0x022FA189
    UPGRADE_CONTRACTS = 0xA2370F61
    UPGRADE = 0x11AEFD51
    RESET = 0x563C1D96
    UPGRADE_FULL = 0x4F7C5789
    CHANGE_OWNER = 0xC4A1AE54
    CHANGE_PARAMS_FULL = 0x9F1E69DC
    # worker contract
    EXT_WORKER_PAYOUT_REQUEST_SIGNED = 0xA040AD28
    EXT_WORKER_LAST_PAYOUT_REQUEST_SIGNED = 0xF5F26A36
    OWNER_WORKER_REGISTER = 0x26ED7F65
    WORKER_PROXY_REQUEST = 0x4D725D2C
    WORKER_PROXY_PAYOUT = 0x08E7D036
    # proxy contract
    EXT_PROXY_PAYOUT_REQUEST = 0x7610E6EB
    EXT_PROXY_INCREASE_STAKE = 0x9713F187
    OWNER_PROXY_CLOSE = 0xB51D5A01
    EXT_PROXY_CLOSE_REQUEST_SIGNED = 0x636A4391
    EXT_PROXY_CLOSE_COMPLETE_REQUEST_SIGNED = 0xE511ABC7
    # cocoon wallet
    OWNER_WALLET_SEND_MESSAGE = 0x9C69F376


class CocoonError(IntEnum):
    """Exit codes of the COCOON contracts (cocoon-protocol.md §7.5, §10.3, §10.4)."""

    OLD_MESSAGE = 1000
    LOW_SMC_BALANCE = 1001
    LOW_BALANCE = 1002
    LOW_MSG_VALUE = 1003
    MSG_FORMAT_MISMATCH = 1004
    SIGNED_MSG_FORMAT_MISMATCH = 1005
    CLOSED = 1006
    BAD_SIGNATURE = 1007
    STORED_DATA_DAMAGED = 1008
    EXPECTED_OWNER = 1009
    EXPECTED_MESSAGE_FROM_OWNER = 1010
    NOT_UNLOCKED_YET = 1011
    UNKNOWN_OP = 1012
    UNKNOWN_TEXT_OP = 1013
    CONTRACT_ADDRESS_MISMATCH = 1014
    EXPECTED_MY_ADDRESS = 1015
    UNKNOWN_PROXY_TYPE = 2000
    # cocoon wallet
    WALLET_EXPIRED = 1030
    WALLET_BLOCKED = 1031
    WALLET_BAD_SEQNO = 1032
    WALLET_BAD_SUBWALLET = 1033
    WALLET_BAD_SIGNATURE = 1034
    WALLET_LOW_BALANCE = 1035
    WALLET_NOT_OWNER = 1040
    WALLET_UNKNOWN_OP = 1041


class WorkerState(IntEnum):
    NORMAL = 0
    CLOSED = 2


class ProxyState(IntEnum):
    NORMAL = 0
    CLOSING = 1
    CLOSED = 2


# --- primitives ---------------------------------------------------------------------------------


def _begin() -> Builder:
    return Builder()


def _parse(cell: Cell) -> Slice:
    s: Slice = Slice.from_cell(cell)
    return s


def _ensure_end(s: Slice, what: str) -> None:
    if s.remaining_bits or s.remaining_refs:
        raise LayoutError(f"{what}: {s.remaining_bits} trailing bits and {s.remaining_refs} trailing refs")


def _check_uint(value: int, bits: int, what: str) -> int:
    if not 0 <= value < (1 << bits):
        raise LayoutError(f"{what}: {value} does not fit in uint{bits}")
    return value


def _check_coins(value: int, what: str) -> int:
    if not 0 <= value < (1 << 120):
        raise LayoutError(f"{what}: {value} is not a valid Coins amount (nanoTON)")
    return value


def _load_uint(s: Slice, bits: int, what: str) -> int:
    if s.remaining_bits < bits:
        raise LayoutError(f"{what}: needs {bits} bits, only {s.remaining_bits} left")
    return int(s.load_uint(bits))


def _load_coins(s: Slice, what: str) -> int:
    try:
        return int(s.load_coins())
    except Exception as exc:  # pytoniq raises bare errors on underflow
        raise LayoutError(f"{what}: not a valid Coins field") from exc


def _load_ref(s: Slice, what: str) -> Cell:
    if s.remaining_refs < 1:
        raise LayoutError(f"{what}: missing reference")
    return s.load_ref()


def _load_maybe_ref(s: Slice, what: str) -> Cell | None:
    if _load_uint(s, 1, what):
        return _load_ref(s, what)
    return None


def load_address(s: Slice, what: str) -> Address:
    """Load an `addr_std` without anycast (267 bits): the only MsgAddress COCOON uses."""
    if s.remaining_bits < 267 or s.preload_uint(3) != 0b100:
        raise LayoutError(f"{what}: expected addr_std without anycast (267 bits)")
    addr = s.load_address()
    if not isinstance(addr, Address):  # pragma: no cover - excluded by the tag check
        raise LayoutError(f"{what}: expected addr_std")
    return addr


def _store_address(b: Builder, address: Address) -> Builder:
    b.store_address(address)
    return b


def _store_maybe_ref(b: Builder, cell: Cell | None) -> Builder:
    b.store_maybe_ref(cell)
    return b


def _op_query(op: int, query_id: int) -> Cell:
    b = _begin()
    b.store_uint(op, 32)
    b.store_uint(_check_uint(query_id, 64, "query_id"), 64)
    return b.end_cell()


# --- params (struct_version 0..3) ---------------------------------------------------------------

# The uint32 fields in layout order, with the struct version that introduced each.
_PARAMS_U32: Final = (
    ("prompt_tokens_price_multiplier", 3),
    ("cached_tokens_price_multiplier", 2),
    ("completion_tokens_price_multiplier", 3),
    ("reasoning_tokens_price_multiplier", 2),
    ("proxy_delay_before_close", 0),
    ("client_delay_before_close", 0),
)
_PARAMS_STAKES: Final = ("min_proxy_stake", "min_client_stake")  # Coins, since struct_version 1


@dataclass(frozen=True)
class Params:
    """Root params (cocoon-protocol.md §6.1) in any layout the official runner accepts (0..3).

    Defaults are the deploy script's. A field an older layout lacks takes the runner's default and is
    not stored, so re-packing gives the very cell that was parsed (worker and proxy contract addresses
    derive from it)."""

    params_version: int = 0
    unique_id: int = 17
    is_test: bool = True
    price_per_token: int = 2
    worker_fee_per_token: int = 1
    prompt_tokens_price_multiplier: int = DEFAULT_MULTIPLIER
    cached_tokens_price_multiplier: int = DEFAULT_MULTIPLIER
    completion_tokens_price_multiplier: int = DEFAULT_MULTIPLIER
    reasoning_tokens_price_multiplier: int = DEFAULT_MULTIPLIER
    proxy_delay_before_close: int = 86_400
    client_delay_before_close: int = 86_400
    min_proxy_stake: int = DEFAULT_STAKE
    min_client_stake: int = DEFAULT_STAKE
    proxy_sc_code: Cell | None = None
    worker_sc_code: Cell | None = None
    client_sc_code: Cell | None = None
    struct_version: int = PARAMS_STRUCT_VERSION

    def __post_init__(self) -> None:
        if self.struct_version not in PARAMS_STRUCT_VERSIONS:
            raise LayoutError(f"unexpected params struct version: {self.struct_version}")

    def store(self, b: Builder) -> Builder:
        version = self.struct_version
        b.store_uint(version, 8)
        b.store_uint(_check_uint(self.params_version, 32, "params_version"), 32)
        b.store_uint(_check_uint(self.unique_id, 32, "unique_id"), 32)
        b.store_uint(1 if self.is_test else 0, 1)
        b.store_coins(_check_coins(self.price_per_token, "price_per_token"))
        b.store_coins(_check_coins(self.worker_fee_per_token, "worker_fee_per_token"))
        for name, since in _PARAMS_U32:
            if version >= since:
                b.store_uint(_check_uint(getattr(self, name), 32, name), 32)
        if version >= 1:
            for name in _PARAMS_STAKES:
                b.store_coins(_check_coins(getattr(self, name), name))
        _store_maybe_ref(b, self.proxy_sc_code)
        _store_maybe_ref(b, self.worker_sc_code)
        _store_maybe_ref(b, self.client_sc_code)
        return b

    def to_cell(self) -> Cell:
        return self.store(_begin()).end_cell()

    @classmethod
    def load(cls, s: Slice) -> Params:
        version = _load_uint(s, 8, "params.struct_version")
        if version not in PARAMS_STRUCT_VERSIONS:
            raise LayoutError(f"unexpected params struct version: {version} (the runner reads 0..3)")
        fields: dict[str, int] = {
            "params_version": _load_uint(s, 32, "params.params_version"),
            "unique_id": _load_uint(s, 32, "params.unique_id"),
            "is_test": _load_uint(s, 1, "params.is_test"),
            "price_per_token": _load_coins(s, "params.price_per_token"),
            "worker_fee_per_token": _load_coins(s, "params.worker_fee_per_token"),
        }
        for name, since in _PARAMS_U32:
            if version >= since:
                fields[name] = _load_uint(s, 32, f"params.{name}")
        if version >= 1:
            for name in _PARAMS_STAKES:
                fields[name] = _load_coins(s, f"params.{name}")
        proxy_code = _load_maybe_ref(s, "params.proxy_sc_code")
        worker_code = _load_maybe_ref(s, "params.worker_sc_code")
        client_code = _load_maybe_ref(s, "params.client_sc_code")
        is_test = bool(fields.pop("is_test"))
        return cls(
            **fields,
            is_test=is_test,
            proxy_sc_code=proxy_code,
            worker_sc_code=worker_code,
            client_sc_code=client_code,
            struct_version=version,
        )

    @classmethod
    def from_cell(cls, cell: Cell) -> Params:
        s = _parse(cell)
        params = cls.load(s)
        _ensure_end(s, "params")
        return params

    def without_code(self) -> Params:
        """The params as a worker contract stores them (three zero Maybe bits, §7.1)."""
        return replace(self, proxy_sc_code=None, worker_sc_code=None, client_sc_code=None)

    def for_proxy(self) -> Params:
        """The params as a proxy contract stores them: worker and client code only (§9.1)."""
        return replace(self, proxy_sc_code=None)

    @property
    def proxy_part_per_token(self) -> int:
        return self.price_per_token - self.worker_fee_per_token


# --- root -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxyDesc:
    """`type:uint1 len:uint7 addr:(len bytes)`; `address` is "ip:port" or "ipW:portW ipC:portC"."""

    address: str
    type: int = 0

    def store(self, b: Builder) -> Builder:
        raw = self.address.encode("ascii")
        if len(raw) > 127:
            raise LayoutError(f"proxy address {self.address!r} is longer than 127 bytes")
        b.store_uint(_check_uint(self.type, 1, "proxy type"), 1)
        b.store_uint(len(raw), 7)
        b.store_bytes(raw)
        return b

    def to_cell(self) -> Cell:
        return self.store(_begin()).end_cell()

    @classmethod
    def load(cls, s: Slice) -> ProxyDesc:
        type_ = _load_uint(s, 1, "proxy_desc.type")
        length = _load_uint(s, 7, "proxy_desc.len")
        if s.remaining_bits < length * 8:
            raise LayoutError(f"proxy_desc.addr: needs {length} bytes, only {s.remaining_bits} bits left")
        raw = s.load_bytes(length)
        try:
            address = raw.decode("ascii")
        except UnicodeDecodeError as exc:
            raise LayoutError("proxy_desc.addr: not ASCII") from exc
        return cls(address=address, type=type_)

    @property
    def worker_endpoint(self) -> str:
        """The endpoint workers connect to (the first of the two forms)."""
        return self.address.split(" ")[0]

    @property
    def client_endpoint(self) -> str:
        parts = self.address.split(" ")
        return parts[1] if len(parts) > 1 else parts[0]


def _unit_serializer(_value: object, _dest: Builder) -> None:
    return None


def _store_hash_set(b: Builder, hashes: frozenset[bytes], what: str) -> Builder:
    mapping = HashMap(256, value_serializer=_unit_serializer)
    for h in sorted(hashes):
        if len(h) != 32:
            raise LayoutError(f"{what}: hash must be 32 bytes, got {len(h)}")
        mapping.set_int_key(int.from_bytes(h, "big"), None)
    b.store_dict(mapping.serialize())
    return b


def _load_dict(s: Slice, key_bits: int, what: str) -> dict[int, Slice]:
    if _load_uint(s, 1, what):
        root = _load_ref(s, what)
        parsed = HashMap.parse(_parse(root), key_bits)
        return dict(parsed or {})
    return {}


def _load_hash_set(s: Slice, what: str) -> frozenset[bytes]:
    entries = _load_dict(s, 256, what)
    for key, value in entries.items():
        _ensure_end(value, f"{what}[{key:064x}]")
    return frozenset(key.to_bytes(32, "big") for key in entries)


@dataclass(frozen=True)
class RootStorage:
    """`owner_address version:uint32 data:^RootData params:^Params` (§6.1)."""

    owner_address: Address
    params: Params
    version: int = 0
    proxy_hashes: frozenset[bytes] = frozenset()
    registered_proxies: Mapping[int, ProxyDesc] = field(default_factory=dict)
    last_proxy_seqno: int = 0
    worker_hashes: frozenset[bytes] = frozenset()
    model_hashes: frozenset[bytes] = frozenset()

    def data_cell(self) -> Cell:
        b = _begin()
        _store_hash_set(b, self.proxy_hashes, "proxy_hashes")
        proxies = HashMap(32, value_serializer=lambda desc, dest: desc.store(dest))
        for seqno, desc in sorted(self.registered_proxies.items()):
            proxies.set_int_key(_check_uint(seqno, 32, "proxy seqno"), desc)
        b.store_dict(proxies.serialize())
        b.store_uint(_check_uint(self.last_proxy_seqno, 32, "last_proxy_seqno"), 32)
        _store_hash_set(b, self.worker_hashes, "worker_hashes")
        _store_hash_set(b, self.model_hashes, "model_hashes")
        return b.end_cell()

    def to_cell(self) -> Cell:
        b = _store_address(_begin(), self.owner_address)
        b.store_uint(_check_uint(self.version, 32, "version"), 32)
        b.store_ref(self.data_cell())
        b.store_ref(self.params.to_cell())
        return b.end_cell()

    @classmethod
    def from_cell(cls, cell: Cell) -> RootStorage:
        s = _parse(cell)
        owner = load_address(s, "root.owner_address")
        version = _load_uint(s, 32, "root.version")
        data = _parse(_load_ref(s, "root.data"))
        params = Params.from_cell(_load_ref(s, "root.params"))
        _ensure_end(s, "root storage")
        proxy_hashes = _load_hash_set(data, "root.proxy_hashes")
        proxies: dict[int, ProxyDesc] = {}
        for seqno, value in sorted(_load_dict(data, 32, "root.registered_proxies").items()):
            proxies[seqno] = ProxyDesc.load(value)
            _ensure_end(value, f"root.registered_proxies[{seqno}]")
        last_proxy_seqno = _load_uint(data, 32, "root.last_proxy_seqno")
        worker_hashes = _load_hash_set(data, "root.worker_hashes")
        model_hashes = _load_hash_set(data, "root.model_hashes")
        _ensure_end(data, "root data")
        return cls(
            owner_address=owner,
            params=params,
            version=version,
            proxy_hashes=proxy_hashes,
            registered_proxies=proxies,
            last_proxy_seqno=last_proxy_seqno,
            worker_hashes=worker_hashes,
            model_hashes=model_hashes,
        )


# --- worker / proxy / wallet storage ----------------------------------------------------------------


@dataclass(frozen=True)
class WorkerStorage:
    """`owner proxy proxy_public_key:uint256 state:uint2 tokens:uint64 params:^Params` (§7.1)."""

    owner_address: Address
    proxy_address: Address
    proxy_public_key: bytes
    params: Params
    state: int = WorkerState.NORMAL
    tokens: int = 0

    def to_cell(self) -> Cell:
        if len(self.proxy_public_key) != 32:
            raise LayoutError("worker.proxy_public_key must be 32 bytes")
        if self.params.proxy_sc_code or self.params.worker_sc_code or self.params.client_sc_code:
            raise LayoutError("worker.params must not carry code (use Params.without_code())")
        b = _store_address(_begin(), self.owner_address)
        _store_address(b, self.proxy_address)
        b.store_bytes(self.proxy_public_key)
        b.store_uint(_check_uint(self.state, 2, "worker.state"), 2)
        b.store_uint(_check_uint(self.tokens, 64, "worker.tokens"), 64)
        b.store_ref(self.params.to_cell())
        return b.end_cell()

    @classmethod
    def from_cell(cls, cell: Cell) -> WorkerStorage:
        s = _parse(cell)
        owner = load_address(s, "worker.owner_address")
        proxy = load_address(s, "worker.proxy_address")
        key = _load_uint(s, 256, "worker.proxy_public_key").to_bytes(32, "big")
        state = _load_uint(s, 2, "worker.state")
        tokens = _load_uint(s, 64, "worker.tokens")
        params = Params.from_cell(_load_ref(s, "worker.params"))
        _ensure_end(s, "worker storage")
        return cls(owner, proxy, key, params, state, tokens)


@dataclass(frozen=True)
class ProxyStorage:
    """`owner proxy_public_key root state:uint2 balance stake unlock_ts:uint32 params:^Params` (§9.1)."""

    owner_address: Address
    proxy_public_key: bytes
    root_address: Address
    params: Params
    state: int = ProxyState.NORMAL
    balance: int = 0
    stake: int = 0
    unlock_ts: int = 0

    def to_cell(self) -> Cell:
        if len(self.proxy_public_key) != 32:
            raise LayoutError("proxy.proxy_public_key must be 32 bytes")
        if self.params.proxy_sc_code is not None:
            raise LayoutError("proxy.params must not carry the proxy code (use Params.for_proxy())")
        b = _store_address(_begin(), self.owner_address)
        b.store_bytes(self.proxy_public_key)
        _store_address(b, self.root_address)
        b.store_uint(_check_uint(self.state, 2, "proxy.state"), 2)
        b.store_coins(_check_coins(self.balance, "proxy.balance"))
        b.store_coins(_check_coins(self.stake, "proxy.stake"))
        b.store_uint(_check_uint(self.unlock_ts, 32, "proxy.unlock_ts"), 32)
        b.store_ref(self.params.to_cell())
        return b.end_cell()

    @classmethod
    def from_cell(cls, cell: Cell) -> ProxyStorage:
        s = _parse(cell)
        owner = load_address(s, "proxy.owner_address")
        key = _load_uint(s, 256, "proxy.proxy_public_key").to_bytes(32, "big")
        root = load_address(s, "proxy.root_address")
        state = _load_uint(s, 2, "proxy.state")
        balance = _load_coins(s, "proxy.balance")
        stake = _load_coins(s, "proxy.stake")
        unlock_ts = _load_uint(s, 32, "proxy.unlock_ts")
        params = Params.from_cell(_load_ref(s, "proxy.params"))
        _ensure_end(s, "proxy storage")
        return cls(owner, key, root, params, state, balance, stake, unlock_ts)


@dataclass(frozen=True)
class WalletStorage:
    """`seqno:uint32 subwallet:uint32 public_key:uint256 status:uint32 owner_address` (§10.1)."""

    public_key: bytes
    owner_address: Address
    seqno: int = 0
    subwallet: int = 0
    status: int = 0

    @property
    def blocked(self) -> bool:
        return bool(self.status & 1)

    def to_cell(self) -> Cell:
        if len(self.public_key) != 32:
            raise LayoutError("wallet.public_key must be 32 bytes")
        b = _begin()
        b.store_uint(_check_uint(self.seqno, 32, "wallet.seqno"), 32)
        b.store_uint(_check_uint(self.subwallet, 32, "wallet.subwallet"), 32)
        b.store_bytes(self.public_key)
        b.store_uint(_check_uint(self.status, 32, "wallet.status"), 32)
        _store_address(b, self.owner_address)
        return b.end_cell()

    @classmethod
    def from_cell(cls, cell: Cell) -> WalletStorage:
        s = _parse(cell)
        seqno = _load_uint(s, 32, "wallet.seqno")
        subwallet = _load_uint(s, 32, "wallet.subwallet")
        key = _load_uint(s, 256, "wallet.public_key").to_bytes(32, "big")
        status = _load_uint(s, 32, "wallet.status")
        owner = load_address(s, "wallet.owner_address")
        _ensure_end(s, "wallet storage")
        return cls(public_key=key, owner_address=owner, seqno=seqno, subwallet=subwallet, status=status)


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
        b: Builder = _begin().store_uint(self.op, 32)
        b.store_uint(_check_uint(self.query_id, 64, "query_id"), 64)
        b.store_uint(_check_uint(self.new_tokens, 64, "new_tokens"), 64)
        _store_address(b, self.expected_my_address)
        return b.end_cell()

    @classmethod
    def from_cell(cls, cell: Cell) -> SignedPayout:
        s = _parse(cell)
        op = _load_uint(s, 32, "signed_payout.op")
        if op not in _PAYOUT_REQUEST_OPS:
            raise LayoutError(f"signed_payout.op: {op:#010x} is not a payout request")
        query_id = _load_uint(s, 64, "signed_payout.query_id")
        new_tokens = _load_uint(s, 64, "signed_payout.new_tokens")
        address = load_address(s, "signed_payout.expected_my_address")
        _ensure_end(s, "signed payout")
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
        b: Builder = _begin().store_uint(self.op, 32)
        b.store_uint(_check_uint(self.query_id, 64, "query_id"), 64)
        _store_address(b, self.send_excesses_to)
        b.store_bytes(self.signature)
        b.store_ref(self.inner)
        return b.end_cell()

    @classmethod
    def load_after_op(cls, op: int, s: Slice) -> PayoutRequest:
        query_id = _load_uint(s, 64, "payout_request.query_id")
        excesses_to = load_address(s, "payout_request.send_excesses_to")
        if s.remaining_bits < 512:
            raise LayoutError("payout_request.signature: needs 512 bits")
        signature = s.load_bytes(64)
        inner = _load_ref(s, "payout_request.inner")
        _ensure_end(s, "payout request")
        return cls(query_id=query_id, send_excesses_to=excesses_to, signature=signature, inner=inner, op=op)

    @classmethod
    def from_cell(cls, cell: Cell) -> PayoutRequest:
        s = _parse(cell)
        op = _load_uint(s, 32, "payout_request.op")
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
        b: Builder = _begin().store_uint(Op.WORKER_PROXY_PAYOUT, 32)
        b.store_coins(_check_coins(self.worker_part, "worker_part"))
        b.store_coins(_check_coins(self.proxy_part, "proxy_part"))
        _store_address(b, self.send_excesses_to)
        return b.end_cell()

    @classmethod
    def from_cell(cls, cell: Cell) -> WorkerProxyPayout:
        s = _parse(cell)
        op = _load_uint(s, 32, "worker_proxy_payout.op")
        if op != Op.WORKER_PROXY_PAYOUT:
            raise LayoutError(f"worker_proxy_payout.op: {op:#010x}, expected 0x08e7d036")
        worker_part = _load_coins(s, "worker_proxy_payout.worker_part")
        proxy_part = _load_coins(s, "worker_proxy_payout.proxy_part")
        excesses_to = load_address(s, "worker_proxy_payout.send_excesses_to")
        _ensure_end(s, "worker proxy payout")
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
        b: Builder = _begin().store_uint(Op.WORKER_PROXY_REQUEST, 32)
        b.store_uint(_check_uint(self.query_id, 64, "query_id"), 64)
        _store_address(b, self.owner_address)
        b.store_uint(_check_uint(self.state, 2, "state"), 2)
        b.store_uint(_check_uint(self.tokens, 64, "tokens"), 64)
        _store_maybe_ref(b, self.payload.to_cell() if self.payload else None)
        return b.end_cell()

    @classmethod
    def load_after_op(cls, s: Slice) -> WorkerProxyRequest:
        query_id = _load_uint(s, 64, "worker_proxy_request.query_id")
        owner = load_address(s, "worker_proxy_request.owner_address")
        state = _load_uint(s, 2, "worker_proxy_request.state")
        tokens = _load_uint(s, 64, "worker_proxy_request.tokens")
        payload_cell = _load_maybe_ref(s, "worker_proxy_request.payload")
        _ensure_end(s, "worker proxy request")
        payload = WorkerProxyPayout.from_cell(payload_cell) if payload_cell is not None else None
        return cls(query_id, owner, state, tokens, payload)


@dataclass(frozen=True)
class Excesses:
    """`excesses#2565934c query_id:uint64`."""

    query_id: int

    def to_cell(self) -> Cell:
        return _op_query(Op.EXCESSES, self.query_id)


@dataclass(frozen=True)
class Payout:
    """`payout#c59a7cd3 query_id:uint64`: the worker owner's reward (value = worker_part)."""

    query_id: int

    def to_cell(self) -> Cell:
        return _op_query(Op.PAYOUT, self.query_id)


@dataclass(frozen=True)
class OwnerWorkerRegister:
    """`owner_worker_register#26ed7f65 query_id:uint64 send_excesses_to`."""

    query_id: int
    send_excesses_to: Address

    def to_cell(self) -> Cell:
        b: Builder = _begin().store_uint(Op.OWNER_WORKER_REGISTER, 32).store_uint(self.query_id, 64)
        return _store_address(b, self.send_excesses_to).end_cell()


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
        b: Builder = _begin().store_uint(Op.DO_NOT_PROCESS, 32).store_uint(self.query_id, 64)
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
    b = _begin()
    b.store_uint(0, 32)
    b.store_bytes(raw)
    return b.end_cell()


def _parse_query_only(s: Slice, what: str) -> int:
    query_id = _load_uint(s, 64, f"{what}.query_id")
    _ensure_end(s, what)
    return query_id


def _parse_do_not_process(s: Slice) -> DoNotProcess:
    query_id = _load_uint(s, 64, "do_not_process.query_id")
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
    query_id = _load_uint(s, 64, "owner_worker_register.query_id")
    excesses_to = load_address(s, "owner_worker_register.send_excesses_to")
    _ensure_end(s, "owner_worker_register")
    return OwnerWorkerRegister(query_id, excesses_to)


def parse_body(cell: Cell | None) -> ParsedBody | None:
    """Decode a message body by its opcode. `None` for an empty body.

    Known opcodes are decoded strictly (LayoutError on a malformed body); unknown ones come back as
    `UnknownBody` so transaction scans can skip them.
    """
    if cell is None:
        return None
    s = _parse(cell)
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
    s = _parse(cell)
    if s.remaining_bits < 96:
        return None
    s.skip_bits(32)
    return int(s.load_uint(64))


# --- root owner op bodies ---------------------------------------------------------------------------


def root_op_body(
    op: Op, query_id: int = 0, *, payload: Builder | None = None, refs: tuple[Cell, ...] = ()
) -> Cell:
    """`op:uint32 query_id:uint64` + payload bits + refs: the body of any root owner op (§6.3)."""
    b: Builder = _begin().store_uint(int(op), 32).store_uint(_check_uint(query_id, 64, "query_id"), 64)
    if payload is not None:
        b.store_cell(payload.end_cell())
    for ref in refs:
        b.store_ref(ref)
    return b.end_cell()


def _hash_payload(value: bytes) -> Builder:
    if len(value) != 32:
        raise LayoutError(f"hash must be 32 bytes, got {len(value)}")
    b = _begin()
    b.store_bytes(value)
    return b


def add_hash_body(kind: str, value: bytes, *, add: bool = True, query_id: int = 0) -> Cell:
    """add/del_{worker,model,proxy}_type. `kind` is "worker", "model" or "proxy"."""
    ops = {
        ("worker", True): Op.ADD_WORKER_TYPE,
        ("worker", False): Op.DEL_WORKER_TYPE,
        ("model", True): Op.ADD_MODEL_TYPE,
        ("model", False): Op.DEL_MODEL_TYPE,
        ("proxy", True): Op.ADD_PROXY_TYPE,
        ("proxy", False): Op.DEL_PROXY_TYPE,
    }
    op = ops.get((kind, add))
    if op is None:
        raise ValueError(f"hash kind must be 'worker', 'model' or 'proxy', not {kind!r}")
    return root_op_body(op, query_id, payload=_hash_payload(value))


def register_proxy_body(desc: ProxyDesc, *, query_id: int = 0) -> Cell:
    return root_op_body(Op.REGISTER_PROXY, query_id, payload=desc.store(_begin()))


def unregister_proxy_body(seqno: int, *, query_id: int = 0) -> Cell:
    return root_op_body(Op.UNREGISTER_PROXY, query_id, payload=_begin().store_uint(seqno, 32))


def update_proxy_body(seqno: int, desc: ProxyDesc, *, query_id: int = 0) -> Cell:
    return root_op_body(Op.UPDATE_PROXY, query_id, payload=desc.store(_begin().store_uint(seqno, 32)))


def change_price_body(price_per_token: int, worker_fee_per_token: int, *, query_id: int = 0) -> Cell:
    payload = _begin().store_coins(_check_coins(price_per_token, "price_per_token"))
    payload.store_coins(_check_coins(worker_fee_per_token, "worker_fee_per_token"))
    return root_op_body(Op.CHANGE_PRICE, query_id, payload=payload)


def change_params_body(
    *,
    price_per_token: int,
    worker_fee_per_token: int,
    proxy_delay_before_close: int,
    client_delay_before_close: int,
    min_proxy_stake: int,
    min_client_stake: int,
    query_id: int = 0,
) -> Cell:
    payload = _begin().store_coins(_check_coins(price_per_token, "price_per_token"))
    payload.store_coins(_check_coins(worker_fee_per_token, "worker_fee_per_token"))
    payload.store_uint(_check_uint(proxy_delay_before_close, 32, "proxy_delay_before_close"), 32)
    payload.store_uint(_check_uint(client_delay_before_close, 32, "client_delay_before_close"), 32)
    payload.store_coins(_check_coins(min_proxy_stake, "min_proxy_stake"))
    payload.store_coins(_check_coins(min_client_stake, "min_client_stake"))
    return root_op_body(Op.CHANGE_PARAMS, query_id, payload=payload)


def upgrade_contracts_body(
    proxy_code: Cell, worker_code: Cell, client_code: Cell, *, query_id: int = 0
) -> Cell:
    return root_op_body(Op.UPGRADE_CONTRACTS, query_id, refs=(proxy_code, worker_code, client_code))


def change_owner_body(new_owner: Address, *, query_id: int = 0) -> Cell:
    return root_op_body(Op.CHANGE_OWNER, query_id, payload=_store_address(_begin(), new_owner))


def reset_body(*, query_id: int = 0) -> Cell:
    return root_op_body(Op.RESET, query_id)
