"""Chain reads that do not grow with the fleet (issue 20): liteserver queries of N CocoonNodes.

    python -m bench.chain_scale --nodes N [--earning K] [--resync-s 60] [--window-s 120]
                                [--modes polling,follower] [--tracemalloc]

`bench.chain_world` runs in a child process: the local chain (real TVM) sealing a block every 5 s
(`--block-ms`, about mainnet's masterchain pace), its liteserver, and a runner simulator per
CocoonNode (the first K earn, with owners of their own). This process is the operator side: the
operator's own chain and rewards steps (`ChainSteps`, `RewardSteps`, one `ChainHub`) over an
in-memory API, each CocoonNode reconciled every resync period (±10 %), or sooner when a step asks
(`retry_after`), at most 64 at a time, like the work queue.

Per mode (`polling`: the follower off, every reconcile reads its accounts; `follower`: issue 20), on
the same chain one after the other: a warm-up (two reconciles each), a window at rest (nothing
earns), a window while the K earn. Counted: the liteserver's answered queries (this process is its
only client, so pytoniq's own queries are in), claims confirmed (payouts in the ledgers), top-ups.
At the end the ledgers are compared with the chain to the nanoTON. The last stdout line is JSON; the
result goes to `bench/results/chain-scale-<stamp>.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import datetime as dt
import heapq
import json
import os
import random
import subprocess
import sys
import time
import tracemalloc
import urllib.request
from pathlib import Path
from typing import Any

import psutil
from pytoniq_core.boc.address import Address

from cocoon_dev.memory_kube import VersionedKube, settle
from cocoon_dev.ton.network import DEV_IMAGE_HASH
from cocoon_operator.api.spec import parse_spec
from cocoon_operator.reconcile import runtimes
from cocoon_operator.settings import Settings
from cocoon_operator.steps.chain import ChainSteps
from cocoon_operator.steps.common import ChainHub, node_identity
from cocoon_operator.steps.contract import Context, StepReport
from cocoon_operator.steps.rewards import RewardSteps
from cocoon_operator.ton.addresses import format_address
from cocoon_operator.ton.client import ChainSettings

RESULTS = Path(__file__).resolve().parent / "results"
NS = "bench"
CONCURRENCY = 64
# The follower's block walk and pytoniq's own masterchain polls: a fixed cost per network, not per claim.
WALK_METHODS = {
    "getMasterchainInfo",
    "getMasterchainInfoExt",
    "getAllShardsInfo",
    "lookupBlock",
    "listBlockTransactions",
}
TON = 10**9


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def build_objects(kube: VersionedKube, setup: dict[str, Any]) -> list[str]:
    root = format_address(Address(setup["root"]))
    kube.put({"kind": "ConfigMap", "metadata": {"name": "ton", "namespace": NS},
              "data": {"global.config.json": json.dumps(setup["global_config"])}})  # fmt: skip
    t = setup["treasury"]
    data = {"privateKey": b64(t["private_key"]), "walletId": b64(str(t["wallet_id"]))}
    kube.put({"kind": "Secret", "metadata": {"name": "treasury", "namespace": NS}, "data": data})
    names = []
    for i, node in enumerate(setup["nodes"]):
        name = f"w{i}"
        key_text = base64.b64encode(bytes.fromhex(node["key"])).decode()
        secret = {
            "kind": "Secret",
            "metadata": {"name": f"{name}-wallet", "namespace": NS},
            "data": {"node_wallet_key": b64(key_text)},
        }
        kube.put(secret)
        owner = format_address(Address(node["owner"]), bounceable=False)
        ident = node_identity(secret, owner)
        assert ident is not None
        wallet = format_address(Address(ident.wallet), bounceable=False)
        spec: dict[str, Any] = {
            "model": setup["model"],
            "ownerAddress": owner,
            "network": {"globalConfigRef": {"name": "ton"}, "rootContractAddress": root},
            "wallet": {"secretRef": {"name": f"{name}-wallet"}, "floor": "3", "target": "5"},
            "worker": {"image": "runner", "mode": "Test"},
            "imageHash": DEV_IMAGE_HASH.hex(),
            "funding": {"treasurySecretRef": {"name": "treasury"}},
        }
        if node["earning"]:
            spec["rewards"] = {"checkInterval": 30}
        kube.put({
            "apiVersion": "cocoon.tonops.dev/v1alpha1", "kind": "CocoonNode",
            "metadata": {"name": name, "namespace": NS, "uid": f"uid-{i}", "generation": 1,
                         "creationTimestamp": f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z"},
            "spec": spec, "status": {"walletAddress": wallet, "runnerWalletAddress": wallet},
        })  # fmt: skip
        names.append(name)
    return names


class Fleet:
    def __init__(self, kube: VersionedKube, names: list[str], setup: dict[str, Any], resync_s: float) -> None:
        self.kube, self.names, self.setup, self.resync_s = kube, names, setup, resync_s
        self.settings = Settings(runner_http_port=setup["runner_port"])
        self.pods = {
            n: {"metadata": {"name": f"{n}-0"}, "spec": {"nodeName": "gpu-0"},
                "status": {"phase": "Running", "podIP": node["pod_ip"]}}
            for n, node in zip(names, setup["nodes"], strict=True)
        }  # fmt: skip
        self.specs = {n: parse_spec(self.node(n)["spec"]) for n in names}
        self.top_ups = 0
        self.errors = 0

    def node(self, name: str) -> dict[str, Any]:
        body = self.kube.find("CocoonNode", NS, name)
        assert body is not None
        return body

    def ctx(self, name: str) -> Context:
        body = self.node(name)
        return Context(
            name=name, namespace=NS, uid=body["metadata"]["uid"], generation=1, spec=self.specs[name],
            status=copy.deepcopy(body.get("status") or {}), pod=self.pods[name],
            wallet_secret_name=f"{name}-wallet", settings=self.settings, kube=self.kube,
            worker=runtimes.worker_access(self.specs[name], self.settings),
        )  # fmt: skip

    def settle(self, name: str, report: StepReport) -> None:
        settle(self.node(name).setdefault("status", {}), report)
        self.top_ups += sum(1 for e in report.events if e.reason == "WalletToppedUp")

    async def reconcile(self, chain: ChainSteps, rewards: RewardSteps, name: str) -> float:
        retry: list[float] = []
        try:
            for step in (chain.preflight, chain.observe, rewards.observe):
                report = await asyncio.wait_for(step(self.ctx(name)), 60)
                self.settle(name, report)
                if report.retry_after is not None:
                    retry.append(report.retry_after)
        except Exception:
            self.errors += 1
            retry.append(15.0)
        # The fake API's call records are for the tests' asserts: here they would only grow with the
        # run and count in the memory figures.
        self.kube.reads.clear()
        self.kube.patches.clear()
        return max(3.0, min(retry)) if retry else self.resync_s * random.uniform(0.9, 1.1)

    async def run(self, chain: ChainSteps, rewards: RewardSteps, due: dict[str, float], until: float) -> None:
        """Reconcile each CocoonNode when due until `until` (monotonic); `due` carries over."""
        heap = [(t, n) for n, t in due.items()]
        heapq.heapify(heap)
        sem = asyncio.Semaphore(CONCURRENCY)
        running: set[asyncio.Task[None]] = set()

        async def one(name: str) -> None:
            async with sem:
                delay = await self.reconcile(chain, rewards, name)
            due[name] = time.monotonic() + delay
            heapq.heappush(heap, (due[name], name))

        while time.monotonic() < until:
            now = time.monotonic()
            while heap and heap[0][0] <= now:
                _, name = heapq.heappop(heap)
                task = asyncio.create_task(one(name))
                running.add(task)
                task.add_done_callback(running.discard)
            await asyncio.sleep(min(0.2, max(0.0, heap[0][0] - now) if heap else 0.2))
        if running:
            await asyncio.gather(*running)

    def claim_open(self, name: str) -> bool:
        status = self.node(name).get("status") or {}
        return bool((status.get("claims") or {}).get("pending"))

    def payouts(self) -> int:
        return sum(
            int(((self.node(n).get("status") or {}).get("earnings") or {}).get("payouts", 0))
            for n in self.names
        )


def ctl(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=120) as resp:
        return json.loads(resp.read().decode())


class RssSampler:
    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.peak = 0

    async def run(self) -> None:
        while True:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            await asyncio.sleep(0.5)


async def run_mode(mode: str, fleet: Fleet, args: argparse.Namespace, port: int) -> dict[str, Any]:
    hub = ChainHub(
        chain_settings=ChainSettings(
            trust_level=2, connect_timeout_s=4.0, call_timeout_s=4.0, retries=2, retry_delay_s=0.3,
            follow_blocks=mode == "follower",
        )
    )  # fmt: skip
    chain, rewards = ChainSteps(hub, fleet.kube), RewardSteps(hub, fleet.kube)
    sampler = RssSampler()
    sampling = asyncio.create_task(sampler.run())
    result: dict[str, Any] = {"mode": mode}
    try:
        ctl(port, "/ctl/earning?on=0")
        started = time.monotonic()
        sem = asyncio.Semaphore(CONCURRENCY)

        async def warm(name: str) -> None:
            async with sem:
                await fleet.reconcile(chain, rewards, name)

        for _ in range(2):  # warm-up: every CocoonNode reconciled twice
            await asyncio.gather(*(warm(n) for n in fleet.names))
            await asyncio.sleep(args.block_ms / 1000 * 2)  # the follower's step in between
        result["warm_up_s"] = round(time.monotonic() - started, 1)
        due = {n: time.monotonic() + random.uniform(0, args.resync_s) for n in fleet.names}
        for phase, earning in (("rest", False), ("earning", True)):
            ctl(port, f"/ctl/earning?on={int(earning)}")
            q0, p0, t0, e0, tu0 = (
                ctl(port, "/ctl/queries"),
                fleet.payouts(),
                time.monotonic(),
                fleet.errors,
                fleet.top_ups,
            )
            await fleet.run(chain, rewards, due, t0 + args.window_s)
            q1, p1, t1 = ctl(port, "/ctl/queries"), fleet.payouts(), time.monotonic()
            minutes = (t1 - t0) / 60
            by_method = {m: q1.get(m, 0) - q0.get(m, 0) for m in sorted(q1) if q1.get(m, 0) != q0.get(m, 0)}
            total = sum(by_method.values())
            claims = p1 - p0
            account_reads = sum(n for m, n in by_method.items() if m.split(".")[-1] not in WALK_METHODS)
            result[phase] = {
                "window_s": round(t1 - t0, 1),
                "queries": total,
                "queries_per_min": round(total / minutes, 1),
                "queries_per_node_per_hour": round(total / minutes * 60 / len(fleet.names), 2),
                "by_method": by_method,
                "claims_confirmed": claims,
                "claims_confirmed_per_min": round(claims / minutes, 2),
                # Beyond the fixed cost of following the chain (the walk and pytoniq's own head polls).
                "account_queries": account_reads,
                "account_queries_per_claim": round(account_reads / claims, 2) if claims else None,
                "top_ups": fleet.top_ups - tu0,
                "step_errors": fleet.errors - e0,
            }
        ctl(port, "/ctl/earning?on=0")
        result["drain_s"] = await drain(fleet, chain, rewards)
        for follower in hub.followers.values():
            s = follower.stats
            result["follower"] = {
                "ticks": s.ticks, "blocks": s.blocks, "gaps": s.gaps, "failures": s.failures,
                "cache_hits": s.hits, "cache_misses": s.misses,
                "watched": len(follower.changes), "cached_states": len(follower.cache),
            }  # fmt: skip
    finally:
        await hub.close()
        sampling.cancel()
    result["peak_rss_mb"] = round(sampler.peak / 2**20, 1)
    return result


async def drain(fleet: Fleet, chain: ChainSteps, rewards: RewardSteps, limit_s: float = 180.0) -> float:
    """Earning stopped: reconcile the CocoonNodes with a claim open until the chain confirmed it, so
    the ledgers can be compared with the chain."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        open_claims = [n for n in fleet.names if fleet.claim_open(n)]
        if not open_claims:
            break
        await asyncio.gather(*(fleet.reconcile(chain, rewards, n) for n in open_claims))
        await asyncio.sleep(3)
    return round(time.monotonic() - started, 1)


