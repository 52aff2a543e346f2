"""`cocoon-dev chain up|down|status|faucet|advance`: the local TON chain as a background process."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import httpx

from cocoon_dev import procs
from cocoon_dev.ports import is_free
from cocoon_dev.ton.liteserver import LIE_MODES
from cocoon_dev.ton.server import SERVER_MODULE, ChainPaths, add_price_arguments, chain_paths

TON = 1_000_000_000
UP_TIMEOUT_S = 120.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "chain",
        help="local TON chain on the real TVM, with a liteserver and the COCOON contracts",
        description="An in-memory TON chain (real TON emulator/TVM, mainnet config) behind an ADNL "
        "liteserver on 127.0.0.1, plus a loopback control endpoint (faucet, clock, snapshots).",
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="chain dir (default: $COCOON_DEV_HOME/chain)"
    )
    sub = parser.add_subparsers(dest="chain_command", required=True)

    p_up = sub.add_parser("up", help="start the chain in the background (or reuse the running one)")
    p_up.add_argument(
        "--port", type=int, default=None, help="liteserver port (default: the last one if free)"
    )
    p_up.add_argument(
        "--control-port", type=int, default=0, help="control endpoint port (default: a free one)"
    )
    p_up.add_argument("--block-interval-ms", type=int, default=0, help="seal a block every N ms (0: instant)")
    p_up.add_argument("--resume", action="store_true", help="resume the state saved by the last `down`")
    p_up.add_argument("--no-network", action="store_true", help="do not deploy the COCOON network")
    p_up.add_argument(
        "--liar",
        choices=LIE_MODES,
        default=None,
        help="make the second liteserver lie: stale states, missing transactions or an inflated block "
        "(to watch the operator refuse to pay on its word)",
    )
    p_up.add_argument("--json", action="store_true", help="print the status as one JSON object")
    add_price_arguments(p_up)  # only used when a network is deployed (not on --resume of a saved one)
    p_up.set_defaults(func=_up)

    p_down = sub.add_parser("down", help="stop the chain (its state is saved to state.json)")
    p_down.set_defaults(func=_down)

    p_status = sub.add_parser("status", help="height, addresses and balances")
    p_status.add_argument("--json", action="store_true", help="print one JSON object")
    p_status.set_defaults(func=_status)

    p_faucet = sub.add_parser("faucet", help="credit TON to an address")
    p_faucet.add_argument("address")
    p_faucet.add_argument("amount", help="amount in TON (decimal), e.g. 12.5")
    p_faucet.set_defaults(func=_faucet)

    p_adv = sub.add_parser("advance", help="move chain time forward")
    p_adv.add_argument("seconds", type=int)
    p_adv.set_defaults(func=_advance)


# ---------------------------------------------------------------------- process helpers
def _paths(args: argparse.Namespace) -> ChainPaths:
    return chain_paths(args.workdir)


def _running(paths: ChainPaths) -> procs.ProcRef | None:
    """The chain server recorded in the pid file, if that very process still runs."""
    return procs.read_pid_file(paths.pid_file)


def _server_info(paths: ChainPaths) -> dict[str, Any] | None:
    try:
        info: dict[str, Any] = json.loads(paths.server_info.read_text())
    except (OSError, ValueError):
        return None
    return info


def _control(info: dict[str, Any], method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    with httpx.Client(base_url=info["control_url"], timeout=30, trust_env=False) as client:
        response = client.request(method, path, **kwargs)
    data: dict[str, Any] = response.json()
    if response.status_code != 200:
        raise RuntimeError(data.get("error", f"control endpoint answered {response.status_code}"))
    return data


def _addr(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in ("address", "addr", "contract"):
            if isinstance(value.get(key), str):
                return str(value[key])
    return None


def _network_summary(paths: ChainPaths) -> dict[str, Any]:
    """root/owner/treasury/proxies addresses from network.json (never the key material)."""
    try:
        network = json.loads(paths.network.read_text())
    except (OSError, ValueError):
        network = {}
    proxies_raw = network.get("proxies") or []
    if isinstance(proxies_raw, dict):
        proxies_raw = list(proxies_raw.values())
    proxies = [a for a in (_addr(p) for p in proxies_raw) if a]
    return {
        "root": _addr(network.get("root")),
        "root_owner": _addr(network.get("root_owner")),
        "owner": _addr(network.get("owner")),
        "treasury": _addr(network.get("treasury")),
        "proxies": proxies,
        "network_file": str(paths.network) if paths.network.is_file() else None,
    }


def collect_status(paths: ChainPaths) -> dict[str, Any]:
    """The status object of `chain status --json`."""
    proc = _running(paths)
    info = _server_info(paths) if proc else None
    summary = _network_summary(paths)
    status: dict[str, Any] = {
        "running": bool(proc and info),
        "pid": proc.pid if proc else None,
        "proc": proc.to_json() if proc else None,
        "global_config": str(paths.global_config) if paths.global_config.is_file() else None,
        "dir": str(paths.root),
        "log": str(paths.log_file),
        **summary,
        "height": None,
        "balances": {},
    }
    if proc and info:
        named = [summary[k] for k in ("root", "root_owner", "owner", "treasury")]
        addresses = [a for a in [*named, *summary["proxies"]] if a]
        try:
            live = _control(info, "GET", "/status", params=[("address", a) for a in addresses])
        except (httpx.HTTPError, RuntimeError, ValueError) as exc:
            status["error"] = f"control endpoint: {exc}"
        else:
            status.update(
                {
                    "height": live["height"],
                    "accounts": live["accounts"],
                    "transactions": live["transactions"],
                    "now": live["now"],
                    "block_interval_ms": live["block_interval_ms"],
                    "balances": live.get("balances", {}),
                    "states": live.get("states", {}),
                    "liteserver": f"127.0.0.1:{info['liteserver_port']}",
                    "control_url": info["control_url"],
                }
            )
    return status


def _print_status(status: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(status, indent=2, sort_keys=True))
        return
    if not status["running"]:
        print("chain: not running")
        return
    print(
        f"chain: running (pid {status['pid']}), height {status['height']}, {status.get('accounts')} accounts"
    )
    print(f"  liteserver     {status.get('liteserver')}   global config {status['global_config']}")
    print(f"  control        {status.get('control_url')}")
    balances = status.get("balances", {})
    for label in ("root", "root_owner", "owner", "treasury"):
        addr = status.get(label)
        if addr:
            print(f"  {label:<14} {addr}  {_ton(balances.get(addr))}")
    for i, addr in enumerate(status.get("proxies", [])):
        print(f"  {'proxy ' + str(i):<14} {addr}  {_ton(balances.get(addr))}")
    print(f"  log            {status['log']}")


def _ton(nano: Any) -> str:
    return "?" if not isinstance(nano, int) else f"{nano / TON:.9f} TON"


# ---------------------------------------------------------------------- commands
def _up(args: argparse.Namespace) -> int:
    if args.worker_fee_per_token > args.price_per_token:
        print(
            f"error: --worker-fee-per-token ({args.worker_fee_per_token}) must not exceed "
            f"--price-per-token ({args.price_per_token})",
            file=sys.stderr,
        )
        return 2
    paths = _paths(args)
    paths.root.mkdir(parents=True, exist_ok=True)
    if _running(paths) and _server_info(paths):
        if not args.json:
            print("chain: already running, reusing it")
        _print_status(collect_status(paths), args.json)
        return 0
    port = args.port if args.port is not None else _last_port(paths)
    second = _last_port(paths, 1)
    argv = [
        sys.executable,
        "-m",
        SERVER_MODULE,
        "--dir",
        str(paths.root),
        "--port",
        str(port),
        "--second-port",
        str(second),
        "--control-port",
        str(args.control_port),
        "--block-interval-ms",
        str(args.block_interval_ms),
        "--price-per-token",
        str(args.price_per_token),
        "--worker-fee-per-token",
        str(args.worker_fee_per_token),
    ]
    if args.resume:
        argv.append("--resume")
    if args.no_network:
        argv.append("--no-network")
    if args.liar:
        argv += ["--liar", args.liar]
    with contextlib.suppress(FileNotFoundError):
        paths.server_info.unlink()
    proc = procs.spawn(argv, paths.log_file, what="chain")
    deadline = time.monotonic() + UP_TIMEOUT_S
    while time.monotonic() < deadline:
        if not proc.alive():
            print(
                f"error: the chain server exited with code {procs.exit_code(proc)}; log {paths.log_file}:",
                file=sys.stderr,
            )
            print(procs.log_tail(paths.log_file, 30), file=sys.stderr)
            return 1
        info = _server_info(paths)
        if info and info.get("pid") == proc.pid:
            break
        time.sleep(0.1)
    else:
        print(
            f"error: the chain server did not come up within {UP_TIMEOUT_S:.0f}s; log {paths.log_file}",
            file=sys.stderr,
        )
        procs.terminate(proc, grace_s=15.0)
        return 1
    _print_status(collect_status(paths), args.json)
    return 0


def _last_port(paths: ChainPaths, index: int = 0) -> int:
    """Reuse a previous liteserver port (keeps the written global config valid) when it is free."""
    try:
        port = int(json.loads(paths.global_config.read_text())["liteservers"][index]["port"])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return 0
    return port if is_free(port) else 0


def _down(args: argparse.Namespace) -> int:
    paths = _paths(args)
    proc = _running(paths)
    if proc is None:
        print("chain: not running")
        return 0
    pid = proc.pid
    if not procs.terminate(proc, grace_s=15.0):
        print(f"error: could not stop the chain server (pid {pid})", file=sys.stderr)
        return 1
    for path in (paths.server_info, paths.pid_file):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    print(f"chain: stopped (pid {pid}); state saved to {paths.state}")
    return 0


def _status(args: argparse.Namespace) -> int:
    _print_status(collect_status(_paths(args)), args.json)
    return 0


def _running_info(args: argparse.Namespace) -> dict[str, Any] | None:
    paths = _paths(args)
    info = _server_info(paths) if _running(paths) else None
    if info is None:
        print("error: the chain is not running (cocoon-dev chain up)", file=sys.stderr)
    return info


def _faucet(args: argparse.Namespace) -> int:
    info = _running_info(args)
    if info is None:
        return 1
    try:
        nano = int(Decimal(args.amount) * TON)
        result = _control(info, "POST", "/faucet", json={"address": args.address, "amount": nano})
    except (InvalidOperation, ValueError, RuntimeError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    balance = _ton(result["balance"])
    print(f"credited {_ton(nano)} to {args.address}: balance {balance}, height {result['height']}")
    return 0


def _advance(args: argparse.Namespace) -> int:
    info = _running_info(args)
    if info is None:
        return 1
    try:
        result = _control(info, "POST", "/advance", json={"seconds": args.seconds})
    except (RuntimeError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"chain time now {result['now']}, height {result['height']}")
    return 0
