"""Money under the conditions real networks add (issue 17), on the local chain behind real liteservers:

- a top-up in flight (the wallet is credited blocks after the treasury sent it) is not sent again;
- a treasury change with an intent open pays at most once;
- a scan that does not reach an intent's transaction in one look says "unknown", never "not sent";
- a second liteserver that lies (stale states, missing transactions, a clock and block height far
  ahead) cannot make the operator pay: money reads must agree on two liteservers;
- seqno and chain-time failures are errors, never zeros or the local clock.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cocoon_dev.ton.network import CocoonNetwork, deploy_cocoon_network
from cocoon_operator.money.funding import (
    FundingStatus,
    Treasury,
    TreasuryKey,
    ensure_funded,
)
from cocoon_operator.money.transfer import TransferState, resolve, wallet_seqno
from cocoon_operator.ton.client import (
    ChainClient,
    ChainDisagreement,
    ChainError,
    ChainSettings,
    ChainUnavailable,
)
from tests.chain.helpers import MemoryIntentStore, queued, treasury_key
from tests.chain.wallets import TON, deploy_treasury

pytestmark = [pytest.mark.chain, pytest.mark.timeout(180)]

FLOOR, TARGET = 3 * TON, 5 * TON


async def _transfers(client: ChainClient, treasury: str, wallet: str) -> list[int]:
    values, start, complete = [], None, False
    while not complete:
        page = await client.transactions(treasury, start=start, limit=256)
        values += [o.value for t in page.transactions for o in t.out_msgs if o.dest == wallet]
        complete, start = page.complete, page.resume
    return values


async def _top_up_of_a_new_wallet(
    client: ChainClient, network: CocoonNetwork
) -> tuple[Treasury, str, MemoryIntentStore]:
    """The network's treasury, a wallet address nobody has funded, and an empty funding record."""
    treasury = await Treasury.open(client, treasury_key(network))
    return treasury, f"0:{os.urandom(32).hex()}", MemoryIntentStore()


@pytest.fixture
async def one(
    ton_chain: Any, network: CocoonNetwork
) -> AsyncIterator[tuple[Any, ChainClient, CocoonNetwork]]:
    chain, cfg = ton_chain
    async with ChainClient.from_config(cfg, ChainSettings(use_balancer=False)) as client:
        yield chain, client, network


@pytest.fixture
async def two(ton_two: Any) -> AsyncIterator[tuple[Any, ChainClient, CocoonNetwork]]:
    network = await deploy_cocoon_network(ton_two.chain)  # (not `network`: that one is on `ton_chain`)
    async with ChainClient.from_config(ton_two.global_config, ChainSettings(retries=1)) as client:
        assert client.cross_checked()
        yield ton_two, client, network


async def test_a_top_up_in_flight_is_not_sent_again(one: Any) -> None:
    """The wallet is credited 3 blocks after the treasury sent it (another shard, a lagging peer):
    the operator sees the treasury's transfer, counts the money as settling, and sends nothing more."""
    chain, client, network = one
    treasury, wallet, store = await _top_up_of_a_new_wallet(client, network)
    chain.hold(wallet, 3)
    first = await ensure_funded(client, treasury, wallet, floor_nano=FLOOR, target_nano=TARGET, store=store)
    assert first.status in (FundingStatus.SENT, FundingStatus.SETTLING) and first.in_flight_nano == TARGET
    assert chain.balance(wallet) == 0 and chain.in_flight == 1
    for _ in range(5):  # reconciles queued right after the first top-up
        again = await ensure_funded(
            client, treasury, wallet, floor_nano=FLOOR, target_nano=TARGET, store=store
        )
        if again.status is FundingStatus.CONFIRMED:
            break
        assert again.status is FundingStatus.SETTLING and again.funded, again.message
        assert store.intent is not None and store.intent.progress is not None
        await chain.advance(1)  # a block passes
    assert chain.balance(wallet) == TARGET and store.intent is None
    assert await _transfers(client, treasury.address, wallet) == [TARGET]
    assert store.record.last_top_up_at is not None