def verify(fleet: Fleet, setup: dict[str, Any], port: int) -> dict[str, Any]:
    """Each earning CocoonNode's ledger against the chain: payouts and nanoTON."""
    facts = ctl(port, "/ctl/facts")
    exact, checked, differ = True, 0, []
    for i, node in enumerate(setup["nodes"]):
        if not node["earning"]:
            continue
        status = fleet.node(f"w{i}").get("status") or {}
        earnings = status.get("earnings") or {}
        chain = facts[str(i)]
        same = (
            chain["complete"]
            and int(earnings.get("claimedNano", 0)) == chain["paid_nano"]
            and int(earnings.get("payouts", 0)) == chain["payouts"]
        )
        exact &= bool(same)
        checked += 1
        if not same:
            pending = bool((status.get("claims") or {}).get("pending"))
            differ.append({"node": i, "ledger_nano": earnings.get("claimedNano"), "chain": chain,
                           "ledger_payouts": earnings.get("payouts"), "claim_open": pending})  # fmt: skip
    return {"ledgers_checked": checked, "ledger_equals_chain": exact, "differences": differ}


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    env = dict(os.environ)
    cmd = [sys.executable, "-m", "bench.chain_world", "--nodes", str(args.nodes),
           "--earning", str(args.earning), "--block-ms", str(args.block_ms)]  # fmt: skip
    world = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert world.stdout is not None
        started = time.monotonic()
        line = await asyncio.get_running_loop().run_in_executor(None, world.stdout.readline)
        if not line:
            raise RuntimeError("bench.chain_world exited during setup")
        setup = json.loads(line)
        print(f"chain world ready in {time.monotonic() - started:.0f} s", file=sys.stderr)
        kube = VersionedKube()
        names = build_objects(kube, setup)
        fleet = Fleet(kube, names, setup, args.resync_s)
        port = int(setup["runner_port"])
        if args.tracemalloc:
            tracemalloc.start(1)  # one frame: cheap enough to leave both modes comparable
        modes = []
        for mode in args.modes.split(","):
            print(f"mode {mode} ...", file=sys.stderr)
            modes.append(await run_mode(mode, fleet, args, port))
            print(json.dumps(modes[-1]), file=sys.stderr)
        result: dict[str, Any] = {"modes": modes, **verify(fleet, setup, port)}
        if args.tracemalloc:
            snap = tracemalloc.take_snapshot()
            top = snap.statistics("filename")[:15]
            result["tracemalloc_top"] = [
                {"file": str(s.traceback[0].filename).split("site-packages/")[-1], "kb": round(s.size / 1024)}
                for s in top
            ]
            result["tracemalloc_total_mb"] = round(
                sum(s.size for s in snap.statistics("filename")) / 2**20, 1
            )
        return result
    finally:
        if world.stdin is not None:
            world.stdin.close()
        try:
            world.wait(timeout=30)
        except subprocess.TimeoutExpired:
            world.kill()


