"""The surplus sweep (ton/sweep.py) against the local chain: the real cocoon wallet contract, real
liteserver protocol. The surplus lands at the owner exactly once, whatever is interrupted."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import pytest

from cocoon_dev.ton.network import CocoonNetwork, cocoon_wallet_send
from cocoon_operator.money import sweep as sweep_mod
from cocoon_operator.money.sweep import SweepPolicy, SweepRecord, SweepResult, SweepStatus, sweep_surplus
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


@dataclasses.dataclass
class Node:
    """A node key whose cocoon wallet is deployed, its owner, and the sweep record's store."""

    chain: Any
    client: ChainClient
    seed: bytes
    wallet: str
    owner: str
    store: MemorySweepStore = dataclasses.field(default_factory=MemorySweepStore)

    async def sweep(self, policy: SweepPolicy = POLICY, **kwargs: Any) -> SweepResult:
        return await sweep_surplus(
            self.client, self.seed, self.owner, policy=policy, store=self.store, **kwargs
        )

    async def to_owner(self) -> list[int]:
        page = await self.client.transactions(self.wallet)
        return [o.value for t in page.transactions for o in t.out_msgs if o.dest == self.owner]


async def _node(ton_chain: Any, client: ChainClient, network: CocoonNetwork, balance: int) -> Node:
    """A cocoon wallet deployed (as the runner's first external does) that holds about `balance`."""
    chain, _ = ton_chain
    seed = os.urandom(32)
    wallet = cocoon_wallet_of(public_key_from_seed(seed), network.owner.address)
    await chain.faucet(wallet, balance)
    elsewhere = internal_message(cocoon_wallet_of(os.urandom(32), network.owner.address), 1, bounce=False)
    await cocoon_wallet_send(
        chain, node_key=seed, owner=network.owner.address, messages=[OutMessage(elsewhere, 1)]
    )
    return Node(chain, client, seed, raw_address(wallet), raw_address(network.owner.address))


async def test_surplus_lands_once_and_nothing_below_the_ceiling(
    ton_chain: Any, client: ChainClient, network: CocoonNetwork
) -> None:
    node = await _node(ton_chain, client, network, 7 * TON)
    below = await node.sweep()
    assert below.status is SweepStatus.BELOW_CEILING and node.store.record.pending is None
    off = await node.sweep(SweepPolicy(None, KEEP, 0))
    assert off.status is SweepStatus.DISABLED

    await node.chain.faucet(node.wallet, 5 * TON)  # now ~12 TON: above the 8 TON ceiling
    results = [await node.sweep(confirm_wait_s=5) for _ in range(3)]
    assert [r.status for r in results] == [
        SweepStatus.CONFIRMED,
        SweepStatus.BELOW_CEILING,
        SweepStatus.BELOW_CEILING,
    ]
    swept = results[0].amount_nano
    assert swept > 6 * TON and results[0].tx_hash
    assert await node.to_owner() == [swept]
    assert node.chain.balance(node.wallet) >= KEEP  # what stays, fees included
    record = node.store.record
    assert record.pending is None and record.swept_nano == swept and record.sweeps == 1


async def test_interrupted_sweep_is_resent_identically_and_lands_once(
    ton_chain: Any, client: ChainClient, network: CocoonNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = await _node(ton_chain, client, network, 12 * TON)

    async with queued(node.chain):  # the external stays queued
        with monkeypatch.context() as m:
            m.setattr(sweep_mod, "_wait", crash)
            with pytest.raises(Crash):
                await node.sweep()
        assert node.store.record.pending is not None  # written before the send
        again = await node.sweep()
        assert again.status is SweepStatus.PENDING  # the identical message again, not a new one
        await node.chain.seal_block()
    done = await node.sweep()
    assert done.status is SweepStatus.CONFIRMED and done.tx_hash
    later = await node.sweep()
    assert later.status is SweepStatus.BELOW_CEILING
    assert await node.to_owner() == [done.amount_nano]

    # Crash after a send that landed at once: the retry confirms, never sends again.
    await node.chain.faucet(node.wallet, 7 * TON)
    with monkeypatch.context() as m:
        m.setattr(sweep_mod, "_wait", crash)
        with pytest.raises(Crash):
            await node.sweep()
    second = await node.sweep()
    assert second.status is SweepStatus.CONFIRMED
    assert await node.to_owner() == [second.amount_nano, done.amount_nano]
    assert node.store.record.sweeps == 2


async def test_seqno_taken_by_the_runner_drops_the_intent_without_a_double_send(
    ton_chain: Any, client: ChainClient, network: CocoonNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = await _node(ton_chain, client, network, 12 * TON)
    sent: list[int] = []

    async def lost_send(client: ChainClient, seed: bytes, intent: sweep_mod.SweepIntent) -> None:
        sent.append(intent.seqno)  # the operator died before the message left

    with monkeypatch.context() as m:
        m.setattr(sweep_mod, "_send", lost_send)
        m.setattr(sweep_mod, "_wait", _never_confirmed)
        first = await node.sweep()
    assert first.status is SweepStatus.SENT and node.store.record.pending is not None
    taken = node.store.record.pending.seqno
    # Meanwhile the runner uses that seqno for its own message.
    other = internal_message(cocoon_wallet_of(os.urandom(32), node.owner), 1, bounce=False)
    await cocoon_wallet_send(
        node.chain, node_key=node.seed, owner=network.owner.address, messages=[OutMessage(other, 1)]
    )

    dropped = await node.sweep()
    assert dropped.status is SweepStatus.DROPPED and node.store.record.pending is None
    assert await node.to_owner() == []
    # The old external can never apply now; the next intent uses the next seqno and lands once.
    done = await node.sweep(confirm_wait_s=5)
    assert done.status is SweepStatus.CONFIRMED
    assert node.store.record.swept_nano == done.amount_nano and sent == [taken]
    assert await node.to_owner() == [done.amount_nano]


async def _never_confirmed(
    client: Any, seed: Any, intent: Any, store: Any, record: Any, wait_s: float
) -> Any:
    return sweep_mod._Resolution.PENDING, record, intent
