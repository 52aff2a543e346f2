"""The commands that change something: `claim` (through the claim-request annotation the operator
honours once per nonce), `pause` / `resume` (spec.paused) and `sweep` (spec.rewards.sweepAbove).
Each waits for the operator to act and says what happened; none reads or prints a key."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from rich.console import Console

from cocoon_operator.api.units import nano_to_ton, ton_to_nano
from cocoon_operator.plugin.chain import Chains
from cocoon_operator.plugin.earnings import proxies_of
from cocoon_operator.plugin.kube import Kube
from cocoon_operator.plugin.table import condition, row_of, ton
from cocoon_operator.steps import claim_request as cr

POLL_S = 1.0
RUNNER_MINIMUM_NANO = ton_to_nano("2.1")  # the sweep keeps at least this (docs/money.md §5)
SWEEP_FEE_RESERVE_NANO = ton_to_nano("0.05")

# Exit codes
OK, REFUSED, TIMED_OUT = 0, 1, 2


def _say(console: Console, text: str) -> None:
    console.print(text, highlight=False, markup=False)


def _wait(
    console: Console,
    what: str,
    poll: Callable[[], tuple[str | None, int | None]],
    timeout_s: float,
) -> int | None:
    """Poll until `poll` gives an exit code; print a progress line whenever its text changes."""
    started, last = time.monotonic(), None
    with console.status(what) as spinner:
        while True:
            elapsed = time.monotonic() - started
            line, code = poll()
            if line and line != last:
                console.print(f"[{elapsed:5.1f} s] {line}", highlight=False, markup=False)
                last = line
            spinner.update(f"{what} ({elapsed:.0f} s)")
            if code is not None:
                return code
            if elapsed > timeout_s:
                return None
            time.sleep(POLL_S)


# ------------------------------------------------------------------------------------------ claim


def new_nonce() -> str:
    return f"{int(time.time())}-{secrets.token_hex(4)}"


def claim(kube: Kube, console: Console, namespace: str, name: str, *, timeout_s: float, chain: bool) -> int:
    obj = kube.cocoonnode(namespace, name)  # a clear error before anything is written
    nonce = new_nonce()
    kube.patch(namespace, name, {"metadata": {"annotations": {cr.ANNOTATION: nonce}}})
    console.print(
        f"Asked the operator for a claim of {namespace}/{name} now (request {nonce})", highlight=False
    )
    final: dict[str, cr.Request] = {}

    def poll() -> tuple[str | None, int | None]:
        request = cr.stored(kube.cocoonnode(namespace, name).get("status") or {})
        if request is None or request.nonce != nonce:
            return "waiting for the operator to take the request", None
        final["request"] = request
        code = {cr.CLAIMED: OK, cr.DECLINED: REFUSED, cr.FAILED: REFUSED}.get(request.phase)
        return f"{request.phase}: {request.message}", code

    code = _wait(console, f"claim of {namespace}/{name}", poll, timeout_s)
    request = final.get("request")
    if code is None:
        state = f"; it is {request.phase}" if request is not None else "; the operator has not taken it"
        console.print(
            f"Gave up waiting after {timeout_s:.0f} s{state} (the operator goes on)", highlight=False
        )
        return TIMED_OUT
    if code != OK or request is None:
        return code
    console.print(
        f"Claimed {ton(request.amount_nano)} TON ({request.tokens or 0:,} tokens) for {namespace}/{name}; "
        f"the operator confirmed it on chain: {', '.join(request.tx_hashes) or 'no payout tx'}",
        highlight=False,
    )
    if chain:
        asyncio.run(_verify_payouts(kube, console, obj, request))
    return OK


async def _verify_payouts(kube: Kube, console: Console, obj: Mapping[str, Any], request: cr.Request) -> None:
    """Read the owner's payouts from the chain ourselves: the claim's tx hashes must be there."""
    row = row_of(kube.cocoonnode(obj["metadata"]["namespace"], obj["metadata"]["name"]))
    chains = Chains(kube)
    try:
        scan = await chains.payouts(obj, row.owner, proxies_of(obj), limit=256)
    finally:
        await chains.close()
    if scan is None:
        why = "; ".join(chains.errors) or "no TON global config"
        console.print(f"Could not read the chain from here to check it ({why})", highlight=False)
        return
    found = {p.tx_hash.lower(): p for p in scan.payouts}
    for tx in request.tx_hashes:
        payout = found.get(tx.lower())
        if payout is None:
            console.print(f"[red]payout tx {tx} is not among the owner's payouts on chain[/red]")
        else:
            console.print(
                f"On chain: payout of {ton(payout.value)} TON to owner {row.owner} in tx {payout.tx_hash} "
                f"(from proxy contract {payout.source})",
                highlight=False,
            )


# ------------------------------------------------------------------------------------ pause/resume


def set_paused(
    kube: Kube, console: Console, namespace: str, name: str, *, paused: bool, timeout_s: float
) -> int:
    obj = kube.patch(namespace, name, {"spec": {"paused": paused}})
    generation = int(obj["metadata"].get("generation") or 0)
    verb = "Paused" if paused else "Resumed"
    console.print(f"{verb} {namespace}/{name} (spec.paused={str(paused).lower()})", highlight=False)

    def poll() -> tuple[str | None, int | None]:
        status = kube.cocoonnode(namespace, name).get("status") or {}
        if int(status.get("observedGeneration") or 0) < generation:
            return "waiting for the operator to see the change", None
        ready = condition(status, "Ready")
        line = f"Ready={ready.get('status')} ({ready.get('reason')}): {ready.get('message', '')}"
        done = ready.get("reason") == "Paused" if paused else ready.get("reason") != "Paused"
        return line, OK if done else None

    code = _wait(console, f"{verb.lower()} {namespace}/{name}", poll, timeout_s)
    return TIMED_OUT if code is None else code


# ------------------------------------------------------------------------------------------ sweep


def sweep_state(obj: Mapping[str, Any]) -> dict[str, Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    record = status.get("sweep") or {}
    target = ton_to_nano(str((spec.get("wallet") or {}).get("target") or "5"))
    above = (spec.get("rewards") or {}).get("sweepAbove")
    balance = row_of(obj).wallet_nano
    keep = max(target, RUNNER_MINIMUM_NANO) + SWEEP_FEE_RESERVE_NANO
    return {
        "walletNano": balance,
        "targetNano": target,
        "sweepAboveNano": ton_to_nano(str(above)) if above else None,
        "surplusNano": max(0, balance - keep) if balance is not None else None,
        "sweeps": int(record.get("sweeps") or 0),
        "sweptNano": int(record.get("sweptNano") or 0),
        "lastTxHash": record.get("lastTxHash"),
        "lastAmountNano": int(record.get("lastAmountNano") or 0),
        "pending": bool(record.get("pending")),
    }


def describe_sweep(console: Console, namespace: str, name: str, state: Mapping[str, Any]) -> None:
    above = state["sweepAboveNano"]
    policy = f"sweeps above {ton(above)} TON" if above is not None else "sweeping is off"
    console.print(
        f"{namespace}/{name}: wallet {ton(state['walletNano'])} TON, target {ton(state['targetNano'])} TON, "
        f"{policy}; surplus now {ton(state['surplusNano'])} TON; {state['sweeps']} sweep(s), "
        f"{ton(state['sweptNano'])} TON swept"
        + (f", last tx {state['lastTxHash']}" if state["lastTxHash"] else "")
        + ("; a sweep is in flight" if state["pending"] else ""),
        highlight=False,
    )


def sweep(
    kube: Kube,
    console: Console,
    namespace: str,
    name: str,
    *,
    above: str | None,
    off: bool,
    now: bool,
    timeout_s: float,
) -> int:
    obj = kube.cocoonnode(namespace, name)
    state = sweep_state(obj)
    if off:
        kube.patch(namespace, name, {"spec": {"rewards": {"sweepAbove": None}}})
        console.print(f"Sweeping is off for {namespace}/{name}", highlight=False)
        return OK
    if above is not None:
        if ton_to_nano(above) < state["targetNano"]:
            console.print(f"--above must be at least the wallet target ({ton(state['targetNano'])} TON)")
            return REFUSED
        kube.patch(namespace, name, {"spec": {"rewards": {"sweepAbove": above}}})
        console.print(
            f"{namespace}/{name} now sweeps what its wallet holds above {above} TON to the owner",
            highlight=False,
        )
        return OK
    if not now:
        describe_sweep(console, namespace, name, state)
        return OK
    return _sweep_now(kube, console, namespace, name, state, timeout_s)


def _sweep_now(
    kube: Kube, console: Console, namespace: str, name: str, state: Mapping[str, Any], timeout_s: float
) -> int:
    """One sweep now: the ceiling goes down to the wallet target until the operator's next sweep is on
    chain, then back to what it was. The operator's write-ahead intent makes the transfer happen once."""
    if not state["surplusNano"]:
        describe_sweep(console, namespace, name, state)
        console.print("Nothing to sweep: the wallet holds no more than it keeps", highlight=False)
        return REFUSED
    previous = state["sweepAboveNano"]
    kube.patch(namespace, name, {"spec": {"rewards": {"sweepAbove": nano_to_ton(state["targetNano"])}}})
    console.print(
        f"Sweeping about {ton(state['surplusNano'])} TON of {namespace}/{name} to the owner "
        f"(ceiling lowered to the target, {ton(state['targetNano'])} TON, until the sweep lands)",
        highlight=False,
    )
    done: dict[str, Any] = {}

    def poll() -> tuple[str | None, int | None]:
        obj = kube.cocoonnode(namespace, name)
        now_state = sweep_state(obj)
        if now_state["sweeps"] > state["sweeps"]:
            done.update(now_state)
            return f"WalletSwept: {ton(now_state['lastAmountNano'])} TON in tx {now_state['lastTxHash']}", OK
        reason = condition(obj.get("status") or {}, "RewardsHealthy").get("message", "")
        return (
            "SweepPending: the transfer is in flight" if now_state["pending"] else f"waiting: {reason}"
        ), None

    try:
        code = _wait(console, f"sweep of {namespace}/{name}", poll, timeout_s)
    finally:
        restore = nano_to_ton(previous) if previous is not None else None
        kube.patch(namespace, name, {"spec": {"rewards": {"sweepAbove": restore}}})
        console.print(
            "Sweep ceiling restored: " + (f"{restore} TON" if restore else "sweeping off"), highlight=False
        )
    return TIMED_OUT if code is None else code
