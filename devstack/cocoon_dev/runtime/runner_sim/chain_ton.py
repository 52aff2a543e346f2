"""The runner simulator on a real TON chain: the local liteserver, or an in-process `LocalChain`.

Chain access goes through `cocoon_operator.ton.client.ChainClient` (a pytoniq LiteBalancer from the
TON config file, or any pytoniq-like provider such as `LocalChain`), and every message and address
through the project's codecs in `cocoon_operator.ton`, so the simulator builds exactly what the
official runner builds (cocoon-protocol.md §7.2, §7.6, §8, §10.3):

- root: the data cell parsed bit-exactly (no get-methods), as the runner does;
- proxies: the dev network's proxies (`network.json` holds their keys, because the simulator plays
  the proxy side); the proxy contract and this worker's contract are recomputed from the root
  params, as the runner does in the handshake;
- registration: the cocoon wallet deploys the worker contract with 0.3 TON, StateInit,
  non-bounceable, from a signed external (StateInit of the wallet attached while seqno is 0);
- vouchers: signed with the proxy key for the cumulative committed tokens, verified as the runner
  does, then repacked with `send_excesses_to` = the cocoon wallet and sent with 0.5 TON;
- a claim is seen when the worker contract has a transaction from the cocoon wallet whose body is
  `ext_worker_payout_request_signed` with the claim's query_id.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytoniq_core.boc.address import Address
from pytoniq_core.boc.cell import Cell

from cocoon_dev.runtime.runner_sim.chain import (
    ProxyIdentity,
    SimChainError,
    SimProxy,
    SimRootConfig,
    SimWorkerContract,
    Voucher,
    WalletInfo,
    friendly,
)
from cocoon_dev.runtime.runner_sim.config import WorkerConfig
from cocoon_dev.ton.vouchers import repack_send_excesses_to, sign_voucher, verify_voucher
from cocoon_operator.ton.addresses import (
    cocoon_wallet_address,
    cocoon_wallet_state_init,
    proxy_contract_address,
    public_key_from_seed,
    raw_address,
    worker_contract_address,
    worker_contract_state_init,
)
from cocoon_operator.ton.client import ChainClient
from cocoon_operator.ton.messages import PayoutRequest
from cocoon_operator.ton.ops import Op
from cocoon_operator.ton.root import RootConfig as ChainRoot
from cocoon_operator.ton.root import read_root
from cocoon_operator.ton.wallet_messages import (
    VALID_FOR_SECONDS,
    OutMessage,
    default_mode,
    external_body,
    external_message,
    internal_message,
)
from cocoon_operator.ton.worker_contracts import ContractUnreadable, read_worker_contract

log = logging.getLogger("cocoon_dev.runner_sim.chain")

DEPLOY_VALUE = 300_000_000  # 0.3 TON (deploy_balance)
PAYOUT_VALUE = 500_000_000  # 0.5 TON attached to a worker-initiated claim
SEQNO_WAIT_S = 30.0


@dataclass(frozen=True)
class DevProxyKey:
    """What the simulator needs of a dev proxy from network.json (its key signs vouchers)."""

    seqno: int
    owner: str
    public_key: bytes
    seed: bytes = field(repr=False)


def load_proxy_keys(network_json: Path) -> dict[int, DevProxyKey]:
    """Proxy keys by root seqno from the dev chain's network.json (never logged)."""
    data: dict[str, Any] = json.loads(network_json.read_text())
    return {
        int(p["seqno"]): DevProxyKey(
            seqno=int(p["seqno"]),
            owner=str(p["owner"]),
            public_key=bytes.fromhex(p["public_key"]),
            seed=bytes.fromhex(p["private_key"]),
        )
        for p in data.get("proxies", [])
    }


