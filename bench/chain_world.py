"""The chain side of `bench.chain_scale`: the local chain (real TVM) sealing a block every
`--block-ms`, its liteserver, and one runner simulator per CocoonNode, in a process of their own so
the operator side's memory and CPU are measured alone.

Setup: the dev COCOON network; N cocoon wallets (the first K earn, each with an owner of its own; the
others share the network's owner and its one worker contract); the worker contracts deployed as a
runner does. Then one JSON line on stdout (what the operator side needs) and it serves until stdin
closes:

- `GET /jsonstats`, `GET /request/payout?proxy=` on the runner port, for the pod IP the request came
  to (127.1.x.y: one listening socket, the local address names the runner). An earning runner's
  committed tokens grow while earning is on; a payout request submits the proxy-signed voucher from
  its cocoon wallet with 0.5 TON, as the official runner does.
- `GET /ctl/earning?on=0|1`, `GET /ctl/queries` (the liteserver's answered queries by TL method: the
  operator side is its only client), `GET /ctl/facts` (per earning owner: what the chain paid).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pytoniq_core.boc.address import Address

from bench.chain_scale import world_parser
from cocoon_dev.ports import free_port
from cocoon_dev.ton.chain import TON, LocalChain
from cocoon_dev.ton.dev_wallets import deploy_wallet, dev_wallet
from cocoon_dev.ton.liteserver import LocalLiteServer
from cocoon_dev.ton.network import (
    CocoonNetwork,
    cocoon_wallet_send,
    deploy_cocoon_network,
    sign_voucher,
    worker_contract_for,
)
from cocoon_dev.ton.vouchers import repack_send_excesses_to
from cocoon_operator.ton.addresses import (
    cocoon_wallet_address,
    format_address,
    public_key_from_seed,
    raw_address,
    worker_contract_state_init,
)
from cocoon_operator.ton.client import ChainClient
from cocoon_operator.ton.payouts import scan_owner_payouts
from cocoon_operator.ton.wallet_messages import OutMessage, internal_message
from cocoon_operator.ton.worker_contracts import read_worker_contract

EARNING_WALLET = 3 * TON + TON // 4  # a few claims take it below the floor: top-ups happen too
IDLE_WALLET = 5 * TON


@dataclass
class Runner:
    index: int
    key: bytes
    owner: Address
    wallet: str
    pod_ip: str
    earning: bool
    contract: str = ""
    committed: int = 0
    paid: int = 0
    qid: int = 0
    since: float = 0.0


def pod_ip(i: int) -> str:
    return f"127.1.{i // 250}.{i % 250 + 1}"


class World:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.chain = LocalChain()
        self.network: CocoonNetwork | None = None
        self.runners: dict[str, Runner] = {}
        self.earning_on = False
        self.rate = args.tokens_per_s
        self.server: LocalLiteServer | None = None
        self.proxy = ""

    async def setup(self) -> dict[str, Any]:
        chain, args = self.chain, self.args
        network = self.network = await deploy_cocoon_network(chain)
        self.proxy = raw_address(network.proxies[0].contract)
        seed = hashlib.sha256(b"bench.chain_scale").digest()
        for i in range(args.nodes):
            key = hashlib.sha256(b"node" + i.to_bytes(4, "big")).digest()
            earning = i < args.earning
            owner = network.owner.addr
            if earning:
                wallet = dev_wallet(seed, f"owner-{i}")
                await deploy_wallet(chain, wallet, TON)
                owner = wallet.addr
            address = raw_address(cocoon_wallet_address(public_key_from_seed(key), owner))
            await chain.faucet(address, EARNING_WALLET if earning else IDLE_WALLET)
            runner = Runner(i, key, owner, address, pod_ip(i), earning)
            self.runners[runner.pod_ip] = runner
        deployed: dict[str, str] = {}
        for runner in self.runners.values():  # one worker contract per owner (and the one proxy)
            owner_raw = raw_address(runner.owner)
            if owner_raw not in deployed:
                deployed[owner_raw] = await self._register(network, runner)
            runner.contract = deployed[owner_raw]
        await chain.set_block_interval(args.block_ms)
        self.server = LocalLiteServer(chain)
        await self.server.start()
        return {
            "global_config": self.server.global_config(),
            "root": network.root,
            "model": network.model,
            "treasury": {
                "private_key": network.treasury.private_key,
                "wallet_id": network.treasury.wallet_id,
            },
            "nodes": [
                {"key": r.key.hex(), "owner": raw_address(r.owner), "pod_ip": r.pod_ip, "earning": r.earning}
                for r in self.runners.values()
            ],
        }

    async def _register(self, network: CocoonNetwork, runner: Runner) -> str:
        proxy = network.proxy(0)
        init = worker_contract_state_init(runner.owner, proxy.contract_addr, proxy.key, network.root_params())
        worker = worker_contract_for(network, 0, runner.owner)
        msg = internal_message(worker, 3 * TON // 10, state_init=init)
        await cocoon_wallet_send(
            self.chain, node_key=runner.key, owner=runner.owner, messages=[OutMessage(msg, 0)]
        )
        return raw_address(worker)

    def _accrue(self, runner: Runner) -> None:
        now = time.monotonic()
        if self.earning_on and runner.earning and runner.since:
            runner.committed += int(self.rate * (now - runner.since))
        runner.since = now

    def _runner(self, request: web.Request) -> Runner | None:
        sock = request.transport.get_extra_info("sockname") if request.transport is not None else None
        return self.runners.get(str(sock[0])) if sock else None

    async def jsonstats(self, request: web.Request) -> web.Response:
        runner = self._runner(request)
        if runner is None:
            raise web.HTTPNotFound()
        self._accrue(runner)
        body = {
            "wallet": {
                "address": format_address(Address(runner.wallet), bounceable=False),
                "balance": self.chain.balance(runner.wallet),
                "seqno": 1,
            },
            "proxies": [
                {
                    "sc_inited": True,
                    "proxy_sc_address": self.proxy,
                    "sc_address": runner.contract,
                    "earned_tokens_committed_to_blockchain": runner.committed,
                    "cached_out_tokens": runner.paid,
                    "expected_cached_out_tokens": runner.paid,
                    "running_request": False,
                }
            ],
        }
        return web.json_response(body)

    async def payout(self, request: web.Request) -> web.Response:
        runner = self._runner(request)
        if runner is None or self.network is None:
            raise web.HTTPNotFound()
        self._accrue(runner)
        if runner.committed > runner.paid:
            runner.qid += 1
            voucher = sign_voucher(self.network, 0, runner.contract, runner.committed, query_id=runner.qid)
            voucher = repack_send_excesses_to(voucher, Address(runner.wallet))
            msg = internal_message(Address(runner.contract), TON // 2, body=voucher.to_cell())
            await cocoon_wallet_send(
                self.chain, node_key=runner.key, owner=runner.owner, messages=[OutMessage(msg, 0)]
            )
            runner.paid = runner.committed
        return web.Response(text="request sent<br/>")

    async def ctl_earning(self, request: web.Request) -> web.Response:
        for runner in self.runners.values():
            self._accrue(runner)
        self.earning_on = request.query.get("on") == "1"
        return web.json_response({"earning": self.earning_on})

    async def ctl_queries(self, request: web.Request) -> web.Response:
        assert self.server is not None
        return web.json_response(dict(self.server.query_counts))

    async def ctl_facts(self, request: web.Request) -> web.Response:
        client = ChainClient(self.chain)  # in process: the liteserver's counts stay the operator's
        facts = {}
        for runner in self.runners.values():
            if not runner.earning:
                continue
            owner = raw_address(runner.owner)
            scan = await scan_owner_payouts(client, owner, after_lt=0, sources=[self.proxy], limit=4096)
            tokens = (await read_worker_contract(client, runner.contract)).data.tokens
            facts[runner.index] = {
                "payouts": len(scan.payouts),
                "paid_nano": sum(p.value for p in scan.payouts),
                "tokens": tokens,
                "complete": scan.complete,
            }
        return web.json_response(facts)


@web.middleware
async def loopback_only(request: web.Request, handler: Any) -> web.StreamResponse:
    if not str(request.remote or "").startswith("127."):
        raise web.HTTPForbidden()
    response: web.StreamResponse = await handler(request)
    return response


async def main(args: argparse.Namespace) -> None:
    world = World(args)
    setup = await world.setup()
    app = web.Application(middlewares=[loopback_only])
    app.router.add_get("/jsonstats", world.jsonstats)
    app.router.add_get("/request/payout", world.payout)
    app.router.add_get("/ctl/earning", world.ctl_earning)
    app.router.add_get("/ctl/queries", world.ctl_queries)
    app.router.add_get("/ctl/facts", world.ctl_facts)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    # Every 127.1.x.y is this host's loopback: one socket on the wildcard address serves all pod IPs.
    await web.TCPSite(runner, "0.0.0.0", port).start()
    setup["runner_port"] = port
    print(json.dumps(setup), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the operator side closes it
    await runner.cleanup()
    if world.server is not None:
        await world.server.stop()
    await world.chain.stop()


if __name__ == "__main__":
    parser = world_parser(__doc__)
    parser.add_argument("--tokens-per-s", type=float, default=40_000_000.0)
    asyncio.run(main(parser.parse_args()))
