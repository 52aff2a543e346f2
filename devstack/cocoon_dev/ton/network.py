"""Deploy a dev COCOON network (root, proxies, wallets) on a `LocalChain`, from the official contracts.

`deploy_cocoon_network(chain)` is what `cocoon-dev chain up` runs at start-up; the returned
`CocoonNetwork` is written as `network.json` (it holds the dev key material: never log it).

What gets deployed (deterministic for a given seed, so addresses survive a chain restart):

- wallets (WalletV4R2): `root_owner` (owns the root and the proxy contracts), `treasury` (funds
  cocoon wallets; 1,000,000 TON), `owner` (the worker owner that receives payouts; 10 TON);
- the root contract with params struct_version 3: `is_test` true, price 2 / fee 1 nano per token (the
  official deploy script's values, so earnings math matches the fake-TON defaults), multipliers
  10000, delays 86400 s, stakes 1 TON, the official proxy, worker and client code, worker image hash
  `DEV_IMAGE_HASH`, proxy image hash `DEV_PROXY_IMAGE_HASH`, model hashes of `DEV_MODELS`; every
  entry is added through the real owner ops, so `version` counts them like on mainnet;
- two registered proxies (`ProxyDesc` in both published forms: "ipW:portW ipC:portC" and "ip:port"),
  each with its own Ed25519 key and a proxy contract funded with 10,000 TON (proxy contracts pay
  `worker_part` out of their own balance).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from nacl.bindings import crypto_sign_seed_keypair
from pytoniq_core.boc.address import Address
from pytoniq_core.boc.cell import Cell

from cocoon_dev.ton.chain import LocalChain, LocalChainError, MessageResult
from cocoon_dev.ton.dev_wallets import (  # DevWallet and wallet_send are re-exported for the tests
    DevWallet,
    HexKeys,
    boc,
    check_all_succeeded,
    code_hash,
    deploy_wallet,
    derive_seed,
    dev_wallet,
    make_state_init,
    wallet_send,
)
from cocoon_dev.ton.root_ops import add_hash_body, change_price_body, register_proxy_body
from cocoon_dev.ton.vouchers import sign_voucher as _sign_voucher
from cocoon_operator.ton.addresses import (
    cocoon_wallet_address,
    cocoon_wallet_state_init,
    proxy_contract_address,
    proxy_contract_data,
    public_key_from_seed,
    raw_address,
    worker_contract_address,
)
from cocoon_operator.ton.codes import (
    OFFICIAL_CODE_HASHES,
    cocoon_client_code,
    cocoon_proxy_code,
    cocoon_root_code,
    cocoon_worker_code,
)
from cocoon_operator.ton.messages import PayoutRequest
from cocoon_operator.ton.model import model_hash
from cocoon_operator.ton.storage import Params, ProxyDesc, RootStorage
from cocoon_operator.ton.wallet_messages import VALID_FOR_SECONDS, OutMessage, external_body, external_message

TON: Final = 1_000_000_000
NETWORK_FORMAT: Final = "cocoon-dev-network/1"
DEFAULT_SEED: Final = b"cocoon-operator dev network v1"

DEV_MODEL: Final = (
    "Qwen/Qwen3-0.6B@c1899de289a04d12100db370d81485cdf75e47ca:"
    "5b1c5e0f3a4f6c9d2e8b7a6f1d0c3b2a4e5f60718293a4b5c6d7e8f901234567"
)
DEV_MODEL_2: Final = (
    "google/gemma-3-1b-it@dcc83ea841ab6100d6b47a070329e1ba4cf78752:"
    "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0"
)
DEV_MODELS: Final = (DEV_MODEL, DEV_MODEL_2)
DEV_IMAGE_HASH: Final = hashlib.sha256(b"cocoon-operator dev worker image").digest()
DEV_PROXY_IMAGE_HASH: Final = hashlib.sha256(b"cocoon-operator dev proxy image").digest()
DEV_PROXY_ENDPOINTS: Final = ("127.0.0.1:11001 127.0.0.1:11002", "127.0.0.1:11011")

ROOT_BALANCE: Final = 10 * TON
PROXY_CONTRACT_BALANCE: Final = 10_000 * TON
TREASURY_BALANCE: Final = 1_000_000 * TON
ROOT_OWNER_BALANCE: Final = 1_000 * TON
OWNER_BALANCE: Final = 10 * TON
OWNER_OP_VALUE: Final = TON // 10  # attached to each root owner op; the rest comes back as excesses


@dataclass(frozen=True)
class DevProxy(HexKeys):
    """One registered proxy: its root seqno, endpoint(s), key and current proxy contract."""

    index: int
    seqno: int
    endpoint: str
    address_for_workers: str
    address_for_clients: str
    owner: str
    public_key: str
    private_key: str = field(repr=False)
    contract: str
    params_version: int
    previous_contracts: list[str] = field(default_factory=list)

    @property
    def contract_addr(self) -> Address:
        return Address(self.contract)


@dataclass(frozen=True)
class DevParams:
    """The root params as plain values (code cells by hash; the cells are the official BoCs)."""

    params_version: int
    unique_id: int
    is_test: bool
    price_per_token: int
    worker_fee_per_token: int
    prompt_tokens_price_multiplier: int
    cached_tokens_price_multiplier: int
    completion_tokens_price_multiplier: int
    reasoning_tokens_price_multiplier: int
    proxy_delay_before_close: int
    client_delay_before_close: int
    min_proxy_stake: int
    min_client_stake: int
    proxy_code_hash: str
    worker_code_hash: str
    client_code_hash: str | None

    @classmethod
    def from_params(cls, params: Params) -> DevParams:
        values = {name: getattr(params, name) for name in _PLAIN_PARAMS}
        return cls(
            **values,
            proxy_code_hash=code_hash(params.proxy_sc_code) or "",
            worker_code_hash=code_hash(params.worker_sc_code) or "",
            client_code_hash=code_hash(params.client_sc_code),
        )

    def to_params(self) -> Params:
        """Full `Params` with the official code cells (checked against the recorded hashes)."""
        codes = {
            "proxy": (cocoon_proxy_code(), self.proxy_code_hash),
            "worker": (cocoon_worker_code(), self.worker_code_hash),
            "client": (cocoon_client_code(), self.client_code_hash),
        }
        for name, (code, recorded) in codes.items():
            if code.hash.hex() != recorded:
                raise ValueError(
                    f"network params: the recorded {name} code hash differs from the official code "
                    "(a chain deployed by an older checkout: `cocoon-dev chain down` and start again)"
                )
        return Params(
            **{name: getattr(self, name) for name in _PLAIN_PARAMS},
            proxy_sc_code=codes["proxy"][0],
            worker_sc_code=codes["worker"][0],
            client_sc_code=codes["client"][0],
        )


# The fields DevParams and Params share as they are (the code cells differ: hashes here, cells there).
_PLAIN_PARAMS: Final = tuple(
    f.name for f in dataclasses.fields(DevParams) if not f.name.endswith("_code_hash")
)


@dataclass(frozen=True)
class CocoonNetwork:
    """Everything the dev stack needs to know about the deployed network. JSON via `to_json()`.

    Addresses are raw (`0:<hex>`), keys are hex. `dataclasses.asdict()` gives the same structure.
    """

    root: str
    root_owner: DevWallet
    treasury: DevWallet
    owner: DevWallet
    proxies: list[DevProxy]
    params: DevParams
    models: list[str]
    model_hashes: list[str]
    worker_image_hashes: list[str]
    proxy_image_hashes: list[str]
    code_hashes: dict[str, str]
    format: str = NETWORK_FORMAT

    @property
    def root_addr(self) -> Address:
        return Address(self.root)

    @property
    def model(self) -> str:
        return self.models[0]

    def proxy(self, index: int) -> DevProxy:
        for proxy in self.proxies:
            if proxy.index == index:
                return proxy
        raise IndexError(f"no dev proxy with index {index} (have {len(self.proxies)})")

    def root_params(self) -> Params:
        """The root's current params, with code cells (for address derivations)."""
        return self.params.to_params()

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (contains the dev private keys)."""
        return dataclasses.asdict(self)

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CocoonNetwork:
        if data.get("format") != NETWORK_FORMAT:
            raise ValueError(f"network.json: format {data.get('format')!r} is not {NETWORK_FORMAT!r}")
        return cls(
            root=data["root"],
            root_owner=DevWallet(**data["root_owner"]),
            treasury=DevWallet(**data["treasury"]),
            owner=DevWallet(**data["owner"]),
            proxies=[DevProxy(**p) for p in data["proxies"]],
            params=DevParams(**data["params"]),
            models=list(data["models"]),
            model_hashes=list(data["model_hashes"]),
            worker_image_hashes=list(data["worker_image_hashes"]),
            proxy_image_hashes=list(data["proxy_image_hashes"]),
            code_hashes=dict(data["code_hashes"]),
            format=data["format"],
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CocoonNetwork:
        return cls.from_json(json.loads(Path(path).read_text()))


# --- wallets -------------------------------------------------------------------------------------


async def root_owner_ops(
    chain: LocalChain, network: CocoonNetwork, bodies: list[Cell]
) -> list[MessageResult]:
    """Send root owner ops (batches of 4) from the root owner wallet; raises if any transaction fails."""
    results = []
    root = network.root_addr
    for i in range(0, len(bodies), 4):
        batch = [(root, OWNER_OP_VALUE, body, None, True) for body in bodies[i : i + 4]]
        result = await wallet_send(chain, network.root_owner, batch)
        check_all_succeeded(result, "root owner op")
        results.append(result)
    return results


# --- deployment -----------------------------------------------------------------------------------


def dev_params(*, price_per_token: int = 2, worker_fee_per_token: int = 1, is_test: bool = True) -> Params:
    """The dev root params (see the module docstring), with the official proxy, worker and client code."""
    if not 0 <= worker_fee_per_token <= price_per_token:
        raise ValueError("worker_fee_per_token must be between 0 and price_per_token")
    return Params(
        params_version=0,
        unique_id=17,
        is_test=is_test,
        price_per_token=price_per_token,
        worker_fee_per_token=worker_fee_per_token,
        proxy_sc_code=cocoon_proxy_code(),
        worker_sc_code=cocoon_worker_code(),
        client_sc_code=cocoon_client_code(),
    )


async def _deploy_proxy_contract(
    chain: LocalChain, *, owner: Address, proxy_key: bytes, root: Address, params: Params
) -> Address:
    data = proxy_contract_data(owner, proxy_key, root, params)
    address, result = await chain.deploy(make_state_init(cocoon_proxy_code(), data), PROXY_CONTRACT_BALANCE)
    check_all_succeeded(result, "proxy contract deploy")
    if address != proxy_contract_address(owner, proxy_key, root, params):  # pragma: no cover - invariant
        raise LocalChainError("proxy contract deployed at an unexpected address")
    return address


async def deploy_cocoon_network(
    chain: LocalChain,
    *,
    seed: bytes | None = None,
    price_per_token: int = 2,
    worker_fee_per_token: int = 1,
    is_test: bool = True,
    models: tuple[str, ...] = DEV_MODELS,
    proxy_endpoints: tuple[str, ...] = DEV_PROXY_ENDPOINTS,
) -> CocoonNetwork:
    """Deploy the dev COCOON network on `chain` and return its description (see the module docstring).

    Deterministic for a given `seed` (default `DEFAULT_SEED`)."""
    base = DEFAULT_SEED if seed is None else seed
    root_owner = dev_wallet(base, "root_owner")
    treasury = dev_wallet(base, "treasury")
    owner = dev_wallet(base, "owner")
    for wallet, amount in (
        (root_owner, ROOT_OWNER_BALANCE),
        (treasury, TREASURY_BALANCE),
        (owner, OWNER_BALANCE),
    ):
        await deploy_wallet(chain, wallet, amount)

    params = dev_params(
        price_per_token=price_per_token, worker_fee_per_token=worker_fee_per_token, is_test=is_test
    )
    root_data = RootStorage(owner_address=root_owner.addr, params=params).to_cell()
    root_init = make_state_init(cocoon_root_code(), root_data)
    root = Address((0, root_init.serialize().hash))
    if chain.status(root) != "active":
        _, result = await chain.deploy(root_init, ROOT_BALANCE)
        check_all_succeeded(result, "root deploy")

    proxy_seeds = [derive_seed(base, f"proxy:{i}") for i in range(len(proxy_endpoints))]
    proxy_keys = [bytes(crypto_sign_seed_keypair(s)[0]) for s in proxy_seeds]
    network = CocoonNetwork(
        root=raw_address(root),
        root_owner=root_owner,
        treasury=treasury,
        owner=owner,
        proxies=[],
        params=DevParams.from_params(params),
        models=list(models),
        model_hashes=[model_hash(m).hex() for m in models],
        worker_image_hashes=[DEV_IMAGE_HASH.hex()],
        proxy_image_hashes=[DEV_PROXY_IMAGE_HASH.hex()],
        code_hashes={str(name): code for name, code in OFFICIAL_CODE_HASHES.items()},
    )

    # Only what the root lacks, so a second run on the same chain (e.g. a resumed chain without its
    # network.json) changes nothing and returns the same description.
    current = await read_root(chain, network)
    ops: list[Cell] = []
    if DEV_IMAGE_HASH not in current.worker_hashes:
        ops.append(add_hash_body("worker", DEV_IMAGE_HASH))
    if DEV_PROXY_IMAGE_HASH not in current.proxy_hashes:
        ops.append(add_hash_body("proxy", DEV_PROXY_IMAGE_HASH))
    ops += [
        add_hash_body("model", model_hash(m)) for m in models if model_hash(m) not in current.model_hashes
    ]
    registered = {desc.address for desc in current.registered_proxies.values()}
    ops += [register_proxy_body(ProxyDesc(e)) for e in proxy_endpoints if e not in registered]
    if ops:
        await root_owner_ops(chain, network, ops)
    current = await read_root(chain, network)
    seqnos = {desc.address: seqno for seqno, desc in sorted(current.registered_proxies.items(), reverse=True)}

    proxies = []
    for i, endpoint in enumerate(proxy_endpoints):
        contract = proxy_contract_address(root_owner.addr, proxy_keys[i], root, current.params)
        if chain.status(contract) != "active":
            contract = await _deploy_proxy_contract(
                chain, owner=root_owner.addr, proxy_key=proxy_keys[i], root=root, params=current.params
            )
        desc = ProxyDesc(endpoint)
        proxies.append(
            DevProxy(
                index=i,
                seqno=seqnos[endpoint],
                endpoint=endpoint,
                address_for_workers=desc.worker_endpoint,
                address_for_clients=desc.client_endpoint,
                owner=root_owner.address,
                public_key=proxy_keys[i].hex(),
                private_key=proxy_seeds[i].hex(),
                contract=raw_address(contract),
                params_version=current.params.params_version,
            )
        )
    network = dataclasses.replace(network, params=DevParams.from_params(current.params))
    return dataclasses.replace(network, proxies=proxies)


async def read_root(chain: LocalChain, network: CocoonNetwork) -> RootStorage:
    """Parse the deployed root's data cell (what the runner and the operator read)."""
    account = chain.account(network.root)
    if account is None or account.storage.state.type_ != "account_active":
        raise LocalChainError(f"root {network.root} is not active")
    data = account.storage.state.state_init.data
    if data is None:
        raise LocalChainError(f"root {network.root} has no data")
    return RootStorage.from_cell(data)


