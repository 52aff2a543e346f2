"""The block follower (issue 20) against the local chain over the real liteserver protocol: a touched
account is seen within one block, idle CocoonNodes read no account after warm-up, and the money
(top-ups and claims) stays exactly once with the ledger equal to the chain."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from pytoniq_core.boc.address import Address

from cocoon_dev.memory_kube import VersionedKube, settle
from cocoon_dev.ton.network import deploy_cocoon_network
from cocoon_operator.money.funding import FundingStatus, Treasury, ensure_funded
from cocoon_operator.rewards.cycle import run_claim_cycle
from cocoon_operator.rewards.facts import LiveFacts, runner_trigger
from cocoon_operator.rewards.policy import ClaimPolicy, claim_threshold
from cocoon_operator.steps import chain as chain_provider
from cocoon_operator.steps.chain import ChainSteps
from cocoon_operator.steps.common import node_identity, node_seed
from cocoon_operator.steps.contract import StepReport
from cocoon_operator.steps.funding import funding_band
from cocoon_operator.steps.rewards import RewardSteps
from cocoon_operator.ton.addresses import format_address, raw_address
from cocoon_operator.ton.client import ChainClient, ChainSettings, fresh_reads
from cocoon_operator.ton.follower import BlockFollower
from cocoon_operator.ton.payouts import scan_owner_payouts
from cocoon_operator.ton.worker_contracts import read_worker_contract
from cocoon_operator.worker.runner_client import RunnerStats
from tests.chain.helpers import register_worker, treasury_key
from tests.chain.test_money_soak import Worker
from tests.unit.providers.test_chain_rewards_providers import NS, LocalHub, _ctx, _objects

pytestmark = [pytest.mark.chain, pytest.mark.timeout(240)]

TON = 1_000_000_000
FOLLOWER_METHODS = {"getMasterchainInfoExt", "getAllShardsInfo", "lookupBlock", "listBlockTransactions"}


@pytest.fixture
async def client(ton_chain: Any) -> AsyncIterator[ChainClient]:
    _, cfg = ton_chain
    async with ChainClient.from_config(cfg, ChainSettings(use_balancer=False, call_timeout_s=10)) as c:
        yield c


def _follow(client: ChainClient, **kwargs: Any) -> BlockFollower:
    follower = BlockFollower(client, **kwargs)
    client.cache = follower.cache
    return follower


def _sink(i: int) -> Address:
    return Address((0, random.Random(i).randbytes(32)))


def _diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {m: after.get(m, 0) - before.get(m, 0) for m in after if after.get(m, 0) != before.get(m, 0)}


async def test_a_touched_account_is_seen_within_one_block(ton_chain: Any, client: ChainClient) -> None:
    chain, _ = ton_chain
    follower = _follow(client)
    touched, idle = _sink(1), _sink(2)
    await chain.faucet(touched, TON)
    await chain.faucet(idle, TON)
    await follower.tick(ask=True)
    first = await client.account_state(touched)
    idle_state = await client.account_state(idle)
    before = dict(client.round_trips.by_method)
    assert await client.account_state(touched) is first  # unchanged: no query
    await chain.faucet(touched, TON)  # one transaction, one block
    await follower.tick(ask=True)
    assert client.cached_state(touched) is None  # seen changed within that block
    assert client.cached_state(idle) is idle_state  # the other account still needs no read
    fresh = await client.account_state(touched)
    assert fresh.balance == chain.balance(touched) > first.balance
    assert fresh.last_tx_lt > first.last_tx_lt
    assert _diff(client.round_trips.by_method, before).get("getAccountState") == 1
    assert await client.account_state(touched) is fresh


async def test_a_history_read_starts_at_the_head_the_block_listed(
    ton_chain: Any, client: ChainClient
) -> None:
    """The real liteserver's `listBlockTransactions` names each transaction's hash: a changed
    account's history is read from there, without reading its state first, and it is the history a
    fresh read gives."""
    chain, _ = ton_chain
    follower = _follow(client)
    touched = _sink(3)
    await chain.faucet(touched, TON)
    await follower.tick(ask=True)
    first = await client.account_state(touched)
    await chain.faucet(touched, TON)
    await follower.tick(ask=True)
    head = client.cached_head(touched)
    assert head is not None and head.lt > first.last_tx_lt
    before = dict(client.round_trips.by_method)
    page = await client.transactions(touched, to_lt=first.last_tx_lt)
    assert _diff(client.round_trips.by_method, before) == {"getTransactions": 1}
    with fresh_reads():
        again = await client.transactions(touched, to_lt=first.last_tx_lt)
    assert [t.hash for t in page.transactions] == [t.hash for t in again.transactions]
    assert len(page.transactions) == 1 and page.transactions[0].lt == head.lt


async def test_a_missed_stretch_of_blocks_drops_every_cached_state(
    ton_chain: Any, client: ChainClient
) -> None:
    chain, _ = ton_chain
    follower = _follow(client, max_walk=2)
    await chain.faucet(_sink(1), TON)
    await follower.tick(ask=True)
    state = await client.account_state(_sink(1))
    assert client.cached_state(_sink(1)) is state
    for i in range(4):  # more blocks than one walk may cover: the follower cannot vouch for anything
        await chain.faucet(_sink(10 + i), TON)
    await follower.tick(ask=True)
    assert follower.stats.gaps == 1
    assert client.cached_state(_sink(1)) is None
    # A follower that is not in step serves nothing either: reads go to the liteserver, as before.
    await client.account_state(_sink(1))
    follower.stale_after_s = -1.0
    assert client.cached_state(_sink(1)) is None


def _settle(kube: VersionedKube, *reports: StepReport) -> None:
    """What the end-of-reconcile status write does with the steps' findings (fields, conditions)."""
    cn = kube.find("CocoonNode", NS, "w")
    assert cn is not None
    for report in reports:
        settle(cn.setdefault("status", {}), report)