def to_sim_root(root: ChainRoot) -> SimRootConfig:
    p = root.params

    def code_hash(cell: Cell | None) -> bytes:
        return bytes(cell.hash) if cell is not None else bytes(32)

    return SimRootConfig(
        owner_address=friendly(Address(root.owner_address)),
        proxy_hashes=tuple(sorted(root.proxy_hashes)),
        registered_proxies=tuple(
            SimProxy(rp.seqno, rp.client_endpoint, rp.worker_endpoint) for rp in root.registered_proxies
        ),
        last_proxy_seqno=root.last_proxy_seqno,
        worker_hashes=tuple(sorted(root.worker_hashes)),
        model_hashes=tuple(sorted(root.model_hashes)),
        version=root.version,
        struct_version=p.struct_version,
        params_version=p.params_version,
        unique_id=p.unique_id,
        is_test=p.is_test,
        price_per_token=p.price_per_token,
        worker_fee_per_token=p.worker_fee_per_token,
        prompt_tokens_price_multiplier=p.prompt_tokens_price_multiplier,
        cached_tokens_price_multiplier=p.cached_tokens_price_multiplier,
        completion_tokens_price_multiplier=p.completion_tokens_price_multiplier,
        reasoning_tokens_price_multiplier=p.reasoning_tokens_price_multiplier,
        proxy_delay_before_close=p.proxy_delay_before_close,
        client_delay_before_close=p.client_delay_before_close,
        proxy_min_stake=p.min_proxy_stake,
        client_min_stake=p.min_client_stake,
        proxy_code_hash=code_hash(p.proxy_sc_code),
        worker_code_hash=code_hash(p.worker_sc_code),
        client_code_hash=code_hash(p.client_sc_code),
        sync_utime=int(time.time()),
    )


@dataclass
class _Session:
    """Per proxy contract: the keys and the last voucher (kept in memory only, like the runner)."""

    key: DevProxyKey
    proxy_contract: Address
    worker_contract: Address
    state_init: Cell
    vouchers: dict[int, PayoutRequest] = field(default_factory=dict)


