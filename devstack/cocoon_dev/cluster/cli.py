"""`cocoon-dev cluster up|down|status|nodes apply`."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from .components import ClusterOptions
from .errors import ClusterError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "cluster",
        help="local Kubernetes control plane with a fake confidential GPU fleet",
        description="etcd, kube-apiserver, kube-controller-manager, kube-scheduler and KWOK on 127.0.0.1.",
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="cluster work dir (default: $COCOON_DEV_HOME/cluster)"
    )
    sub = parser.add_subparsers(dest="cluster_command", required=True)

    p_up = sub.add_parser("up", help="start the cluster (or reuse the running one) and apply the fleet")
    p_up.add_argument(
        "--fleet",
        default="default",
        help="fleet profile name or YAML path to apply (default: default; 'none' for no nodes)",
    )
    p_up.add_argument(
        "--extended-resource-toleration",
        action="store_true",
        help="enable the ExtendedResourceToleration admission plugin",
    )
    p_up.add_argument(
        "--apiserver-port", type=int, default=None, help="fixed API server port (default: a free one)"
    )
    p_up.add_argument(
        "--pod-cidr",
        default=ClusterOptions.pod_cidr,
        help="range KWOK assigns pod IPs from (default: %(default)s: loopback, bindable locally)",
    )
    p_up.add_argument("--no-build", action="store_true", help="fail instead of building missing binaries")
    p_up.set_defaults(func=_up)

    p_down = sub.add_parser("down", help="stop every process of the cluster")
    p_down.add_argument("--purge", action="store_true", help="also delete the work dir (data, PKI, logs)")
    p_down.set_defaults(func=_down)

    p_status = sub.add_parser("status", help="show pids, ports, logs and the kubeconfig")
    p_status.add_argument("--json", action="store_true", help="print one JSON object")
    p_status.set_defaults(func=_status)

    p_nodes = sub.add_parser("nodes", help="fake node fleets")
    nodes_sub = p_nodes.add_subparsers(dest="nodes_command", required=True)
    p_apply = nodes_sub.add_parser("apply", help="create or update the nodes of a fleet profile")
    p_apply.add_argument("profile", help="built-in profile name (default, large) or a YAML file")
    p_apply.add_argument("--scale", type=int, default=1, help="multiply every group's node count")
    p_apply.add_argument(
        "--prune", action="store_true", help="delete nodes of this profile it no longer declares"
    )
    p_apply.add_argument("--no-wait", action="store_true", help="do not wait for the nodes to be Ready")
    p_apply.set_defaults(func=_nodes_apply)
    p_list = nodes_sub.add_parser("profiles", help="list the built-in fleet profiles")
    p_list.set_defaults(func=_nodes_profiles)


def _echo(line: str) -> None:
    print(line, flush=True)


def _fail(exc: ClusterError) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 1


def _kubectl_hint(info: dict[str, Any]) -> str:
    return f"{shlex.quote(info['kubectl'])} --kubeconfig {shlex.quote(info['kubeconfig'])}"


def _up(args: argparse.Namespace) -> int:
    from . import launcher

    opts = ClusterOptions(
        extended_resource_toleration=args.extended_resource_toleration,
        apiserver_port=args.apiserver_port,
        pod_cidr=args.pod_cidr,
    )
    fleet = None if args.fleet == "none" else args.fleet
    t0 = time.monotonic()
    try:
        state, reused = launcher.up(args.workdir, opts, fleet=fleet, build=not args.no_build, echo=_echo)
    except ClusterError as exc:
        return _fail(exc)
    info = launcher.status(args.workdir)
    verb = "reused" if reused else "up"
    print(
        f"cluster {verb} in {time.monotonic() - t0:.1f} s: {state.server} (Kubernetes v{state.k8s_version})"
    )
    print(f"kubeconfig: {state.kubeconfig}")
    print(f"kubectl:    {_kubectl_hint(info)}   (or {info['kubectl_wrapper']})")
    return 0


def _down(args: argparse.Namespace) -> int:
    from . import launcher

    try:
        launcher.down(args.workdir, purge=args.purge, echo=_echo)
    except ClusterError as exc:
        return _fail(exc)
    print("cluster down: no process of it is left")
    return 0


def _status(args: argparse.Namespace) -> int:
    from . import launcher

    info = launcher.status(args.workdir)
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"running:    {'yes' if info['running'] else 'no'}")
    print(f"workdir:    {info['workdir']}")
    print(f"kubeconfig: {info['kubeconfig']}")
    if info["server"]:
        print(f"server:     {info['server']} (Kubernetes v{info['k8s_version']})")
    for name, pid in info["pids"].items():
        state = "alive" if info["alive"].get(name) else "DEAD"
        print(f"  {name:<24} pid {pid:<8} {state:<5} log {info['logs'][name]}")
    if info["ports"]:
        print("ports:      " + ", ".join(f"{k}={v}" for k, v in info["ports"].items()))
    print(f"kubectl:    {_kubectl_hint(info)}")
    print(
        f"            (the built kubectl v{info['k8s_version']}; the installed one is too old), "
        f"or {info['kubectl_wrapper']}"
    )
    return 0


def _nodes_apply(args: argparse.Namespace) -> int:
    from . import launcher
    from .nodes import apply_profile

    info = launcher.status(args.workdir)
    if not info["running"]:
        return _fail(
            ClusterError(f"the cluster in {info['workdir']} is not running; run `cocoon-dev cluster up`")
        )
    t0 = time.monotonic()
    try:
        count = apply_profile(
            Path(info["kubeconfig"]),
            args.profile,
            scale=args.scale,
            wait_ready_s=None if args.no_wait else 300.0,
            prune_old=args.prune,
        )
    except ClusterError as exc:
        return _fail(exc)
    print(f"fleet {args.profile}: {count} nodes applied in {time.monotonic() - t0:.1f} s")
    return 0


def _nodes_profiles(args: argparse.Namespace) -> int:
    from .fleet import builtin_profiles, load_profile

    for name in builtin_profiles():
        profile = load_profile(name)
        print(f"{name:<10} {len(profile.nodes())} nodes  {profile.description}")
    return 0
