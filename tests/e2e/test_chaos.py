"""Chaos, measured (issue 17): randomised faults over funding, claim and sweep cycles, then the money
is judged on chain.

Two operator processes (leader and standby, short Lease) run three CocoonNodes whose wallets sit just
above their floor (every few claims cost a top-up) and whose surplus is swept (a faucet adds money above
`sweepAbove` between faults). Faults, drawn at random from every kind in turn: SIGKILL of the leader,
of the standby, an API server restart, a liteserver outage, a lagging liteserver (account states and
height behind), a runner crash, internal messages held back for blocks (to a cocoon wallet: top-ups
in flight; to an owner: payouts in flight). A dead operator process is started again, as its
Deployment would.

Afterwards, on chain: no voucher paid twice, each owner received exactly tokens x fee and each ledger
equals the chain (`_chain_matches_ledger`); no top-up arrived at a wallet that was not below its floor
(the balance before every treasury transfer, from the dev chain's balance trace); the swept amounts on
chain equal `status.sweep`. COCOON_CHAOS_FAULTS sets the number of faults (CI: 14, `python -m
bench.chaos`: 200), COCOON_CHAOS_SEED the draw, COCOON_CHAOS_REPORT a JSON file for the figures.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pytoniq_core.tlb.transaction import Transaction

from cocoon_dev import procs
from cocoon_dev.cluster import launcher
from cocoon_dev.ports import free_port
from cocoon_dev.ton.chain import LocalChain
from cocoon_dev.ton.liteserver import LocalLiteServer
from cocoon_operator.steps.funding import FIRST_REGISTRATION_NANO
from cocoon_operator.ton.addresses import raw_address
from tests.e2e.conftest import SHORT_LEASE
from tests.e2e.test_rewards_e2e import (
    TON,
    LeaseWatch,
    OperatorProcess,
    Stack,
    _assert_no_secrets,
    _chain_matches_ledger,
    _secrets,
    cond,
    stack,
    totals,
)
from tests.helpers.k8s import wait_for

__all__ = ["stack"]  # the module-scoped dev stack (cluster, chain, runtime) of the rewards tests

FAULTS = int(os.environ.get("COCOON_CHAOS_FAULTS", "14"))
SEED = int(os.environ.get("COCOON_CHAOS_SEED", "17"))
KINDS = (
    "leader_kill",
    "standby_kill",
    "apiserver_restart",
    "liteserver_outage",
    "liteserver_lag",
    "runner_crash",
    "held_message",
)
NODES = [("chaos-a", "TDX"), ("chaos-b", "SEV-SNP"), ("chaos-c", "TDX")]
FLOOR, TARGET, SWEEP_ABOVE = (
    "5.99",
    "6",
    "7",
)  # TON: the 0.5 TON a claim attaches takes a wallet below its floor
SURPLUS = 2 * TON


class Operators:
    """The leader and the standby; a dead one is started again (its Deployment would)."""

    def __init__(self, stack: Stack) -> None:
        self.stack, self.lease = stack, LeaseWatch(stack)
        kubeconfig = Path(stack.cluster.kubeconfig)
        self.procs = [
            OperatorProcess(
                kubeconfig, stack.namespace, stack.dir / f"chaos-{i}.log", liveness_port=free_port()
            )
            for i in range(2)
        ]
        self.restarts = 0
        self.started: dict[int, float] = {}  # id(process) -> when it was last started (monotonic)

    def leader(self) -> OperatorProcess | None:
        holder = self.lease.holder()
        return next(
            (p for p in self.procs if p.proc is not None and p.alive() and holder.endswith(f"-{p.proc.pid}")),
            None,
        )

    def start(self, p: OperatorProcess) -> None:
        p.start()
        self.started[id(p)] = time.monotonic()

    def supervise(self) -> None:
        for p in self.procs:
            if not p.alive():
                self.start(p)
                self.restarts += 1

    def warm_standby(self, leader: OperatorProcess) -> bool:
        """The other process has run long enough to have watched the Lease for a whole period (a
        standby started a moment ago must first start up and see the Lease unchanged for that long)."""
        lease_s = float(SHORT_LEASE["COCOON_LEASE_SECONDS"])
        others = [p for p in self.procs if p is not leader and p.alive()]
        return any(time.monotonic() - self.started.get(id(p), 0.0) > lease_s + 20 for p in others)

    def stop(self) -> None:
        for p in self.procs:
            p.stop()

    def text(self) -> str:
        return "\n".join(p.text() for p in self.procs)


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def _money_state(obj: Any) -> Any:
    """What settling waits on, short enough to survive a truncated CI log."""
    if not isinstance(obj, dict):
        return obj
    status = obj.get("status") or {}
    conditions = {c["type"]: f"{c['status']}/{c.get('reason')}" for c in status.get("conditions", [])}
    return {k: status.get(k) for k in ("claims", "funding", "sweep")} | {"conditions": conditions}


def _settled(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    return (
        cond(obj, "Registered").get("status") == "True"
        and not (status.get("claims") or {}).get("pending")
        and not (status.get("funding") or {}).get("intent")
        and not (status.get("sweep") or {}).get("pending")
    )


def _restart_liteserver(stack: Stack, **kw: Any) -> None:
    stack.bg.call(stack.bg.server.stop)
    stack.bg.server = LocalLiteServer(stack.bg.chain, port=stack.port, key_file=str(stack.key_file), **kw)
    stack.bg.call(stack.bg.server.start)


def _kill_runner(stack: Stack, name: str) -> bool:
    pod_dir = f"{stack.namespace}_{name}-0_"  # the local runtime's directory of the worker pod
    found = [p for p in procs.find("cocoon_dev.runtime.runner_sim") if any(pod_dir in a for a in p.cmdline())]
    for ref in found:
        process = ref.process()
        if process is not None:
            process.kill()  # SIGKILL; the local kubelet restarts the container
    return bool(found)


async def _trace(chain: LocalChain, address: str) -> int:
    chain.trace_balances(address)
    return chain.balance(address)


async def _hold(chain: LocalChain, address: str, blocks: int) -> None:
    chain.hold(address, blocks)


async def _traced(
    chain: LocalChain, address: str
) -> tuple[list[tuple[int, int]], list[tuple[int, str, int]]]:
    """The wallet's balance trace and its incoming transfers (lt, source, value)."""
    incoming = []
    for rec in chain.transactions(address):
        tx = Transaction.deserialize(rec.cell.begin_parse())
        info = tx.in_msg.info if tx.in_msg is not None else None
        if info is not None and getattr(info, "src", None) is not None:
            incoming.append((rec.lt, raw_address(info.src), int(info.value.grams)))
    return chain.balance_trace(address), incoming