async def test_a_treasury_swap_with_an_intent_open_pays_once(one: Any) -> None:
    """The spec points to a new treasury while the old one's signed top-up can still land: the old
    intent is resolved first (reads only, no key needed) and the new treasury pays nothing."""
    chain, client, network = one
    wallet = f"0:{os.urandom(32).hex()}"
    old = await Treasury.open(client, treasury_key(network))
    new_key = TreasuryKey.from_secret_data({"privateKey": os.urandom(32).hex()})
    new = await Treasury.open(client, new_key)
    await chain.faucet(new.address, 100 * TON)
    await deploy_treasury(client, new)
    store = MemoryIntentStore()
    async with queued(chain):  # the old treasury's message waits in the queue
        sent = await ensure_funded(client, old, wallet, floor_nano=FLOOR, target_nano=TARGET, store=store)
        assert sent.status is FundingStatus.SENT and store.intent is not None
        swapped = await ensure_funded(client, new, wallet, floor_nano=FLOOR, target_nano=TARGET, store=store)
        assert swapped.status is FundingStatus.PENDING and "before the spec changed" in swapped.message
        await chain.seal_block()  # the old message lands after all
    done = await ensure_funded(client, new, wallet, floor_nano=FLOOR, target_nano=TARGET, store=store)
    assert done.status is FundingStatus.CONFIRMED
    assert await _transfers(client, old.address, wallet) == [TARGET]
    assert await _transfers(client, new.address, wallet) == []
    assert chain.balance(wallet) == TARGET


async def test_a_scan_that_does_not_reach_the_intent_is_unknown_not_unsent(one: Any) -> None:
    """More than 256 treasury transactions land between two looks: the first look cannot decide,
    the next ones go on from where it stopped, and the transfer is found, not declared dead."""
    chain, client, network = one
    treasury, wallet, store = await _top_up_of_a_new_wallet(client, network)
    async with queued(chain):
        sent = await ensure_funded(
            client, treasury, wallet, floor_nano=FLOOR, target_nano=TARGET, store=store
        )
        assert sent.status is FundingStatus.SENT
        await chain.seal_block()
    intent = store.intent
    assert intent is not None
    # 300 more transactions of the shared treasury (other nodes' top-ups) after ours.
    state = await client.account_state(treasury.address)
    seqno = int((await client.run_get_method(treasury.address, "seqno"))[0])
    for i in range(300):
        boc = treasury.transfer_boc(
            seqno=seqno + i, valid_until=chain.now + 600, destination=f"0:{i + 1:064x}", amount=1
        )
        await client.send_external(boc)
    assert (await client.account_state(treasury.address)).last_tx_lt > state.last_tx_lt
    first = await resolve(client, intent.transfer(), intent.progress, settle=True, scan_limit=256)
    assert first.state is TransferState.UNKNOWN and first.progress.scan is not None
    second = await resolve(client, intent.transfer(), first.progress, settle=True, scan_limit=256)
    assert second.state is TransferState.SETTLED and second.tx_hash
    # Through ensure_funded: one look cannot decide and sends nothing; the next goes on and confirms.
    look = await ensure_funded(client, treasury, wallet, floor_nano=FLOOR, target_nano=TARGET, store=store)
    assert look.status is FundingStatus.UNRESOLVED and not look.funded
    assert store.intent is not None and store.intent.progress is not None and store.intent.progress.scan
    done = await ensure_funded(client, treasury, wallet, floor_nano=FLOOR, target_nano=TARGET, store=store)
    assert done.status is FundingStatus.CONFIRMED
    assert await _transfers(client, treasury.address, wallet) == [TARGET]


