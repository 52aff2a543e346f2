"""One owner, many workers, on the official contracts (issue 17, item 7).

Four workers share one owner and so one worker contract per proxy. The proxy keys earnings by owner:
every voucher it signs is the owner's cumulative total, whichever worker submits it. Here the workers
earn at different rates; the claims are submitted by the four cocoon wallets, by the proxy's own
wallet (a proxy-initiated claim) and by a worker outside the operator; two workers sometimes submit
the same voucher (the contract refuses the second, error 1000). Each node's ledger scans at its own
moments. Afterwards every payout is in exactly one ledger and the ledgers sum to what the owner
received on chain, to the nanoTON.
"""

from __future__ import annotations

import os
import random
from typing import Any

import pytest

from cocoon_dev.ton.network import CocoonNetwork
from cocoon_operator.rewards import ledger as lg
from cocoon_operator.rewards.facts import KnownContract, LiveFacts, gather_chain_facts
from cocoon_operator.rewards.siblings import attribution_for
from cocoon_operator.ton.addresses import raw_address
from cocoon_operator.ton.client import ChainClient, fresh_reads
from cocoon_operator.ton.follower import BlockFollower
from cocoon_operator.ton.payouts import scan_owner_payouts
from tests.chain.helpers import (
    cocoon_wallet_of_seed,
    fund,
    register_worker,
    submit_voucher,
)
from tests.chain.wallets import TON

pytestmark = [pytest.mark.chain, pytest.mark.timeout(300)]

NODES = 4
LIMITS = lg.LedgerLimits(history_limit=200)
RATES = (70_000_000, 35_000_000, 20_000_000, 5_000_000)  # tokens per round: four different earners


def _node(i: int, wallet: str, owner: str) -> dict[str, Any]:
    return {
        "metadata": {"uid": f"uid-{i}", "name": f"gpu-{i}", "creationTimestamp": f"2026-12-07T0{i}:00:00Z"},
        "spec": {"ownerAddress": owner},
        "status": {"walletAddress": wallet},
    }


async def test_per_node_ledgers_sum_to_the_owner_payouts(
    ton_chain: Any, client: ChainClient, network: CocoonNetwork
) -> None:
    chain, _ = ton_chain
    rng = random.Random(4)
    owner = raw_address(network.owner.address)
    keys = [os.urandom(32) for _ in range(NODES)]
    outsider_key = os.urandom(32)  # a worker with the same owner that the operator does not run
    proxy_key = os.urandom(32)  # stands for the proxy's own wallet (proxy-initiated claims)
    wallets = [cocoon_wallet_of_seed(k, network.owner.addr) for k in keys]
    for w in [*wallets, *(cocoon_wallet_of_seed(k, network.owner.addr) for k in (outsider_key, proxy_key))]:
        await fund(client, network, w, floor_nano=3 * TON, target_nano=8 * TON)
    worker = await register_worker(chain, network, keys[0], 1)
    proxy = raw_address(network.proxies[1].contract)
    contracts = [KnownContract(proxy=proxy, worker_contract=worker)]
    nodes = [_node(i, w, owner) for i, w in enumerate(wallets)]
    attributions = [attribution_for(n, wallets[i], owner, nodes) for i, n in enumerate(nodes)]
    assert [a is not None and a.takes_unattributed for a in attributions] == [True, False, False, False]

    ledgers = [lg.ClaimLedger() for _ in range(NODES)]

    async def look(i: int) -> None:
        led = ledgers[i]
        facts = await gather_chain_facts(
            client, owner=owner, contracts=contracts, cursor_lt=led.owner_cursor_lt,
            gap=led.scan_gap, attribution=attributions[i],
        )  # fmt: skip
        ledgers[i] = lg.observe(led, facts, None, LIMITS).ledger

    for i in range(NODES):
        await look(i)  # every ledger starts at the owner's head, before the first payout
    total, qid, submitted = 0, 100, {"node": 0, "proxy": 0, "outsider": 0, "refused": 0}
    for _ in range(24):
        total += sum(RATES)  # the owner's cumulative total at the proxy
        qid += 1
        who = rng.random()
        if who < 0.15:
            await submit_voucher(chain, network, proxy_key, 1, worker, total, qid)
            submitted["proxy"] += 1
        elif who < 0.25:
            await submit_voucher(chain, network, outsider_key, 1, worker, total, qid)
            submitted["outsider"] += 1
        else:
            first, second = rng.sample(range(NODES), 2)
            await submit_voucher(chain, network, keys[first], 1, worker, total, qid)
            submitted["node"] += 1
            if rng.random() < 0.3:  # two workers claim the same voucher: the contract pays once
                await submit_voucher(chain, network, keys[second], 1, worker, total, qid)
                submitted["refused"] += 1
        for i in rng.sample(range(NODES), rng.randint(1, NODES)):
            await look(i)
    for i in range(NODES):
        await look(i)

    received = await scan_owner_payouts(client, owner, after_lt=0, sources=[proxy])
    on_chain = sum(p.value for p in received.payouts)
    fee = network.params.worker_fee_per_token
    assert on_chain == total * fee  # nothing lost, nothing paid twice by the contract
    per_node = [led.totals.claimed_nano for led in ledgers]
    assert sum(per_node) == on_chain, (per_node, submitted)
    hashes = [e.tx_hash for led in ledgers for e in led.history]
    assert len(hashes) == len(set(hashes)) == len(received.payouts)
    assert submitted["proxy"] + submitted["outsider"] > 0 and submitted["refused"] > 0