def _unneeded_top_ups(
    start: int, trace: list[tuple[int, int]], incoming: list[tuple[int, str, int]], treasury: str
) -> tuple[list[dict[str, int]], int]:
    """Top-ups decided on a balance the wallet no longer had (a second payment for one need), and how
    many arrived above the floor anyway.

    A top-up fills the wallet to its target, so it was decided on `target - value`; with no other
    top-up open meanwhile, it was decided after the previous one arrived. So that balance must be one
    the wallet had between the previous top-up's arrival and this one's (the trace has the balance
    after every transaction; an account's balance does not change between them). A top-up decided on
    the balance from before the previous one landed fails this. Arriving above the floor is not the
    test: a claim sends 0.5 TON and its excess comes back, so a top-up decided during a claim
    legitimately lands on the returned excess."""
    from_treasury = {lt: value for lt, src, value in incoming if src == treasury}
    targets = (int(Decimal(TARGET) * TON), FIRST_REGISTRATION_NANO)  # the spec's band, a first registration's
    seen, bad, above = {start}, [], 0
    before = start
    for lt, after in trace:
        if lt in from_treasury:
            value = from_treasury[lt]
            if not {t - value for t in targets} & seen:
                bad.append({"lt": lt, "balance_before": before, "value": value})
            above += before >= int(Decimal(FLOOR) * TON)
            seen = set()
        seen.add(after)
        before = after
    return bad, above


