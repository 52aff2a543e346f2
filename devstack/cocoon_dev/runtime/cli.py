"""`cocoon-dev runtime up|down|status|run`: the local process runtime (see kubelet.py)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cocoon_dev import procs
from cocoon_dev.paths import component_dir
from cocoon_dev.runtime import triton
from cocoon_dev.runtime.pods import STATE_FILE

PID_FILE = "kubelet.pid"
LOG_FILE = "kubelet.log"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "runtime",
        help="local process runtime: real Triton + runner simulator for worker pods on fake nodes",
        description="Runs the processes of COCOON worker pods bound to KWOK nodes on their pod IPs.",
    )
    sub = parser.add_subparsers(dest="runtime_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--kubeconfig", type=Path, default=None, help="default: the local cluster's")
        p.add_argument(
            "--mode",
            choices=["full", "light"],
            default="full",
            help="full: real processes; light: one process answers for every pod IP (benchmarks)",
        )
        p.add_argument("--network", type=Path, default=None, help="dev chain network.json")
        p.add_argument("--ton-config", type=Path, default=None, help="dev chain TON global config")
        p.add_argument("--no-chain", action="store_true", help="runner simulators use the fake chain")

    p_up = sub.add_parser("up", help="start the runtime in the background")
    common(p_up)
    p_up.set_defaults(func=_up)
    p_run = sub.add_parser("run", help="run the runtime in the foreground")
    common(p_run)
    p_run.set_defaults(func=_run)
    p_down = sub.add_parser("down", help="stop the runtime and every process it started")
    p_down.set_defaults(func=_down)
    p_status = sub.add_parser("status", help="show the runtime's pods and processes")
    p_status.add_argument("--json", action="store_true")
    p_status.set_defaults(func=_status)


def _argv(args: argparse.Namespace) -> list[str]:
    argv = [sys.executable, "-m", "cocoon_dev.runtime.kubelet", "--mode", args.mode]
    if args.kubeconfig:
        argv += ["--kubeconfig", str(args.kubeconfig)]
    if args.network:
        argv += ["--network", str(args.network)]
    if args.ton_config:
        argv += ["--ton-config", str(args.ton_config)]
    if args.no_chain:
        argv.append("--no-chain")
    return argv


def _running() -> procs.ProcRef | None:
    return procs.read_pid_file(component_dir("runtime") / PID_FILE)


def _up(args: argparse.Namespace) -> int:
    if args.mode == "full" and not triton.triton_available():
        print(f"runtime: Triton is not installed; run {triton.SETUP_COMMAND}", file=sys.stderr)
        return 1
    running = _running()
    if running is not None:
        print(f"runtime: already running (pid {running.pid})")
        return 0
    state_dir = component_dir("runtime")
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    proc = procs.spawn(_argv(args), state_dir / LOG_FILE, what="runtime")
    procs.write_pid_file(state_dir / PID_FILE, proc)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not proc.alive():
            code = procs.exit_code(proc)
            print(f"runtime: exited with {code}; see {state_dir / LOG_FILE}", file=sys.stderr)
            return 1
        if (state_dir / STATE_FILE).exists():
            print(f"runtime: running (pid {proc.pid}, mode {args.mode}); log {state_dir / LOG_FILE}")
            return 0
        time.sleep(0.2)
    print(f"runtime: started (pid {proc.pid}) but has not synced pods yet; see {state_dir / LOG_FILE}")
    return 0


def _run(args: argparse.Namespace) -> int:
    return subprocess.call(_argv(args))


def _down(args: argparse.Namespace) -> int:
    proc = _running()
    if proc is None:
        print("runtime: not running")
        return 0
    # Its pods' containers drain first (Triton's exit timeout is 30 s), then the runtime exits.
    if not procs.terminate(proc, grace_s=90.0):
        print(f"runtime: could not stop pid {proc.pid}", file=sys.stderr)
        return 1
    (component_dir("runtime") / PID_FILE).unlink(missing_ok=True)
    print(f"runtime: stopped (pid {proc.pid})")
    return 0


def _status(args: argparse.Namespace) -> int:
    proc = _running()
    try:
        state: dict[str, Any] = json.loads((component_dir("runtime") / STATE_FILE).read_text())
    except (OSError, ValueError):
        state = {"pods": {}}
    info = {
        "running": proc is not None,
        "pid": proc.pid if proc else None,
        "proc": proc.to_json() if proc else None,
        "mode": state.get("mode"),
        "pods": state.get("pods", {}),
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"runtime: running (pid {proc.pid})" if proc else "runtime: not running")
    for name, pod in info["pods"].items():
        pids = ", ".join(f"{c}={p['pid']}" for c, p in pod.get("procs", {}).items()) or "-"
        print(f"  {name:40} {pod['ip']:16} {pids}")
    return 0
