"""Bit-exact codecs of the COCOON contracts' storage: root (with its params), worker, proxy, cocoon wallet
(cocoon-protocol.md §6-§10). Each `LAYOUT` is the published TL-B (`tlb`); every `from_cell` rejects
trailing bits and refs, every `to_cell` writes exactly that layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Final

from pytoniq_core.boc.address import Address
from pytoniq_core.boc.cell import Cell

from cocoon_operator.ton.cells import LayoutError, begin
from cocoon_operator.ton.ops import ProxyState, WorkerState
from cocoon_operator.ton.tlb import Child, Layout, OneOf, Struct

PARAMS_STRUCT_VERSION: Final = 3  # what the official contracts write and read
PARAMS_STRUCT_VERSIONS: Final = (0, 1, 2, 3)  # the params layouts the official runner parses
DEFAULT_STAKE: Final = 1_000_000_000
DEFAULT_MULTIPLIER: Final = 10_000  # multipliers are fixed-point /10000
_UNEXPECTED_VERSION: Final = "unexpected params struct version: {value} (the runner reads 0..3)"


# --- params (struct_version 0..3) ---------------------------------------------------------------


@dataclass(frozen=True)
class Params(Struct):
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

    LAYOUT = Layout(
        "params struct_version:Version params_version:uint32 unique_id:uint32 is_test:Bool"
        " price_per_token:Coins worker_fee_per_token:Coins prompt_tokens_price_multiplier:uint32"
        " cached_tokens_price_multiplier:uint32 completion_tokens_price_multiplier:uint32"
        " reasoning_tokens_price_multiplier:uint32 proxy_delay_before_close:uint32"
        " client_delay_before_close:uint32 min_proxy_stake:Coins min_client_stake:Coins"
        " proxy_sc_code:(Maybe ^Cell) worker_sc_code:(Maybe ^Cell) client_sc_code:(Maybe ^Cell)",
        types={"Version": OneOf(8, PARAMS_STRUCT_VERSIONS, _UNEXPECTED_VERSION)},
        # What the runner's RootContractConfig reads from each version on; older fields default.
        since={
            1: ("min_proxy_stake", "min_client_stake"),
            2: ("cached_tokens_price_multiplier", "reasoning_tokens_price_multiplier"),
            3: ("prompt_tokens_price_multiplier", "completion_tokens_price_multiplier"),
        },
        version="struct_version",
    )

    def __post_init__(self) -> None:
        if self.struct_version not in PARAMS_STRUCT_VERSIONS:
            raise LayoutError(_UNEXPECTED_VERSION.format(value=self.struct_version))

    def without_code(self) -> Params:
        """The params as a worker contract stores them (three zero Maybe bits, §7.1)."""
        return replace(self, proxy_sc_code=None, worker_sc_code=None, client_sc_code=None)

    def for_proxy(self) -> Params:
        """The params as a proxy contract stores them: worker and client code only (§9.1)."""
        return replace(self, proxy_sc_code=None)

    @property
    def proxy_part_per_token(self) -> int:
        return self.price_per_token - self.worker_fee_per_token


class ParamsView:
    """Mixed into the records that carry a contract's params: the fields callers read most."""

    params: Params

    @property
    def params_version(self) -> int:
        return self.params.params_version

    @property
    def is_test(self) -> bool:
        return self.params.is_test

    @property
    def price_per_token(self) -> int:
        return self.params.price_per_token

    @property
    def worker_fee_per_token(self) -> int:
        return self.params.worker_fee_per_token


# --- root -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxyDesc(Struct):
    """A registered proxy; `address` is "ip:port" or "ipW:portW ipC:portC" (type 1: skipped by runners)."""

    address: str
    type: int = 0

    LAYOUT = Layout("proxy_desc type:uint1 address:(Ascii 7)")

    @property
    def worker_endpoint(self) -> str:
        """The endpoint workers connect to (the first of the two forms)."""
        return self.address.split(" ")[0]

    @property
    def client_endpoint(self) -> str:
        parts = self.address.split(" ")
        return parts[1] if len(parts) > 1 else parts[0]


_ROOT_DATA: Final = Layout(
    "root_data proxy_hashes:(HashmapE 256 ()) registered_proxies:(HashmapE 32 ProxyDesc)"
    " last_proxy_seqno:uint32 worker_hashes:(HashmapE 256 ()) model_hashes:(HashmapE 256 ())"
)


@dataclass(frozen=True)
class RootStorage(Struct):
    """The root contract's data (§6.1); `version` counts the owner's changes."""

    owner_address: Address
    params: Params
    version: int = 0
    proxy_hashes: frozenset[bytes] = frozenset()
    registered_proxies: Mapping[int, ProxyDesc] = field(default_factory=dict)
    last_proxy_seqno: int = 0
    worker_hashes: frozenset[bytes] = frozenset()
    model_hashes: frozenset[bytes] = frozenset()

    LAYOUT = Layout(
        "root owner_address:MsgAddress version:uint32 data:^RootData params:^Params",
        types={"^RootData": Child(_ROOT_DATA)},
    )

    def data_cell(self) -> Cell:
        return _ROOT_DATA.store(begin(), self).end_cell()


# --- worker / proxy / wallet storage ----------------------------------------------------------------


@dataclass(frozen=True)
class WorkerStorage(Struct):
    """A worker contract's data (§7.1): the proxy it is paid by and the tokens paid so far."""

    owner_address: Address
    proxy_address: Address
    proxy_public_key: bytes
    params: Params
    state: int = WorkerState.NORMAL
    tokens: int = 0

    LAYOUT = Layout(
        "worker owner_address:MsgAddress proxy_address:MsgAddress proxy_public_key:bits256"
        " state:uint2 tokens:uint64 params:^Params"
    )

    def validate(self) -> None:
        if self.params.proxy_sc_code or self.params.worker_sc_code or self.params.client_sc_code:
            raise LayoutError("worker.params must not carry code (use Params.without_code())")


@dataclass(frozen=True)
class ProxyStorage(Struct):
    """A proxy contract's data (§9.1)."""

    owner_address: Address
    proxy_public_key: bytes
    root_address: Address
    params: Params
    state: int = ProxyState.NORMAL
    balance: int = 0
    stake: int = 0
    unlock_ts: int = 0

    LAYOUT = Layout(
        "proxy owner_address:MsgAddress proxy_public_key:bits256 root_address:MsgAddress state:uint2"
        " balance:Coins stake:Coins unlock_ts:uint32 params:^Params"
    )

    def validate(self) -> None:
        if self.params.proxy_sc_code is not None:
            raise LayoutError("proxy.params must not carry the proxy code (use Params.for_proxy())")


@dataclass(frozen=True)
class WalletStorage(Struct):
    """A cocoon wallet's data (§10.1); status bit 0: blocked by the owner."""

    public_key: bytes
    owner_address: Address
    seqno: int = 0
    subwallet: int = 0
    status: int = 0

    LAYOUT = Layout(
        "wallet seqno:uint32 subwallet:uint32 public_key:bits256 status:uint32 owner_address:MsgAddress"
    )

    @property
    def blocked(self) -> bool:
        return bool(self.status & 1)
