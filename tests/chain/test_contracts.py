"""The project's COCOON contracts on the real TVM (LocalChain, mainnet config): every success path and
every error code the operator and the runner simulator rely on (cocoon-protocol.md §6-§10)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from nacl.bindings import crypto_sign_seed_keypair
from pytoniq_core.boc.address import Address
from pytoniq_core.boc.builder import Builder
from pytoniq_core.boc.cell import Cell

from cocoon_dev.ton.chain import ExternalNotAccepted, LocalChain, MessageResult, TxRecord
from cocoon_dev.ton.network import (
    DEV_IMAGE_HASH,
    DEV_MODEL,
    DEV_PROXY_IMAGE_HASH,
    TON,
    CocoonNetwork,
    bump_params_version,
    cocoon_wallet_send,
    deploy_cocoon_network,
    read_root,
    sign_voucher,
    wallet_send,
    worker_contract_for,
)
from cocoon_dev.ton.root_ops import (
    add_hash_body,
    change_owner_body,
    change_params_body,
    change_price_body,
    register_proxy_body,
    reset_body,
    root_op_body,
    unregister_proxy_body,
    update_proxy_body,
    upgrade_contracts_body,
)
from cocoon_dev.ton.vouchers import repack_send_excesses_to
from cocoon_operator.ton.addresses import (
    cocoon_wallet_address,
    public_key_from_seed,
    raw_address,
    worker_contract_address,
    worker_contract_state_init,
)
from cocoon_operator.ton.messages import (
    DoNotProcess,
    Excesses,
    Payout,
    PayoutRequest,
    ProxySaveState,
    SignedPayout,
    WorkerProxyPayout,
    WorkerProxyRequest,
    parse_body,
    text_body,
)
from cocoon_operator.ton.model import model_hash, model_hash_int
from cocoon_operator.ton.ops import CocoonError, Op
from cocoon_operator.ton.storage import (
    Params,
    ProxyDesc,
    ProxyStorage,
    RootStorage,
    WalletStorage,
    WorkerStorage,
)
from cocoon_operator.ton.wallet_messages import (
    OutMessage,
    block_body,
    internal_message,
    owner_send_message_body,
    unblock_body,
    withdraw_body,
)

pytestmark = [pytest.mark.chain, pytest.mark.timeout(120)]

NODE_KEY = bytes(range(32))  # the worker's node_wallet_key seed (dev only)
DEPLOY_VALUE = 3 * TON // 10  # the runner's worker-contract deploy balance
CLAIM_VALUE = TON // 2  # the runner attaches 0.5 TON to a claim


@dataclasses.dataclass
class Env:
    chain: LocalChain
    net: CocoonNetwork

    @property
    def owner(self) -> Address:
        return self.net.owner.addr

    @property
    def cocoon_wallet(self) -> Address:
        return cocoon_wallet_address(public_key_from_seed(NODE_KEY), self.owner)

    def worker(self, proxy_index: int = 0, owner: Address | None = None) -> Address:
        return worker_contract_for(self.net, proxy_index, owner or self.owner)

    async def send_from_cocoon_wallet(self, *messages: OutMessage, **kwargs: Any) -> MessageResult:
        return await cocoon_wallet_send(
            self.chain, node_key=NODE_KEY, owner=self.owner, messages=list(messages), **kwargs
        )

    async def fund_cocoon_wallet(self, amount: int = 5 * TON) -> None:
        await self.chain.faucet(self.cocoon_wallet, amount)

    async def funded_worker(self) -> Address:
        """The usual start: the cocoon wallet funded, then the worker contract of proxy 0 deployed."""
        await self.fund_cocoon_wallet()
        return await self.deploy_worker()

    async def deploy_worker(self, proxy_index: int = 0) -> Address:
        proxy = self.net.proxy(proxy_index)
        init = worker_contract_state_init(self.owner, proxy.contract_addr, proxy.key, self.net.root_params())
        address = self.worker(proxy_index)
        result = await self.send_from_cocoon_wallet(
            OutMessage(internal_message(address, DEPLOY_VALUE, state_init=init), 0)
        )
        assert_contracts_ok(result)
        assert self.chain.status(address) == "active"
        return address

    async def claim(self, voucher: PayoutRequest, value: int = CLAIM_VALUE) -> MessageResult:
        """Submit a voucher from the cocoon wallet, repacked to send excesses back to it (§8.3)."""
        body = repack_send_excesses_to(voucher, self.cocoon_wallet).to_cell()
        worker = voucher.payout.expected_my_address
        return await self.send_from_cocoon_wallet(OutMessage(internal_message(worker, value, body=body), 0))

    async def get(self, address: Address | str, method: str, stack: list[Any] | None = None) -> list[Any]:
        return await self.chain.run_get_method(address, method, stack or [])


@pytest.fixture
async def env(mainnet_config_b64: str) -> Env:
    chain = LocalChain(config_b64=mainnet_config_b64)
    return Env(chain, await deploy_cocoon_network(chain))


def tx_of(result: MessageResult, address: Address | str) -> TxRecord:
    txs = result.for_account(address)
    assert txs, f"no transaction on {raw_address(Address(address)) if isinstance(address, str) else address}"
    return txs[0]


def assert_contracts_ok(result: MessageResult, *, skip: tuple[Address, ...] = ()) -> None:
    """Every transaction succeeded, except on `skip` accounts (a wallet receiving a few nano has no gas
    to run its code: the compute phase is skipped, which is what happens on mainnet too)."""
    skipped = {raw_address(a) for a in skip}
    bad = [(tx.address, tx.exit_code, tx.aborted) for tx in result.transactions if tx.address not in skipped]
    bad = [b for b in bad if not (b[1] in (0, 1) and not b[2])]
    assert not bad, bad


def in_value(tx: TxRecord) -> int:
    return int(tx.transaction.in_msg.info.value.grams)


def in_body(tx: TxRecord) -> Cell:
    body: Cell = tx.transaction.in_msg.body
    return body


def slice_address(value: Any) -> Address:
    addr = value.load_address()
    assert isinstance(addr, Address)
    return addr


# --- root ---------------------------------------------------------------------------------------------


async def test_root_storage_and_getters(env: Env) -> None:
    root = await read_root(env.chain, env.net)
    assert root.owner_address == env.net.root_owner.addr
    assert root.version == 6  # 1 worker hash + 1 proxy hash + 2 models + 2 proxies, each an owner op
    assert root.last_proxy_seqno == 2
    assert root.registered_proxies == {
        1: ProxyDesc("127.0.0.1:11001 127.0.0.1:11002"),
        2: ProxyDesc("127.0.0.1:11011"),
    }
    assert root.worker_hashes == {DEV_IMAGE_HASH}
    assert root.proxy_hashes == {DEV_PROXY_IMAGE_HASH}
    assert model_hash(DEV_MODEL) in root.model_hashes
    assert root.params == env.net.root_params()

    # Bit-exact: re-packing the parsed storage gives the very cell the contract wrote.
    data = env.chain.account(env.net.root).storage.state.state_init.data
    assert root.to_cell().hash == data.hash

    data_getter = await env.get(env.net.root, "get_cocoon_data")
    assert data_getter[:9] == [6, 2, 0, 17, 1, 2, 1, TON, TON]
    assert slice_address(data_getter[9]) == env.net.root_owner.addr
    params = await env.get(env.net.root, "get_cur_params")
    assert params[:11] == [0, 17, 1, 2, 1, 10000, 10000, 86400, 86400, TON, TON]
    proxy_code_hash, worker_code_hash, client_code_hash = params[11:]
    assert proxy_code_hash.to_bytes(32, "big").hex() == env.net.code_hashes["cocoon_proxy"]
    assert worker_code_hash.to_bytes(32, "big").hex() == env.net.code_hashes["cocoon_worker"]
    assert client_code_hash.to_bytes(32, "big").hex() == env.net.code_hashes["cocoon_client"]

    image = int.from_bytes(DEV_IMAGE_HASH, "big")
    assert await env.get(env.net.root, "worker_hash_is_valid", [image]) == [-1]
    assert await env.get(env.net.root, "worker_hash_is_valid", [image ^ 1]) == [0]
    assert await env.get(env.net.root, "model_hash_is_valid", [model_hash_int(DEV_MODEL)]) == [-1]
    assert await env.get(env.net.root, "model_hash_is_valid", [model_hash_int(DEV_MODEL + "x")]) == [0]
    proxy_image = int.from_bytes(DEV_PROXY_IMAGE_HASH, "big")
    assert await env.get(env.net.root, "proxy_hash_is_valid", [proxy_image]) == [-1]
    assert await env.get(env.net.root, "last_proxy_seqno") == [2]


async def root_op(env: Env, body: Cell, *, src: Address | None = None) -> TxRecord:
    result = await env.chain.send_internal(
        env.net.root, TON // 10, body=body, src=src or env.net.root_owner.addr, bounce=True
    )
    return tx_of(result, env.net.root)


async def test_root_owner_ops(env: Env) -> None:
    chain, root_addr = env.chain, env.net.root
    new_hash = bytes([7]) * 32

    for kind in ("worker", "model", "proxy"):
        tx = await root_op(env, add_hash_body(kind, new_hash, query_id=11))
        assert tx.success
    root = await read_root(chain, env.net)
    assert new_hash in root.worker_hashes and new_hash in root.model_hashes and new_hash in root.proxy_hashes
    assert root.version == 9
    for kind in ("worker", "model", "proxy"):
        assert (await root_op(env, add_hash_body(kind, new_hash, add=False))).success
    root = await read_root(chain, env.net)
    assert new_hash not in root.worker_hashes | root.model_hashes | root.proxy_hashes

    # excesses#2565934c with the query_id back to the sender, non-bounceable, everything above the reserve
    result = await chain.send_internal(
        root_addr,
        TON,
        body=add_hash_body("worker", new_hash, query_id=77),
        src=env.net.root_owner.addr,
        bounce=True,
    )
    excess = tx_of(result, env.net.root_owner.address)
    assert parse_body(in_body(excess)) == Excesses(77)
    assert in_value(excess) > TON * 99 // 100

    assert (await root_op(env, register_proxy_body(ProxyDesc("10.0.0.1:5000")))).success
    assert (await root_op(env, update_proxy_body(3, ProxyDesc("10.0.0.2:5000 10.0.0.2:5001")))).success
    root = await read_root(chain, env.net)
    assert root.last_proxy_seqno == 3
    assert root.registered_proxies[3] == ProxyDesc("10.0.0.2:5000 10.0.0.2:5001")
    assert (await root_op(env, unregister_proxy_body(3))).success
    assert 3 not in (await read_root(chain, env.net)).registered_proxies
    assert (
        await root_op(env, update_proxy_body(42, ProxyDesc("10.0.0.3:1")))
    ).exit_code == CocoonError.UNKNOWN_PROXY_TYPE
    # unregistering an unknown seqno is a no-op that still counts as a change (official root)
    version = (await read_root(chain, env.net)).version
    assert (await root_op(env, unregister_proxy_body(42))).success
    assert (await read_root(chain, env.net)).version == version + 1
    bad_type = root_op_body(Op.REGISTER_PROXY, payload=ProxyDesc("10.0.0.4:1", type=1).store(Builder()))
    assert (await root_op(env, bad_type)).exit_code == CocoonError.MSG_FORMAT_MISMATCH

    before = (await read_root(chain, env.net)).params
    assert (await root_op(env, change_price_body(20, 7))).success
    after = (await read_root(chain, env.net)).params
    assert (after.params_version, after.price_per_token, after.worker_fee_per_token) == (1, 20, 7)
    assert after.worker_sc_code == before.worker_sc_code

    changes: dict[str, Any] = {
        "price_per_token": 30,
        "worker_fee_per_token": 10,
        "proxy_delay_before_close": 600,
        "client_delay_before_close": 300,
        "min_proxy_stake": 5 * TON,
        "min_client_stake": 2 * TON,
    }
    assert (await root_op(env, change_params_body(**changes))).success
    params = (await read_root(chain, env.net)).params
    assert params == dataclasses.replace(after, params_version=2, **changes)
    assert await env.get(root_addr, "get_cur_params") != []

    codes = (Cell.empty(), Builder().store_uint(1, 8).end_cell(), Builder().store_uint(2, 8).end_cell())
    assert (await root_op(env, upgrade_contracts_body(*codes))).success
    params = (await read_root(chain, env.net)).params
    assert (params.params_version, params.proxy_sc_code, params.worker_sc_code, params.client_sc_code) == (
        3,
        *codes,
    )

    # the Python codec re-packs the contract's data bit for bit after adds, deletes and updates
    data = chain.account(root_addr).storage.state.state_init.data
    assert (await read_root(chain, env.net)).to_cell().hash == data.hash
    assert len((await read_root(chain, env.net)).registered_proxies) == 2

    version = (await read_root(chain, env.net)).version
    assert (await root_op(env, reset_body())).success
    root = await read_root(chain, env.net)
    assert root.version == version + 1
    assert not (root.worker_hashes or root.model_hashes or root.proxy_hashes or root.registered_proxies)
    assert root.last_proxy_seqno == 3  # kept

    assert (await root_op(env, root_op_body(Op.CHANGE_PARAMS_FULL))).exit_code == CocoonError.UNKNOWN_OP
    assert (await root_op(env, root_op_body(0x12345678))).exit_code == CocoonError.UNKNOWN_OP

    new_owner = env.net.owner.addr
    assert (await root_op(env, change_owner_body(new_owner))).success
    assert (await read_root(chain, env.net)).owner_address == new_owner
    tx = await root_op(env, add_hash_body("worker", new_hash))
    assert tx.exit_code == CocoonError.EXPECTED_MESSAGE_FROM_OWNER  # the old owner is no longer the owner


async def test_root_upgrade_and_upgrade_full(env: Env) -> None:
    from cocoon_operator.ton.codes import cocoon_root_code

    chain, root_addr = env.chain, env.net.root
    version = (await read_root(chain, env.net)).version
    assert (await root_op(env, root_op_body(Op.UPGRADE, refs=(cocoon_root_code(),)))).success
    assert (await read_root(chain, env.net)).version == version  # upgrade does not count
    fresh = RootStorage(owner_address=env.net.root_owner.addr, params=Params(unique_id=99), version=41)
    assert (
        await root_op(env, root_op_body(Op.UPGRADE_FULL, refs=(fresh.to_cell(), cocoon_root_code())))
    ).success
    assert await read_root(chain, env.net) == fresh
    assert (await env.get(root_addr, "get_cocoon_data"))[:4] == [41, 0, 0, 99]


async def test_root_rejects_non_owner_and_ignores_noise(env: Env) -> None:
    stranger = env.net.treasury.addr
    before = env.chain.account(env.net.root).storage.state.state_init.data.hash
    result = await env.chain.send_internal(
        env.net.root, TON, body=add_hash_body("model", bytes(32)), src=stranger, bounce=True
    )
    tx = tx_of(result, env.net.root)
    assert tx.exit_code == CocoonError.EXPECTED_MESSAGE_FROM_OWNER and tx.aborted
    assert tx_of(result, stranger).transaction.in_msg.info.bounced  # the value bounced back
    # empty bodies (top-ups) and do_not_process are accepted without effect, from anyone
    for body in (None, DoNotProcess(5).to_cell()):
        res = await env.chain.send_internal(env.net.root, TON, body=body, src=stranger, bounce=True)
        assert tx_of(res, env.net.root).success
    assert env.chain.account(env.net.root).storage.state.state_init.data.hash == before


async def test_root_owner_ops_through_owner_wallet(env: Env) -> None:
    """The same ops from the real root-owner wallet (signed external -> wallet -> root -> excesses)."""
    result = await wallet_send(
        env.chain, env.net.root_owner, [(env.net.root_addr, TON // 10, change_price_body(4, 2), None, True)]
    )
    assert tx_of(result, env.net.root).success
    assert (await env.get(env.net.root, "get_cocoon_data"))[2] == 1  # params_version


# --- full payout ------------------------------------------------------------------------------------


async def test_worker_contract_deploy_and_getter(env: Env) -> None:
    worker = await env.funded_worker()
    proxy = env.net.proxy(0)
    owner, proxy_addr, key, state, tokens = await env.get(worker, "get_cocoon_worker_data")
    assert slice_address(owner) == env.owner
    assert slice_address(proxy_addr) == proxy.contract_addr
    assert key.to_bytes(32, "big") == proxy.key
    assert (state, tokens) == (0, 0)
    storage = WorkerStorage.from_cell(env.chain.account(worker).storage.state.state_init.data)
    assert storage.params == env.net.root_params().without_code()
    # the cocoon wallet itself was deployed lazily by that first external
    assert env.chain.status(env.cocoon_wallet) == "active"
    assert await env.get(env.cocoon_wallet, "seqno") == [1]
    owner_slice = (await env.get(env.cocoon_wallet, "get_owner_address"))[0]
    assert slice_address(owner_slice) == env.owner
    public = (await env.get(env.cocoon_wallet, "get_public_key"))[0]
    assert public.to_bytes(32, "big") == public_key_from_seed(NODE_KEY)


async def test_full_payout(env: Env) -> None:
    worker = await env.funded_worker()
    proxy = env.net.proxy(0)
    tokens = 3_000_000_000  # 3 TON at 1 nano/token
    fee = env.net.params.worker_fee_per_token
    price = env.net.params.price_per_token
    owner_before = env.chain.balance(env.owner)
    proxy_before = env.chain.balance(proxy.contract)

    voucher = sign_voucher(env.net, 0, worker, tokens, query_id=0x1234)
    result = await env.claim(voucher)
    assert_contracts_ok(result)

    # cocoon wallet -> worker contract: the voucher, 0.5 TON (mode 0: the forward fee comes out of it)
    worker_tx = tx_of(result, worker)
    assert CLAIM_VALUE - TON // 100 < in_value(worker_tx) <= CLAIM_VALUE
    request = parse_body(in_body(worker_tx))
    assert isinstance(request, PayoutRequest) and request.query_id == 0x1234
    assert request.send_excesses_to == env.cocoon_wallet
    # worker contract -> proxy contract: worker_proxy_request with the exact payload
    proxy_tx = tx_of(result, proxy.contract)
    assert parse_body(in_body(proxy_tx)) == WorkerProxyRequest(
        query_id=0x1234,
        owner_address=env.owner,
        state=0,
        tokens=tokens,
        payload=WorkerProxyPayout(tokens * fee, tokens * (price - fee), env.cocoon_wallet),
    )
    # proxy contract -> owner: payout#c59a7cd3 with exactly N x fee
    owner_tx = tx_of(result, env.owner)
    assert parse_body(in_body(owner_tx)) == Payout(0x1234)
    assert in_value(owner_tx) == tokens * fee
    assert not owner_tx.transaction.in_msg.info.bounce
    assert (
        env.chain.balance(env.owner) > owner_before + tokens * fee - TON // 100
    )  # minus the owner wallet's fee
    # proxy contract -> cocoon wallet: excesses with the same query_id
    wallet_txs = result.for_account(env.cocoon_wallet)
    assert parse_body(in_body(wallet_txs[-1])) == Excesses(0x1234)
    assert in_value(wallet_txs[-1]) > CLAIM_VALUE // 2
    # state
    assert (await env.get(worker, "get_cocoon_worker_data"))[3:] == [0, tokens]
    proxy_data = await env.get(proxy.contract, "get_cocoon_proxy_data")
    assert proxy_data[4] == tokens * (price - fee)  # its internal balance grows by proxy_part
    assert env.chain.balance(proxy.contract) < proxy_before - tokens * fee + TON // 100
    storage = ProxyStorage.from_cell(env.chain.account(proxy.contract).storage.state.state_init.data)
    assert storage.balance == tokens * (price - fee)

    # a second claim pays only the delta
    result = await env.claim(sign_voucher(env.net, 0, worker, tokens + 500, query_id=7))
    assert in_value(tx_of(result, env.owner)) == 500 * fee
    assert (await env.get(worker, "get_cocoon_worker_data"))[4] == tokens + 500


async def test_resubmitted_voucher_fails_1000_and_pays_nothing(env: Env) -> None:
    worker = await env.funded_worker()
    voucher = sign_voucher(env.net, 0, worker, 1_000_000, query_id=1)
    assert_contracts_ok(await env.claim(voucher))
    owner_before = env.chain.balance(env.owner)
    result = await env.claim(voucher)
    tx = tx_of(result, worker)
    assert tx.exit_code == CocoonError.OLD_MESSAGE
    assert not result.for_account(env.owner)
    assert env.chain.balance(env.owner) == owner_before
    assert (await env.get(worker, "get_cocoon_worker_data"))[4] == 1_000_000
    # a lower cumulative amount is old as well
    tx = tx_of(await env.claim(sign_voucher(env.net, 0, worker, 10, query_id=2)), worker)
    assert tx.exit_code == CocoonError.OLD_MESSAGE


async def test_voucher_for_another_worker_contract_fails_1015(env: Env) -> None:
    worker = await env.funded_worker()
    other = env.worker(0, owner=env.net.treasury.addr)
    voucher = sign_voucher(env.net, 0, other, 1000, query_id=3)
    body = repack_send_excesses_to(voucher, env.cocoon_wallet).to_cell()
    result = await env.send_from_cocoon_wallet(
        OutMessage(internal_message(worker, CLAIM_VALUE, body=body), 0)
    )
    assert tx_of(result, worker).exit_code == CocoonError.EXPECTED_MY_ADDRESS
    assert not result.for_account(env.owner)


async def test_bad_signature_fails_1007(env: Env) -> None:
    worker = await env.funded_worker()
    # signed by proxy 1's key, submitted to a worker contract bound to proxy 0
    voucher = sign_voucher(env.net, 1, worker, 1000, query_id=4)
    tx = tx_of(await env.claim(voucher), worker)
    assert tx.exit_code == CocoonError.BAD_SIGNATURE


async def test_signed_format_mismatch_fails_1005(env: Env) -> None:
    worker = await env.funded_worker()
    voucher = sign_voucher(env.net, 0, worker, 1000, query_id=5)
    outer = dataclasses.replace(voucher, query_id=6)  # inner still says 5; the signature is valid
    tx = tx_of(await env.claim(outer), worker)
    assert tx.exit_code == CocoonError.SIGNED_MSG_FORMAT_MISMATCH


async def test_low_value_fails_1003(env: Env) -> None:
    worker = await env.funded_worker()
    voucher = sign_voucher(env.net, 0, worker, 1000, query_id=8)
    tx = tx_of(await env.claim(voucher, value=TON // 10), worker)  # must be strictly more than 0.1 TON
    assert tx.exit_code == CocoonError.LOW_MSG_VALUE


async def test_last_payout_closes_worker_then_1006(env: Env) -> None:
    worker = await env.funded_worker()
    assert_contracts_ok(await env.claim(sign_voucher(env.net, 0, worker, 100, query_id=1)), skip=(env.owner,))
    # the proxy's closing voucher: same tokens allowed (<=), state -> 2, balance leaves with the excesses
    last = sign_voucher(env.net, 0, worker, 100, query_id=2, last=True)
    result = await env.claim(last, value=TON)
    assert_contracts_ok(result, skip=(env.owner,))
    request = parse_body(in_body(tx_of(result, env.net.proxy(0).contract)))
    assert isinstance(request, WorkerProxyRequest) and (request.state, request.tokens) == (2, 100)
    assert (await env.get(worker, "get_cocoon_worker_data"))[3:] == [2, 100]
    assert env.chain.balance(worker) <= TON // 100
    tx = tx_of(await env.claim(sign_voucher(env.net, 0, worker, 200, query_id=3)), worker)
    assert tx.exit_code == CocoonError.CLOSED


async def test_owner_worker_register(env: Env) -> None:
    worker = await env.funded_worker()
    body = (
        Builder()
        .store_uint(Op.OWNER_WORKER_REGISTER, 32)
        .store_uint(9, 64)
        .store_address(env.owner)
        .end_cell()
    )
    result = await wallet_send(env.chain, env.net.owner, [(worker, TON // 5, body, None, True)])
    # the 1-nano ping buys no gas: the proxy's compute phase is skipped, the proxy runner reads the tx
    assert_contracts_ok(result, skip=(env.net.proxy(0).contract_addr,))
    ping = parse_body(in_body(tx_of(result, env.net.proxy(0).contract)))
    assert ping == WorkerProxyRequest(query_id=9, owner_address=env.owner, state=0, tokens=0, payload=None)
    assert Excesses(9) in [parse_body(in_body(tx)) for tx in result.for_account(env.owner)]
    # low value first, then the owner check
    res = await env.chain.send_internal(worker, TON // 10, body=body, src=env.owner, bounce=True)
    assert tx_of(res, worker).exit_code == CocoonError.LOW_MSG_VALUE
    res = await env.chain.send_internal(worker, TON, body=body, src=env.net.treasury.addr, bounce=True)
    assert tx_of(res, worker).exit_code == CocoonError.EXPECTED_MESSAGE_FROM_OWNER
    res = await env.chain.send_internal(worker, TON, body=root_op_body(0x1111), src=env.owner, bounce=True)
    assert tx_of(res, worker).exit_code == CocoonError.UNKNOWN_OP


# --- proxy contract ------------------------------------------------------------------------------------


async def test_proxy_rejects_forged_worker_1014(env: Env) -> None:
    proxy = env.net.proxy(0)
    forged = WorkerProxyRequest(
        query_id=1,
        owner_address=env.owner,
        state=0,
        tokens=10**12,
        payload=WorkerProxyPayout(10**12, 10**12, env.owner),
    ).to_cell()
    before = env.chain.balance(proxy.contract)
    result = await env.chain.send_internal(proxy.contract, TON, body=forged, src=env.owner, bounce=True)
    refused = tx_of(result, proxy.contract)
    assert refused.exit_code == CocoonError.CONTRACT_ADDRESS_MISMATCH
    # Nothing left the proxy but its storage rent (a nanoTON or so when time passed since its last
    # transaction, as on mainnet): the bounce returned the rest of the forged request's value.
    storage = refused.transaction.description.storage_ph
    rent = storage.storage_fees_collected if storage is not None else 0
    assert env.chain.balance(proxy.contract) >= before - rent
    # the real worker contract's address passes the check, but a wrong inner op is 1012
    worker = env.worker(0)
    bad_payload = Builder().store_uint(0xDEADBEEF, 32).end_cell()
    body = (
        Builder()
        .store_uint(Op.WORKER_PROXY_REQUEST, 32)
        .store_uint(1, 64)
        .store_address(env.owner)
        .store_uint(0, 66)
        .store_maybe_ref(bad_payload)
        .end_cell()
    )
    result = await env.chain.send_internal(proxy.contract, TON, body=body, src=worker, bounce=True)
    assert tx_of(result, proxy.contract).exit_code == CocoonError.UNKNOWN_OP


async def test_proxy_commits_ignored_and_owner_text_ops(env: Env) -> None:
    chain, proxy = env.chain, env.net.proxy(0)
    data_before = chain.account(proxy.contract).storage.state.state_init.data.hash
    commit = DoNotProcess(3, ProxySaveState(seqno=12, unique_hash=bytes(range(32)))).to_cell()
    # 1 nano (mode 1) as the proxy's wallet sends it: no gas, compute skipped, but the tx is on chain
    result = await chain.send_internal(proxy.contract, 1, body=commit, src=env.net.treasury.addr, bounce=True)
    assert parse_body(in_body(tx_of(result, proxy.contract))) == DoNotProcess(
        3, ProxySaveState(12, bytes(range(32)))
    )
    result = await chain.send_internal(
        proxy.contract, TON, body=commit, src=env.net.treasury.addr, bounce=True
    )
    assert tx_of(result, proxy.contract).success  # with gas: the contract ignores it
    assert chain.account(proxy.contract).storage.state.state_init.data.hash == data_before
    assert parse_body(commit) == DoNotProcess(3, ProxySaveState(12, bytes(range(32))))

    # earn some proxy_part, then "w" sends the proxy's balance field to its owner
    worker = await env.funded_worker()
    await env.claim(sign_voucher(env.net, 0, worker, 1_000_000, query_id=1))
    earned = (await env.get(proxy.contract, "get_cocoon_proxy_data"))[4]
    assert earned == 1_000_000
    stranger = await chain.send_internal(proxy.contract, TON, body=text_body("w"), src=env.owner, bounce=True)
    assert tx_of(stranger, proxy.contract).exit_code == CocoonError.EXPECTED_MESSAGE_FROM_OWNER
    proxy_owner = Address(proxy.owner)
    result = await chain.send_internal(proxy.contract, TON, body=text_body("w"), src=proxy_owner, bounce=True)
    payout_tx = tx_of(result, proxy_owner)
    assert parse_body(in_body(payout_tx)) == Payout(0)
    assert in_value(payout_tx) > earned + TON * 99 // 100  # the balance plus the attached value
    assert (await env.get(proxy.contract, "get_cocoon_proxy_data"))[4] == 0
    unknown = await chain.send_internal(
        proxy.contract, TON, body=text_body("x"), src=proxy_owner, bounce=True
    )
    assert tx_of(unknown, proxy.contract).exit_code == CocoonError.UNKNOWN_TEXT_OP

    # "c" starts closing: state 1, unlock_ts = now + proxy_delay_before_close; payouts still accepted
    result = await chain.send_internal(proxy.contract, TON, body=text_body("c"), src=proxy_owner, bounce=True)
    assert tx_of(result, proxy.contract).success
    data = await env.get(proxy.contract, "get_cocoon_proxy_data")
    assert data[3] == 1 and data[6] >= chain.now + 86_400 - 5
    result = await env.claim(sign_voucher(env.net, 0, worker, 2_000_000, query_id=2))
    assert in_value(tx_of(result, env.owner)) == 1_000_000


async def test_proxy_signed_close_flow(env: Env) -> None:
    chain, proxy = env.chain, env.net.proxy(1)

    def signed(op: Op, query_id: int, key_seed: bytes = proxy.seed) -> Cell:
        inner = (
            Builder()
            .store_uint(op, 32)
            .store_uint(query_id, 64)
            .store_address(proxy.contract_addr)
            .end_cell()
        )
        secret = crypto_sign_seed_keypair(key_seed)[1]
        from nacl.bindings import crypto_sign

        signature = crypto_sign(inner.hash, secret)[:64]
        return (
            Builder()
            .store_uint(op, 32)
            .store_uint(query_id, 64)
            .store_address(env.owner)
            .store_bytes(signature)
            .store_ref(inner)
            .end_cell()
        )

    res = await chain.send_internal(
        proxy.contract, TON, body=signed(Op.EXT_PROXY_CLOSE_REQUEST_SIGNED, 1, bytes(32)), bounce=True
    )
    assert tx_of(res, proxy.contract).exit_code == CocoonError.BAD_SIGNATURE
    # completing a close that was never requested: the proxy is not closing (1006)
    res = await chain.send_internal(
        proxy.contract, TON, body=signed(Op.EXT_PROXY_CLOSE_COMPLETE_REQUEST_SIGNED, 2), bounce=True
    )
    assert tx_of(res, proxy.contract).exit_code == CocoonError.CLOSED
    res = await chain.send_internal(
        proxy.contract, TON, body=signed(Op.EXT_PROXY_CLOSE_REQUEST_SIGNED, 3), bounce=True
    )
    assert tx_of(res, proxy.contract).success
    assert (await env.get(proxy.contract, "get_cocoon_proxy_data"))[3] == 1
    res = await chain.send_internal(
        proxy.contract, TON, body=signed(Op.EXT_PROXY_CLOSE_COMPLETE_REQUEST_SIGNED, 4), bounce=True
    )
    assert tx_of(res, proxy.contract).exit_code == CocoonError.NOT_UNLOCKED_YET
    await chain.advance(86_400 + 1)
    res = await chain.send_internal(
        proxy.contract, TON, body=signed(Op.EXT_PROXY_CLOSE_COMPLETE_REQUEST_SIGNED, 5), bounce=True
    )
    assert tx_of(res, proxy.contract).success
    payout = tx_of(res, proxy.owner)
    assert parse_body(in_body(payout)) == Payout(5) and in_value(payout) > 10_000 * TON * 99 // 100
    assert (await env.get(proxy.contract, "get_cocoon_proxy_data"))[3] == 2
    # closed: payouts from its worker contracts are refused
    worker = env.worker(1)
    body = WorkerProxyRequest(1, env.owner, 0, 5, WorkerProxyPayout(5, 5, env.owner)).to_cell()
    res = await chain.send_internal(proxy.contract, TON, body=body, src=worker, bounce=True)
    assert tx_of(res, proxy.contract).exit_code == CocoonError.CLOSED


async def test_proxy_payout_request_stake_and_owner_close(env: Env) -> None:
    chain, proxy = env.chain, env.net.proxy(0)
    proxy_owner = Address(proxy.owner)
    worker = await env.funded_worker()
    await env.claim(sign_voucher(env.net, 0, worker, 4_000, query_id=1))
    assert (await env.get(proxy.contract, "get_cocoon_proxy_data"))[4] == 4_000

    def request(op: Op, query_id: int, payload: Builder) -> Cell:
        return Builder().store_uint(op, 32).store_uint(query_id, 64).store_cell(payload.end_cell()).end_cell()

    async def to_proxy(value: int, body: Cell, src: Address = env.owner) -> MessageResult:
        return await chain.send_internal(proxy.contract, value, body=body, src=src, bounce=True)

    # ext_proxy_payout_request: anyone, >= 0.1 TON; the balance field goes to the proxy owner as payout
    body = request(Op.EXT_PROXY_PAYOUT_REQUEST, 5, Builder().store_address(env.owner))
    res = await to_proxy(TON // 20, body)
    assert tx_of(res, proxy.contract).exit_code == CocoonError.LOW_MSG_VALUE
    res = await to_proxy(TON // 5, body)
    assert tx_of(res, proxy.contract).success
    assert (
        parse_body(in_body(tx_of(res, proxy_owner))) == Payout(5)
        and in_value(tx_of(res, proxy_owner)) == 4_000
    )
    assert Excesses(5) in [parse_body(in_body(tx)) for tx in res.for_account(env.owner)]
    assert (await env.get(proxy.contract, "get_cocoon_proxy_data"))[4] == 0

    # ext_proxy_increase_stake: grams + 0.1 TON at least; stake grows and stays on the contract
    stake = Builder().store_coins(2 * TON).store_address(env.owner)
    res = await to_proxy(2 * TON, request(Op.EXT_PROXY_INCREASE_STAKE, 6, stake))
    assert tx_of(res, proxy.contract).exit_code == CocoonError.LOW_MSG_VALUE
    before = chain.balance(proxy.contract)
    res = await to_proxy(3 * TON, request(Op.EXT_PROXY_INCREASE_STAKE, 7, stake))
    assert tx_of(res, proxy.contract).success
    assert (await env.get(proxy.contract, "get_cocoon_proxy_data"))[5] == 2 * TON
    assert chain.balance(proxy.contract) >= before + 2 * TON - TON // 100

    # owner_proxy_close: owner only, starts closing
    close = request(Op.OWNER_PROXY_CLOSE, 8, Builder().store_address(proxy_owner))
    res = await to_proxy(TON, close)
    assert tx_of(res, proxy.contract).exit_code == CocoonError.EXPECTED_MESSAGE_FROM_OWNER
    res = await to_proxy(TON, close, src=proxy_owner)
    assert tx_of(res, proxy.contract).success
    assert (await env.get(proxy.contract, "get_cocoon_proxy_data"))[3] == 1
    res = await to_proxy(TON, root_op_body(0x1234))
    assert tx_of(res, proxy.contract).exit_code == CocoonError.UNKNOWN_OP


# --- cocoon wallet ------------------------------------------------------------------------------------------


async def test_cocoon_wallet_refuses_externals_below_2_ton_1035(env: Env) -> None:
    await env.fund_cocoon_wallet(19 * TON // 10)
    ping = OutMessage(internal_message(env.owner, TON // 100, bounce=False), 1)
    with pytest.raises(ExternalNotAccepted) as exc:
        await env.send_from_cocoon_wallet(ping)
    assert exc.value.exit_code == CocoonError.WALLET_LOW_BALANCE
    await env.chain.faucet(env.cocoon_wallet, TON)
    result = await env.send_from_cocoon_wallet(ping)
    assert tx_of(result, env.cocoon_wallet).success


async def test_cocoon_wallet_external_checks(env: Env) -> None:
    await env.fund_cocoon_wallet()
    ping = OutMessage(internal_message(env.owner, TON // 100, bounce=False), 1)
    assert tx_of(await env.send_from_cocoon_wallet(ping), env.cocoon_wallet).success  # deploys, seqno 1

    cases: list[tuple[dict[str, Any], CocoonError]] = [
        ({"seqno": 0}, CocoonError.WALLET_BAD_SEQNO),  # replay of seqno 0
        ({"seqno": 5}, CocoonError.WALLET_BAD_SEQNO),
        ({"valid_until": env.chain.now}, CocoonError.WALLET_EXPIRED),
        ({"subwallet_id": 1}, CocoonError.WALLET_BAD_SUBWALLET),
    ]
    for kwargs, code in cases:
        with pytest.raises(ExternalNotAccepted) as exc:
            await env.send_from_cocoon_wallet(ping, **kwargs)
        assert exc.value.exit_code == code, kwargs
    assert await env.get(env.cocoon_wallet, "seqno") == [1]


async def test_cocoon_wallet_bad_signature_1034(env: Env) -> None:
    await env.fund_cocoon_wallet()
    ping = OutMessage(internal_message(env.owner, TON // 100, bounce=False), 1)
    await env.send_from_cocoon_wallet(ping)
    from cocoon_operator.ton.wallet_messages import external_body, external_message

    body = external_body(bytes(32), seqno=1, valid_until=env.chain.now + 60, messages=[ping])
    with pytest.raises(ExternalNotAccepted) as exc:
        await env.chain.send_message(external_message(env.cocoon_wallet, body).to_boc())
    assert exc.value.exit_code == CocoonError.WALLET_BAD_SIGNATURE


async def test_cocoon_wallet_owner_ops(env: Env) -> None:
    chain, wallet = env.chain, env.cocoon_wallet
    await env.fund_cocoon_wallet(7 * TON)
    ping = OutMessage(internal_message(env.owner, TON // 100, bounce=False), 1)
    await env.send_from_cocoon_wallet(ping)  # deploy

    # excesses / payout / do_not_process / top-ups are accepted from anyone
    for body in (Excesses(1).to_cell(), Payout(2).to_cell(), DoNotProcess(3).to_cell(), None):
        res = await chain.send_internal(wallet, TON // 10, body=body, src=env.net.treasury.addr, bounce=True)
        assert tx_of(res, wallet).success
    # anything else from a stranger: 1040; unknown op/char from the owner: 1041
    res = await chain.send_internal(
        wallet, TON // 10, body=withdraw_body(), src=env.net.treasury.addr, bounce=True
    )
    assert tx_of(res, wallet).exit_code == CocoonError.WALLET_NOT_OWNER
    res = await chain.send_internal(wallet, TON // 10, body=text_body("x"), src=env.owner, bounce=True)
    assert tx_of(res, wallet).exit_code == CocoonError.WALLET_UNKNOWN_OP
    res = await chain.send_internal(wallet, TON // 10, body=root_op_body(0x1234), src=env.owner, bounce=True)
    assert tx_of(res, wallet).exit_code == CocoonError.WALLET_UNKNOWN_OP

    # "b" blocks (1031 for externals), "u" unblocks; sent from the real owner wallet
    res = await wallet_send(chain, env.net.owner, [(wallet, TON // 10, block_body(), None, True)])
    assert tx_of(res, wallet).success
    assert WalletStorage.from_cell(chain.account(wallet).storage.state.state_init.data).blocked
    with pytest.raises(ExternalNotAccepted) as exc:
        await env.send_from_cocoon_wallet(ping)
    assert exc.value.exit_code == CocoonError.WALLET_BLOCKED
    await wallet_send(chain, env.net.owner, [(wallet, TON // 10, unblock_body(), None, True)])
    assert tx_of(await env.send_from_cocoon_wallet(ping), wallet).success

    # owner_wallet_send_message: an arbitrary message from the wallet
    msg = internal_message(env.net.treasury.addr, TON, bounce=False)
    res = await wallet_send(
        chain, env.net.owner, [(wallet, TON // 10, owner_send_message_body(msg, mode=1), None, True)]
    )
    assert in_value(tx_of(res, env.net.treasury.address)) == TON

    # "w": everything but at most 0.01 TON goes to the owner, bounceable, body "w"
    balance = chain.balance(wallet)
    owner_before = chain.balance(env.owner)
    res = await wallet_send(chain, env.net.owner, [(wallet, TON // 10, withdraw_body(), None, True)])
    sweep = res.for_account(env.owner)[-1]
    assert parse_body(in_body(sweep)) == parse_body(text_body("w"))
    assert sweep.transaction.in_msg.info.bounce
    assert in_value(sweep) > balance - TON // 50
    assert chain.balance(wallet) <= TON // 100
    assert chain.balance(env.owner) > owner_before + balance - TON // 20
    # below the floor now: the runner stalls until refunded
    with pytest.raises(ExternalNotAccepted) as exc:
        await env.send_from_cocoon_wallet(ping)
    assert exc.value.exit_code == CocoonError.WALLET_LOW_BALANCE


# --- rollover ---------------------------------------------------------------------------------------------


async def test_params_version_rollover(env: Env) -> None:
    old_worker = env.worker(0)
    net2 = await bump_params_version(env.chain, env.net)
    assert (await env.get(env.net.root, "get_cocoon_data"))[2] == 1
    assert net2.params.params_version == 1
    for old, new in zip(env.net.proxies, net2.proxies, strict=True):
        assert new.contract != old.contract and new.previous_contracts == [old.contract]
        assert (await env.get(new.contract, "get_cocoon_proxy_data"))[11] == 1
        assert (await env.get(old.contract, "get_cocoon_proxy_data"))[11] == 0
    new_worker = worker_contract_for(net2, 0, env.owner)
    assert new_worker != old_worker
    # and the new pair works end to end
    env2 = Env(env.chain, net2)
    await env2.fund_cocoon_wallet()
    worker = await env2.deploy_worker()
    assert worker == new_worker
    result = await env2.claim(sign_voucher(net2, 0, worker, 42, query_id=1))
    assert in_value(tx_of(result, env.owner)) == 42


async def test_address_derivations_match_the_contracts(env: Env) -> None:
    """Python's worker-address derivation is what the proxy contract recomputes on chain (§7.2)."""
    proxy = env.net.proxy(0)
    params: Params = env.net.root_params()
    expected = worker_contract_address(env.owner, proxy.contract_addr, proxy.key, params)
    assert expected == env.worker(0)
    storage = ProxyStorage.from_cell(env.chain.account(proxy.contract).storage.state.state_init.data)
    assert storage.params == params.for_proxy()
    assert storage.root_address == env.net.root_addr
    inner = sign_voucher(env.net, 0, expected, 1).payout
    assert inner == SignedPayout(query_id=inner.query_id, new_tokens=1, expected_my_address=expected)
    assert RootStorage.from_cell((await read_root(env.chain, env.net)).to_cell()) == await read_root(
        env.chain, env.net
    )


