"""Top-level `cocoon-dev up|down|status|logs|demo`: the whole provider stack with one command."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from cocoon_dev.paths import component_dir, dev_home
from cocoon_dev.stack.commands import StepFailed


def register(subparsers: Any) -> None:
    p_up = subparsers.add_parser(
        "up",
        help="bring the whole stack up (cluster, chain, chart, operator, runtime, samples); reuses what runs",
        description="Control plane + fleet, TON chain + COCOON network, Helm chart (CRDs + RBAC), "
        "the operator as a process with the chart's ServiceAccount, the local runtime, "
        "and sample CocoonNodes.",
    )
    p_up.add_argument("-v", "--verbose", action="store_true", help="echo every line of the sub-commands")
    p_up.add_argument("--keep-on-failure", action="store_true", help="leave started components up on failure")
    p_up.set_defaults(func=_up)

    p_down = subparsers.add_parser("down", help="stop everything the stack started, by pid, reverse order")
    p_down.add_argument(
        "--purge",
        action="store_true",
        help="then delete all state (cluster data, chain, logs): a fresh start",
    )
    p_down.set_defaults(func=_down)

    p_status = subparsers.add_parser("status", help="what runs and where (kubeconfig, chain config, logs)")
    p_status.add_argument("--json", action="store_true", help="print one JSON object")
    p_status.set_defaults(func=_status)

    p_logs = subparsers.add_parser("logs", help="show (or follow) a component's log")
    p_logs.add_argument(
        "component",
        help="operator, runtime, chain, cluster (= kube-apiserver) or a cluster process name "
        "(etcd, kube-scheduler, ...), or a step log of `up` (helm, ...)",
    )
    p_logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    p_logs.add_argument("-n", "--lines", type=int, default=40, help="lines to show first (default 40)")
    p_logs.set_defaults(func=_logs)

    p_demo = subparsers.add_parser(
        "demo",
        help="`up`, then a live view of the fleet until the first claims are confirmed on chain",
        description="Ctrl-C stops the whole stack. With --exit-after-claims N it runs non-interactively and "
        "exits 0 once N claims are confirmed on chain (the stack stays up until `cocoon-dev down`).",
    )
    p_demo.add_argument("--exit-after-claims", type=int, default=None, metavar="N")
    p_demo.add_argument(
        "--timeout", type=float, default=None, metavar="SECONDS",
        help="give up after this long watching (default: 900 s with --exit-after-claims, else 1800 s)",
    )  # fmt: skip
    p_demo.add_argument("-v", "--verbose", action="store_true")
    p_demo.set_defaults(func=_demo)


def _console() -> Console:
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:  # logs and pipes: wide enough for the fleet table (rich's default is 80)
        console = Console(highlight=False, soft_wrap=True, width=200)
    return console


def _up(args: argparse.Namespace) -> int:
    from cocoon_dev.stack import steps

    try:
        steps.up(_console(), verbose=args.verbose, keep_on_failure=args.keep_on_failure)
    except StepFailed:
        return 1
    _print_status(collect_status())
    return 0


def _down(args: argparse.Namespace) -> int:
    from cocoon_dev.stack import steps

    return steps.down(_console(), purge=args.purge)


def _demo(args: argparse.Namespace) -> int:
    from cocoon_dev.stack import demo

    if args.exit_after_claims is not None and args.exit_after_claims < 1:
        print("error: --exit-after-claims must be at least 1", file=sys.stderr)
        return 2
    timeout = args.timeout if args.timeout is not None else (900.0 if args.exit_after_claims else 1800.0)
    return demo.run(_console(), exit_after=args.exit_after_claims, timeout_s=timeout, verbose=args.verbose)


# ----------------------------------------------------------------------------------------- status


def collect_status() -> dict[str, Any]:
    from cocoon_dev.stack import operator_proc, steps

    def quiet(fn: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = fn()
        except StepFailed as exc:
            return {"running": False, "error": str(exc)}
        return result

    cluster = quiet(steps.cluster_status)
    chain = quiet(steps.chain_status)
    runtime = quiet(steps.runtime_status)
    op = operator_proc.running()
    return {
        "home": str(dev_home()),
        "cluster": {
            "running": bool(cluster.get("running")),
            "kubeconfig": cluster.get("kubeconfig"),
            "server": cluster.get("server"),
            "kubectl": cluster.get("kubectl"),
            "pids": cluster.get("pids", {}),
            "logs": cluster.get("logs", {}),
        },
        "chain": {
            "running": bool(chain.get("running")),
            "pid": chain.get("pid"),
            "liteserver": chain.get("liteserver"),
            "global_config": chain.get("global_config"),
            "network_file": chain.get("network_file"),
            "root": chain.get("root"),
            "owner": chain.get("owner"),
            "log": chain.get("log"),
        },
        "helm": {
            "release": f"{steps.RELEASE_NAMESPACE}/{steps.RELEASE}",
            "log": str(steps.logs_dir() / "helm.log"),
        },
        "operator": {
            "running": op is not None,
            "pid": op[0].pid if op else None,
            "identity": f"system:serviceaccount:{steps.RELEASE_NAMESPACE}:{steps.RELEASE}",
            "kubeconfig": str(operator_proc.kubeconfig_path()),
            "metrics": op[1].get("metrics") if op else None,
            "log": str(operator_proc.log_path()),
        },
        "runtime": {
            "running": bool(runtime.get("running")),
            "pid": runtime.get("pid"),
            "pods": {
                name: {
                    "ip": p.get("ip"),
                    "pids": {c: proc["pid"] for c, proc in (p.get("procs") or {}).items()},
                }
                for name, p in (runtime.get("pods") or {}).items()
            },
            "log": str(component_dir("runtime") / "kubelet.log"),
        },
        "stack_logs": str(steps.logs_dir()),
    }


def _print_status(info: dict[str, Any]) -> None:
    def yes(flag: bool) -> str:
        return "[green]running[/green]" if flag else "[red]not running[/red]"

    c = _console()
    cl, ch, op, rt = info["cluster"], info["chain"], info["operator"], info["runtime"]
    c.print(f"[bold]cocoon-dev stack[/bold] (state in {info['home']})")
    c.print(f"  cluster   {yes(cl['running'])}  {cl.get('server') or ''}")
    c.print(f"            kubeconfig {cl.get('kubeconfig')}")
    if cl.get("kubectl"):
        c.print(f"            kubectl    {cl['kubectl']} --kubeconfig {cl['kubeconfig']} get cn -A")
    c.print(f"  chain     {yes(ch['running'])}  liteserver {ch.get('liteserver')}  pid {ch.get('pid')}")
    c.print(f"            global config {ch.get('global_config')}")
    c.print(f"            network       {ch.get('network_file')}  (dev keys: never use with real money)")
    c.print(f"            log           {ch.get('log')}")
    c.print(f"  helm      release {info['helm']['release']} (CRDs + RBAC; replicaCount=0)")
    c.print(f"  operator  {yes(op['running'])}  pid {op.get('pid')} as {op['identity']}")
    c.print(f"            metrics {op.get('metrics')}")
    c.print(f"            log {op['log']}")
    c.print(f"  runtime   {yes(rt['running'])}  pid {rt.get('pid')}, {len(rt['pods'])} worker pod(s)")
    for name, pod in rt["pods"].items():
        pids = ", ".join(f"{k}={v}" for k, v in pod["pids"].items()) or "-"
        c.print(f"            {name} on {pod['ip']}: {pids}")
    c.print(f"            log {rt['log']}")
    c.print(
        "  logs      `cocoon-dev logs <operator|runtime|chain|cluster|helm>`; "
        f"step logs in {info['stack_logs']}"
    )


def _status(args: argparse.Namespace) -> int:
    info = collect_status()
    if args.json:
        print(json.dumps(info))
    else:
        _print_status(info)
    return 0


# ----------------------------------------------------------------------------------------- logs


def log_file(component: str) -> Path | None:
    from cocoon_dev.stack import operator_proc, steps

    if component == "operator":
        return operator_proc.log_path()
    if component == "runtime":
        return component_dir("runtime") / "kubelet.log"
    if component == "chain":
        return component_dir("chain") / "chain.log"
    step_log = steps.logs_dir() / f"{component}.log"
    if component in ("cluster", "etcd", "kwok") or component.startswith("kube-"):
        try:
            logs = steps.cluster_status().get("logs", {})
        except StepFailed:
            logs = {}
        name = "kube-apiserver" if component == "cluster" else component
        if name in logs:
            return Path(logs[name])
        stopped = component_dir("cluster") / "logs" / f"{name}.log"  # the cluster is down: its last log
        if stopped.exists():
            return stopped
    return step_log if step_log.exists() else None


def _logs(args: argparse.Namespace) -> int:
    path = log_file(args.component)
    if path is None or not path.exists():
        print(f"error: no log for {args.component!r} (yet); see `cocoon-dev status`", file=sys.stderr)
        return 1
    print(f"==> {path} <==", file=sys.stderr)
    with path.open(errors="replace") as fh:
        lines = fh.readlines()
        sys.stdout.writelines(lines[-args.lines :] if args.lines > 0 else [])
        sys.stdout.flush()
        if not args.follow:
            return 0
        try:
            while True:
                line = fh.readline()
                if line:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                else:
                    time.sleep(0.3)
        except KeyboardInterrupt:
            return 0
