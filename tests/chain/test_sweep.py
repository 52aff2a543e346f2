"""The surplus sweep (ton/sweep.py) against the local chain: the real cocoon wallet contract, real
liteserver protocol. The surplus lands at the owner exactly once, whatever is interrupted."""

from __future__ import annotations

import os
from typing import Any

import pytest

from cocoon_dev.ton.network import CocoonNetwork, cocoon_wallet_send
from cocoon_operator.money import sweep as sweep_mod
from cocoon_operator.money.sweep import SweepPolicy, SweepRecord, SweepStatus, sweep_surplus
from cocoon_operator.ton.addresses import public_key_from_seed, raw_address
from cocoon_operator.ton.client import ChainClient
from cocoon_operator.ton.identity import cocoon_wallet_of
from cocoon_operator.ton.wallet_messages import OutMessage, internal_message
from tests.chain.helpers import Crash, crash, queued
from tests.chain.wallets import TON

pytestmark = [pytest.mark.chain, pytest.mark.timeout(120)]

KEEP = 5 * TON
POLICY = SweepPolicy(sweep_above_nano=8 * TON, keep_nano=KEEP, interval_s=0)


class MemorySweepStore:
    def __init__(self) -> None:
        self.record = SweepRecord()

    async def load(self) -> SweepRecord:
        return self.record

    async def save(self, record: SweepRecord) -> None:
        # Through JSON, as in the CocoonNode status.
        self.record = SweepRecord.from_status(record.to_status())


async def _deployed_wallet(chain: Any, network: CocoonNetwork, balance: int) -> tuple[bytes, str]:
    """A node key whose cocoon wallet is deployed (as the runner's first external does) and holds
    about `balance`."""
    seed = os.urandom(32)
    wallet = cocoon_wallet_of(public_key_from_seed(seed), network.owner.address)
    await chain.faucet(wallet, balance)
    elsewhere = internal_message(cocoon_wallet_of(os.urandom(32), network.owner.address), 1, bounce=False)
    await cocoon_wallet_send(
        chain, node_key=seed, owner=network.owner.address, messages=[OutMessage(elsewhere, 1)]
    )
    return seed, raw_address(wallet)


async def _to_owner(client: ChainClient, wallet: str, owner: str) -> list[int]:
    page = await client.transactions(wallet)
    return [o.value for t in page.transactions for o in t.out_msgs if o.dest == owner]


async def test_surplus_lands_once_and_nothing_below_the_ceiling(
    ton_chain: Any, client: ChainClient, network: CocoonNetwork
) -> None:
    chain, _ = ton_chain
    owner = raw_address(network.owner.address)
    seed, wallet = await _deployed_wallet(chain, network, 7 * TON)
    store = MemorySweepStore()
    below = await sweep_surplus(client, seed, owner, policy=POLICY, store=store)
    assert below.status is SweepStatus.BELOW_CEILING and store.record.pending is None
    off = await sweep_surplus(client, seed, owner, policy=SweepPolicy(None, KEEP, 0), store=store)
    assert off.status is SweepStatus.DISABLED

    await chain.faucet(wallet, 5 * TON)  # now ~12 TON: above the 8 TON ceiling
    results = [
        await sweep_surplus(client, seed, owner, policy=POLICY, store=store, confirm_wait_s=5)
        for _ in range(3)
    ]
    assert [r.status for r in results] == [
        SweepStatus.CONFIRMED,
        SweepStatus.BELOW_CEILING,
        SweepStatus.BELOW_CEILING,
    ]
    swept = results[0].amount_nano
    assert swept > 6 * TON and results[0].tx_hash
    assert await _to_owner(client, wallet, owner) == [swept]
    assert chain.balance(wallet) >= KEEP  # what stays, fees included
    assert store.record.pending is None and store.record.swept_nano == swept and store.record.sweeps == 1


async def test_interrupted_sweep_is_resent_identically_and_lands_once(
    ton_chain: Any, client: ChainClient, network: CocoonNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain, _ = ton_chain
    owner = raw_address(network.owner.address)
    seed, wallet = await _deployed_wallet(chain, network, 12 * TON)
    store = MemorySweepStore()

    async with queued(chain):  # the external stays queued
        with monkeypatch.context() as m:
            m.setattr(sweep_mod, "_wait", crash)
            with pytest.raises(Crash):
                await sweep_surplus(client, seed, owner, policy=POLICY, store=store)
        assert store.record.pending is not None  # written before the send
        again = await sweep_surplus(client, seed, owner, policy=POLICY, store=store)
        assert again.status is SweepStatus.PENDING  # the identical message again, not a new one
        await chain.seal_block()
    done = await sweep_surplus(client, seed, owner, policy=POLICY, store=store)
    assert done.status is SweepStatus.CONFIRMED and done.tx_hash
    later = await sweep_surplus(client, seed, owner, policy=POLICY, store=store)
    assert later.status is SweepStatus.BELOW_CEILING
    assert await _to_owner(client, wallet, owner) == [done.amount_nano]

    # Crash after a send that landed at once: the retry confirms, never sends again.
    await chain.faucet(wallet, 7 * TON)
    with monkeypatch.context() as m:
        m.setattr(sweep_mod, "_wait", crash)
        with pytest.raises(Crash):
            await sweep_surplus(client, seed, owner, policy=POLICY, store=store)
    second = await sweep_surplus(client, seed, owner, policy=POLICY, store=store)
    assert second.status is SweepStatus.CONFIRMED
    assert await _to_owner(client, wallet, owner) == [second.amount_nano, done.amount_nano]
    assert store.record.sweeps == 2


async def test_seqno_taken_by_the_runner_drops_the_intent_without_a_double_send(
    ton_chain: Any, client: ChainClient, network: CocoonNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain, _ = ton_chain
    owner = raw_address(network.owner.address)
    seed, wallet = await _deployed_wallet(chain, network, 12 * TON)
    store = MemorySweepStore()
    sent: list[int] = []

    async def lost_send(client: ChainClient, seed: bytes, intent: sweep_mod.SweepIntent) -> None:
        sent.append(intent.seqno)  # the operator died before the message left

    with monkeypatch.context() as m:
        m.setattr(sweep_mod, "_send", lost_send)
        m.setattr(sweep_mod, "_wait", _never_confirmed)
        first = await sweep_surplus(client, seed, owner, policy=POLICY, store=store)
    assert first.status is SweepStatus.SENT and store.record.pending is not None
    taken = store.record.pending.seqno
    # Meanwhile the runner uses that seqno for its own message.
    other = internal_message(cocoon_wallet_of(os.urandom(32), owner), 1, bounce=False)
    await cocoon_wallet_send(
        chain, node_key=seed, owner=network.owner.address, messages=[OutMessage(other, 1)]
    )

    dropped = await sweep_surplus(client, seed, owner, policy=POLICY, store=store)
    assert dropped.status is SweepStatus.DROPPED and store.record.pending is None
    assert await _to_owner(client, wallet, owner) == []
    # The old external can never apply now; the next intent uses the next seqno and lands once.
    done = await sweep_surplus(client, seed, owner, policy=POLICY, store=store, confirm_wait_s=5)
    assert done.status is SweepStatus.CONFIRMED
    assert store.record.swept_nano == done.amount_nano and sent == [taken]
    assert await _to_owner(client, wallet, owner) == [done.amount_nano]


async def _never_confirmed(
    client: Any, seed: Any, intent: Any, store: Any, record: Any, wait_s: float
) -> Any:
    return sweep_mod._Resolution.PENDING, record, intent
