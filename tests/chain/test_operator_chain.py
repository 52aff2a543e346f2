"""The operator's chain layer against the local chain (real TVM, real liteserver protocol, pytoniq
LiteClient and LiteBalancer unchanged) and the project's deployed COCOON network."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pytoniq_core.boc.builder import Builder
from pytoniq_core.boc.cell import Cell
from pytoniq_core.tlb.account import StateInit

from cocoon_dev.ton.network import (
    DEV_IMAGE_HASH,
    DEV_MODEL,
    CocoonNetwork,
    bump_params_version,
)
from cocoon_dev.ton.network import read_root as read_dev_root
from cocoon_operator.money import funding as funding_mod
from cocoon_operator.money.funding import (
    FundingStatus,
    Treasury,
    TreasuryKey,
    ensure_funded,
)
from cocoon_operator.rewards import ledger as lg
from cocoon_operator.rewards.facts import KnownContract, gather_chain_facts
from cocoon_operator.ton.addresses import public_key_from_seed, raw_address
from cocoon_operator.ton.client import ChainClient, ChainSettings, ChainUnavailable, ExternalRejected
from cocoon_operator.ton.codes import cocoon_client_code, cocoon_root_code
from cocoon_operator.ton.identity import read_cocoon_wallet
from cocoon_operator.ton.ops import CocoonError
from cocoon_operator.ton.payouts import match_payout, scan_owner_payouts, worker_claim_submissions
from cocoon_operator.ton.root import (
    PreflightReason,
    RootUnavailable,
    params_rollover,
    preflight,
    read_root,
)
from cocoon_operator.ton.storage import Params
from cocoon_operator.ton.worker_contracts import (
    RegistrationReason,
    check_registration,
    is_outdated,
    read_worker_contract,
    read_worker_data,
)
from tests.chain.helpers import (
    Crash,
    MemoryIntentStore,
    chain_stats,
    cocoon_wallet_of_seed,
    crash,
    fund,
    queued,
    register_worker,
    submit_voucher,
    treasury_key,
)
from tests.chain.wallets import TON, deploy_treasury

pytestmark = [pytest.mark.chain, pytest.mark.timeout(120)]

FLOOR, TARGET = 2_100_000_000, 5 * TON


@pytest.fixture(params=[True, False], ids=["LiteBalancer", "LiteClient"])
async def client(request: pytest.FixtureRequest, ton_chain: Any) -> AsyncIterator[ChainClient]:
    _, cfg = ton_chain
    async with ChainClient.from_config(
        cfg, ChainSettings(use_balancer=request.param, call_timeout_s=10)
    ) as c:
        yield c


# ------------------------------------------------------------------------------------------- root


async def test_reads_the_deployed_root_exactly(client: ChainClient, network: CocoonNetwork) -> None:
    root = await read_root(client, network.root)
    p = network.params
    assert root.address == network.root
    assert root.owner_address == raw_address(network.root_owner.address)
    assert (root.params_version, root.is_test) == (p.params_version, p.is_test)
    assert (root.price_per_token, root.worker_fee_per_token) == (p.price_per_token, p.worker_fee_per_token)
    params = root.params
    assert params.prompt_tokens_price_multiplier == p.prompt_tokens_price_multiplier
    assert params.cached_tokens_price_multiplier == p.cached_tokens_price_multiplier
    assert params.completion_tokens_price_multiplier == p.completion_tokens_price_multiplier
    assert params.reasoning_tokens_price_multiplier == p.reasoning_tokens_price_multiplier
    assert (params.proxy_delay_before_close, params.client_delay_before_close) == (
        p.proxy_delay_before_close,
        p.client_delay_before_close,
    )
    assert (params.min_proxy_stake, params.min_client_stake) == (p.min_proxy_stake, p.min_client_stake)
    worker_code, proxy_code = root.params.worker_sc_code, root.params.proxy_sc_code
    assert worker_code is not None and worker_code.hash.hex() == p.worker_code_hash
    assert proxy_code is not None and proxy_code.hash.hex() == p.proxy_code_hash
    assert {h.hex() for h in root.model_hashes} == set(network.model_hashes)
    assert {h.hex() for h in root.worker_hashes} == set(network.worker_image_hashes)
    assert {h.hex() for h in root.proxy_hashes} == set(network.proxy_image_hashes)
    assert [(x.seqno, x.address) for x in root.registered_proxies] == [
        (x.seqno, x.endpoint) for x in network.proxies
    ]
    assert root.registered_proxies[0].worker_endpoint == network.proxies[0].address_for_workers
    assert root.last_proxy_seqno == len(network.proxies)
    # Every owner op bumped `version` (hashes + proxies).
    assert root.version == len(network.model_hashes) + 2 + len(network.proxies)


async def test_preflight_rejects_what_the_root_does_not_allow(
    balancer: ChainClient, network: CocoonNetwork
) -> None:
    root = await read_root(balancer, network.root)
    assert preflight(root, DEV_MODEL, DEV_IMAGE_HASH, is_test=True) == []
    assert root.code_hash == cocoon_root_code().hash  # the dev chain runs the official root
    bad_model = DEV_MODEL.replace("@", "x@", 1)
    problems = preflight(root, bad_model, os.urandom(32), is_test=False)
    assert [p.reason for p in problems] == [
        PreflightReason.MODEL_NOT_ALLOWED,
        PreflightReason.IMAGE_HASH_NOT_ALLOWED,
        PreflightReason.NETWORK_MISMATCH,
    ]
    assert bad_model in problems[0].message and network.root in problems[0].message


async def _deploy_root(ton_chain: Any, network: CocoonNetwork, params: Params, code: Cell) -> str:
    """A second root with the dev root's lists and `params`, deployed with `code`."""
    chain, _ = ton_chain
    current = await read_dev_root(chain, network)
    data = dataclasses.replace(current, params=params, version=current.version + 1).to_cell()
    address, result = await chain.deploy(StateInit(code=code, data=data), TON)
    assert all(tx.success for tx in result.transactions)
    return raw_address(address)


