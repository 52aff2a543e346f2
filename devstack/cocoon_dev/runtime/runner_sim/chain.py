"""What the runner simulator needs from TON, behind one interface.

- `FakeTonChain`: no blockchain, like the official runner's `--disable-ton` mode
  (cocoon-protocol.md §13): root params from defaults or a JSON file, contracts "inited" at once,
  pseudo wallet (seqno 7, 100 TON), vouchers flow, payouts go nowhere and `running_request` stays
  true forever.
- A real-chain backend (local liteserver or in-process LocalChain) implements the same protocol in
  `chain_ton.py`: reads the root, deploys worker contracts from the cocoon wallet, signs vouchers
  with the proxy key and submits payouts.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pytoniq_core import Address  # type: ignore[attr-defined]

from cocoon_dev.runtime.runner_sim.accounting import MULTIPLIER_ONE, Multipliers

TON = 10**9


def friendly(address: Address, bounceable: bool = False) -> str:
    """User-friendly base64url, 48 chars (mainnet flags, as the runner prints)."""
    text: str = address.to_str(
        is_user_friendly=True, is_url_safe=True, is_bounceable=bounceable, is_test_only=False
    )
    return text


def parse_address(text: str) -> Address | None:
    try:
        return Address(text)
    except Exception:  # pytoniq raises several types for malformed input
        return None


def same_address(a: str, b: str) -> bool:
    pa, pb = parse_address(a), parse_address(b)
    return pa is not None and pb is not None and (pa.wc, pa.hash_part) == (pb.wc, pb.hash_part)


def public_key(seed: bytes) -> bytes:
    return (
        Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    )


@dataclass(frozen=True)
class SimProxy:
    seqno: int
    address_for_clients: str
    address_for_workers: str


@dataclass(frozen=True)
class SimRootConfig:
    """The root contract's data as the runner parses it (§6.1), plus the sync time of the read."""

    owner_address: str = ""
    proxy_hashes: tuple[bytes, ...] = ()
    registered_proxies: tuple[SimProxy, ...] = ()
    last_proxy_seqno: int = 0
    worker_hashes: tuple[bytes, ...] = ()
    model_hashes: tuple[bytes, ...] = ()
    version: int = 0
    struct_version: int = 3
    params_version: int = 0
    unique_id: int = 17
    is_test: bool = True
    price_per_token: int = 2
    worker_fee_per_token: int = 1
    prompt_tokens_price_multiplier: int = MULTIPLIER_ONE
    cached_tokens_price_multiplier: int = MULTIPLIER_ONE
    completion_tokens_price_multiplier: int = MULTIPLIER_ONE
    reasoning_tokens_price_multiplier: int = MULTIPLIER_ONE
    proxy_delay_before_close: int = 86400
    client_delay_before_close: int = 86400
    proxy_min_stake: int = TON
    client_min_stake: int = TON
    proxy_code_hash: bytes = bytes(32)
    worker_code_hash: bytes = bytes(32)
    client_code_hash: bytes = bytes(32)
    sync_utime: int = 0

    @property
    def multipliers(self) -> Multipliers:
        return Multipliers(
            prompt=self.prompt_tokens_price_multiplier,
            cached=self.cached_tokens_price_multiplier,
            completion=self.completion_tokens_price_multiplier,
            reasoning=self.reasoning_tokens_price_multiplier,
        )

    def has_worker_hash(self, h: bytes) -> bool:
        return h in self.worker_hashes

    def has_model_hash(self, h: bytes) -> bool:
        return h in self.model_hashes


@dataclass(frozen=True)
class WalletInfo:
    address: str
    balance: int
    seqno: int
    pending_transactions_cnt: int = 0
    active_transactions_cnt: int = 0


@dataclass(frozen=True)
class ProxyIdentity:
    """What the proxy tells the worker in the handshake (§2.5 step 2), as the runner stores it."""

    proxy_sc_address: str
    proxy_public_key: bytes
    worker_sc_address: str
    params_version: int
    proxy_owner_address: str = ""


@dataclass(frozen=True)
class SimWorkerContract:
    active: bool
    state: int = 0  # 0 normal, 2 closed
    tokens: int = 0


@dataclass(frozen=True)
class Voucher:
    """A proxy-signed cumulative payout (§8.2). `boc` is opaque to the runner core."""

    query_id: int
    new_tokens: int
    boc: bytes = b""