async def _two_siblings(
    chain: Any, client: ChainClient, network: CocoonNetwork
) -> tuple[str, list[bytes], list[str], str, str]:
    """Two workers of one owner, their cocoon wallets funded, the worker contract on proxy 1:
    (owner, node keys, wallets, worker contract, proxy contract)."""
    owner = raw_address(network.owner.address)
    keys = [os.urandom(32) for _ in range(2)]
    wallets = [cocoon_wallet_of_seed(k, network.owner.addr) for k in keys]
    for w in wallets:
        await fund(client, network, w, floor_nano=3 * TON, target_nano=8 * TON)
    worker = await register_worker(chain, network, keys[0], 1)
    return owner, keys, wallets, worker, raw_address(network.proxies[1].contract)


async def test_a_sibling_newer_than_the_list_is_never_counted_twice(
    ton_chain: Any, client: ChainClient, network: CocoonNetwork
) -> None:
    """The oldest node decided on a namespace list read before a sibling existed (lists are cached):
    a payout that sibling submitted looks like nobody's, which the oldest records. Its submitter is a
    wallet the oldest does not know, so it lists again first, and the payout is in one ledger."""
    chain, _ = ton_chain
    owner, keys, wallets, worker, proxy = await _two_siblings(chain, client, network)
    contracts = [KnownContract(proxy=proxy, worker_contract=worker)]
    nodes = [_node(i, w, owner) for i, w in enumerate(wallets)]
    alone = lg.Attribution(own_wallet=raw_address(wallets[0]))  # the old list: node 0 only
    now = attribution_for(nodes[0], wallets[0], owner, nodes)
    assert now is not None and now.takes_unattributed
    refreshed: list[bool] = []

    async def relist() -> lg.Attribution | None:
        refreshed.append(True)
        return now

    async def look(i: int, led: lg.ClaimLedger, refresh: bool = True) -> lg.ClaimLedger:
        mine = alone if i == 0 else attribution_for(nodes[1], wallets[1], owner, nodes)
        facts = LiveFacts(client, None, owner=owner, previous=contracts, attribution=mine,
                          refresh_attribution=relist if refresh else None)  # fmt: skip
        await facts.runner_facts()
        chain_facts = await facts.chain_facts(led.owner_cursor_lt, led.scan_gap)
        return lg.observe(led, chain_facts, None, LIMITS).ledger

    ledgers = [await look(0, lg.ClaimLedger()), await look(1, lg.ClaimLedger())]
    stale = await look(0, lg.ClaimLedger(), refresh=False)  # node 0 without the refresh: the old way
    await submit_voucher(chain, network, keys[1], 1, worker, sum(RATES), 7)  # the new sibling claims
    ledgers = [await look(0, ledgers[0]), await look(1, ledgers[1])]
    stale = await look(0, stale, refresh=False)

    received = await scan_owner_payouts(client, owner, after_lt=0, sources=[proxy])
    assert len(received.payouts) == 1
    assert refreshed, "node 0 listed again on a submitter it did not know"
    assert [led.totals.payouts for led in ledgers] == [0, 1]
    assert sum(led.totals.claimed_nano for led in ledgers) == received.payouts[0].value
    assert stale.totals.payouts == 1  # without it, the payout was in two ledgers


async def test_a_cached_worker_contract_never_hands_a_siblings_payout_to_the_oldest(
    ton_chain: Any, client: ChainClient, network: CocoonNetwork
) -> None:
    """With the block follower (issue 20) a little behind the head, the owner (changed a moment ago,
    so not cached) is read from the liteserver with a payout in it, while the worker contract's cached
    state still predates the claim behind that payout. Who submitted a claim is decided on a fresh
    read of the worker contract, so the oldest node does not take the submitter's payout as nobody's
    (it was in two ledgers: the e2e test of one owner with four workers, follower on)."""
    chain, _ = ton_chain
    owner, keys, wallets, worker, proxy = await _two_siblings(chain, client, network)
    contracts = [KnownContract(proxy=proxy, worker_contract=worker)]
    nodes = [_node(i, w, owner) for i, w in enumerate(wallets)]
    attributions = [attribution_for(n, wallets[i], owner, nodes) for i, n in enumerate(nodes)]
    # A follower that never steps again but stays "in step": the cache vouches for what it last saw,
    # as a live one does for up to `max_lag_blocks` behind the head.
    follower = BlockFollower(client, max_lag_blocks=1_000, stale_after_s=3_600)
    client.cache = follower.cache
    await follower.tick(ask=True)

    async def look(i: int, led: lg.ClaimLedger) -> lg.ClaimLedger:
        facts = await gather_chain_facts(
            client, owner=owner, contracts=contracts, cursor_lt=led.owner_cursor_lt,
            gap=led.scan_gap, attribution=attributions[i],
        )  # fmt: skip
        return lg.observe(led, facts, None, LIMITS).ledger

    ledgers = [await look(i, lg.ClaimLedger()) for i in range(2)]  # caches the worker contract
    assert client.cached_state(worker) is not None
    await chain.faucet(network.owner.addr, TON)  # the owner changes: its cached state is dropped
    await follower.tick(ask=True)
    await submit_voucher(chain, network, keys[1], 1, worker, sum(RATES), 9)  # the younger node claims
    ledgers[0] = await look(0, ledgers[0])  # the oldest, on the cache, the follower not yet past it
    with fresh_reads():  # the submitter's claim cycle reads fresh
        ledgers[1] = await look(1, ledgers[1])

    received = await scan_owner_payouts(client, owner, after_lt=0, sources=[proxy])
    assert len(received.payouts) == 1
    assert [led.totals.payouts for led in ledgers] == [0, 1]