@pytest.mark.parametrize("struct_version", [0, 1, 2, 3])
async def test_every_params_layout_the_runner_reads(
    ton_chain: Any, balancer: ChainClient, network: CocoonNetwork, struct_version: int
) -> None:
    """A root deployed (official code) with params in struct version 0..3 is read as the runner does:
    older layouts lack fields, which take the runner's defaults."""
    params = dataclasses.replace(
        network.root_params(),
        struct_version=struct_version,
        params_version=7,
        price_per_token=30,
        worker_fee_per_token=20,
        cached_tokens_price_multiplier=2_500 if struct_version >= 2 else 10_000,
        min_client_stake=3 * TON if struct_version >= 1 else TON,
    )
    address = await _deploy_root(ton_chain, network, params, cocoon_root_code())
    root = await read_root(balancer, address)
    assert root.params == params and root.params.struct_version == struct_version
    assert (root.params_version, root.price_per_token, root.worker_fee_per_token) == (7, 30, 20)
    assert preflight(root, DEV_MODEL, DEV_IMAGE_HASH, is_test=True) == []


async def test_a_params_version_outside_the_runners_range_is_root_unavailable(
    ton_chain: Any, balancer: ChainClient, network: CocoonNetwork
) -> None:
    chain, _ = ton_chain
    current = await read_dev_root(chain, network)
    v3 = current.params.to_cell().begin_parse()
    v3.skip_bits(8)
    v4 = Builder().store_uint(4, 8).store_slice(v3).end_cell()
    data = current.to_cell().begin_parse()
    owner, version, lists = data.load_address(), data.load_uint(32), data.load_ref()
    root_data = (
        Builder().store_address(owner).store_uint(version, 32).store_ref(lists).store_ref(v4).end_cell()
    )
    address, _ = await chain.deploy(StateInit(code=cocoon_root_code(), data=root_data), TON)
    with pytest.raises(RootUnavailable, match="unexpected params struct version: 4"):
        await read_root(balancer, address)


async def test_a_root_with_unknown_code_moves_no_money_until_trusted(
    ton_chain: Any, balancer: ChainClient, network: CocoonNetwork
) -> None:
    """Same data, other code (here the official client contract's): the operator names the hash."""
    stranger = cocoon_client_code()
    address = await _deploy_root(ton_chain, network, network.root_params(), stranger)
    root = await read_root(balancer, address)
    assert root.code_hash == stranger.hash
    (problem,) = preflight(root, DEV_MODEL, DEV_IMAGE_HASH, is_test=True)
    assert problem.reason is PreflightReason.UNKNOWN_CONTRACT_CODE
    assert stranger.hash.hex() in problem.message
    trusted = [stranger.hash.hex()]
    assert preflight(root, DEV_MODEL, DEV_IMAGE_HASH, is_test=True, trusted_code_hashes=trusted) == []


