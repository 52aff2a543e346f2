"""Follow the chain by blocks, so unchanged accounts are not read again (issue 20).

One `BlockFollower` per liteserver network (per `ChainClient`) walks the new shard blocks of every
new masterchain block (`getAllShardsInfo`, then `lookupBlock` + `listBlockTransactions` per shard
block) and notes, for the accounts the operator reads (watched: every account read through the
client, least recently used dropped beyond a bound), the newest transaction it saw. An account's
state cannot change without a transaction, so a state read earlier whose last transaction is at
least that new is still the current state: `AccountCache` hands it out again without a query.

What stays as it was: money reads (`ChainClient.checked_state`, cross-checked on two liteservers)
never come from the cache, and `ChainClient.fresh_reads()` turns it off for a whole claim cycle. When
the follower may have missed blocks (a walk longer than `max_walk`, a shard split or merge), the
epoch moves and every cached state is dropped; when it is behind (no successful step for
more than `max_lag_blocks` behind the head pytoniq's own updater knows, or no successful step for
`stale_after_s`), nothing is served from the cache: the reads go to the liteserver as before. Lag is
judged in blocks, not by how punctually the steps run: under load a step waits behind the reads, and
a follower that fell out of step by the clock would send every read to the liteserver, adding load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from pytoniq_core.tl.block import BlockIdExt

from cocoon_operator.ton.client import AccountState, ChainClient, ChainError, TxCursor

log = logging.getLogger(__name__)

DEFAULT_MAX_WATCHED = 50_000


@dataclass
class FollowerStats:
    ticks: int = 0
    failures: int = 0
    blocks: int = 0  # shard (and masterchain) blocks listed
    gaps: int = 0
    hits: int = 0  # reads served from the cache
    misses: int = 0  # reads of watched accounts that went to the liteserver


class ChangeLog:
    """Pure bookkeeping: the newest transaction (lt, hash) seen per watched account, and the epoch."""

    def __init__(self, max_watched: int = DEFAULT_MAX_WATCHED) -> None:
        self.max_watched = max_watched
        self._watched: OrderedDict[str, None] = OrderedDict()
        self._last: dict[str, tuple[int, bytes]] = {}
        self.epoch = 0
        self.on_forget: Callable[[str], None] | None = None

    def __len__(self) -> int:
        return len(self._watched)

    def watch(self, address: str) -> None:
        if address in self._watched:
            self._watched.move_to_end(address)
            return
        self._watched[address] = None
        while len(self._watched) > self.max_watched:
            old, _ = self._watched.popitem(last=False)
            self._last.pop(old, None)
            if self.on_forget is not None:
                self.on_forget(old)

    def watched(self, address: str) -> bool:
        return address in self._watched

    def any_in_workchain(self, workchain: int) -> bool:
        prefix = f"{workchain}:"
        return any(a.startswith(prefix) for a in self._watched)

    def note(self, address: str, lt: int, tx_hash: bytes = b"") -> bool:
        """A transaction of `address` at `lt` is on chain. True when the account is watched."""
        if address not in self._watched:
            return False
        if lt > self.last_lt(address):
            self._last[address] = (lt, tx_hash)
        return True

    def last_lt(self, address: str) -> int:
        last = self._last.get(address)
        return last[0] if last is not None else 0

    def last(self, address: str) -> tuple[int, bytes] | None:
        """The newest transaction seen of `address` (its hash empty where the block did not say)."""
        return self._last.get(address)

    def gap(self) -> None:
        """Blocks may have been missed: nothing read before can be vouched for any more."""
        self.epoch += 1
        self._last.clear()

    def unchanged(self, address: str, state_lt: int) -> bool:
        """No transaction newer than `state_lt` (the last one a read state includes) was seen."""
        return address in self._watched and self.last_lt(address) <= state_lt


class AccountCache:
    """States of watched accounts, served while the follower is in step and has seen no newer
    transaction of the account."""

    def __init__(self, follower: BlockFollower) -> None:
        self._follower = follower
        self._states: dict[str, tuple[int, AccountState]] = {}
        follower.changes.on_forget = self._forget

    def _forget(self, address: str) -> None:
        self._states.pop(address, None)

    def __len__(self) -> int:
        return len(self._states)

    def usable(self) -> bool:
        return self._follower.in_step()

    def chain_time(self) -> int | None:
        """The chain time at the follower's last step, while it is in step."""
        return self._follower.now if self.usable() else None

    def state(self, address: str) -> AccountState | None:
        """The cached state of `address` if it is still current, else None (and the account is
        watched from now on, so the read that follows can be kept)."""
        changes = self._follower.changes
        changes.watch(address)
        hit = self._states.get(address)
        if hit is None or not self.usable():
            self._follower.stats.misses += 1
            return None
        epoch, state = hit
        if epoch != changes.epoch or not changes.unchanged(address, state.last_tx_lt):
            self._follower.stats.misses += 1
            return None
        self._follower.stats.hits += 1
        return state

    def head(self, address: str) -> TxCursor | None:
        """The account's newest transaction, without a query: the cached state's own last one, or
        a newer one the follower saw in a block since (a history read starts there). None where the
        follower cannot vouch for it (no state read in this epoch, out of step, no hash listed)."""
        changes = self._follower.changes
        changes.watch(address)
        hit = self._states.get(address)
        if hit is None or not self.usable() or hit[0] != changes.epoch:
            self._follower.stats.misses += 1
            return None
        state, seen = hit[1], changes.last(address)
        if seen is None or seen[0] <= state.last_tx_lt:
            head = TxCursor(state.last_tx_lt, state.last_tx_hash)
        elif seen[1]:
            head = TxCursor(*seen)
        else:
            self._follower.stats.misses += 1
            return None
        self._follower.stats.hits += 1
        return head

    def walked_past(self, address: str, lt: int) -> bool:
        """The follower itself listed the block with `address`'s transaction at `lt` (or a later
        one): every transaction that caused it, on any account, lies in the blocks it walked."""
        return self.usable() and self._follower.changes.last_lt(address) >= lt

    def store(self, state: AccountState) -> None:
        """Keep a state just read (only while in step: a read before the follower's first step
        could miss a transaction it will never report)."""
        changes = self._follower.changes
        if not self.usable() or not changes.watched(state.address):
            return
        old = self._states.get(state.address)
        if old is not None and old[0] == changes.epoch and old[1].last_tx_lt > state.last_tx_lt:
            return  # a lagging liteserver answered: keep the newer state
        self._states[state.address] = (changes.epoch, state)