def _swept_on_chain(stack: Stack, wallet: str, owner: str) -> tuple[int, int]:
    sent = [
        int(out.info.value.grams)
        for rec in stack.bg.chain.transactions(wallet)
        for out in Transaction.deserialize(rec.cell.begin_parse()).out_msgs
        if getattr(out.info, "dest", None) is not None and raw_address(out.info.dest) == owner
    ]
    return len(sent), sum(sent)


@pytest.mark.timeout(7200)
async def test_chaos_money_exact_after_randomised_faults(stack: Stack) -> None:
    rng = random.Random(SEED)
    for name, tee in NODES:
        stack.create(
            name,
            tee=tee,
            wallet={"secretRef": {"name": f"{name}-wallet"}, "floor": str(FLOOR), "target": str(TARGET)},
            rewards={
                "minClaim": "0.05",
                "maxFeeFraction": "1",
                "checkInterval": "10s",
                "sweepAbove": str(SWEEP_ABOVE),
            },
        )
    wallets: dict[str, str] = {}
    starts: dict[str, int] = {}
    for name, _ in NODES:
        obj = stack.wait(
            f"{name} registered", name, lambda o: cond(o, "Registered").get("status") == "True", 300
        )
        wallets[name] = raw_address(obj["status"]["walletAddress"])
        starts[name] = stack.bg.call(_trace, stack.bg.chain, wallets[name])
    stack.operator.stop()  # the fixture's standalone operator; two with a Lease take over
    ops = Operators(stack)
    for p in ops.procs:
        ops.start(p)
    kinds = [KINDS[i % len(KINDS)] for i in range(FAULTS)]
    rng.shuffle(kinds)
    done: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    handovers: list[float] = []  # to a standby that was up and watching
    cold_handovers: list[float] = []  # to one still starting (it had been killed just before)
    api_restarts: list[float] = []
    surpluses = 0
    workdir = getattr(stack.cluster, "workdir", None)
    t_chaos = time.monotonic()
    try:
        wait_for("a leader", ops.leader, lambda p: p is not None, timeout_s=60)
        for i, kind in enumerate(kinds):
            ops.supervise()
            name = rng.choice(NODES)[0]
            if kind == "leader_kill":
                leader = wait_for("a leader", ops.leader, lambda p: p is not None, timeout_s=60)
                assert leader is not None
                old, killed_at, warm = ops.lease.holder(), time.monotonic(), ops.warm_standby(leader)
                leader.kill()
                wait_for("a new leader", ops.lease.holder, lambda h, o=old: bool(h) and h != o, 90, 0.05)
                (handovers if warm else cold_handovers).append(time.monotonic() - killed_at)
            elif kind == "standby_kill":
                leader = ops.leader()
                standby = next((p for p in ops.procs if p.alive() and p is not leader), None)
                if standby is None:
                    skipped[kind] += 1
                    continue
                standby.kill()
            elif kind == "apiserver_restart":
                if workdir is None:  # a cluster from $KUBECONFIG: not ours to restart
                    skipped[kind] += 1
                    continue
                api_restarts.append(
                    launcher.restart(Path(workdir), "kube-apiserver", down_s=rng.uniform(0, 3))
                )
            elif kind == "liteserver_outage":
                stack.bg.call(stack.bg.server.stop)
                time.sleep(rng.uniform(2, 8))
                _restart_liteserver(stack)
            elif kind == "liteserver_lag":
                _restart_liteserver(stack, lie="stale", lag_s=rng.uniform(3, 10))
                time.sleep(rng.uniform(5, 15))
                _restart_liteserver(stack)
            elif kind == "runner_crash":
                if not _kill_runner(stack, name):
                    skipped[kind] += 1
                    continue
            elif kind == "held_message":
                obj = stack.cn(name)
                target = wallets[name] if rng.random() < 0.5 else raw_address(obj["spec"]["ownerAddress"])
                stack.bg.call(_hold, stack.bg.chain, target, rng.randint(2, 6))
                time.sleep(rng.uniform(5, 15))
                stack.bg.call(_hold, stack.bg.chain, target, 0)
            done[kind] += 1
            # A sweep cycle: surplus above sweepAbove, added only while no top-up is in flight (so any
            # later top-up was decided on a balance that already included it).
            if i % 3 == 2:
                obj = stack.cn(name)
                balance = stack.bg.chain.balance(wallets[name])
                if (
                    not (obj.get("status", {}).get("funding") or {}).get("intent")
                    and balance >= Decimal(FLOOR) * TON
                ):
                    stack.bg.call(stack.bg.chain.faucet, wallets[name], SURPLUS)
                    surpluses += 1
            time.sleep(rng.uniform(0.5, 4))
        chaos_s = time.monotonic() - t_chaos
        ops.supervise()
        t_settle = time.monotonic()
        for name, _ in NODES:
            wait_for(f"{name} settled", lambda n=name: stack.cn(n), _settled, 600, show=_money_state)
        settle_s = time.monotonic() - t_settle
        time.sleep(6)  # payouts of the last claims land
        figures = {name: await _chain_matches_ledger(stack, name) for name, _ in NODES}
        treasury = raw_address(stack.network.treasury.address)
        top_ups, unneeded, above_floor, sweeps = 0, [], 0, {}
        for name, _ in NODES:
            trace, incoming = stack.bg.call(_traced, stack.bg.chain, wallets[name])
            first = trace[0][0] if trace else None
            top_ups += sum(
                1 for lt, src, _ in incoming if src == treasury and first is not None and lt >= first
            )
            found, above = _unneeded_top_ups(starts[name], trace, incoming, treasury)
            unneeded += found
            above_floor += above
            obj = stack.cn(name)
            count, swept = _swept_on_chain(stack, wallets[name], raw_address(obj["spec"]["ownerAddress"]))
            record = obj["status"].get("sweep") or {}
            assert (record.get("sweeps", 0), record.get("sweptNano", 0)) == (count, swept), name
            sweeps[name] = count
        claims = {name: totals(stack.cn(name)) for name, _ in NODES}
        report = {
            "faults": sum(done.values()),
            "by_kind": dict(sorted(done.items())),
            "skipped": dict(skipped),
            "seed": SEED,
            "operator_restarts": ops.restarts,
            "handovers": len(handovers),
            "handover_p50_s": _quantile(handovers, 0.5),
            "handover_p90_s": _quantile(handovers, 0.9),
            "handover_max_s": _quantile(handovers, 1.0),
            "handovers_to_a_starting_standby": len(cold_handovers),
            "handover_starting_standby_max_s": _quantile(cold_handovers, 1.0),
            "lease": SHORT_LEASE,
            "api_server_restart_max_s": round(max(api_restarts), 1) if api_restarts else None,
            "chaos_s": round(chaos_s),
            "settle_s": round(settle_s, 1),
            "top_ups": top_ups,
            "unneeded_top_ups": len(unneeded),
            "top_ups_landing_on_claim_excess": above_floor,
            "surpluses": surpluses,
            "sweeps": sum(sweeps.values()),
            "operator_claims": sum(c.get("operatorClaims", 0) for c in claims.values()),
            "payouts": sum(f["payouts"] for f in figures.values()),
            "paid_nano": sum(f["nano"] for f in figures.values()),
            "ledger_equals_chain": True,
        }
        print("CHAOS", json.dumps(report))
        if os.environ.get("COCOON_CHAOS_REPORT"):
            Path(os.environ["COCOON_CHAOS_REPORT"]).write_text(json.dumps(report, indent=2) + "\n")
        assert not unneeded, f"top-ups decided on a balance from before the previous one landed: {unneeded}"
        names = [n for n, _ in NODES]
        _assert_no_secrets(stack, names)
        logs = ops.text()
        assert not [s for s in _secrets(stack, names) if s in logs], "key material in an operator log"
    finally:
        ops.stop()
        for wallet in wallets.values():
            stack.bg.call(_hold, stack.bg.chain, wallet, 0)
        if not stack.operator.alive():
            stack.operator.start()