async def test_missing_root_and_dead_liteserver_are_clear_errors(
    ton_chain: Any, balancer: ChainClient
) -> None:
    from cocoon_operator.ton.root import RootUnavailable

    with pytest.raises(RootUnavailable, match="not deployed"):
        await read_root(balancer, "0:" + "00" * 32)
    _, cfg = ton_chain
    dead = {**cfg, "liteservers": [{**cfg["liteservers"][0], "port": 1}]}
    for use_balancer in (True, False):
        settings = ChainSettings(use_balancer=use_balancer, connect_timeout_s=2, call_timeout_s=2, retries=1)
        with pytest.raises(ChainUnavailable):
            async with ChainClient.from_config(dead, settings):
                pass


# ---------------------------------------------------------------------------------------- funding


async def _transfers_to(client: ChainClient, treasury: str, wallet: str) -> list[int]:
    page = await client.transactions(treasury)
    return [o.value for t in page.transactions for o in t.out_msgs if o.dest == wallet]


async def test_identity_and_funding_land_once(client: ChainClient, network: CocoonNetwork) -> None:
    node_key = os.urandom(32)
    public = public_key_from_seed(node_key)
    info = await read_cocoon_wallet(client, public, network.owner.address)
    assert (info.status, info.balance, info.seqno) == ("nonexist", 0, 0)
    treasury = await Treasury.open(client, treasury_key(network))
    assert treasury.address == raw_address(network.treasury.address)
    store = MemoryIntentStore()
    results = [
        await ensure_funded(
            client,
            treasury,
            info.address,
            floor_nano=FLOOR,
            target_nano=TARGET,
            store=store,
            confirm_wait_s=5,
        )
        for _ in range(3)
    ]
    assert [r.status for r in results] == [
        FundingStatus.CONFIRMED,
        FundingStatus.ABOVE_FLOOR,
        FundingStatus.ABOVE_FLOOR,
    ]
    assert store.intent is None
    assert await _transfers_to(client, treasury.address, info.address) == [TARGET]
    info = await read_cocoon_wallet(client, public, network.owner.address)
    assert info.balance == TARGET and info.status == "uninit"  # funded before the runner deploys it


