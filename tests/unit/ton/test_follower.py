"""The block follower's pure parts (issue 20): which accounts changed, when a cached state may be
served, and how a walk over shard blocks treats gaps, splits and a follower that fell behind."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from pytoniq_core.tl.block import BlockIdExt

from cocoon_operator.metrics import FollowerMetrics
from cocoon_operator.ton.client import AccountState, TxCursor
from cocoon_operator.ton.follower import BlockFollower, ChangeLog

SHARD = -(2**63)


def _state(address: str, lt: int, balance: int = 1) -> AccountState:
    return AccountState(address=address, status="active", balance=balance, last_tx_lt=lt)


def _hash(lt: int) -> bytes:
    return lt.to_bytes(32, "big")


def _block(wc: int, seqno: int, shard: int = SHARD) -> BlockIdExt:
    h = seqno.to_bytes(32, "big")
    return BlockIdExt(workchain=wc, shard=shard, seqno=seqno, root_hash=h, file_hash=h)


class FakeChain:
    """The four block queries the follower makes, over a dict of blocks; counts them."""

    def __init__(self) -> None:
        self.mc = 1
        self.now = 1000
        self.shards: dict[int, int] = {SHARD: 1}  # shard id -> top seqno
        self.txs: dict[tuple[int, int], list[tuple[str, int]]] = {}  # (shard, seqno) -> txs
        self.calls: list[str] = []
        self.tracked = False  # whether pytoniq's own updater tracks the head (free to look at)

    def tracked_head(self) -> int | None:
        return self.mc if self.tracked else None

    def seal(self, *txs: tuple[str, int], shard: int = SHARD) -> None:
        self.mc += 1
        self.shards[shard] += 1
        self.txs[(shard, self.shards[shard])] = list(txs)

    async def masterchain_head(self) -> tuple[BlockIdExt, int]:
        self.calls.append("head")
        return _block(-1, self.mc), self.now

    async def shard_tops(self, block: BlockIdExt) -> list[BlockIdExt]:
        self.calls.append("shards")
        return [_block(0, seqno, shard) for shard, seqno in self.shards.items()]

    async def lookup_block(self, workchain: int, shard: int, seqno: int) -> BlockIdExt:
        self.calls.append("lookup")
        return _block(workchain, seqno, shard)

    async def block_transactions(self, block: BlockIdExt) -> list[tuple[str, int, bytes]]:
        self.calls.append("list")
        return [(a, lt, _hash(lt)) for a, lt in self.txs.get((block.shard, block.seqno), [])]


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _follower(chain: FakeChain, clock: Clock | None = None, **kwargs: Any) -> BlockFollower:
    return BlockFollower(chain, clock=clock or Clock(), **kwargs)  # type: ignore[arg-type]


def test_changes_are_kept_only_for_watched_accounts() -> None:
    log = ChangeLog()
    assert not log.note("0:aa", 5)
    log.watch("0:aa")
    assert log.note("0:aa", 5) and log.note("0:aa", 3)
    assert log.last_lt("0:aa") == 5  # never goes back
    assert log.unchanged("0:aa", 5) and not log.unchanged("0:aa", 4)
    assert not log.unchanged("0:bb", 10)  # not watched: nothing can be vouched for
    log.gap()
    assert log.epoch == 1 and log.last_lt("0:aa") == 0


def test_the_watch_list_is_bounded_least_recently_used_first() -> None:
    log = ChangeLog(max_watched=2)
    forgotten: list[str] = []
    log.on_forget = forgotten.append
    log.watch("0:a")
    log.watch("0:b")
    log.watch("0:a")  # used again: now the newest
    log.watch("0:c")
    assert forgotten == ["0:b"] and len(log) == 2
    assert log.watched("0:a") and log.watched("0:c") and not log.watched("0:b")


async def test_a_state_is_served_until_the_account_has_a_newer_transaction() -> None:
    chain, clock = FakeChain(), Clock()
    follower = _follower(chain, clock)
    cache = follower.cache
    assert cache.state("0:aa") is None  # before the first step nothing is kept or served
    cache.store(_state("0:aa", 10))
    await follower.tick()
    assert cache.state("0:aa") is None
    cache.store(_state("0:aa", 10))
    assert cache.state("0:aa") == _state("0:aa", 10)
    cache.store(_state("0:aa", 8))  # a lagging liteserver's answer does not replace a newer state
    assert cache.state("0:aa") == _state("0:aa", 10)
    chain.seal(("0:aa", 12))
    await follower.tick()
    assert cache.state("0:aa") is None  # changed in that block
    cache.store(_state("0:aa", 12, balance=2))
    assert cache.state("0:aa") == _state("0:aa", 12, balance=2)
    clock.t = follower.stale_after_s + 1  # the follower fell behind: nothing is served
    assert cache.state("0:aa") is None and cache.chain_time() is None
    assert follower.stats.hits == 3


async def test_the_head_of_a_changed_account_comes_from_the_block_without_a_read() -> None:
    chain = FakeChain()
    follower = _follower(chain)
    cache = follower.cache
    await follower.tick()
    assert cache.head("0:aa") is None  # never read: nothing to vouch for
    cache.store(
        AccountState(address="0:aa", status="active", balance=1, last_tx_lt=10, last_tx_hash=_hash(10))
    )
    assert cache.head("0:aa") == TxCursor(10, _hash(10))  # the state's own last transaction
    chain.seal(("0:aa", 12), ("0:bb", 13))
    await follower.tick()
    assert cache.state("0:aa") is None  # the balance is unknown now ...
    assert cache.head("0:aa") == TxCursor(12, _hash(12))  # ... the history's start is not
    assert cache.walked_past("0:aa", 12) and not cache.walked_past("0:aa", 14)
    chain.mc, chain.shards[SHARD] = chain.mc + 1, chain.shards[SHARD] + 100  # a gap: nothing is vouched for
    await follower.tick()
    assert cache.head("0:aa") is None and not cache.walked_past("0:aa", 12)


async def test_a_walk_lists_every_shard_block_since_the_last_step() -> None:
    chain = FakeChain()
    follower = _follower(chain)
    await follower.tick()
    assert chain.calls == ["head", "shards"]  # the first step only learns where the chain stands
    follower.changes.watch("0:aa")
    chain.seal(("0:bb", 5))
    chain.seal(("0:aa", 7))
    chain.seal()
    chain.calls.clear()
    await follower.tick()
    assert chain.calls == ["head", "shards", "lookup", "list", "lookup", "list", "list"]
    assert follower.changes.last_lt("0:aa") == 7 and follower.stats.blocks == 3
    chain.calls.clear()
    await follower.tick()  # nothing new: one query
    assert chain.calls == ["head"] and follower.now == chain.now


async def test_a_split_or_a_long_outage_is_a_gap() -> None:
    chain = FakeChain()
    follower = _follower(chain, max_walk=3)
    await follower.tick()
    follower.changes.watch("0:aa")
    follower.cache.store(_state("0:aa", 1))
    for _ in range(5):
        chain.seal()
    await follower.tick()
    assert follower.stats.gaps == 1 and follower.cache.state("0:aa") is None
    follower.cache.store(_state("0:aa", 1))
    chain.shards[0x4000000000000000] = 1  # a shard split off: what happened there is unknown
    await follower.tick()
    chain.seal()
    await follower.tick()
    assert follower.stats.gaps == 2 and follower.cache.state("0:aa") is None


@pytest.mark.parametrize("workchain", [-1, 0])
async def test_masterchain_blocks_are_listed_only_for_watched_masterchain_accounts(workchain: int) -> None:
    chain = FakeChain()
    follower = _follower(chain)
    await follower.tick()
    follower.changes.watch(f"{workchain}:aa")
    chain.seal()
    chain.calls.clear()
    await follower.tick()
    assert chain.calls.count("list") == (2 if workchain == -1 else 1)


async def test_a_step_without_a_new_block_costs_nothing_while_the_time_is_fresh() -> None:
    chain, clock = FakeChain(), Clock()
    chain.tracked = True
    follower = _follower(chain, clock, interval_s=1.0)
    await follower.tick()
    chain.calls.clear()
    clock.t = 1.0
    await follower.tick()
    assert chain.calls == [] and follower.in_step()
    clock.t = follower.time_refresh_s + 0.5  # the chain time is read again now and then
    await follower.tick()
    assert chain.calls == ["head"]
    chain.seal(("0:aa", 3))
    chain.calls.clear()
    await follower.tick()  # a new block: walked at once
    assert chain.calls == ["head", "shards", "list"]


async def test_a_follower_more_than_two_blocks_behind_serves_nothing() -> None:
    chain = FakeChain()
    chain.tracked = True
    follower = _follower(chain)
    await follower.tick()
    follower.cache.state("0:aa")
    follower.cache.store(_state("0:aa", 1))
    chain.seal()
    chain.seal()
    assert follower.cache.state("0:aa") is not None  # two blocks behind: like a lagging liteserver
    chain.seal()
    assert follower.cache.state("0:aa") is None
    await follower.tick()
    assert follower.cache.state("0:aa") is not None


async def test_the_followers_are_exported_at_scrape_time() -> None:
    chain, clock = FakeChain(), Clock()
    follower = _follower(chain, clock)
    registry = CollectorRegistry()
    FollowerMetrics(registry).follow(lambda: {"net1": follower})
    follower.cache.state("0:aa")  # watched from now on: a miss
    await follower.tick()
    follower.cache.store(_state("0:aa", 10))
    follower.cache.state("0:aa")  # a hit
    chain.seal(("0:aa", 12))
    await follower.tick()
    text = generate_latest(registry).decode()
    for line in (
        'cocoon_ton_follower_in_step{network="net1"} 1.0',
        'cocoon_ton_follower_masterchain_seqno{network="net1"} 2.0',
        'cocoon_ton_follower_blocks_total{network="net1"} 1.0',
        'cocoon_ton_follower_gaps_total{network="net1"} 0.0',
        'cocoon_ton_cache_reads_total{network="net1",result="hit"} 1.0',
        'cocoon_ton_cache_reads_total{network="net1",result="miss"} 1.0',
        'cocoon_ton_follower_watched_accounts{network="net1"} 1.0',
    ):
        assert line in text, line
    clock.t += 3600  # no step for an hour: out of step, reads go to the liteserver
    assert 'cocoon_ton_follower_in_step{network="net1"} 0.0' in generate_latest(registry).decode()
