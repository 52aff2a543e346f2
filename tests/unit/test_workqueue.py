"""The reconcile work queue: one run per key at a time, bursts collapse, delays, backoff, forget."""

import asyncio

import pytest

from cocoon_operator.reconcile.workqueue import WorkQueue

pytestmark = pytest.mark.asyncio


class Recorder:
    def __init__(self, *, hold: float = 0.0, fail: int = 0, again: float | None = None) -> None:
        self.runs: list[str] = []
        self.active: set[str] = set()
        self.overlap = False
        self.hold, self.fail, self.again = hold, fail, again

    async def __call__(self, key: str) -> float | None:
        if key in self.active:
            self.overlap = True
        self.active.add(key)
        try:
            self.runs.append(key)
            await asyncio.sleep(self.hold)
            if self.fail:
                self.fail -= 1
                raise RuntimeError("API down")
            return self.again
        finally:
            self.active.discard(key)


async def test_a_burst_of_adds_is_one_run() -> None:
    rec = Recorder()
    q: WorkQueue[str] = WorkQueue(rec, workers=4)
    for _ in range(50):
        q.add("a")
    q.start()
    await q.drain()
    await q.stop()
    assert rec.runs == ["a"]


async def test_adds_while_running_give_exactly_one_more_run_and_never_overlap() -> None:
    rec = Recorder(hold=0.05)
    q: WorkQueue[str] = WorkQueue(rec, workers=4)
    q.start()
    q.add("a")
    await asyncio.sleep(0.01)  # "a" is running now
    for _ in range(20):
        q.add("a")
    await asyncio.sleep(0.2)
    await q.drain()
    await q.stop()
    assert rec.runs == ["a", "a"]
    assert not rec.overlap


async def test_keys_run_concurrently_up_to_the_worker_count() -> None:
    rec = Recorder(hold=0.1)
    q: WorkQueue[str] = WorkQueue(rec, workers=5)
    q.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    for i in range(10):
        q.add(f"k{i}")
    await asyncio.sleep(0.05)
    await q.drain()
    await q.stop()
    assert sorted(rec.runs) == sorted(f"k{i}" for i in range(10))
    assert loop.time() - started < 0.5  # 2 rounds of 0.1 s, not 10


async def test_delay_and_the_earlier_due_time_wins() -> None:
    rec = Recorder()
    q: WorkQueue[str] = WorkQueue(rec, workers=1)
    q.start()
    q.add("a", delay=10.0)
    q.add("a", delay=0.05)
    q.add("a", delay=5.0)  # later: ignored
    await asyncio.sleep(0.02)
    assert rec.runs == []
    await asyncio.sleep(0.1)
    assert rec.runs == ["a"]
    assert not q.pending("a")
    await q.stop()


async def test_the_processing_result_schedules_the_next_run() -> None:
    rec = Recorder(again=0.05)
    q: WorkQueue[str] = WorkQueue(rec, workers=1)
    q.start()
    q.add("a")
    await asyncio.sleep(0.18)
    await q.stop()
    assert 3 <= len(rec.runs) <= 4


async def test_failures_back_off_exponentially_then_recover() -> None:
    rec = Recorder(fail=3)
    q: WorkQueue[str] = WorkQueue(rec, workers=1, backoff_base_s=0.02, backoff_max_s=0.05)
    q.start()
    q.add("a")
    await asyncio.sleep(0.02)
    assert len(rec.runs) == 1  # failed; next try in 0.02 s, then 0.04, then 0.05 (capped)
    await asyncio.sleep(0.2)
    await q.stop()
    assert len(rec.runs) == 4  # three failures, one success, and no schedule after it


async def test_forget_drops_pending_runs() -> None:
    rec = Recorder(hold=0.05)
    q: WorkQueue[str] = WorkQueue(rec, workers=1)
    q.start()
    q.add("a")
    q.add("b", delay=0.05)
    await asyncio.sleep(0.01)
    q.add("a")  # marked to run again…
    q.forget("a")  # …but the object is gone
    q.forget("b")
    await asyncio.sleep(0.2)
    await q.stop()
    assert rec.runs == ["a"]
    assert len(q) == 0


async def test_a_paused_queue_keeps_keys_and_processes_none() -> None:
    """The standby's queue: keys are queued while another process leads, none is processed."""
    seen: list[str] = []

    async def process(key: str) -> None:
        seen.append(key)

    queue: WorkQueue[str] = WorkQueue(process, workers=2)
    queue.pause()
    queue.start()
    try:
        queue.add("a")
        queue.add("b")
        await asyncio.sleep(0.1)
        assert seen == [] and queue.paused and queue.pending("a")
        queue.resume()
        await queue.drain()
        assert sorted(seen) == ["a", "b"]
    finally:
        await queue.stop()
