"""`python -m cocoon_dev.runtime.runner_sim -c worker-config.json`: run the runner simulator.

Development stand-in for the COCOON worker runner (see this package's docstring).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path

from aiohttp import web

from cocoon_dev import procs
from cocoon_dev.runtime.runner_sim import SIMULATOR_COMMIT
from cocoon_dev.runtime.runner_sim.chain import ChainBackend, FakeTonChain, SimChainError
from cocoon_dev.runtime.runner_sim.config import ConfigError, WorkerConfig
from cocoon_dev.runtime.runner_sim.proxy_db import ProxyDb
from cocoon_dev.runtime.runner_sim.runner import Runner, RunnerSettings
from cocoon_dev.runtime.runner_sim.web_api import make_app

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "0.0.0.0")  # noqa: S104 - names to rewrite, not a bind


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="cocoon-dev-runner-sim",
        description=f"{SIMULATOR_COMMIT}: development stand-in for the COCOON worker runner",
    )
    p.add_argument("-c", "--config", type=Path, required=True, help="worker-config.json")
    p.add_argument("--bind", default=env("COCOON_SIM_BIND", "127.0.0.1"), help="listen address (pod IP)")
    p.add_argument("--port", type=int, help="listen port (default: http_port of the config)")
    p.add_argument(
        "--localhost-is",
        default=env("COCOON_SIM_LOCALHOST_IS"),
        help="address that 127.0.0.1/localhost in forward_requests_to means (the pod IP)",
    )
    p.add_argument(
        "--forward-override",
        default=env("COCOON_SIM_FORWARD_OVERRIDE"),
        help="use this host:port instead of forward_requests_to (the local runtime's OpenAI front)",
    )
    p.add_argument("--chain", choices=["auto", "fake", "ton"], default=env("COCOON_SIM_CHAIN", "auto"))
    p.add_argument("--fake-ton", type=Path, help="fake-ton-config.json-like root params (fake chain)")
    p.add_argument(
        "--network",
        type=Path,
        default=_env_path("COCOON_DEV_NETWORK_JSON"),
        help="dev network.json written by the local chain (proxy keys)",
    )
    p.add_argument("--ton-config", type=Path, help="TON global config (instead of ton_config_filename)")
    p.add_argument("--request-rate", type=float, default=float(env("COCOON_SIM_REQUEST_RATE", "0.5")))
    p.add_argument("--max-tokens", type=int, default=int(env("COCOON_SIM_MAX_TOKENS", "16")))
    p.add_argument("--commit-interval", type=float, default=float(env("COCOON_SIM_COMMIT_INTERVAL", "30")))
    p.add_argument("--root-refresh", type=float, default=float(env("COCOON_SIM_ROOT_REFRESH", "30")))
    p.add_argument("--refresh", type=float, default=float(env("COCOON_SIM_REFRESH", "5")))
    p.add_argument(
        "--proxy-db",
        type=Path,
        default=_env_path("COCOON_SIM_PROXY_DB"),
        help="directory shared by the simulators of one dev chain: the proxy's earnings per owner "
        "(default: proxy-db/ beside --network, or this process only)",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def rewrite_localhost(target: str, address: str | None) -> str:
    if not address:
        return target
    host, sep, port = target.rpartition(":")
    return f"{address}:{port}" if sep and host in LOOPBACK_NAMES else target


def runner_chain_is_ton(chain: ChainBackend) -> bool:
    return not isinstance(chain, FakeTonChain)


def make_chain(args: argparse.Namespace, config: WorkerConfig) -> ChainBackend:
    use_ton = args.chain == "ton" or (
        args.chain == "auto"
        and args.network is not None
        and (args.ton_config or Path(config.ton_config_filename)).is_file()
    )
    if use_ton:
        from cocoon_dev.runtime.runner_sim.chain_ton import TonChain

        return TonChain.create(config, network_json=args.network, ton_config=args.ton_config)
    if args.fake_ton is not None:
        return FakeTonChain.from_file(args.fake_ton, config.owner_address, config.node_wallet_key)
    return FakeTonChain(config.owner_address, config.node_wallet_key)


async def serve(args: argparse.Namespace) -> int:
    try:
        config = WorkerConfig.load(args.config)
    except ConfigError as exc:
        print(f"{SIMULATOR_COMMIT}: {exc}", file=sys.stderr)
        return 2
    forward = args.forward_override or rewrite_localhost(config.forward_requests_to, args.localhost_is)
    config = replace(config, forward_requests_to=forward)
    settings = RunnerSettings(
        request_rate=args.request_rate,
        max_tokens=args.max_tokens,
        commit_interval_s=args.commit_interval,
        root_refresh_s=args.root_refresh,
        refresh_s=args.refresh,
    )
    try:
        chain = make_chain(args, config)
    except SimChainError as exc:
        print(f"{SIMULATOR_COMMIT}: cannot use the chain: {exc}", file=sys.stderr)
        return 2
    proxy_db = args.proxy_db
    if proxy_db is None and args.network is not None and runner_chain_is_ton(chain):
        proxy_db = args.network.parent / "proxy-db"
    runner = Runner(config, chain, settings, proxy_db=ProxyDb(proxy_db))
    app = make_app(runner)
    site_runner = web.AppRunner(app, access_log=None)
    await site_runner.setup()
    port = args.port or config.http_port
    await web.TCPSite(site_runner, args.bind, port).start()
    logging.info(
        "%s listening on %s:%d, forwarding to %s, chain %s",
        SIMULATOR_COMMIT,
        args.bind,
        port,
        config.forward_requests_to,
        runner.chain.name,
    )
    await runner.start()
    stop = procs.stop_on_signals()
    await stop.wait()
    await runner.stop()
    await site_runner.cleanup()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format=f"%(asctime)s {SIMULATOR_COMMIT} %(levelname)s %(message)s",
    )
    # pytoniq logs every liteserver query at INFO.
    for name in ("LiteClient", "LiteBalancer", "AdnlTransport", "sync"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
