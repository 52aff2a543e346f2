"""The chain server process: `LocalChain` + `LocalLiteServer` + the control endpoint, in one process.

Started detached by `cocoon-dev chain up` (`python -m cocoon_dev.ton.server --dir ...`). At start-up it
deploys the COCOON network through `cocoon_dev.ton.network.deploy_cocoon_network(chain)` when that
module exists, and writes into the chain dir:

- `global-config.json`  TON global config for pytoniq (`LiteBalancer.from_config(cfg, trust_level=2)`)
- `network.json`        what the deployer returned: addresses and the dev treasury keys (mode 0600)
- `server.json`         pid, ports, control URL (removed on a clean stop)
- `proxy-db/`           the simulated proxy's earnings per owner, shared by the runner simulators
- `chain.pid`, `chain.log`, `liteserver.key` and `liteserver-2.key` (the servers' keys: the global config
  stays valid across restarts), and `state.json` (a snapshot written on stop, loaded by `up --resume`)

Two liteservers serve the chain (the global config lists both), so the operator's money reads are
cross-checked as they are against a real network; `--liar MODE` makes the second one lie (a test of
that: nothing is paid on its word).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib
import inspect
import json
import logging
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytoniq_core.boc.address import Address

from cocoon_dev import procs
from cocoon_dev.paths import InDir, component_dir
from cocoon_dev.ton import engine
from cocoon_dev.ton.chain import LocalChain
from cocoon_dev.ton.control import ChainControl
from cocoon_dev.ton.liteserver import LIE_MODES, LocalLiteServer

log = logging.getLogger("cocoon_dev.ton.server")

COMPONENT = "chain"
SERVER_MODULE = "cocoon_dev.ton.server"


@dataclasses.dataclass(frozen=True)
class ChainPaths:
    root: Path

    pid_file = InDir("chain.pid")
    log_file = InDir("chain.log")
    key_file = InDir("liteserver.key")
    second_key_file = InDir("liteserver-2.key")
    global_config = InDir("global-config.json")
    network = InDir("network.json")
    # The simulated proxy's earnings per owner (runner_sim.proxy_db): lives and dies with the chain.
    proxy_db = InDir("proxy-db")
    server_info = InDir("server.json")
    state = InDir("state.json")


def chain_paths(root: Path | None = None) -> ChainPaths:
    return ChainPaths((root or component_dir(COMPONENT)).resolve())


def write_json(path: Path, data: Any, *, private: bool = False) -> None:
    """Write JSON atomically; `private` files (keys) get mode 0600 from the start."""
    tmp = path.with_name(path.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, default=_json_default)
        fh.write("\n")
    os.replace(tmp, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, Address):
        return value.to_str(is_user_friendly=False)
    if isinstance(value, bytes):
        return value.hex()
    for method in ("to_json", "to_dict", "model_dump"):
        fn = getattr(value, method, None)
        if callable(fn):
            result = fn()
            return json.loads(result) if isinstance(result, str) else result
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return str(value)


def load_network_deployer() -> Callable[..., Any] | None:
    """`cocoon_dev.ton.network.deploy_cocoon_network`, or None when that module is not there (yet)."""
    try:
        module = importlib.import_module("cocoon_dev.ton.network")
    except ModuleNotFoundError as exc:
        if exc.name == "cocoon_dev.ton.network":
            return None
        raise
    deployer = getattr(module, "deploy_cocoon_network", None)
    return deployer if callable(deployer) else None


# The dev stack's prices (nanoTON per token). Much higher than `deploy_cocoon_network`'s own defaults
# (2 / 1, which the contract tests rely on) so that a claim is worth its gas after a few requests.
DEFAULT_PRICE_PER_TOKEN = 2_000_000
DEFAULT_WORKER_FEE_PER_TOKEN = 1_000_000


async def deploy_network(
    chain: LocalChain,
    *,
    price_per_token: int = DEFAULT_PRICE_PER_TOKEN,
    worker_fee_per_token: int = DEFAULT_WORKER_FEE_PER_TOKEN,
) -> Any:
    """Run the network deployer (sync or async) at the given prices. None when there is none."""
    deployer = load_network_deployer()
    if deployer is None:
        log.warning("cocoon_dev.ton.network.deploy_cocoon_network not found: no COCOON network deployed")
        return None
    result = deployer(chain, price_per_token=price_per_token, worker_fee_per_token=worker_fee_per_token)
    if inspect.isawaitable(result):
        result = await result
    return result


async def serve(args: argparse.Namespace) -> int:
    paths = chain_paths(Path(args.dir))
    paths.root.mkdir(parents=True, exist_ok=True)
    me = procs.ref(os.getpid(), "chain")
    assert me is not None  # this very process
    procs.write_pid_file(paths.pid_file, me)
    log.info("emulator %s", engine.emulator_version())
    chain = LocalChain(block_interval_ms=args.block_interval_ms)
    resumed = False
    if args.resume and paths.state.is_file():
        chain.load_file(paths.state)
        resumed = True
        log.info(
            "resumed state from %s (height %d, %d accounts)", paths.state, chain.seqno, chain.accounts_count
        )
    server = LocalLiteServer(chain, host="127.0.0.1", port=args.port, key_file=paths.key_file)
    second = LocalLiteServer(
        chain,
        host="127.0.0.1",
        port=args.second_port,
        key_file=paths.second_key_file,
        lie=args.liar,
        owns_chain=False,
    )
    servers = [server] if args.single_liteserver else [server, second]
    control = ChainControl(chain)
    stop = procs.stop_on_signals()
    try:
        for each in servers:
            await each.start()
        write_json(paths.global_config, server.global_config(*servers[1:]))
        if args.no_network:
            log.info("--no-network: skipping the COCOON network deployment")
        elif resumed and paths.network.is_file():
            log.info("resumed: keeping the deployed network of %s", paths.network)
        else:
            shutil.rmtree(paths.proxy_db, ignore_errors=True)  # a new network owes nobody anything
            started = time.monotonic()
            network = await deploy_network(
                chain, price_per_token=args.price_per_token, worker_fee_per_token=args.worker_fee_per_token
            )
            if network is not None:
                write_json(paths.network, network, private=True)
                log.info("COCOON network deployed in %.2fs -> %s", time.monotonic() - started, paths.network)
        control.extra_status = lambda: {
            "pid": os.getpid(),
            "liteserver": f"127.0.0.1:{server.port}",
            "liteservers": [f"127.0.0.1:{each.port}" for each in servers],
            "liar": args.liar,
            "liteserver_queries": dict(sum((Counter(each.query_counts) for each in servers), Counter())),
        }
        await control.start("127.0.0.1", args.control_port)
        write_json(
            paths.server_info,
            {
                "pid": os.getpid(),
                "liteserver_port": server.port,
                "liteserver_ports": [each.port for each in servers],
                "control_port": control.port,
                "control_url": f"http://127.0.0.1:{control.port}",
                "global_config": str(paths.global_config),
                "started_at": int(time.time()),
            },
        )
        log.info(
            "chain up: liteservers %s, control 127.0.0.1:%d",
            ", ".join(f"127.0.0.1:{each.port}" for each in servers),
            control.port,
        )
        await stop.wait()
        log.info("stopping")
        return 0
    finally:
        with contextlib.suppress(Exception):
            chain.save(paths.state)
        await control.stop()
        for each in reversed(servers):
            await each.stop()
        for path in (paths.server_info, paths.pid_file):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cocoon_dev.ton.server", description=__doc__)
    parser.add_argument("--dir", required=True, help="chain work dir")
    parser.add_argument("--port", type=int, default=0, help="liteserver port (0: a free one)")
    parser.add_argument("--second-port", type=int, default=0, help="second liteserver's port (0: a free one)")
    parser.add_argument(
        "--single-liteserver",
        action="store_true",
        help="serve one liteserver (money reads are not cross-checked)",
    )
    parser.add_argument(
        "--liar",
        choices=LIE_MODES,
        default=None,
        help="make the second liteserver lie (tests of the operator)",
    )
    parser.add_argument("--control-port", type=int, default=0, help="control endpoint port (0: a free one)")
    parser.add_argument(
        "--block-interval-ms", type=int, default=0, help="seal a block every N ms (0: instant)"
    )
    parser.add_argument("--resume", action="store_true", help="load state.json written by the last stop")
    parser.add_argument("--no-network", action="store_true", help="do not deploy the COCOON network")
    add_price_arguments(parser)
    return parser


def _nano_per_token(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be a non-negative integer (nanoTON per token)")
    return value


def add_price_arguments(parser: argparse.ArgumentParser) -> None:
    """`--price-per-token` / `--worker-fee-per-token` (shared by `chain up` and the server)."""
    parser.add_argument(
        "--price-per-token",
        type=_nano_per_token,
        default=DEFAULT_PRICE_PER_TOKEN,
        metavar="NANO",
        help=f"root price in nanoTON per token for a new network (default {DEFAULT_PRICE_PER_TOKEN})",
    )
    parser.add_argument(
        "--worker-fee-per-token",
        type=_nano_per_token,
        default=DEFAULT_WORKER_FEE_PER_TOKEN,
        metavar="NANO",
        help="worker fee in nanoTON per token for a new network, at most the price "
        f"(default {DEFAULT_WORKER_FEE_PER_TOKEN})",
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
