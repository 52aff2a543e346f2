"""Saving and loading a `LocalChain`'s state as JSON files (the `cocoon-dev chain` server keeps its
chain across restarts with them), atomically, and under the chain's state lock when asked."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import Any


class SnapshotFiles:
    """File forms of `snapshot()` / `restore()`, mixed into `LocalChain` (which defines those two and
    its state lock)."""

    def snapshot(self) -> dict[str, Any]:
        raise NotImplementedError

    def restore(self, snap: dict[str, Any]) -> None:
        raise NotImplementedError

    def _async_lock(self) -> asyncio.Lock:
        raise NotImplementedError

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write `snapshot()` to `path` atomically (JSON). Returns the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
        with os.fdopen(fd, "w") as fh:
            json.dump(self.snapshot(), fh)
        os.replace(tmp, target)
        return target

    def load_file(self, path: str | os.PathLike[str]) -> None:
        """`restore()` from a file written by `save()`."""
        self.restore(json.loads(Path(path).read_text()))

    async def save_async(self, path: str | os.PathLike[str]) -> Path:
        """`save()` under the state lock (no cascade half-way)."""
        async with self._async_lock():
            return self.save(path)

    async def restore_async(self, snap_or_path: dict[str, Any] | str | os.PathLike[str]) -> None:
        """`restore()` (a snapshot dict or a file from `save()`) under the state lock."""
        snap = snap_or_path if isinstance(snap_or_path, dict) else json.loads(Path(snap_or_path).read_text())
        async with self._async_lock():
            self.restore(snap)