async def test_funding_survives_a_crash_after_send(
    ton_chain: Any, balancer: ChainClient, network: CocoonNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain, _ = ton_chain
    wallet = f"0:{os.urandom(32).hex()}"
    treasury = await Treasury.open(balancer, treasury_key(network))
    store = MemoryIntentStore()

    # Blocks every 60 s: the transfer stays queued, so the retry sees an unconfirmed intent.
    async with queued(chain):
        with monkeypatch.context() as m:
            m.setattr(funding_mod, "_follow", crash)
            with pytest.raises(Crash):
                await ensure_funded(
                    balancer, treasury, wallet, floor_nano=FLOOR, target_nano=TARGET, store=store
                )
        assert store.intent is not None  # written before the send
        # Restarted operator, message still queued: the identical message is sent again, not a new one.
        again = await ensure_funded(
            balancer, treasury, wallet, floor_nano=FLOOR, target_nano=TARGET, store=store
        )
        assert again.status is FundingStatus.PENDING
        await chain.seal_block()
    done = await ensure_funded(balancer, treasury, wallet, floor_nano=FLOOR, target_nano=TARGET, store=store)
    assert done.status is FundingStatus.CONFIRMED and done.tx_hash
    assert store.intent is None
    assert await _transfers_to(balancer, treasury.address, wallet) == [TARGET]
    assert chain.balance(wallet) == TARGET

    # Crash after send with instant blocks: the transfer landed; the retry confirms, never resends.
    wallet2, store = f"0:{os.urandom(32).hex()}", MemoryIntentStore()  # another node's wallet and record
    with monkeypatch.context() as m:
        m.setattr(funding_mod, "_follow", crash)
        with pytest.raises(Crash):
            await ensure_funded(
                balancer, treasury, wallet2, floor_nano=FLOOR, target_nano=TARGET, store=store
            )
    done = await ensure_funded(balancer, treasury, wallet2, floor_nano=FLOOR, target_nano=TARGET, store=store)
    assert done.status is FundingStatus.CONFIRMED
    assert await _transfers_to(balancer, treasury.address, wallet2) == [TARGET]


async def test_treasury_missing_or_empty_are_results(
    ton_chain: Any, balancer: ChainClient, network: CocoonNetwork
) -> None:
    chain, _ = ton_chain
    key = TreasuryKey.from_secret_data({"privateKey": os.urandom(32).hex()})
    poor = await Treasury.open(balancer, key)
    wallet = f"0:{os.urandom(32).hex()}"
    store = MemoryIntentStore()
    missing = await ensure_funded(balancer, poor, wallet, floor_nano=FLOOR, target_nano=TARGET, store=store)
    assert missing.status is FundingStatus.TREASURY_MISSING
    await chain.faucet(poor.address, TON)
    still = await ensure_funded(balancer, poor, wallet, floor_nano=FLOOR, target_nano=TARGET, store=store)
    assert still.status is FundingStatus.TREASURY_MISSING  # uninit: never deployed
    await deploy_treasury(balancer, poor)
    empty = await ensure_funded(balancer, poor, wallet, floor_nano=FLOOR, target_nano=TARGET, store=store)
    assert empty.status is FundingStatus.TREASURY_INSUFFICIENT and not empty.funded
    assert store.intent is None and store.saves == 0
    assert key.private_key.get_secret_value().hex() not in (missing.message + empty.message + repr(key))


# ---------------------------------------------------------------------------------- claims, payouts


async def _getter_agrees_with_the_stored_data(client: ChainClient, worker: str) -> None:
    """The operator reads a worker contract's fields from its stored data (one query, issue 20); the
    official `get_cocoon_worker_data`, run on the real TVM, must answer exactly the same."""
    assert (await read_worker_contract(client, worker)).data == await read_worker_data(client, worker)


async def test_voucher_payout_is_detected_matched_and_ledgered(
    ton_chain: Any, client: ChainClient, network: CocoonNetwork
) -> None:
    chain, _ = ton_chain
    owner = raw_address(network.owner.address)
    node_key = os.urandom(32)
    wallet = cocoon_wallet_of_seed(node_key, network.owner.addr)
    funded = await fund(client, network, wallet, floor_nano=FLOOR, target_nano=TARGET)
    assert funded.funded
    proxy = network.proxies[0]

    # Before the runner registers: not deployed; afterwards: registered.
    check = await check_registration(
        client, owner=owner, proxy_contract=proxy.contract, reported_worker_contract=None
    )
    assert check.reason is RegistrationReason.NOT_DEPLOYED
    worker = await register_worker(chain, network, node_key, 0)
    check = await check_registration(
        client, owner=owner, proxy_contract=proxy.contract, reported_worker_contract=worker
    )
    assert check.registered, check.message
    assert check.expected_worker_contract == worker
    # The official proxy's owner, key, root and params never change: it is not read again (issue 20).
    reads = client.round_trips.by_method.get("getAccountState", 0)
    again = await check_registration(
        client, owner=owner, proxy_contract=proxy.contract, reported_worker_contract=worker
    )
    assert again.registered and client.round_trips.by_method["getAccountState"] == reads + 1  # the worker
    await _getter_agrees_with_the_stored_data(client, worker)
    wrong = await check_registration(
        client,
        owner=owner,
        proxy_contract=proxy.contract,
        reported_worker_contract=network.proxies[1].contract,
    )
    assert wrong.reason is RegistrationReason.ADDRESS_MISMATCH

    # Ledger starts before the claim.
    contracts = [KnownContract(proxy=proxy.contract, worker_contract=worker)]
    facts = await gather_chain_facts(client, owner=owner, contracts=contracts, cursor_lt=None)
    ledger = lg.observe(lg.ClaimLedger(), facts, None).ledger
    start_lt = ledger.owner_cursor_lt
    assert start_lt is not None
    ledger = lg.begin_claim(
        ledger,
        proxy=proxy.contract,
        worker_contract=worker,
        expected_tokens=1_000_000,
        tokens_before=0,
        fee_per_token=network.params.worker_fee_per_token,
        now=facts.now,
    ).ledger
    ledger = lg.mark_triggering(ledger, facts.now).ledger
    ledger = lg.mark_triggered(ledger, lg.TriggerAnswer.SENT, facts.now).ledger

    tokens, qid = 1_000_000, 0x1234_5678_9ABC_DEF0
    await submit_voucher(chain, network, node_key, 0, worker, tokens, qid)

    state = await read_worker_contract(client, worker)
    assert state.data.tokens == tokens and state.data.state == 0
    await _getter_agrees_with_the_stored_data(client, worker)
    assert state.data.owner_address == owner and state.data.proxy_address == proxy.contract
    fee = state.fee_per_token
    scan = await scan_owner_payouts(client, owner, after_lt=start_lt, sources=[proxy.contract])
    assert scan.complete and len(scan.payouts) == 1
    (payout,) = scan.payouts
    assert (payout.source, payout.value, payout.query_id) == (proxy.contract, tokens * fee, qid)
    assert match_payout(scan.payouts, proxy_contract=proxy.contract, query_id=qid) == payout
    assert (
        match_payout(scan.payouts, proxy_contract=proxy.contract, tokens=tokens, fee_per_token=fee) == payout
    )
    assert match_payout(scan.payouts, proxy_contract=network.proxies[1].contract, query_id=qid) is None
    (submission,) = await worker_claim_submissions(client, worker)
    assert (submission.sender, submission.query_id, submission.new_tokens, submission.success) == (
        wallet,
        qid,
        tokens,
        True,
    )

    facts = await gather_chain_facts(
        client, owner=owner, contracts=contracts, cursor_lt=ledger.owner_cursor_lt
    )
    step = lg.observe(ledger, facts, None)
    assert [e.kind for e in step.events] == [lg.EventKind.PAYOUT_RECORDED, lg.EventKind.CLAIM_CONFIRMED]
    ledger = step.ledger
    assert ledger.pending is None
    assert ledger.totals.claimed_nano == tokens * fee and ledger.totals.claimed_tokens == tokens
    assert ledger.history[-1].tx_hash == payout.tx_hash and ledger.history[-1].query_id == qid

    # Replaying the same voucher is refused by the contract (1000) and moves no money.
    await submit_voucher(chain, network, node_key, 0, worker, tokens, qid)
    subs = await worker_claim_submissions(client, worker)
    assert subs[0].success is False and subs[0].exit_code == CocoonError.OLD_MESSAGE
    facts = await gather_chain_facts(
        client, owner=owner, contracts=contracts, cursor_lt=ledger.owner_cursor_lt
    )
    again = lg.observe(ledger, facts, None).ledger
    assert again.totals == ledger.totals  # nothing new at the owner

    # A payout the operator did not trigger (runner self-claim) is accepted as external.
    await submit_voucher(chain, network, node_key, 0, worker, tokens + 500, qid + 1)
    facts = await gather_chain_facts(
        client, owner=owner, contracts=contracts, cursor_lt=again.owner_cursor_lt
    )
    after = lg.observe(again, facts, None).ledger
    assert after.history[-1].source is lg.PayoutSource.EXTERNAL and after.history[-1].tokens == 500
    await _getter_agrees_with_the_stored_data(client, worker)
    assert after.totals.claimed_nano == (tokens + 500) * fee

    # params_version rollover: root moves on, the contract stays on its version.
    await bump_params_version(chain, network)
    root = await read_root(client, network.root)
    assert is_outdated(root.params_version, state.params_version)
    assert params_rollover(root, [state.params_version]) == [state.params_version]


async def test_claim_cycle_end_to_end_on_chain(
    ton_chain: Any, balancer: ChainClient, network: CocoonNetwork
) -> None:
    """The wired cycle (LiveFacts + runner_trigger + run_claim_cycle) against the real contracts; the
    'runner' here submits the voucher on chain when asked, as the official runner does (§8.3)."""
    from decimal import Decimal

    from cocoon_operator.rewards.cycle import run_claim_cycle
    from cocoon_operator.rewards.facts import LiveFacts, runner_trigger
    from cocoon_operator.rewards.policy import ClaimPolicy
    from cocoon_operator.worker.runner_client import PayoutAnswer, RunnerStats

    chain, _ = ton_chain
    owner = raw_address(network.owner.address)
    node_key = os.urandom(32)
    wallet = cocoon_wallet_of_seed(node_key, network.owner.addr)
    await fund(balancer, network, wallet, floor_nano=FLOOR, target_nano=TARGET)
    proxy = network.proxies[1]
    worker = await register_worker(chain, network, node_key, 1)
    committed = 200_000_000  # 0.2 TON at fee 1: above the 0.05 TON gas estimate

    class OnChainRunner:
        def __init__(self) -> None:
            self.claims = 0

        async def jsonstats(self) -> RunnerStats:
            return await chain_stats(balancer, proxy.contract, worker, committed)

        async def request_payout(self, proxy_address: str) -> PayoutAnswer:
            self.claims += 1
            await submit_voucher(chain, network, node_key, 1, worker, committed, 77 + self.claims)
            return PayoutAnswer.SENT

    class Store:
        ledger = lg.ClaimLedger()

        async def load(self) -> lg.ClaimLedger:
            return self.ledger

        async def save(self, ledger: lg.ClaimLedger) -> None:
            self.ledger = lg.ClaimLedger.from_status(ledger.to_status())

    runner: Any = OnChainRunner()
    store = Store()
    policy = ClaimPolicy(min_claim_nano=TON // 10, max_fee_fraction=Decimal("0.5"), min_interval_seconds=0)
    for _ in range(3):
        facts = LiveFacts(balancer, runner, owner=owner)
        wallet_balance = (await balancer.account_state(wallet)).balance
        await run_claim_cycle(
            store,
            facts,
            runner_trigger(runner, facts),
            policy=policy,
            wallet_balance_nano=wallet_balance,
        )
    fee = network.params.worker_fee_per_token
    assert runner.claims == 1  # claimed once; afterwards nothing was claimable
    assert store.ledger.pending is None and store.ledger.totals.operator_claims == 1
    assert store.ledger.totals.claimed_nano == committed * fee
    payouts = await scan_owner_payouts(balancer, owner, after_lt=0, sources=[proxy.contract])
    assert [p.value for p in payouts.payouts] == [committed * fee]


async def test_funding_intent_whose_seqno_was_taken_or_expired_is_replaced(
    ton_chain: Any, balancer: ChainClient, network: CocoonNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between saving the intent and sending it; meanwhile another user of the shared
    treasury takes that seqno (or the message's validity passes). The dead intent is replaced, and
    the wallet is still funded exactly once."""
    chain, _ = ton_chain
    treasury = await Treasury.open(balancer, treasury_key(network))
    store = MemoryIntentStore()

    # 1. Seqno taken by someone else.
    wallet = f"0:{os.urandom(32).hex()}"
    with monkeypatch.context() as m:
        m.setattr(funding_mod, "_send", crash)
        with pytest.raises(Crash):
            await ensure_funded(balancer, treasury, wallet, floor_nano=FLOOR, target_nano=TARGET, store=store)
    dead_seqno = store.intent.treasury_seqno if store.intent else -1
    other = f"0:{os.urandom(32).hex()}"
    boc = treasury.transfer_boc(seqno=dead_seqno, valid_until=chain.now + 60, destination=other, amount=TON)
    await balancer.send_external(boc)  # another node sharing the treasury used that seqno
    done = await ensure_funded(
        balancer, treasury, wallet, floor_nano=FLOOR, target_nano=TARGET, store=store, confirm_wait_s=5
    )
    assert done.status is FundingStatus.CONFIRMED
    assert await _transfers_to(balancer, treasury.address, wallet) == [TARGET]
    assert await _transfers_to(balancer, treasury.address, other) == [TON]

    # 2. Intent expired before it was ever sent: replaced by a fresh one, funded once.
    wallet2, store = f"0:{os.urandom(32).hex()}", MemoryIntentStore()  # another node's wallet and record
    with monkeypatch.context() as m:
        m.setattr(funding_mod, "_send", crash)
        with pytest.raises(Crash):
            await ensure_funded(
                balancer,
                treasury,
                wallet2,
                floor_nano=FLOOR,
                target_nano=TARGET,
                store=store,
                message_ttl_s=30,
            )
    expired = store.intent
    assert expired is not None
    await chain.advance(31)
    done = await ensure_funded(
        balancer, treasury, wallet2, floor_nano=FLOOR, target_nano=TARGET, store=store, confirm_wait_s=5
    )
    assert done.status is FundingStatus.CONFIRMED
    assert await _transfers_to(balancer, treasury.address, wallet2) == [TARGET]
    # The expired message itself can never apply any more.
    stale = treasury.transfer_boc(
        seqno=expired.treasury_seqno,
        valid_until=expired.valid_until,
        destination=expired.wallet,
        amount=expired.amount_nano,
    )
    with pytest.raises(ExternalRejected):
        await balancer.send_external(stale)
