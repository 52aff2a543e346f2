"""`cocoon-dev demo`: the stack up, then a live view of the fleet until the first claims land on chain.

Interactive: a rich table refreshed every ~1.5 s; Ctrl-C stops the whole stack (`down`).
`--exit-after-claims N`: no live table; a progress line every 10 s; exits 0 once N claims recorded by
the operator are confirmed on chain (a payout at the owner), non-zero with the reason after
`--timeout`. Only claims that land while the demo watches count (a re-run does not count the claims
of earlier runs). Either way the summary is printed last, ending with one JSON line
(`{"cocoon_dev_demo_summary": ...}`). The stack stays up until `cocoon-dev down`.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from cocoon_dev.stack import steps
from cocoon_dev.stack.commands import StepFailed
from cocoon_dev.stack.fleet import FleetClaim, Observer, Snapshot, confirmed_on_chain
from cocoon_dev.stack.manifests import DEMO_NAMESPACE
from cocoon_operator.plugin import table

TON = 1_000_000_000
REFRESH_S = 1.5
SUMMARY_KEY = "cocoon_dev_demo_summary"


def ton(nano: int | None) -> str:
    return table.ton(nano)


def _short(address: str) -> str:
    return table.short(address)


def render(snap: Snapshot, *, start_owners: dict[str, int], confirmed: int, elapsed: float) -> Group:
    """The fleet table `kubectl cocoon fleet` shows (one module renders both), then what only the demo
    knows: the owners' balances read from the chain and the claims it has seen confirmed there."""
    fleet = table.fleet_table(snap.rows, title=f"COCOON fleet (namespace {DEMO_NAMESPACE})")
    lines: list[RenderableType] = [fleet, *table.placement_notes(snap.rows)]
    for owner, nano in snap.owners.items():
        start = start_owners.get(owner)
        growth = f"  (+{ton(nano - start)} since start)" if nano is not None and start is not None else ""
        nodes = ", ".join(r.name for r in snap.rows if r.owner == owner) or "—"
        lines.append(Text(f"owner {_short(owner)} ({nodes}): {ton(nano)} TON{growth}", style="bold"))
    lines.append(
        Text(
            f"claims confirmed on chain: {confirmed}   elapsed {elapsed:.0f} s"
            + (f"   chain: {snap.chain_error}" if snap.chain_error else ""),
            style="dim",
        )
    )
    return Group(*lines)


def progress_line(snap: Snapshot, confirmed: int, elapsed: float) -> str:
    ready = sum(1 for r in snap.rows if r.ready == "True")
    requests = sum(r.requests or 0 for r in snap.rows)
    tokens = sum(r.tokens or 0 for r in snap.rows)
    claimable = sum(r.claimable_nano or 0 for r in snap.rows)
    states = ", ".join(f"{r.name}={r.ready}/{r.reason}" for r in snap.rows)
    return (
        f"[{elapsed:5.0f} s] ready {ready}/{len(snap.rows)}, requests {requests}, tokens {tokens}, "
        f"claimable {ton(claimable)} TON, claims on chain {confirmed}, "
        f"owners {ton(snap.owners_nano)} TON ({states})"
    )


async def _verified(observer: Observer, claims: list[FleetClaim]) -> list[FleetClaim]:
    if not claims:
        return []
    try:
        return confirmed_on_chain(claims, await observer.owner_payouts())
    except Exception:
        return []


def claim_key(claim: FleetClaim) -> str:
    return claim.tx_hash.lower() or f"{claim.node}/{claim.proxy}/{claim.tokens}/{claim.nano}"


async def summary(
    observer: Observer, snap: Snapshot, claims: list[FleetClaim], start_owners: dict[str, int], elapsed: float
) -> dict[str, Any]:
    """The numbers of the summary, every chain number read from the chain now."""
    payouts = await observer.owner_payouts()
    confirmed = confirmed_on_chain(claims, payouts)
    workers: dict[str, int | None] = {}
    for row in snap.rows:
        for address in row.worker_contracts:
            workers[address] = await observer.worker_tokens(address)
    owners = {
        owner: {
            "nodes": [r.name for r in snap.rows if r.owner == owner],
            "balance_start_nano": start_owners.get(owner),
            "balance_nano": await observer._balance(owner),
            "payouts_on_chain": len(txs),
            "payouts_nano_on_chain": sum(p.value for p in txs),
        }
        for owner, txs in payouts.items()
    }
    all_payouts = [p for txs in payouts.values() for p in txs]
    return {
        SUMMARY_KEY: 1,
        "elapsed_s": round(elapsed, 1),
        "claims_confirmed": len(confirmed),
        "claims_before_demo": len(snap.claims) - len(claims),
        "claims": [c.__dict__ for c in confirmed],
        "claimed_nano": sum(c.nano for c in confirmed),
        "claimed_tokens": sum(c.tokens for c in confirmed),
        "owners": owners,  # raw owner address -> its nodes, balance then and now, payouts on chain
        "owner_payouts_on_chain": len(all_payouts),  # all owners together
        "owner_payouts_nano_on_chain": sum(p.value for p in all_payouts),
        "worker_contract_tokens": workers,
        "worker_fee_per_token": observer.fee_per_token,
        "nodes": {
            r.name: {
                "node": r.node,
                "ready": r.ready,
                "reason": r.reason,
                "requests": r.requests,
                "tokens": r.tokens,
                "claimed_nano": r.claimed_nano,
                "wallet_nano": r.wallet_nano,
            }
            for r in snap.rows
        },
    }


