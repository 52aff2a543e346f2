"""Chain figures of issue 9: liteserver queries per reconcile, and claims confirmed per minute.

Brings up the dev stack (`cocoon-dev up`: control plane, local TON chain with the COCOON contracts, the
chart, the operator, the local runtime with real Triton on CPU and the runner simulator per worker, the
sample CocoonNodes) in a private COCOON_DEV_HOME, waits until the workers are Ready (and, when they
earn, until the first claim is confirmed on chain), then measures over `--window-s`:

- the operator's liteserver queries: its own `cocoon_ton_liteserver_queries_total` counter (by TL
  method, retries included), so the runners' and this script's chain reads are not counted;
- its reconciles (the kopf `reconciles` probe) → queries per reconcile;
- claims recorded in the CocoonNodes' ledgers that the chain confirms (a payout at the owner) →
  claims per minute.

`--request-rate 0` runs the runner simulators without traffic: nothing is earned, so the window
measures idle CocoonNodes. The stack is stopped and its state deleted at the end (`--keep` keeps it).
The last stdout line is one JSON object; results go to `bench/results/chain-<stamp>[-tag].json`.

    python -m bench.chain_load [--window-s 180] [--request-rate 1] [--tag T]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from rich.console import Console

from cocoon_dev.ports import free_port

RESULTS = Path(__file__).resolve().parent / "results"
QUERY_LINE = re.compile(r'^cocoon_ton_liteserver_queries_total\{method="([^"]+)"\} ([0-9.e+]+)$', re.M)


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode())


def liteserver_queries(metrics_url: str) -> dict[str, float]:
    return {m: float(v) for m, v in QUERY_LINE.findall(fetch(metrics_url))}


def reconciles(liveness_url: str) -> int:
    return int(json.loads(fetch(liveness_url)).get("reconciles", 0))


async def confirmed_claims(observer: Any) -> tuple[int, Any]:
    from cocoon_dev.stack.fleet import confirmed_on_chain

    snap = await observer.snapshot()
    return len(confirmed_on_chain(snap.claims, await observer.owner_payouts())), snap


async def measure(args: argparse.Namespace, console: Console, ctx: Any, metrics_url: str) -> dict[str, Any]:
    from cocoon_dev.stack import operator_proc
    from cocoon_dev.stack.fleet import Observer
    from cocoon_dev.stack.manifests import DEMO_NAMESPACE

    found = operator_proc.running()
    if found is None:
        raise RuntimeError("the operator is not running")
    liveness = str(found[1]["liveness"])
    observer = Observer(
        ctx.cluster["kubeconfig"], Path(ctx.chain["global_config"]), ctx.network, DEMO_NAMESPACE
    )
    try:
        started = time.monotonic()
        while True:  # the placeable samples Ready, and with traffic a first claim on chain
            confirmed, snap = await confirmed_claims(observer)
            ready = [r for r in snap.rows if r.ready == "True"]
            waited = time.monotonic() - started
            if ready and (args.request_rate == 0 or confirmed > 0) and waited >= args.settle_s:
                break
            if waited > args.timeout_s:
                raise TimeoutError(
                    f"not ready after {waited:.0f} s: {[(r.name, r.reason) for r in snap.rows]}"
                )
            await asyncio.sleep(3)
        console.print(f"ready after {waited:.0f} s: {len(ready)} workers, {confirmed} claims confirmed")
        q0, r0, c0, t0 = liteserver_queries(metrics_url), reconciles(liveness), confirmed, time.monotonic()
        await asyncio.sleep(args.window_s)
        q1, r1, t1 = liteserver_queries(metrics_url), reconciles(liveness), time.monotonic()
        c1, snap = await confirmed_claims(observer)
    finally:
        await observer.close()
    minutes = (t1 - t0) / 60
    by_method = {m: q1.get(m, 0) - q0.get(m, 0) for m in sorted(set(q0) | set(q1))}
    by_method = {m: v for m, v in by_method.items() if v}
    queries = sum(by_method.values())
    runs = r1 - r0
    workers = [r.name for r in snap.rows if r.ready == "True"]
    return {
        "request_rate_per_worker": args.request_rate,
        "workers_ready": len(workers),
        "cocoonnodes": len(snap.rows),
        "window_s": round(t1 - t0, 1),
        "resync_s": float(operator_proc.DEV_ENV.get("COCOON_RESYNC_SECONDS", 60)),
        "reconciles": runs,
        "liteserver_queries": queries,
        "liteserver_queries_by_method": by_method,
        "queries_per_reconcile": round(queries / runs, 2) if runs else None,
        "queries_per_min": round(queries / minutes, 1),
        "claims_confirmed_in_window": c1 - c0,
        "claims_confirmed_per_min": round((c1 - c0) / minutes, 2),
        "claims_confirmed_total": c1,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--window-s", type=float, default=180.0)
    parser.add_argument("--settle-s", type=float, default=30.0, help="least wait before the window")
    parser.add_argument("--timeout-s", type=float, default=600.0)
    parser.add_argument("--request-rate", type=float, default=1.0, help="requests/s per runner simulator")
    parser.add_argument("--keep", action="store_true", help="leave the stack up (its home is printed)")
    parser.add_argument("--tag", default="")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="cocoon-chainbench-"))
    os.environ["COCOON_DEV_HOME"] = str(home)  # before the dev stack reads it: a stack of its own
    from cocoon_dev.stack import operator_proc, steps

    metrics_port = free_port()
    operator_proc.DEV_ENV["COCOON_METRICS_PORT"] = str(metrics_port)
    steps.RUNTIME_ENV["COCOON_SIM_REQUEST_RATE"] = f"{args.request_rate:g}"
    console = Console(stderr=True)
    result: dict[str, Any] = {}
    try:
        ctx = steps.up(console)
        result = asyncio.run(measure(args, console, ctx, f"http://127.0.0.1:{metrics_port}/metrics"))
    finally:
        if args.keep:
            console.print(f"stack left up: COCOON_DEV_HOME={home} cocoon-dev down --purge")
        else:
            steps.down(console, purge=True)
            shutil.rmtree(home, ignore_errors=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    result = {"machine": {"cpus": os.cpu_count(), "load1": round(os.getloadavg()[0], 2)}, **result}
    RESULTS.mkdir(exist_ok=True)
    name = f"chain-{stamp}{'-' + args.tag if args.tag else ''}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"wrote {RESULTS / name}")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
