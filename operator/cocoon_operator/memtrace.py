"""Off by default: where the operator's memory goes, for measuring (docs/performance.md, issue 20).

`COCOON_TRACEMALLOC=/some/prefix` starts tracemalloc (`COCOON_TRACEMALLOC_FRAMES` deep, default 1)
before the operator imports anything; each SIGUSR2 then writes `<prefix>-<pid>-<n>.txt` (RSS, the traced
heap and its peak, the top allocations by file and by line) and `<prefix>-<pid>-<n>.snap` (the snapshot, for
`tracemalloc.Snapshot.load` and `compare_to`). Tracing slows the operator and costs memory itself, and a
dump blocks it for seconds: never compare its RSS or timings with an untraced run.

`COCOON_MEMSTATS=/some/prefix` (without tracemalloc, so its RSS compares with a plain run): each
SIGUSR2 writes `<prefix>-<pid>-<n>.txt` with RSS, the C heap as glibc counts it (`mallinfo2`: in use,
free inside the heap, mmapped) and Python's small-object allocator (`sys._debugmallocstats`: arenas,
pools and the bytes in them): what of the RSS is live data and what is free memory the allocators keep.
With `COCOON_MEMSTATS_GC=1` each dump then runs a full garbage collection and writes the same figures
again (how much of the memory was cyclic garbage waiting for the oldest generation's collection).
"""

import ctypes
import gc
import itertools
import os
import signal
import sys
import tracemalloc
from types import FrameType
from typing import TextIO

ENV, FRAMES_ENV, STATS_ENV = "COCOON_TRACEMALLOC", "COCOON_TRACEMALLOC_FRAMES", "COCOON_MEMSTATS"
STATS_GC_ENV = "COCOON_MEMSTATS_GC"


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
            "keepcost",
        )
    ]  # fmt: skip


def _vm() -> list[str]:
    with open("/proc/self/status") as status:
        return [line.strip() for line in status if line.startswith(("VmRSS", "VmHWM", "RssAnon"))]


def _glibc_heap() -> str:
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except AttributeError:
        return "glibc: no mallinfo2"
    mallinfo2.restype = _MallInfo2
    m = mallinfo2()
    mib = 2**20
    return (
        f"glibc: heaps {m.arena / mib:.1f} MiB (in use {m.uordblks / mib:.1f}, free {m.fordblks / mib:.1f} "
        f"in {m.ordblks} chunks, releasable at the top {m.keepcost / mib:.1f}), "
        f"mmapped {m.hblkhd / mib:.1f} MiB in {m.hblks}"
    )


def _pymalloc_stats(out: TextIO) -> None:
    out.flush()
    saved = os.dup(2)  # _debugmallocstats writes to the C stderr
    try:
        os.dup2(out.fileno(), 2)
        sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _install_stats(prefix: str) -> None:
    counter = itertools.count(1)
    collect = os.environ.get(STATS_GC_ENV) == "1"

    def dump(_signum: int, _frame: FrameType | None) -> None:
        path = f"{prefix}-{os.getpid()}-{next(counter)}.txt"
        with open(path, "w") as out:
            gen = f"gc: counts {gc.get_count()}, collections {[g['collections'] for g in gc.get_stats()]}"
            out.write("\n".join([*_vm(), _glibc_heap(), gen, "-- sys._debugmallocstats", ""]))
            _pymalloc_stats(out)
            if collect:
                found = gc.collect()
                out.write(
                    "\n".join(["", f"-- after gc.collect(): {found} unreachable", *_vm(), _glibc_heap(), ""])
                )
                _pymalloc_stats(out)

    signal.signal(signal.SIGUSR2, dump)


def install() -> None:
    stats = os.environ.get(STATS_ENV)
    if stats:
        _install_stats(stats)
    prefix = os.environ.get(ENV)
    if not prefix:
        return
    tracemalloc.start(int(os.environ.get(FRAMES_ENV) or 1))
    counter = itertools.count(1)

    def dump(_signum: int, _frame: FrameType | None) -> None:
        path = f"{prefix}-{os.getpid()}-{next(counter)}"
        snapshot = tracemalloc.take_snapshot()
        snapshot.dump(f"{path}.snap")
        current, peak = tracemalloc.get_traced_memory()
        lines = [*_vm(), f"traced {current / 2**20:.1f} MiB, traced peak {peak / 2**20:.1f} MiB"]
        for key in ("filename", "lineno"):
            lines.append(f"-- top by {key}")
            lines += [str(stat) for stat in snapshot.statistics(key)[:40]]
        with open(f"{path}.txt", "w") as out:
            out.write("\n".join(lines) + "\n")

    signal.signal(signal.SIGUSR2, dump)
