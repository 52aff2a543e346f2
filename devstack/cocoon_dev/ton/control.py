"""Loopback-only HTTP control endpoint for a running local chain (lite_api has no faucet or clock).

Endpoints (JSON in, JSON out; errors are `{"error": "..."}` with status 400 and name the field):

- `GET  /status[?address=A&address=B]`  height, accounts, lt, now, block interval, balances of A, B
- `POST /faucet        {"address": A, "amount": nanoTON}`   credit an account (bounce=false)
- `POST /advance       {"seconds": N}`                      move chain time, seal a block
- `POST /seal`                                             seal a block now (runs queued externals)
- `POST /block-interval {"ms": N}`                          0 = instant mode
- `POST /snapshot      {"path": P}`                         save the whole state to a file
- `POST /restore       {"path": P}`                         load it back
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from pytoniq_core.boc.address import Address

from cocoon_dev.ton.chain import LocalChain, LocalChainError, raw_address

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadRequest(ValueError):
    pass


def _address(value: Any, field: str) -> Address:
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{field}: a TON address string is required")
    try:
        return Address(value)
    except Exception as exc:
        raise BadRequest(f"{field}: not a valid TON address ({exc})") from exc


def _int(value: Any, field: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BadRequest(f"{field}: an integer >= {minimum} is required")
    return value


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except ValueError as exc:
        raise BadRequest(f"body: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise BadRequest("body: a JSON object is required")
    return data


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    remote = request.remote or ""
    try:
        if not ipaddress.ip_address(remote).is_loopback:
            return web.json_response({"error": "loopback only"}, status=403)
    except ValueError:
        return web.json_response({"error": "loopback only"}, status=403)
    try:
        return await handler(request)
    except (BadRequest, LocalChainError) as exc:
        return web.json_response({"error": str(exc)}, status=400)


class ChainControl:
    """The control app over `chain`; `extra_status()` lets the server add its own fields."""

    def __init__(self, chain: LocalChain, extra_status: Callable[[], dict[str, Any]] | None = None) -> None:
        self.chain = chain
        self.extra_status = extra_status
        self.app = web.Application(middlewares=[_errors])
        self.app.add_routes(
            [
                web.get("/status", self.status),
                web.post("/faucet", self.faucet),
                web.post("/advance", self.advance),
                web.post("/seal", self.seal),
                web.post("/block-interval", self.block_interval),
                web.post("/snapshot", self.snapshot),
                web.post("/restore", self.restore),
                web.post("/hold", self.hold),
            ]
        )
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"control host must be a loopback address, got {host}")
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def status_dict(self, addresses: list[str] | None = None) -> dict[str, Any]:
        chain = self.chain
        result: dict[str, Any] = {
            "height": chain.seqno,
            "accounts": chain.accounts_count,
            "transactions": chain.total_transactions,
            "lt": chain.lt,
            "now": chain.now,
            "block_interval_ms": chain.block_interval_ms,
            "pending_externals": chain.pending_count,
            "in_flight_messages": chain.in_flight,
        }
        if addresses:
            result["balances"] = {a: chain.balance(a) for a in addresses}
            result["states"] = {a: chain.status(a) for a in addresses}
        if self.extra_status is not None:
            result.update(self.extra_status())
        return result

    async def status(self, request: web.Request) -> web.Response:
        addresses = [raw_address(_address(a, "address")) for a in request.query.getall("address", [])]
        return web.json_response(self.status_dict(addresses))

    async def faucet(self, request: web.Request) -> web.Response:
        body = await _body(request)
        address = _address(body.get("address"), "address")
        amount = _int(body.get("amount"), "amount", 1)
        result = await self.chain.faucet(address, amount)
        return web.json_response({"height": result.seqno, "balance": self.chain.balance(address)})

    async def advance(self, request: web.Request) -> web.Response:
        body = await _body(request)
        now = await self.chain.advance(_int(body.get("seconds"), "seconds"))
        return web.json_response({"now": now, "height": self.chain.seqno})

    async def seal(self, request: web.Request) -> web.Response:
        return web.json_response({"height": await self.chain.seal_block()})

    async def block_interval(self, request: web.Request) -> web.Response:
        body = await _body(request)
        await self.chain.set_block_interval(_int(body.get("ms"), "ms"))
        return web.json_response(
            {"block_interval_ms": self.chain.block_interval_ms, "height": self.chain.seqno}
        )

    async def snapshot(self, request: web.Request) -> web.Response:
        body = await _body(request)
        path = body.get("path")
        if not isinstance(path, str) or not path:
            raise BadRequest("path: a file path is required")
        saved = await self.chain.save_async(Path(path))
        return web.json_response({"path": str(saved.resolve()), "height": self.chain.seqno})

    async def restore(self, request: web.Request) -> web.Response:
        body = await _body(request)
        path = body.get("path")
        if not isinstance(path, str) or not Path(path).is_file():
            raise BadRequest("path: an existing snapshot file is required")
        await self.chain.restore_async(Path(path))
        return web.json_response({"height": self.chain.seqno, "accounts": self.chain.accounts_count})

    async def hold(self, request: web.Request) -> web.Response:
        """Hold back internal messages to an account for N blocks (0 releases it): money in flight."""
        body = await _body(request)
        address = _address(body.get("address"), "address")
        self.chain.hold(address, _int(body.get("blocks"), "blocks"))
        return web.json_response({"address": raw_address(address), "in_flight": self.chain.in_flight})
