"""Cumulative counters with exponentially decayed per-second rates (the runner's AmortCounter).

`/jsonstats` shows each counter as `[total, rate_1s, rate_10s, rate_1m, rate_10m, rate_1h, rate_1d]`,
where each rate is Σ(increment · e^(-age/T)) / T (cocoon-protocol.md §4.1).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

WINDOWS_S = (1.0, 10.0, 60.0, 600.0, 3600.0, 86400.0)
COUNTER_NAMES = (
    "queries",
    "success",
    "failed",
    "bytes_received",
    "bytes_sent",
    "time",
    "total_adjusted_tokens_used",
    "prompt_adjusted_tokens_used",
    "cached_adjusted_tokens_used",
    "completion_adjusted_tokens_used",
    "reasoning_adjusted_tokens_used",
)


class DecayedCounter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.total: float = 0
        self._sums = [0.0] * len(WINDOWS_S)
        self._at = clock()

    def _decay_to(self, now: float) -> None:
        age = max(0.0, now - self._at)
        if age:
            self._sums = [s * math.exp(-age / t) for s, t in zip(self._sums, WINDOWS_S, strict=True)]
            self._at = now

    def add(self, amount: float) -> None:
        self._decay_to(self._clock())
        self.total += amount
        self._sums = [s + amount for s in self._sums]

    def rates(self) -> list[float]:
        self._decay_to(self._clock())
        return [s / t for s, t in zip(self._sums, WINDOWS_S, strict=True)]

    def snapshot(self) -> list[int | float]:
        total: int | float = int(self.total) if float(self.total).is_integer() else float(self.total)
        return [total, *self.rates()]


class RunnerCounters:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.counters = {name: DecayedCounter(clock) for name in COUNTER_NAMES}

    def add(self, name: str, amount: float) -> None:
        self.counters[name].add(amount)
