"""Off by default: where the operator's memory goes, for measuring (docs/performance.md, issue 20).

`COCOON_TRACEMALLOC=/some/prefix` starts tracemalloc (`COCOON_TRACEMALLOC_FRAMES` deep, default 1)
before the operator imports anything; each SIGUSR2 then writes `<prefix>-<pid>-<n>.txt` (RSS, the traced
heap and its peak, the top allocations by file and by line) and `<prefix>-<pid>-<n>.snap` (the snapshot, for
`tracemalloc.Snapshot.load` and `compare_to`). Tracing slows the operator and costs memory itself, and a
dump blocks it for seconds: never compare its RSS or timings with an untraced run.
"""

import itertools
import os
import signal
import tracemalloc
from types import FrameType

ENV, FRAMES_ENV = "COCOON_TRACEMALLOC", "COCOON_TRACEMALLOC_FRAMES"


def install() -> None:
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
        with open("/proc/self/status") as status:
            vm = [line.strip() for line in status if line.startswith(("VmRSS", "VmHWM"))]
        lines = [*vm, f"traced {current / 2**20:.1f} MiB, traced peak {peak / 2**20:.1f} MiB"]
        for key in ("filename", "lineno"):
            lines.append(f"-- top by {key}")
            lines += [str(stat) for stat in snapshot.statistics(key)[:40]]
        with open(f"{path}.txt", "w") as out:
            out.write("\n".join(lines) + "\n")

    signal.signal(signal.SIGUSR2, dump)
