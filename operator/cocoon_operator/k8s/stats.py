"""Process-wide counters of API calls: the "zero writes on an unchanged object" check and metrics."""

import threading
from collections import Counter


class CallCounter:
    """Thread-safe counts keyed by (verb, kind), e.g. ("apply", "StatefulSet")."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, verb: str, kind: str) -> None:
        with self._lock:
            self._counts[(verb, kind)] += 1

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)

    def total(self, *, exclude_kinds: frozenset[str] = frozenset()) -> int:
        with self._lock:
            return sum(n for (_verb, kind), n in self._counts.items() if kind not in exclude_kinds)


# The leader's Lease renewals: a per-process heartbeat, not writes caused by CocoonNodes.
HEARTBEAT_KINDS = frozenset({"Lease"})


WRITES = CallCounter()  # every mutating call the operator's own client makes
READS = CallCounter()
RECONCILES = CallCounter()  # ("reconcile", "<namespace>/<name>") per finished reconcile
