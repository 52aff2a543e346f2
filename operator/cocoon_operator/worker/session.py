"""An HTTP client to one pod that uses a caller's aiohttp session or owns one it creates lazily, and
the one way this package reads a pod's answer: bounded.

A worker pod runs images its CocoonNode's author picked, so whatever it answers is untrusted input to a
process that serves every tenant. Every body is read through `read_capped`: at most
`MAX_RESPONSE_BYTES`, never decompressed (a few KiB of gzip can inflate to gigabytes in one step), and
a larger answer is an error (`ResponseTooLarge`) that marks the worker unhealthy instead of filling the
operator's memory.
"""

from __future__ import annotations

from typing import Final, Self

import aiohttp

# Far above any honest answer (a runner's /jsonstats is a few KiB, Triton's /metrics tens of KiB).
MAX_RESPONSE_BYTES: Final = 1 << 20
_CHUNK: Final = 64 * 1024
# Ask for the body as it is; `auto_decompress=False` makes sure a server that compresses anyway only
# sends bytes that fail to parse.
IDENTITY: Final = {"Accept-Encoding": "identity"}


class ResponseTooLarge(ValueError):
    """A pod answered more than the operator reads from one."""

    def __init__(self, limit: int, declared: int | None = None) -> None:
        what = f"a body of {declared} bytes" if declared is not None else f"more than {_size(limit)}"
        super().__init__(f"{what} (the operator reads at most {_size(limit)} from a pod)")
        self.limit = limit
        self.declared = declared


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n % (1 << 20) == 0 else f"{n} bytes"


async def read_capped(response: aiohttp.ClientResponse, limit: int = MAX_RESPONSE_BYTES) -> bytes:
    """The body, or `ResponseTooLarge` as soon as it is known to exceed `limit` (nothing more is read:
    leaving the response context then closes the connection)."""
    declared = response.content_length
    if declared is not None and declared > limit:
        raise ResponseTooLarge(limit, declared)
    body = bytearray()
    async for chunk in response.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > limit:
            raise ResponseTooLarge(limit)
    return bytes(body)


async def read_text(response: aiohttp.ClientResponse, limit: int = MAX_RESPONSE_BYTES) -> str:
    """`read_capped`, decoded as the answer's charset (UTF-8 by default), bad bytes replaced."""
    raw = await read_capped(response, limit)
    try:
        return raw.decode(response.charset or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return raw.decode("utf-8", errors="replace")


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
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        return self._session