async def test_network_json_round_trip_and_no_key_in_repr(env: Env, tmp_path: Any) -> None:
    import json

    from cocoon_operator.api.spec import ModelRef

    data = env.net.to_json()
    text = json.dumps(data)  # plain JSON types only (dataclasses.asdict gives the same structure)
    assert data == dataclasses.asdict(env.net)
    path = tmp_path / "network.json"
    path.write_text(text)
    assert CocoonNetwork.load(path) == env.net
    assert {"root", "owner", "treasury", "proxies"} <= data.keys()
    assert all(
        "address" not in p and p["contract"] for p in data["proxies"]
    )  # `chain status` reads "contract"
    assert ModelRef.parse(DEV_MODEL).full == DEV_MODEL
    for secret in (env.net.treasury.private_key, env.net.proxy(0).private_key):
        assert secret not in repr(env.net)
    voucher = sign_voucher(env.net, 0, env.worker(0), 1)
    assert voucher.signature.hex() not in repr(voucher)
    # idempotent on the same chain: nothing is registered twice
    txs = env.chain.total_transactions
    assert await deploy_cocoon_network(env.chain) == env.net
    assert (await read_root(env.chain, env.net)).version == 6
    assert env.chain.total_transactions == txs
    # deterministic: the same seed gives the same network on a fresh chain
    again = await deploy_cocoon_network(LocalChain(config_b64=env.chain.config_b64))
    assert again == env.net
    other = await deploy_cocoon_network(LocalChain(config_b64=env.chain.config_b64), seed=b"other")
    assert other.root != env.net.root and other.treasury.address != env.net.treasury.address