def print_summary(console: Console, data: dict[str, Any]) -> None:
    console.print("[bold]── summary ──[/bold]")
    console.print(
        f"claims confirmed on chain: {data['claims_confirmed']} "
        f"({ton(data['claimed_nano'])} TON for {data['claimed_tokens']:,} tokens) "
        f"in {data['elapsed_s']:.0f} s",
        highlight=False,
    )
    for c in data["claims"]:
        console.print(
            f"  {c['node']}: {c['tokens']:,} tokens → {ton(c['nano'])} TON, "
            f"worker contract {_short(c['worker_contract'])}, "
            f"tx {c['tx_hash'][:16]}… ({c['source']})",
            highlight=False,
        )
    for owner, o in data["owners"].items():
        start = o["balance_start_nano"]
        console.print(
            f"owner {owner} ({', '.join(o['nodes']) or '—'}): {ton(o['balance_nano'])} TON"
            + (f" (was {ton(start)})" if start is not None else "")
            + f"; payouts on chain: {o['payouts_on_chain']} = {ton(o['payouts_nano_on_chain'])} TON",
            highlight=False,
        )
    for address, tokens in data["worker_contract_tokens"].items():
        console.print(f"  worker contract {address}: tokens {tokens}", highlight=False)
    console.print("the stack keeps running: `cocoon-dev status`, `cocoon-dev down`", highlight=False)
    # The machine-readable line is the very last line of stdout.
    print(json.dumps(data, sort_keys=True), flush=True)


async def watch(
    console: Console, ctx: steps.StackContext, *, exit_after: int | None, timeout_s: float, live: bool
) -> int:
    observer = Observer(
        ctx.cluster["kubeconfig"], Path(ctx.chain["global_config"]), ctx.network, DEMO_NAMESPACE
    )
    t0 = time.monotonic()
    start_owners: dict[str, int] = {}  # each owner's balance when the demo first read it
    snap: Snapshot | None = None
    confirmed: list[FleetClaim] = []
    earlier: set[str] | None = None  # claims already in the ledgers when the demo started
    fresh: list[FleetClaim] = []
    target = exit_after if exit_after is not None else 1
    last_progress = 0.0
    last_record = 0.0
    try:
        live_view = Live(console=console, refresh_per_second=4, transient=False) if live else None
        if live_view is not None:
            live_view.start()
        try:
            while True:
                elapsed = time.monotonic() - t0
                try:
                    snap = await observer.snapshot()
                except Exception as exc:  # the API may blink; say so and keep watching
                    console.print(f"[yellow]could not read the fleet: {type(exc).__name__}: {exc}[/yellow]")
                    await asyncio.sleep(REFRESH_S)
                    continue
                for owner, nano in snap.owners.items():
                    if owner not in start_owners and nano is not None:
                        start_owners[owner] = nano
                if earlier is None:
                    earlier = {claim_key(c) for c in snap.claims}
                fresh = [c for c in snap.claims if claim_key(c) not in earlier]
                if len(fresh) > len(confirmed):
                    confirmed = await _verified(observer, fresh)
                if live_view is not None:
                    live_view.update(
                        render(snap, start_owners=start_owners, confirmed=len(confirmed), elapsed=elapsed)
                    )
                elif elapsed - last_progress >= 10 or last_progress == 0:
                    last_progress = max(elapsed, 0.001)
                    console.print(progress_line(snap, len(confirmed), elapsed), highlight=False, markup=False)
                if time.monotonic() - last_record >= 10:  # pods come and go: keep their pids on file
                    last_record = time.monotonic()
                    await asyncio.to_thread(steps.record_processes)
                if len(confirmed) >= target:
                    break
                if elapsed > timeout_s:
                    raise TimeoutError
                await asyncio.sleep(REFRESH_S)
        finally:
            if live_view is not None:
                live_view.stop()
        assert snap is not None  # the loop only ends with a snapshot
        data = await summary(observer, snap, fresh, start_owners, time.monotonic() - t0)
        if not live:
            console.print(render(snap, start_owners=start_owners, confirmed=data["claims_confirmed"],
                                 elapsed=data["elapsed_s"]))  # fmt: skip
        print_summary(console, data)
        return 0 if data["claims_confirmed"] >= target else 3
    except TimeoutError:
        reason = _why_no_claims(snap, target, len(confirmed), timeout_s)
        console.print(f"[red]demo: {reason}[/red]", highlight=False)
        print(json.dumps({SUMMARY_KEY: 1, "claims_confirmed": len(confirmed), "error": reason}), flush=True)
        return 2
    finally:
        await observer.close()


def _why_no_claims(snap: Snapshot | None, target: int, confirmed: int, timeout_s: float) -> str:
    if snap is None:
        return f"no fleet snapshot within {timeout_s:.0f} s (API server unreachable?)"
    parts = []
    for r in snap.rows:
        blocking = ", ".join(f"{k}={v}" for k, v in r.not_true.items()) or "none"
        parts.append(
            f"{r.name}: Ready={r.ready} ({r.reason}), not-True conditions: {blocking}, "
            f"claimable {ton(r.claimable_nano)} TON, {len(r.claims)} claim(s) in status"
        )
    return (
        f"only {confirmed} of {target} claim(s) confirmed on chain within {timeout_s:.0f} s; "
        + "; ".join(parts)
        + "; see `cocoon-dev logs operator`"
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(console: Console, *, exit_after: int | None, timeout_s: float, verbose: bool = False) -> int:
    # A closed terminal or a `kill` ends the demo like Ctrl-C does: the stack is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    try:
        ctx = steps.up(console, verbose=verbose)
    except StepFailed:
        return 1
    live = exit_after is None and console.is_terminal
    try:
        rc = asyncio.run(watch(console, ctx, exit_after=exit_after, timeout_s=timeout_s, live=live))
    except KeyboardInterrupt:
        console.print("\n[bold]Ctrl-C: stopping the stack[/bold]")
        return steps.down(console) or 130
    steps.record_processes()
    return rc