class TonChain:
    name = "ton"

    def __init__(
        self,
        client: ChainClient,
        *,
        root_address: str,
        owner_address: str,
        node_wallet_key: bytes,
        proxy_keys: dict[int, DevProxyKey],
        own_client: bool = True,
    ) -> None:
        self.client = client
        self.root_address = Address(root_address)
        self.owner = Address(owner_address)
        self.node_key = node_wallet_key
        self.public_key = public_key_from_seed(node_wallet_key)
        self.wallet_address = cocoon_wallet_address(self.public_key, self.owner)
        self.proxy_keys = proxy_keys
        self._own_client = own_client
        self._chain_root: ChainRoot | None = None
        self._sessions: dict[str, _Session] = {}  # raw proxy contract address -> session
        self._send_lock = asyncio.Lock()

    @classmethod
    def create(
        cls, config: WorkerConfig, *, network_json: Path | None, ton_config: Path | None = None
    ) -> TonChain:
        if network_json is None:
            raise SimChainError("network.json of the dev chain is required (the simulator plays the proxies)")
        path = ton_config or Path(config.ton_config_filename)
        try:
            global_config = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise SimChainError(f"ton_config_filename: cannot read {path}: {exc}") from None
        return cls(
            ChainClient.from_config(global_config),
            root_address=config.root_contract_address,
            owner_address=config.owner_address,
            node_wallet_key=config.node_wallet_key,
            proxy_keys=load_proxy_keys(network_json),
        )

    # ----- reads ---------------------------------------------------------------------------------

    async def read_root(self) -> SimRootConfig:
        root = await read_root(self.client, self.root_address)
        self._chain_root = root
        return to_sim_root(root)

    async def wallet(self) -> WalletInfo:
        state = await self.client.account_state(self.wallet_address)
        seqno = 0
        if state.is_active:
            seqno = int((await self.client.run_get_method(self.wallet_address, "seqno"))[0])
        return WalletInfo(address=friendly(self.wallet_address), balance=state.balance, seqno=seqno)

    async def worker_contract(self, proxy: ProxyIdentity) -> SimWorkerContract:
        try:
            sc = await read_worker_contract(self.client, Address(proxy.worker_sc_address))
        except ContractUnreadable:
            return SimWorkerContract(active=False)
        return SimWorkerContract(active=True, state=sc.data.state, tokens=sc.data.tokens)

    # ----- the handshake (the simulator is the proxy too) ----------------------------------------

    async def connect_proxy(self, root: SimRootConfig, proxy: SimProxy) -> ProxyIdentity:
        chain_root = self._chain_root
        if chain_root is None:
            raise SimChainError("root not read yet")
        key = self.proxy_keys.get(proxy.seqno)
        if key is None:
            raise SimChainError(f"no key for proxy seqno {proxy.seqno} in network.json")
        params = chain_root.params
        proxy_contract = proxy_contract_address(Address(key.owner), key.public_key, self.root_address, params)
        worker = worker_contract_address(self.owner, proxy_contract, key.public_key, params)
        state_init = worker_contract_state_init(self.owner, proxy_contract, key.public_key, params)
        self._sessions[raw_address(proxy_contract)] = _Session(key, proxy_contract, worker, state_init)
        return ProxyIdentity(
            proxy_sc_address=friendly(proxy_contract, bounceable=True),
            proxy_public_key=key.public_key,
            worker_sc_address=friendly(worker, bounceable=True),
            params_version=params.params_version,
            proxy_owner_address=friendly(Address(key.owner)),
        )

    def _session(self, proxy: ProxyIdentity) -> _Session:
        return self._sessions[raw_address(Address(proxy.proxy_sc_address))]

    # ----- writes from the cocoon wallet ---------------------------------------------------------

    async def _send(self, messages: list[OutMessage]) -> None:
        """One signed external from the cocoon wallet; waits until its seqno moves (bounded)."""
        async with self._send_lock:
            state = await self.client.account_state(self.wallet_address)
            seqno = 0
            if state.is_active:
                seqno = int((await self.client.run_get_method(self.wallet_address, "seqno"))[0])
            body = external_body(
                self.node_key,
                seqno=seqno,
                valid_until=int(time.time()) + VALID_FOR_SECONDS,
                messages=messages,
            )
            init = None if state.is_active else cocoon_wallet_state_init(self.public_key, self.owner)
            message_cell = external_message(self.wallet_address, body, state_init=init)
            boc: bytes = message_cell.to_boc()
            await self.client.send_external(boc)
            deadline = time.monotonic() + SEQNO_WAIT_S
            while time.monotonic() < deadline:
                after = await self.client.account_state(self.wallet_address)
                if (
                    after.is_active
                    and int((await self.client.run_get_method(self.wallet_address, "seqno"))[0]) > seqno
                ):
                    return
                await asyncio.sleep(0.5)
            raise SimChainError("cocoon wallet seqno did not move after the external")

    async def deploy_worker_contract(self, root: SimRootConfig, proxy: ProxyIdentity) -> None:
        session = self._session(proxy)
        if (await self.client.account_state(session.worker_contract)).is_active:
            return
        message = internal_message(
            session.worker_contract, DEPLOY_VALUE, state_init=session.state_init, bounce=False
        )
        await self._send([OutMessage(message, default_mode(DEPLOY_VALUE))])
        log.info("Deployed worker contract %s", friendly(session.worker_contract, bounceable=True))

    async def sign_voucher(self, proxy: ProxyIdentity, tokens: int) -> Voucher:
        session = self._session(proxy)
        request = sign_voucher(
            session.key.seed,
            worker_contract=session.worker_contract,
            new_tokens=tokens,
            send_excesses_to=Address(session.key.owner),
        )
        # The worker checks each voucher before keeping it (check_signed_pay_message).
        verify_voucher(
            request, proxy_public_key=session.key.public_key, worker_contract=session.worker_contract
        )
        session.vouchers[request.query_id] = request
        boc: bytes = request.to_cell().to_boc()
        return Voucher(query_id=request.query_id, new_tokens=tokens, boc=boc)

    async def submit_payout(self, proxy: ProxyIdentity, voucher: Voucher) -> None:
        session = self._session(proxy)
        request = session.vouchers.get(voucher.query_id) or PayoutRequest.from_cell(
            Cell.one_from_boc(voucher.boc)
        )
        repacked = repack_send_excesses_to(request, self.wallet_address)
        message = internal_message(
            session.worker_contract, PAYOUT_VALUE, body=repacked.to_cell(), bounce=True
        )
        await self._send([OutMessage(message, default_mode(PAYOUT_VALUE))])

    async def payout_seen(self, proxy: ProxyIdentity, query_id: int) -> bool:
        session = self._session(proxy)
        page = await self.client.transactions(session.worker_contract, limit=32)
        wallet = raw_address(self.wallet_address)
        for tx in page.transactions:
            msg = tx.in_msg
            if msg is None or msg.src != wallet or msg.body is None:
                continue
            s = msg.body.begin_parse()
            if (
                s.remaining_bits >= 96
                and s.load_uint(32) == Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED
                and s.load_uint(64) == query_id
            ):
                return True
        return False

    async def close(self) -> None:
        if self._own_client:
            await self.client.close()
