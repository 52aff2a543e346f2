"""An HTTP client to one pod that uses a caller's aiohttp session or owns one it creates lazily."""

from __future__ import annotations

from typing import Self

import aiohttp


class PodSession:
    def __init__(self, session: aiohttp.ClientSession | None, *, force_close: bool = False) -> None:
        self._session = session
        self._own_session = session is None
        # Probes of many pods: no keep-alive pool of sockets to pods that may be gone next time.
        self._force_close = force_close

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(force_close=True) if self._force_close else None
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session
