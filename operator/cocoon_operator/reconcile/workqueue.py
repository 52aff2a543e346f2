"""A keyed, deduplicating, delayed work queue with a fixed pool of workers (the controller-runtime model).

Why not "one reconcile per watch event": a rollout sends ~7 pod and StatefulSet events per worker, and
each queued a full reconcile behind a per-object lock (bench/results, finding 2). Here:
- a key waits in the queue at most once; adding it again keeps the earlier due time;
- a key is processed by one worker at a time; adding it while it is processed marks it to run once
  more right after, so no change is missed and a burst collapses into one or two runs;
- the processing function returns when it wants the key back (resync, a provider's re-check), so a
  timer per object (a kopf daemon each) is replaced by one heap;
- a failure comes back with exponential backoff per key.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
log = logging.getLogger(__name__)


class WorkQueue(Generic[K]):
    def __init__(
        self,
        process: Callable[[K], Awaitable[float | None]],
        *,
        workers: int = 16,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._process = process
        self._workers_wanted = workers
        self._backoff_base = backoff_base_s
        self._backoff_max = backoff_max_s
        self._clock = clock
        self._due: dict[K, float] = {}  # waiting keys → when they become ready
        self._heap: list[tuple[float, int, K]] = []  # lazy: an entry counts only while _due agrees
        self._seq = itertools.count()
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()  # in _ready, not yet taken by a worker
        self._active: set[K] = set()
        self._again: dict[K, float] = {}  # added while active → due time of the next run
        self._forgotten: set[K] = set()  # forgotten while active: do not reschedule
        self._failures: dict[K, int] = {}
        self._wake = asyncio.Event()
        self._open = asyncio.Event()  # workers take keys only while open (the leader's queue)
        self._open.set()
        self._tasks: list[asyncio.Task[None]] = []
        self.processed = 0  # runs finished (tests and probes read it)

    # -- producers ---------------------------------------------------------------------------------

    def add(self, key: K, delay: float = 0.0) -> None:
        """Run `key` in `delay` seconds, or earlier if it is already due earlier."""
        due = self._clock() + max(delay, 0.0)
        self._forgotten.discard(key)
        if key in self._active:
            self._again[key] = min(self._again.get(key, due), due)
        elif key in self._queued:
            return
        elif due < self._due.get(key, float("inf")):
            self._due[key] = due
            heapq.heappush(self._heap, (due, next(self._seq), key))
            self._wake.set()

    def forget(self, key: K) -> None:
        """Drop every pending run of `key` (the object is gone); a run in progress finishes."""
        self._due.pop(key, None)
        self._again.pop(key, None)
        self._failures.pop(key, None)
        if key in self._active or key in self._queued:
            self._forgotten.add(key)

    def __len__(self) -> int:
        """Keys waiting or ready (not those being processed)."""
        return len(self._due) + len(self._queued)

    def due(self) -> int:
        """Keys whose time has come but no worker has taken yet (the backlog)."""
        now = self._clock()
        return len(self._queued) + sum(1 for d in self._due.values() if d <= now)

    def pending(self, key: K) -> bool:
        return key in self._due or key in self._queued or key in self._again

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self._tasks:
            return
        self._tasks.append(asyncio.create_task(self._dispatch(), name="workqueue-dispatch"))
        for i in range(self._workers_wanted):
            self._tasks.append(asyncio.create_task(self._work(), name=f"workqueue-worker-{i}"))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def pause(self) -> None:
        """Take no more keys (a standby: keys keep being queued, none is processed)."""
        self._open.clear()

    def resume(self) -> None:
        self._open.set()

    @property
    def paused(self) -> bool:
        return not self._open.is_set()

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until nothing is ready or active (tests)."""
        async with asyncio.timeout(timeout):
            while self._queued or self._active or any(d <= self._clock() for d in self._due.values()):
                await asyncio.sleep(0.01)

    # -- internals ---------------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        while True:
            now = self._clock()
            while self._heap and self._heap[0][0] <= now:
                due, _seq, key = heapq.heappop(self._heap)
                if self._due.get(key) != due:
                    continue  # superseded by an earlier add or forgotten
                del self._due[key]
                self._queued.add(key)
                self._ready.put_nowait(key)
            self._wake.clear()
            timeout = self._heap[0][0] - now if self._heap else None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    async def _work(self) -> None:
        while True:
            await self._open.wait()
            key = await self._ready.get()
            if not self._open.is_set():  # paused while waiting: put it back for the next leader
                self._ready.put_nowait(key)
                await self._open.wait()
                continue
            self._queued.discard(key)
            if key in self._forgotten:
                self._forgotten.discard(key)
                continue
            self._active.add(key)
            next_delay: float | None
            try:
                next_delay = await self._process(key)
                self._failures.pop(key, None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
                next_delay = min(self._backoff_base * 2 ** (failures - 1), self._backoff_max)
                error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "Reconcile failed; retrying",
                    extra={"key": str(key), "error": error, "retry_in_s": next_delay},
                )
            finally:
                self._active.discard(key)
                self.processed += 1
            if key in self._forgotten:
                self._forgotten.discard(key)
                continue
            again = self._again.pop(key, None)
            if again is not None:
                self.add(key, again - self._clock())  # changed while processing: run once more
            elif next_delay is not None:
                self.add(key, next_delay)
