"""Bit-exact codecs of the COCOON contracts' storage: root (with its params), worker, proxy, cocoon wallet
(cocoon-protocol.md §6-§9). Every `from_cell` rejects trailing bits and refs, every `to_cell` writes
exactly the published layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Final

from pytoniq_core.boc.address import Address
from pytoniq_core.boc.builder import Builder
from pytoniq_core.boc.cell import Cell
from pytoniq_core.boc.hashmap.hashmap import HashMap
from pytoniq_core.boc.slice import Slice

from cocoon_operator.ton.cells import (
    LayoutError,
    begin,
    check_coins,
    check_uint,
    ensure_end,
    load_address,
    load_coins,
    load_dict,
    load_hash_set,
    load_maybe_ref,
    load_ref,
    load_uint,
    parse_cell,
    store_address,
    store_hash_set,
    store_maybe_ref,
)
from cocoon_operator.ton.ops import ProxyState, WorkerState

PARAMS_STRUCT_VERSION: Final = 3  # what the official contracts write and read
# The params layouts the official runner parses (RootContractConfig): v1 added the stakes, v2 the
# cached and reasoning multipliers, v3 the prompt and completion ones; older fields default.
PARAMS_STRUCT_VERSIONS: Final = (0, 1, 2, 3)
DEFAULT_STAKE: Final = 1_000_000_000
DEFAULT_MULTIPLIER: Final = 10_000  # multipliers are fixed-point /10000


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
        b.store_uint(check_uint(self.params_version, 32, "params_version"), 32)
        b.store_uint(check_uint(self.unique_id, 32, "unique_id"), 32)
        b.store_uint(1 if self.is_test else 0, 1)
        b.store_coins(check_coins(self.price_per_token, "price_per_token"))
        b.store_coins(check_coins(self.worker_fee_per_token, "worker_fee_per_token"))
        for name, since in _PARAMS_U32:
            if version >= since:
                b.store_uint(check_uint(getattr(self, name), 32, name), 32)
        if version >= 1:
            for name in _PARAMS_STAKES:
                b.store_coins(check_coins(getattr(self, name), name))
        store_maybe_ref(b, self.proxy_sc_code)
        store_maybe_ref(b, self.worker_sc_code)
        store_maybe_ref(b, self.client_sc_code)
        return b

    def to_cell(self) -> Cell:
        return self.store(begin()).end_cell()

    @classmethod
    def load(cls, s: Slice) -> Params:
        version = load_uint(s, 8, "params.struct_version")
        if version not in PARAMS_STRUCT_VERSIONS:
            raise LayoutError(f"unexpected params struct version: {version} (the runner reads 0..3)")
        fields: dict[str, int] = {
            "params_version": load_uint(s, 32, "params.params_version"),
            "unique_id": load_uint(s, 32, "params.unique_id"),
            "is_test": load_uint(s, 1, "params.is_test"),
            "price_per_token": load_coins(s, "params.price_per_token"),
            "worker_fee_per_token": load_coins(s, "params.worker_fee_per_token"),
        }
        for name, since in _PARAMS_U32:
            if version >= since:
                fields[name] = load_uint(s, 32, f"params.{name}")
        if version >= 1:
            for name in _PARAMS_STAKES:
                fields[name] = load_coins(s, f"params.{name}")
        proxy_code = load_maybe_ref(s, "params.proxy_sc_code")
        worker_code = load_maybe_ref(s, "params.worker_sc_code")
        client_code = load_maybe_ref(s, "params.client_sc_code")
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
        s = parse_cell(cell)
        params = cls.load(s)
        ensure_end(s, "params")
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
        b.store_uint(check_uint(self.type, 1, "proxy type"), 1)
        b.store_uint(len(raw), 7)
        b.store_bytes(raw)
        return b

    def to_cell(self) -> Cell:
        return self.store(begin()).end_cell()

    @classmethod
    def load(cls, s: Slice) -> ProxyDesc:
        type_ = load_uint(s, 1, "proxy_desc.type")
        length = load_uint(s, 7, "proxy_desc.len")
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
        b = begin()
        store_hash_set(b, self.proxy_hashes, "proxy_hashes")
        proxies = HashMap(32, value_serializer=lambda desc, dest: desc.store(dest))
        for seqno, desc in sorted(self.registered_proxies.items()):
            proxies.set_int_key(check_uint(seqno, 32, "proxy seqno"), desc)
        b.store_dict(proxies.serialize())
        b.store_uint(check_uint(self.last_proxy_seqno, 32, "last_proxy_seqno"), 32)
        store_hash_set(b, self.worker_hashes, "worker_hashes")
        store_hash_set(b, self.model_hashes, "model_hashes")
        return b.end_cell()

    def to_cell(self) -> Cell:
        b = store_address(begin(), self.owner_address)
        b.store_uint(check_uint(self.version, 32, "version"), 32)
        b.store_ref(self.data_cell())
        b.store_ref(self.params.to_cell())
        return b.end_cell()

    @classmethod
    def from_cell(cls, cell: Cell) -> RootStorage:
        s = parse_cell(cell)
        owner = load_address(s, "root.owner_address")
        version = load_uint(s, 32, "root.version")
        data = parse_cell(load_ref(s, "root.data"))
        params = Params.from_cell(load_ref(s, "root.params"))
        ensure_end(s, "root storage")
        proxy_hashes = load_hash_set(data, "root.proxy_hashes")
        proxies: dict[int, ProxyDesc] = {}
        for seqno, value in sorted(load_dict(data, 32, "root.registered_proxies").items()):
            proxies[seqno] = ProxyDesc.load(value)
            ensure_end(value, f"root.registered_proxies[{seqno}]")
        last_proxy_seqno = load_uint(data, 32, "root.last_proxy_seqno")
        worker_hashes = load_hash_set(data, "root.worker_hashes")
        model_hashes = load_hash_set(data, "root.model_hashes")
        ensure_end(data, "root data")
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
        b = store_address(begin(), self.owner_address)
        store_address(b, self.proxy_address)
        b.store_bytes(self.proxy_public_key)
        b.store_uint(check_uint(self.state, 2, "worker.state"), 2)
        b.store_uint(check_uint(self.tokens, 64, "worker.tokens"), 64)
        b.store_ref(self.params.to_cell())
        return b.end_cell()

    @classmethod
    def from_cell(cls, cell: Cell) -> WorkerStorage:
        s = parse_cell(cell)
        owner = load_address(s, "worker.owner_address")
        proxy = load_address(s, "worker.proxy_address")
        key = load_uint(s, 256, "worker.proxy_public_key").to_bytes(32, "big")
        state = load_uint(s, 2, "worker.state")
        tokens = load_uint(s, 64, "worker.tokens")
        params = Params.from_cell(load_ref(s, "worker.params"))
        ensure_end(s, "worker storage")
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
        b = store_address(begin(), self.owner_address)
        b.store_bytes(self.proxy_public_key)
        store_address(b, self.root_address)
        b.store_uint(check_uint(self.state, 2, "proxy.state"), 2)
        b.store_coins(check_coins(self.balance, "proxy.balance"))
        b.store_coins(check_coins(self.stake, "proxy.stake"))
        b.store_uint(check_uint(self.unlock_ts, 32, "proxy.unlock_ts"), 32)
        b.store_ref(self.params.to_cell())
        return b.end_cell()

    @classmethod
    def from_cell(cls, cell: Cell) -> ProxyStorage:
        s = parse_cell(cell)
        owner = load_address(s, "proxy.owner_address")
        key = load_uint(s, 256, "proxy.proxy_public_key").to_bytes(32, "big")
        root = load_address(s, "proxy.root_address")
        state = load_uint(s, 2, "proxy.state")
        balance = load_coins(s, "proxy.balance")
        stake = load_coins(s, "proxy.stake")
        unlock_ts = load_uint(s, 32, "proxy.unlock_ts")
        params = Params.from_cell(load_ref(s, "proxy.params"))
        ensure_end(s, "proxy storage")
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
        b = begin()
        b.store_uint(check_uint(self.seqno, 32, "wallet.seqno"), 32)
        b.store_uint(check_uint(self.subwallet, 32, "wallet.subwallet"), 32)
        b.store_bytes(self.public_key)
        b.store_uint(check_uint(self.status, 32, "wallet.status"), 32)
        store_address(b, self.owner_address)
        return b.end_cell()

    @classmethod
    def from_cell(cls, cell: Cell) -> WalletStorage:
        s = parse_cell(cell)
        seqno = load_uint(s, 32, "wallet.seqno")
        subwallet = load_uint(s, 32, "wallet.subwallet")
        key = load_uint(s, 256, "wallet.public_key").to_bytes(32, "big")
        status = load_uint(s, 32, "wallet.status")
        owner = load_address(s, "wallet.owner_address")
        ensure_end(s, "wallet storage")
        return cls(public_key=key, owner_address=owner, seqno=seqno, subwallet=subwallet, status=status)
