"""The simulated proxy's database of worker earnings, keyed as the real proxy keys them.

The COCOON proxy keys workers by owner address (cocoon-protocol.md §2.4): every instance with the same
`owner_address` adds to one total per proxy contract, and every voucher the proxy signs is that
owner's cumulative total, whichever instance it goes to. Simulated runners of one dev chain share
this database through files (one per (proxy, owner), updated under an exclusive lock), so two
simulators of one owner never sign diverging totals the real proxy would not.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from pathlib import Path


def _key(proxy: str, owner: str) -> str:
    return hashlib.sha256(f"{proxy}|{owner}".encode()).hexdigest()[:32]


class ProxyDb:
    """Tokens credited per (proxy contract, worker owner). `directory` None: this process only."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self._memory: dict[str, int] = {}
        self._lock = threading.Lock()
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def credit(self, proxy: str, owner: str, tokens: int) -> int:
        """Add `tokens` to the owner's total at `proxy`; returns the new total."""
        return self._update(proxy, owner, tokens)

    def total(self, proxy: str, owner: str) -> int:
        return self._update(proxy, owner, 0)

    def _update(self, proxy: str, owner: str, add: int) -> int:
        key = _key(proxy, owner)
        if self.directory is None:
            with self._lock:
                self._memory[key] = self._memory.get(key, 0) + add
                return self._memory[key]
        path = self.directory / f"{key}.json"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.read(fd, 4096)
            total = int(json.loads(raw)["tokens"]) if raw else 0
            if add:
                total += add
                data = json.dumps({"proxy": proxy, "owner": owner, "tokens": total}).encode()
                os.lseek(fd, 0, os.SEEK_SET)
                os.ftruncate(fd, 0)
                os.write(fd, data)
            return total
        finally:
            os.close(fd)  # releases the lock