async def bump_params_version(
    chain: LocalChain,
    network: CocoonNetwork,
    *,
    price_per_token: int | None = None,
    worker_fee_per_token: int | None = None,
) -> CocoonNetwork:
    """Roll the root's `params_version` (owner op change_price; same prices unless given) and deploy
    every proxy's new proxy contract, as the proxies do after a rollover (§6.3, §8.5). The old proxy
    contracts stay open (their addresses move to `previous_contracts`)."""
    price = network.params.price_per_token if price_per_token is None else price_per_token
    fee = network.params.worker_fee_per_token if worker_fee_per_token is None else worker_fee_per_token
    await root_owner_ops(chain, network, [change_price_body(price, fee)])
    root = await read_root(chain, network)
    params = root.params
    proxies = []
    for proxy in network.proxies:
        contract = await _deploy_proxy_contract(
            chain, owner=Address(proxy.owner), proxy_key=proxy.key, root=network.root_addr, params=params
        )
        proxies.append(
            dataclasses.replace(
                proxy,
                contract=raw_address(contract),
                params_version=params.params_version,
                previous_contracts=[*proxy.previous_contracts, proxy.contract],
            )
        )
    return dataclasses.replace(network, proxies=proxies, params=DevParams.from_params(params))


# --- helpers for the runner simulator -------------------------------------------------------------


