"""A `LocalChain` + `LocalLiteServer` running on their own event loop in a daemon thread.

For long-lived in-process use across event loops (session-scoped pytest fixtures, scripts): clients
connect over TCP with `global_config`, and chain calls are marshalled onto the chain's loop with
`call()` (sync) or `acall()` (from any other event loop), so the chain's lock never crosses loops.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from cocoon_dev.ton.chain import LocalChain
from cocoon_dev.ton.liteserver import LocalLiteServer

T = TypeVar("T")


class BackgroundChain:
    """Start with `start()`, stop with `stop()` (or use as a context manager)."""

    def __init__(
        self, chain: LocalChain | None = None, *, port: int = 0, key_file: str | None = None
    ) -> None:
        self.chain = chain or LocalChain()
        self.server = LocalLiteServer(self.chain, port=port, key_file=key_file)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="local-ton-chain", daemon=True)
        self.global_config: dict[str, Any] = {}

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def start(self) -> BackgroundChain:
        self._thread.start()
        self._submit(self.server.start).result(timeout=30)
        self.global_config = self.server.global_config()
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            self._submit(self.server.stop).result(timeout=30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
            self._loop.close()

    def _submit(
        self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        async def runner() -> T:
            return await fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(runner(), self._loop)

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any, timeout: float = 60, **kwargs: Any) -> T:
        """Run `await fn(*args)` on the chain's loop and wait for it (from a thread without a loop)."""
        return self._submit(fn, *args, **kwargs).result(timeout=timeout)

    async def acall(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run `await fn(*args)` on the chain's loop, awaited from another event loop."""
        return await asyncio.wrap_future(self._submit(fn, *args, **kwargs))

    def __enter__(self) -> BackgroundChain:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