def world_parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser with the chain world's arguments: this side takes them and passes them on (`amain`)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--earning", type=int, default=10)
    parser.add_argument("--block-ms", type=int, default=5000)
    return parser


def headline(modes: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in modes:
        mode, rest, earning = m["mode"], m["rest"], m["earning"]
        out[f"{mode}_rest_queries_per_min"] = rest["queries_per_min"]
        out[f"{mode}_earning_queries_per_min"] = earning["queries_per_min"]
        out[f"{mode}_queries_per_node_per_hour"] = rest["queries_per_node_per_hour"]
        out[f"{mode}_claims_confirmed_per_min"] = earning["claims_confirmed_per_min"]
        out[f"{mode}_account_queries_per_claim"] = earning["account_queries_per_claim"]
        out[f"{mode}_peak_rss_mb"] = m["peak_rss_mb"]
    return out


def main() -> int:
    parser = world_parser(__doc__)
    parser.add_argument("--resync-s", type=float, default=60.0)
    parser.add_argument("--window-s", type=float, default=120.0)
    parser.add_argument("--modes", default="polling,follower")
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    result = asyncio.run(amain(args))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    summary = {
        "nodes": args.nodes, "earning": args.earning, "resync_s": args.resync_s, "window_s": args.window_s,
        "block_ms": args.block_ms,
        "machine": {"cpus": os.cpu_count(), "load1": round(os.getloadavg()[0], 2)},
        **headline(result["modes"]),
        **result,
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    name = f"chain-scale-{stamp}{'-' + args.tag if args.tag else ''}.json"
    (RESULTS / name).write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {RESULTS / name}", file=sys.stderr)
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