@pytest.mark.parametrize("lie", ["stale", "missing-tx", "inflated-block"])
async def test_a_lying_liteserver_cannot_make_the_operator_pay(two: Any, lie: str) -> None:
    """Funded once with two honest liteservers; then the second one lies. However often the operator
    looks (its balancer asks either peer), no second top-up is sent."""
    ton, client, network = two
    chain = ton.chain
    treasury, wallet, store = await _top_up_of_a_new_wallet(client, network)
    before = chain.frozen()  # the wallet empty: what a stale peer will keep saying
    funded = await ensure_funded(
        client, treasury, wallet, floor_nano=FLOOR, target_nano=TARGET, store=store, confirm_wait_s=5
    )
    assert funded.status is FundingStatus.CONFIRMED
    await chain.advance(120)  # past the minimum interval between top-ups
    ton.second.lie = lie
    if lie == "stale":
        ton.second._stale = (float("inf"), before)
    outcomes: set[str] = set()
    for _ in range(12):
        try:
            result = await ensure_funded(
                client, treasury, wallet, floor_nano=FLOOR, target_nano=TARGET, store=store
            )
            outcomes.add(result.status.value)
        except (ChainDisagreement, ChainUnavailable) as exc:
            outcomes.add(type(exc).__name__)
    ton.second.lie = None  # count with honest liteservers
    assert await _transfers(client, treasury.address, wallet) == [TARGET], outcomes
    assert store.intent is None
    if lie == "stale":  # states are always read from both peers: the stale one is noticed every time
        assert outcomes == {"ChainDisagreement"}, outcomes


async def test_a_dead_intent_needs_both_clocks(two: Any) -> None:
    """An inflated clock on one peer cannot expire an intent (the next step would be a new top-up)."""
    ton, client, network = two
    treasury, wallet, store = await _top_up_of_a_new_wallet(client, network)
    async with queued(ton.chain):
        await ensure_funded(client, treasury, wallet, floor_nano=FLOOR, target_nano=TARGET, store=store)
        intent = store.intent
        assert intent is not None
        ton.second.lie = "inflated-block"
        with pytest.raises(ChainDisagreement, match="chain time"):
            await resolve(client, intent.transfer(), intent.progress, settle=True)
        ton.second.lie = None


async def test_seqno_and_time_failures_are_errors(ton_chain: Any, one: Any) -> None:
    _, client, network = one
    with pytest.raises(ChainError, match="seqno cannot be read"):
        wallet_seqno(await client.checked_state(network.root))  # not a wallet: no guess
    assert wallet_seqno(await client.checked_state(f"0:{os.urandom(32).hex()}")) == 0  # not deployed
    _, cfg = ton_chain
    dead_cfg = {**cfg, "liteservers": [{**cfg["liteservers"][0], "port": 1}]}
    dead = ChainClient.from_config(
        dead_cfg, ChainSettings(use_balancer=False, connect_timeout_s=1, call_timeout_s=1, retries=1)
    )
    with pytest.raises(ChainUnavailable):
        await dead.chain_time()  # never the local clock
    await dead.close()


async def test_transactions_left_out_are_noticed_not_read_as_unsent(two: Any) -> None:
    """A liteserver that leaves transactions out of its lists: the scan's hash chain breaks, so the
    transfer is never declared dead (which would lead to a second top-up)."""
    ton, client, network = two
    treasury, wallet, store = await _top_up_of_a_new_wallet(client, network)
    async with queued(ton.chain):
        await ensure_funded(client, treasury, wallet, floor_nano=FLOOR, target_nano=TARGET, store=store)
        await ton.chain.seal_block()
    intent = store.intent
    assert intent is not None
    for i in range(3):  # more treasury transactions after ours, so the liar has something to leave out
        await client.send_external(
            treasury.transfer_boc(
                seqno=intent.treasury_seqno + 1 + i, valid_until=ton.chain.now + 600,
                destination=f"0:{i + 1:064x}", amount=1,
            )
        )  # fmt: skip
    ton.second.lie = "missing-tx"
    only_liar = {**ton.global_config, "liteservers": [ton.global_config["liteservers"][1]]}
    async with ChainClient.from_config(only_liar, ChainSettings(use_balancer=False)) as liar:
        with pytest.raises(ChainDisagreement, match="chain of transactions is broken"):
            await resolve(liar, intent.transfer(), intent.progress, settle=True)
    ton.second.lie = None
    honest = await resolve(client, intent.transfer(), intent.progress, settle=True)
    assert honest.state is TransferState.SETTLED