async def test_idle_cocoonnodes_read_no_account_after_warm_up(
    ton_chain: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain, cfg = ton_chain
    network = await deploy_cocoon_network(chain)
    hub = LocalHub(cfg, follow=True)
    kube = VersionedKube(list(_objects(network, treasury=True)))
    secret = kube.find("Secret", NS, "w-wallet")
    seed, ident = node_seed(secret), node_identity(secret, network.owner.address)
    assert seed is not None and ident is not None
    friendly = format_address(Address(ident.wallet), bounceable=False)
    cn = kube.find("CocoonNode", NS, "w")
    assert cn is not None
    cn["status"] = {"walletAddress": friendly, "runnerWalletAddress": friendly}  # the runner verified it
    stats = RunnerStats.model_validate({"wallet": {"address": friendly, "balance": 0, "seqno": 0}})

    async def runner_stats(ctx: Any) -> RunnerStats:
        return stats

    monkeypatch.setattr(chain_provider, "_runner_stats", runner_stats)
    steps, rewards = ChainSteps(hub, kube), RewardSteps(hub, kube)
    try:
        _settle(kube, await steps.observe(_ctx(kube)))  # the first top-up (to the spec's 5 TON)
        worker = await register_worker(chain, network, seed, 0)
        proxy = raw_address(network.proxies[0].contract)
        stats = RunnerStats.model_validate(
            {
                "wallet": {"address": friendly, "balance": 0, "seqno": 1},
                "proxies": [
                    {"sc_inited": True, "proxy_sc_address": proxy, "sc_address": worker,
                     "running_request": False, "earned_tokens_committed_to_blockchain": 0,
                     "cached_out_tokens": 0, "expected_cached_out_tokens": 0}
                ],
            }
        )  # fmt: skip
        for _ in range(2):  # warm-up: registration, the first claim cycle, the reads the follower vouches for
            _settle(kube, await steps.preflight(_ctx(kube)), await steps.observe(_ctx(kube)))
            _settle(kube, await rewards.observe(_ctx(kube)))
        status = kube.find("CocoonNode", NS, "w")
        assert status is not None
        conds = {c["type"]: c["reason"] for c in status["status"]["conditions"]}
        assert conds["WalletFunded"] == "WalletFunded" and conds["Registered"] == "Registered"
        client = hub._client
        assert client is not None
        before = dict(client.round_trips.by_method)
        for i in range(5):  # other accounts keep the chain moving: new blocks, nothing of ours
            await chain.faucet(_sink(100 + i), TON)
            _settle(kube, await steps.preflight(_ctx(kube)), await steps.observe(_ctx(kube)))
            _settle(kube, await rewards.observe(_ctx(kube)))
        spent = _diff(client.round_trips.by_method, before)
        assert set(spent) <= FOLLOWER_METHODS, spent  # no getAccountState, getter, getTime
        again = {c["type"]: c["reason"] for c in status["status"]["conditions"]}
        assert again == conds
        # The wallet has a transaction: the next reconcile reads it (once the follower saw the block).
        await chain.faucet(Address(ident.wallet), TON // 10)
        before = dict(client.round_trips.by_method)
        report = await steps.observe(_ctx(kube))
        spent = {
            m: n for m, n in _diff(client.round_trips.by_method, before).items() if m not in FOLLOWER_METHODS
        }
        # Still above its floor: one read decides there is nothing to pay, not the money path's
        # (the treasury, the chain time); with two liteservers it is one read where that path's
        # cross-checked wallet read costs two.
        assert spent == {"getAccountState": 1}, spent
        balance = next(c for c in report.conditions if c.type == "WalletFunded").message
        assert str(chain.balance(ident.wallet)) in balance
    finally:
        await hub.close()


async def test_top_ups_and_claims_stay_exactly_once_with_the_follower(
    ton_chain: Any, client: ChainClient
) -> None:
    """A short soak with the follower in step: the claims and top-ups as without it, ledger = chain."""
    chain, _ = ton_chain
    network = await deploy_cocoon_network(chain)
    follower = _follow(client)
    await follower.tick(ask=True)
    rng = random.Random(20)
    treasury = await Treasury.open(client, treasury_key(network))
    owner = raw_address(network.owner.address)
    floor, target = funding_band(3 * TON, 3 * TON + TON // 5, runner_verified=True)  # a few claims drain it
    policy = ClaimPolicy(min_claim_nano=TON // 10, max_fee_fraction=Decimal("0.05"), min_interval_seconds=10)
    threshold = claim_threshold(policy)
    fee = network.params.worker_fee_per_token
    w = Worker(chain, network, client, 0)
    await ensure_funded(client, treasury, w.wallet, floor_nano=floor, target_nano=target, store=w.funding)
    w.contract = await register_worker(chain, network, w.key, 0)
    for _ in range(60):
        await chain.advance(10)
        await follower.tick(ask=True)
        w.committed += rng.randint(threshold // 5, threshold + threshold // 4) // fee
        funded = await ensure_funded(
            client, treasury, w.wallet, floor_nano=floor, target_nano=target, store=w.funding
        )
        w.top_ups += funded.status is FundingStatus.CONFIRMED
        balance = (await client.account_state(w.wallet)).balance
        facts = LiveFacts(client, w, owner=owner)  # type: ignore[arg-type]
        await run_claim_cycle(w, facts, runner_trigger(w, facts), policy=policy, wallet_balance_nano=balance)  # type: ignore[arg-type]
    await follower.tick(ask=True)
    await run_claim_cycle(w, LiveFacts(client, w, owner=owner), runner_trigger(w), policy=policy,  # type: ignore[arg-type]
                          wallet_balance_nano=0)  # fmt: skip
    scan = await scan_owner_payouts(client, owner, after_lt=0, sources=[w.proxy], limit=512)
    paid = (await read_worker_contract(client, w.contract)).data.tokens
    assert scan.complete and w.ledger.totals.operator_claims >= 10
    assert w.ledger.totals.claimed_nano == sum(p.value for p in scan.payouts) == paid * fee
    assert w.ledger.totals.payouts == len(scan.payouts) == w.ledger.totals.operator_claims
    assert w.ledger.totals.timed_out == 0 and w.ledger.totals.rejected == 0
    # Every top-up the treasury sent to the wallet is one the funding logic confirmed, once.
    treasury_txs = chain.transactions(treasury.address)
    to_wallet = [t for t in treasury_txs if any(w.wallet == d for d in _destinations(t))]
    assert w.top_ups >= 1 and len(to_wallet) == w.top_ups + 1  # + the first funding before the loop


def _destinations(tx: Any) -> list[str]:
    from pytoniq_core.tlb.transaction import Transaction

    from cocoon_operator.ton.client import tx_view

    view = tx_view(Transaction.deserialize(tx.cell.begin_parse()))
    return [m.dest for m in view.out_msgs if m.dest is not None]
