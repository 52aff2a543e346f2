"""TON address parsing with checksums, and the COCOON contract address derivations (§7.2, §9.2, §10.1).

Every derived address is workchain 0 and the representation hash of a StateInit with bits
`0 0 1 1 0` (no split_depth, not special, code, data, no library) and refs [code, data]. With the
project's own code cells these are the local dev network's addresses; mainnet needs mainnet code.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Final

from nacl.signing import SigningKey
from pytoniq_core.boc.address import Address
from pytoniq_core.boc.builder import Builder
from pytoniq_core.boc.cell import Cell
from pytoniq_core.crypto.crc import crc16

from cocoon_operator.ton.storage import Params, ProxyStorage, WalletStorage, WorkerStorage

from .codes import cocoon_proxy_code, cocoon_wallet_code, cocoon_worker_code

BASECHAIN: Final = 0
_RAW_RE: Final = re.compile(r"^(-?\d{1,3}):([0-9a-fA-F]{64})$")
_TAG_BOUNCEABLE: Final = 0x11
_TAG_NON_BOUNCEABLE: Final = 0x51
_TAG_TESTNET: Final = 0x80


@dataclass(frozen=True)
class ParsedAddress:
    """An address plus what its text form said (flags are None for the raw `wc:hex` form)."""

    address: Address
    bounceable: bool | None
    testnet: bool | None

    @property
    def raw(self) -> str:
        return f"{self.address.wc}:{self.address.hash_part.hex()}"


def parse_address_details(
    text: str, *, field: str = "address", workchain: int | None = BASECHAIN
) -> ParsedAddress:
    """Parse a raw (`0:<64 hex>`) or user-friendly (48 base64/base64url chars) address.

    Raises ValueError naming `field` when the text is malformed, the checksum does not match, the
    tag is unknown, or the workchain differs from `workchain` (None accepts any).
    """
    if not isinstance(text, str):
        raise ValueError(f"{field}: expected a string, got {type(text).__name__}")
    value = text.strip()
    if not value:
        raise ValueError(f"{field}: empty address")
    raw = _RAW_RE.match(value)
    if raw is not None:
        wc = int(raw.group(1))
        if not -128 <= wc <= 127:
            raise ValueError(f"{field}: workchain {wc} out of range")
        parsed = ParsedAddress(Address((wc, bytes.fromhex(raw.group(2)))), None, None)
    elif ":" in value:
        raise ValueError(f"{field}: {value!r} is not a raw address (expected '<workchain>:<64 hex digits>')")
    else:
        parsed = _parse_user_friendly(value, field)
    if workchain is not None and parsed.address.wc != workchain:
        raise ValueError(f"{field}: address is on workchain {parsed.address.wc}, expected {workchain}")
    return parsed


def _parse_user_friendly(value: str, field: str) -> ParsedAddress:
    if len(value) != 48:
        raise ValueError(f"{field}: a user-friendly address has 48 characters, got {len(value)}")
    alphabet_urlsafe = "-" in value or "_" in value
    if alphabet_urlsafe and ("+" in value or "/" in value):
        raise ValueError(f"{field}: mixes the base64 and base64url alphabets")
    try:
        altchars = b"-_" if alphabet_urlsafe else None
        data = base64.b64decode(value.encode("ascii"), altchars=altchars, validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise ValueError(f"{field}: not valid base64") from exc
    if len(data) != 36:
        raise ValueError(f"{field}: decodes to {len(data)} bytes, expected 36")
    if crc16(data[:34]) != data[34:]:
        raise ValueError(f"{field}: checksum mismatch (the address is mistyped or truncated)")
    tag = data[0]
    testnet = bool(tag & _TAG_TESTNET)
    tag &= ~_TAG_TESTNET
    if tag not in (_TAG_BOUNCEABLE, _TAG_NON_BOUNCEABLE):
        raise ValueError(f"{field}: unknown address tag {data[0]:#04x}")
    wc = int.from_bytes(data[1:2], "big", signed=True)
    return ParsedAddress(Address((wc, data[2:34])), tag == _TAG_BOUNCEABLE, testnet)


def parse_address(
    text: str | Address, *, field: str = "address", workchain: int | None = BASECHAIN
) -> Address:
    """An `Address` from text (validated as in `parse_address_details`) or an existing Address."""
    if isinstance(text, Address):
        if workchain is not None and text.wc != workchain:
            raise ValueError(f"{field}: address is on workchain {text.wc}, expected {workchain}")
        return Address((text.wc, text.hash_part))
    return parse_address_details(text, field=field, workchain=workchain).address


def format_address(address: Address, *, bounceable: bool = True, testnet: bool = False) -> str:
    """User-friendly, URL-safe form."""
    tag = _TAG_BOUNCEABLE if bounceable else _TAG_NON_BOUNCEABLE
    if testnet:
        tag |= _TAG_TESTNET
    data = bytes([tag]) + address.wc.to_bytes(1, "big", signed=True) + address.hash_part
    return base64.urlsafe_b64encode(data + crc16(data)).decode("ascii")


def raw_address(address: Address | str) -> str:
    """Raw `wc:hex` form (lower-case), the canonical form for comparisons and ledger keys; a string in
    any form (raw or user-friendly) is parsed first."""
    addr = address if isinstance(address, Address) else Address(address)
    return f"{addr.wc}:{addr.hash_part.hex()}"


# --- keys -----------------------------------------------------------------------------------------


def public_key_from_seed(seed: bytes) -> bytes:
    """Ed25519 public key of a 32-byte private seed (e.g. the runner's `node_wallet_key`)."""
    if len(seed) != 32:
        raise ValueError(f"private key seed must be 32 bytes, got {len(seed)}")
    return bytes(SigningKey(seed).verify_key)


def _check_public_key(public_key: bytes, field: str) -> bytes:
    if len(public_key) != 32:
        raise ValueError(f"{field}: Ed25519 public key must be 32 bytes, got {len(public_key)}")
    return bytes(public_key)


# --- StateInit / addresses ------------------------------------------------------------------------


def _pick_code(*codes: Cell | None, default: Cell) -> Cell:
    """The first explicit code cell, else `default` (the project's own code)."""
    for code in codes:
        if code is not None:
            return code
    return default


def state_init_cell(code: Cell, data: Cell) -> Cell:
    """StateInit with bits `0 0 1 1 0` and refs [code, data]."""
    b = Builder()
    b.store_uint(0b00110, 5)
    b.store_ref(code)
    b.store_ref(data)
    return b.end_cell()


def contract_address(code: Cell, data: Cell, *, workchain: int = BASECHAIN) -> Address:
    return Address((workchain, state_init_cell(code, data).hash))


def cocoon_wallet_data(public_key: bytes, owner_address: Address) -> Cell:
    """Initial data: seqno 0, subwallet 0, the node key, status 0, the worker owner (§10.1)."""
    return WalletStorage(
        public_key=_check_public_key(public_key, "public_key"), owner_address=owner_address
    ).to_cell()


def cocoon_wallet_state_init(public_key: bytes, owner_address: Address, *, code: Cell | None = None) -> Cell:
    return state_init_cell(
        _pick_code(code, default=cocoon_wallet_code()), cocoon_wallet_data(public_key, owner_address)
    )


def cocoon_wallet_address(public_key: bytes, owner_address: Address, *, code: Cell | None = None) -> Address:
    """The cocoon wallet of a node key and worker owner, exactly as the runner derives it (§10.1)."""
    return Address((BASECHAIN, cocoon_wallet_state_init(public_key, owner_address, code=code).hash))


def worker_contract_data(
    owner_address: Address, proxy_contract: Address, proxy_public_key: bytes, params: Params
) -> Cell:
    """Initial worker data: state 0, tokens 0, the params without code (§7.2)."""
    return WorkerStorage(
        owner_address=owner_address,
        proxy_address=proxy_contract,
        proxy_public_key=_check_public_key(proxy_public_key, "proxy_public_key"),
        params=params.without_code(),
    ).to_cell()


def worker_contract_state_init(
    owner_address: Address,
    proxy_contract: Address,
    proxy_public_key: bytes,
    params: Params,
    *,
    worker_code: Cell | None = None,
) -> Cell:
    """`worker_code` defaults to the params' `worker_sc_code`, then to the project's worker code."""
    code = _pick_code(worker_code, params.worker_sc_code, default=cocoon_worker_code())
    return state_init_cell(
        code, worker_contract_data(owner_address, proxy_contract, proxy_public_key, params)
    )


def worker_contract_address(
    owner_address: Address,
    proxy_contract: Address,
    proxy_public_key: bytes,
    params: Params,
    *,
    worker_code: Cell | None = None,
) -> Address:
    """The worker contract of (worker owner, proxy contract) under the given root params (§7.2)."""
    state_init = worker_contract_state_init(
        owner_address, proxy_contract, proxy_public_key, params, worker_code=worker_code
    )
    return Address((BASECHAIN, state_init.hash))


def proxy_contract_data(
    owner_address: Address, proxy_public_key: bytes, root_address: Address, params: Params
) -> Cell:
    """Initial proxy data: state/balance/stake/unlock_ts 0, params with worker+client code (§9.2)."""
    return ProxyStorage(
        owner_address=owner_address,
        proxy_public_key=_check_public_key(proxy_public_key, "proxy_public_key"),
        root_address=root_address,
        params=params.for_proxy(),
    ).to_cell()


def proxy_contract_state_init(
    owner_address: Address,
    proxy_public_key: bytes,
    root_address: Address,
    params: Params,
    *,
    proxy_code: Cell | None = None,
) -> Cell:
    code = _pick_code(proxy_code, params.proxy_sc_code, default=cocoon_proxy_code())
    return state_init_cell(code, proxy_contract_data(owner_address, proxy_public_key, root_address, params))


def proxy_contract_address(
    owner_address: Address,
    proxy_public_key: bytes,
    root_address: Address,
    params: Params,
    *,
    proxy_code: Cell | None = None,
) -> Address:
    """The proxy contract of (proxy owner, proxy key) under the given root and params (§9.2)."""
    state_init = proxy_contract_state_init(
        owner_address, proxy_public_key, root_address, params, proxy_code=proxy_code
    )
    return Address((BASECHAIN, state_init.hash))