class SimChainError(RuntimeError):
    pass


class ChainBackend(Protocol):
    name: str

    async def read_root(self) -> SimRootConfig: ...

    async def wallet(self) -> WalletInfo: ...

    async def connect_proxy(self, root: SimRootConfig, proxy: SimProxy) -> ProxyIdentity: ...

    async def deploy_worker_contract(self, root: SimRootConfig, proxy: ProxyIdentity) -> None: ...

    async def worker_contract(self, proxy: ProxyIdentity) -> SimWorkerContract: ...

    async def sign_voucher(self, proxy: ProxyIdentity, tokens: int) -> Voucher: ...

    async def submit_payout(self, proxy: ProxyIdentity, voucher: Voucher) -> None: ...

    async def payout_seen(self, proxy: ProxyIdentity, query_id: int) -> bool: ...

    async def close(self) -> None: ...


def _fake_address(*parts: str) -> str:
    return friendly(Address((0, hashlib.sha256("|".join(parts).encode()).digest())))


@dataclass
class FakeTonChain:
    """No blockchain (the runner's fake-TON mode): deterministic pseudo addresses and states."""

    owner_address: str
    node_wallet_key: bytes | None
    root: SimRootConfig = field(default_factory=SimRootConfig)
    proxy_seed: bytes = hashlib.sha256(b"cocoon-dev fake proxy key").digest()
    name: str = "fake-ton"

    @classmethod
    def from_file(cls, path: Path, owner_address: str, node_wallet_key: bytes | None) -> FakeTonChain:
        """A `fake-ton-config.json`-like file: top-level keys override `SimRootConfig` fields."""
        raw: dict[str, Any] = json.loads(path.read_text())
        root = SimRootConfig()
        overrides: dict[str, Any] = {}
        for key, value in raw.items():
            if key in ("proxy_hashes", "worker_hashes", "model_hashes"):
                overrides[key] = tuple(bytes.fromhex(v) for v in value)
            elif key == "registered_proxies":
                overrides[key] = tuple(
                    SimProxy(
                        int(p["seqno"]), p.get("address_for_clients", ""), p.get("address_for_workers", "")
                    )
                    for p in value
                )
            elif key in SimRootConfig.__dataclass_fields__:
                overrides[key] = value
        return cls(owner_address, node_wallet_key, replace(root, **overrides))

    def __post_init__(self) -> None:
        if not self.root.registered_proxies:
            self.root = replace(
                self.root,
                registered_proxies=(SimProxy(1, "127.0.0.1:11002", "127.0.0.1:11001"),),
                last_proxy_seqno=1,
            )
        if not self.root.owner_address:
            self.root = replace(self.root, owner_address=_fake_address("cocoon-dev fake root owner"))

    async def read_root(self) -> SimRootConfig:
        return replace(self.root, sync_utime=int(time.time()))

    async def wallet(self) -> WalletInfo:
        key = public_key(self.node_wallet_key).hex() if self.node_wallet_key else "no-key"
        return WalletInfo(
            address=_fake_address("cocoon wallet", key, self.owner_address), balance=100 * TON, seqno=7
        )

    async def connect_proxy(self, root: SimRootConfig, proxy: SimProxy) -> ProxyIdentity:
        proxy_sc = _fake_address("proxy contract", str(proxy.seqno), str(root.params_version))
        return ProxyIdentity(
            proxy_sc_address=proxy_sc,
            proxy_public_key=public_key(self.proxy_seed),
            worker_sc_address=_fake_address("worker contract", self.owner_address, proxy_sc),
            params_version=root.params_version,
        )

    async def deploy_worker_contract(self, root: SimRootConfig, proxy: ProxyIdentity) -> None:
        return None  # fake TON marks contracts inited at once

    async def worker_contract(self, proxy: ProxyIdentity) -> SimWorkerContract:
        return SimWorkerContract(active=True, state=0, tokens=0)

    async def sign_voucher(self, proxy: ProxyIdentity, tokens: int) -> Voucher:
        return Voucher(query_id=secrets.randbits(64), new_tokens=tokens)

    async def submit_payout(self, proxy: ProxyIdentity, voucher: Voucher) -> None:
        return None  # goes nowhere, as in the official fake-TON mode

    async def payout_seen(self, proxy: ProxyIdentity, query_id: int) -> bool:
        return False  # so running_request stays true forever (fake-TON quirk)

    async def close(self) -> None:
        return None