class BlockFollower:
    """Walks new blocks every `interval_s` and keeps `changes` (and `now`, the chain time) current."""

    def __init__(
        self,
        client: ChainClient,
        *,
        interval_s: float = 1.0,
        max_walk: int = 64,
        stale_after_s: float | None = None,
        max_lag_blocks: int = 2,
        max_watched: int = DEFAULT_MAX_WATCHED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.interval_s = interval_s
        self.max_walk = max_walk
        self.stale_after_s = stale_after_s if stale_after_s is not None else max(60.0, 3 * interval_s + 5)
        self.max_lag_blocks = max_lag_blocks
        self.clock = clock
        self.changes = ChangeLog(max_watched)
        self.stats = FollowerStats()
        self.cache = AccountCache(self)
        self.mc_seqno: int | None = None
        self.now: int | None = None  # chain time at the last step
        self._shards: dict[tuple[int, int], int] = {}  # (workchain, shard) -> last listed seqno
        self._synced_at: float | None = None
        self._time_at: float | None = None  # when `now` was last read
        # Without a new block the chain time is read again at most this often (a step costs nothing).
        self.time_refresh_s = max(12.0, 4 * interval_s)
        self._task: asyncio.Task[None] | None = None

    def watched(self) -> int:
        """How many accounts it watches."""
        return len(self.changes)

    def in_step(self) -> bool:
        """Served from the cache is at most `max_lag_blocks` behind what a read would see."""
        if self._synced_at is None or self.mc_seqno is None:
            return False
        if self.clock() - self._synced_at > self.stale_after_s:
            return False
        tracked = self.client.tracked_head()
        return tracked is None or tracked - self.mc_seqno <= self.max_lag_blocks

    async def tick(self, *, ask: bool = False) -> None:
        """One step: the newest masterchain block and every shard block since the last step. Unless
        `ask`, a step skips the liteserver while pytoniq's own updater has seen no newer block (it
        wakes a few ms after one: at most one step later)."""
        self.stats.ticks += 1
        tracked = self.client.tracked_head()  # pytoniq follows the head itself: free to look at
        if (
            not ask
            and tracked is not None
            and self.mc_seqno is not None
            and tracked <= self.mc_seqno
            and self._time_at is not None
            and self.clock() - self._time_at < self.time_refresh_s
        ):
            self._synced_at = self.clock()
            return
        last, now = await self.client.masterchain_head()
        self._time_at = self.clock()
        if self.mc_seqno is not None and last.seqno <= self.mc_seqno:
            self.now, self._synced_at = now, self.clock()
            return
        tops = await self.client.shard_tops(last)
        first = self.mc_seqno is None
        for top in tops:
            await self._walk(top, first)
        gone = set(self._shards) - {(t.workchain, t.shard) for t in tops}
        for key in gone:
            del self._shards[key]
        if self.mc_seqno is not None and self.changes.any_in_workchain(-1):
            await self._walk_masterchain(last)
        self.mc_seqno, self.now, self._synced_at = last.seqno, now, self.clock()

    async def _walk(self, top: BlockIdExt, first: bool) -> None:
        key = (top.workchain, top.shard)
        prev = self._shards.get(key)
        if prev is None or top.seqno - prev > self.max_walk:
            if not first:  # a new shard (split or merge) or a long outage: what happened is unknown
                self.stats.gaps += 1
                self.changes.gap()
            self._shards[key] = top.seqno
            return
        for seqno in range(prev + 1, top.seqno + 1):
            block = top if seqno == top.seqno else await self.client.lookup_block(*key, seqno)
            await self._list(block)
            self._shards[key] = seqno

    async def _walk_masterchain(self, last: BlockIdExt) -> None:
        assert self.mc_seqno is not None
        if last.seqno - self.mc_seqno > self.max_walk:
            self.stats.gaps += 1
            self.changes.gap()
            return
        for seqno in range(self.mc_seqno + 1, last.seqno + 1):
            block = last if seqno == last.seqno else await self.client.lookup_block(-1, last.shard, seqno)
            await self._list(block)

    async def _list(self, block: BlockIdExt) -> None:
        for address, lt, tx_hash in await self.client.block_transactions(block):
            self.changes.note(address, lt, tx_hash)
        self.stats.blocks += 1

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="cocoon-block-follower")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except (ChainError, ValueError, KeyError, TypeError) as exc:
                self.stats.failures += 1
                log.debug("Block follower step failed: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(self.interval_s)
