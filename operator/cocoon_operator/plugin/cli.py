"""`kubectl cocoon <command>` (the executable `kubectl-cocoon` on PATH makes it a kubectl plugin).

kubectl cocoon fleet [-A | -n NS] [-o table|wide|json] [--chain] [--metrics-url URL] [-w]
kubectl cocoon earnings [-A | -n NS] [--since 7d] [--by day|week|month] [-o table|json] [--no-chain]
kubectl cocoon claim NAME [-n NS] [--timeout 600] [--no-chain]
kubectl cocoon pause NAME [-n NS] / kubectl cocoon resume NAME [-n NS]
kubectl cocoon sweep NAME [-n NS] [--above TON | --off | --now]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from cocoon_operator import __version__
from cocoon_operator.api.units import parse_duration, ton_to_nano
from cocoon_operator.plugin import actions, earnings, fleet
from cocoon_operator.plugin.chain import Chains
from cocoon_operator.plugin.kube import Kube, KubeError
from cocoon_operator.plugin.table import fleet_table, placement_notes, short, ton


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    common.add_argument("--context", help="kubeconfig context (default: the current one)")
    common.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    return common


def _parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="kubectl cocoon", description="COCOON workers on Kubernetes: the fleet and its money"
    )
    parser.add_argument("--version", action="version", version=f"kubectl-cocoon {__version__}")
    cmds = parser.add_subparsers(dest="command", required=True)

    f = cmds.add_parser("fleet", parents=[common], help="the fleet table")
    f.add_argument("-A", "--all-namespaces", action="store_true")
    f.add_argument("-o", "--output", choices=("table", "wide", "json"), default="table")
    f.add_argument("--chain", action="store_true", help="read wallet balances from the chain now")
    f.add_argument("--metrics-url", help="the operator's /metrics (default: through its Service)")
    f.add_argument("-w", "--watch", action="store_true", help="refresh every 2 s until Ctrl-C")

    e = cmds.add_parser("earnings", parents=[common], help="earnings per owner and period")
    e.add_argument("-A", "--all-namespaces", action="store_true")
    e.add_argument("--since", default="7d", help="window of chain payouts: 24h, 7d, 30d (default 7d)")
    e.add_argument("--by", choices=("day", "week", "month"), default="day")
    e.add_argument("-o", "--output", choices=("table", "json"), default="table")
    e.add_argument("--no-chain", action="store_true", help="status only (no liteserver access)")

    c = cmds.add_parser("claim", parents=[common], help="ask for a claim now and wait for it on chain")
    c.add_argument("name")
    c.add_argument("--timeout", type=float, default=900.0, help="seconds to wait (default 900)")
    c.add_argument("--no-chain", action="store_true", help="trust the operator's chain check only")

    for verb in ("pause", "resume"):
        p = cmds.add_parser(verb, parents=[common], help=f"{verb} a worker (spec.paused)")
        p.add_argument("name")
        p.add_argument("--timeout", type=float, default=60.0)

    s = cmds.add_parser("sweep", parents=[common], help="the wallet's surplus to the owner")
    s.add_argument("name")
    how = s.add_mutually_exclusive_group()
    how.add_argument("--above", metavar="TON", help="sweep whatever the wallet holds above TON, from now on")
    how.add_argument("--off", action="store_true", help="stop sweeping")
    how.add_argument("--now", action="store_true", help="one sweep now, then the ceiling as it was")
    s.add_argument("--timeout", type=float, default=300.0)
    return parser


def _since_seconds(text: str) -> int:
    if text.endswith("d") and text[:-1].isdigit():
        return int(text[:-1]) * 86400
    return parse_duration(text)


def _fleet_render(view: fleet.FleetView, *, all_ns: bool, wide: bool, namespace: str) -> Group:
    title = "COCOON fleet (all namespaces)" if all_ns else f"COCOON fleet (namespace {namespace})"
    parts: list[Any] = [fleet_table(view.rows, title=title, namespaces=all_ns, wallet_address=wide)]
    parts += placement_notes(view.rows)
    sources = [f"wallet balances from {'the chain (now)' if view.wallet_source == 'chain' else 'status'}"]
    sources.append(
        f"requests/tokens from {view.traffic_source}" if view.traffic_source else "no traffic figures"
    )
    parts.append(Text("  " + "; ".join(sources), style="dim"))
    parts += [Text(f"  {p}", style="yellow") for p in view.problems]
    return Group(*parts)


def _fleet(kube: Kube, console: Console, args: argparse.Namespace, namespace: str | None) -> int:
    def view() -> fleet.FleetView:
        return asyncio.run(fleet.gather(kube, namespace, metrics_url=args.metrics_url, chain=args.chain))

    shown = namespace or ""
    if args.output == "json":
        got = view()
        print(
            json.dumps(
                {
                    "items": [r.to_json() for r in got.rows],
                    "walletSource": got.wallet_source,
                    "trafficSource": got.traffic_source,
                    "problems": list(got.problems),
                },
                indent=2,
            )
        )
        return 0
    wide = args.output == "wide"
    if not args.watch:
        console.print(_fleet_render(view(), all_ns=namespace is None, wide=wide, namespace=shown))
        return 0
    with Live(console=console, refresh_per_second=2) as live:
        try:
            while True:
                live.update(_fleet_render(view(), all_ns=namespace is None, wide=wide, namespace=shown))
                time.sleep(2)
        except KeyboardInterrupt:
            return 0


def _earnings(kube: Kube, console: Console, args: argparse.Namespace, namespace: str | None) -> int:
    since = int(time.time()) - _since_seconds(args.since)
    objs = kube.cocoonnodes(namespace)

    async def gather() -> tuple[list[earnings.OwnerEarnings], list[str]]:
        chains = None if args.no_chain else Chains(kube)
        try:
            return await earnings.gather(objs, chains, since=since, period=args.by), (
                chains.errors if chains else []
            )
        finally:
            if chains is not None:
                await chains.close()

    owners, problems = asyncio.run(gather())
    if args.output == "json":
        data = {"since": since, "by": args.by, "owners": [o.to_json() for o in owners], "problems": problems}
        print(json.dumps(data, indent=2))
        return 0
    summary = Table(
        title=f"Earnings per owner (payouts since {args.since} ago, from the chain)", title_justify="left"
    )
    for col in ("owner", "CocoonNodes", "claimable TON", "claimed TON (ledger)", f"paid TON ({args.since})"):
        summary.add_column(col, justify="left" if col in ("owner", "CocoonNodes") else "right")
    periods = Table(title=f"Payouts per {args.by}", title_justify="left")
    for col in (args.by, "owner", "payouts", "TON"):
        periods.add_column(col, justify="right" if col in ("payouts", "TON") else "left")
    for o in owners:
        paid = ton(o.paid_nano) if o.chain_read else "—"
        if o.chain_read and not o.scan_complete:
            paid += " (partial)"
        summary.add_row(short(o.owner), ", ".join(o.nodes), ton(o.claimable_nano), ton(o.claimed_nano), paid)
        for start, (count, nano) in sorted(o.periods.items()):
            periods.add_row(start, short(o.owner), str(count), ton(nano))
    console.print(summary)
    if any(o.periods for o in owners):
        console.print(periods)
    for p in problems:
        console.print(f"  {p}", style="yellow", highlight=False)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console(highlight=False)
    try:
        kube = Kube.connect(args.kubeconfig, args.context)
    except KubeError as exc:
        console.print(f"error: {exc}", style="red", highlight=False)
        return 1
    namespace = args.namespace or kube.namespace
    try:
        if args.command == "fleet":
            return _fleet(kube, console, args, None if args.all_namespaces else namespace)
        if args.command == "earnings":
            return _earnings(kube, console, args, None if args.all_namespaces else namespace)
        if args.command == "claim":
            return actions.claim(
                kube, console, namespace, args.name, timeout_s=args.timeout, chain=not args.no_chain
            )
        if args.command in ("pause", "resume"):
            paused = args.command == "pause"
            return actions.set_paused(
                kube, console, namespace, args.name, paused=paused, timeout_s=args.timeout
            )
        if args.command == "sweep":
            if args.above is not None:
                ton_to_nano(args.above)  # a clear error for a malformed amount
            return actions.sweep(
                kube, console, namespace, args.name,
                above=args.above, off=args.off, now=args.now, timeout_s=args.timeout,
            )  # fmt: skip
    except (KubeError, ValueError) as exc:
        console.print(f"error: {exc}", style="red", highlight=False)
        return 1
    finally:
        kube.close()
    return 2


if __name__ == "__main__":
    sys.exit(main())