def worker_contract_for(network: CocoonNetwork, proxy_index: int, owner_address: Address | str) -> Address:
    """The worker contract of `owner_address` bound to proxy `proxy_index`'s current proxy contract."""
    proxy = network.proxy(proxy_index)
    owner = Address(owner_address) if isinstance(owner_address, str) else owner_address
    return worker_contract_address(owner, proxy.contract_addr, proxy.key, network.root_params())


def sign_voucher(
    network: CocoonNetwork,
    proxy_index: int,
    worker_contract: Address | str,
    tokens: int,
    *,
    query_id: int | None = None,
    send_excesses_to: Address | str | None = None,
    last: bool = False,
) -> PayoutRequest:
    """A payout voucher for `tokens` (cumulative) signed with proxy `proxy_index`'s key, as the proxy
    pushes it to the worker (§8.2). `send_excesses_to` defaults to the proxy's owner wallet; the
    runner repacks it to its cocoon wallet before submitting (`vouchers.repack_send_excesses_to`)."""
    proxy = network.proxy(proxy_index)
    worker = Address(worker_contract) if isinstance(worker_contract, str) else worker_contract
    excesses = send_excesses_to if send_excesses_to is not None else proxy.owner
    return _sign_voucher(
        proxy.seed,
        worker_contract=worker,
        new_tokens=tokens,
        send_excesses_to=Address(excesses) if isinstance(excesses, str) else excesses,
        query_id=query_id,
        last=last,
    )


async def cocoon_wallet_send(
    chain: LocalChain,
    *,
    node_key: bytes,
    owner: Address,
    messages: list[OutMessage],
    seqno: int | None = None,
    valid_until: int | None = None,
    subwallet_id: int = 0,
) -> MessageResult:
    """Send a signed external to the cocoon wallet of (`node_key` seed, `owner`), as the runner does
    (§10.3): seqno read from the chain unless given, StateInit attached while the wallet is not
    active, `valid_until` = chain now + 3600 unless given. Raises `ExternalNotAccepted` on refusal."""
    public = public_key_from_seed(node_key)
    wallet = cocoon_wallet_address(public, owner)
    active = chain.status(wallet) == "active"
    if seqno is None:
        seqno = int((await chain.run_get_method(wallet, "seqno", []))[0]) if active else 0
    body = external_body(
        node_key,
        seqno=seqno,
        valid_until=chain.now + VALID_FOR_SECONDS if valid_until is None else valid_until,
        messages=messages,
        subwallet_id=subwallet_id,
    )
    state_init = None if active else cocoon_wallet_state_init(public, owner)
    return await chain.send_message(boc(external_message(wallet, body, state_init=state_init)))
