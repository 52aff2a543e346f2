"""The project's Kubernetes client against lightkube, on the same workload. Not a test.

    .venv/bin/pip install lightkube        # not a dependency of the project: only this comparison
    .venv/bin/python -m bench.k8s_clients [--objects 300] [--concurrency 16] [--rounds 2]

Starts its own control plane (the dev stack's launcher, no fleet, a temp COCOON_DEV_HOME), then runs
the same workload with each client, each in its own process (alternating, `--rounds` times):
N ConfigMaps created (POST), read (GET), listed (30 LISTs of the namespace), merge-patched,
server-side applied and deleted, `--concurrency` requests in flight. Objects are plain JSON for
`kubeclient` (the operator's `KubeClient`, as the operator uses it) and lightkube's typed models for
`lightkube` (its documented use; `lightkube.codecs` turns the dicts into models).

Prints one JSON object per run: seconds per phase, requests per second over all phases, CPU seconds
of the client process, its peak RSS (imports included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

LISTS = 30


def configmap(ns: str, i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"cm-{i:04d}", "namespace": ns, "labels": {"bench": "k8s-clients"}},
        "data": {"worker-config.json": json.dumps({"i": i, "pad": "x" * 512})},
    }


async def bounded(n: int, concurrency: int, call: Callable[[int], Awaitable[Any]]) -> None:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await call(i)

    await asyncio.gather(*(one(i) for i in range(n)))


async def kubeclient_workload(kubeconfig: str, ns: str, n: int, concurrency: int) -> dict[str, float]:
    from cocoon_operator.k8s import KubeClient
    from cocoon_operator.k8s.config import load

    phases: dict[str, float] = {}
    async with KubeClient(load(kubeconfig)) as kube:
        await kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": ns}})

        async def timed(name: str, call: Callable[[int], Awaitable[Any]], count: int = n) -> None:
            t0 = time.perf_counter()
            await bounded(count, concurrency, call)
            phases[name] = time.perf_counter() - t0

        await timed("create", lambda i: kube.create(configmap(ns, i)))
        await timed("get", lambda i: kube.get("v1", "ConfigMap", ns, f"cm-{i:04d}"))
        await timed(
            "list", lambda i: kube.list("v1", "ConfigMap", ns, label_selector="bench=k8s-clients"), LISTS
        )
        await timed(
            "patch", lambda i: kube.patch("v1", "ConfigMap", ns, f"cm-{i:04d}", {"data": {"x": str(i)}})
        )
        await timed("apply", lambda i: kube.apply(configmap(ns, i)))
        await timed("delete", lambda i: kube.delete("v1", "ConfigMap", ns, f"cm-{i:04d}"))
        await kube.request("DELETE", f"/api/v1/namespaces/{ns}")
    return phases


async def lightkube_workload(kubeconfig: str, ns: str, n: int, concurrency: int) -> dict[str, float]:
    from lightkube import AsyncClient, KubeConfig
    from lightkube.codecs import from_dict
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.core_v1 import ConfigMap, Namespace
    from lightkube.types import PatchType

    phases: dict[str, float] = {}
    client = AsyncClient(config=KubeConfig.from_file(kubeconfig), field_manager="bench")
    try:
        await client.create(Namespace(metadata=ObjectMeta(name=ns)))

        async def timed(name: str, call: Callable[[int], Awaitable[Any]], count: int = n) -> None:
            t0 = time.perf_counter()
            await bounded(count, concurrency, call)
            phases[name] = time.perf_counter() - t0

        async def list_all(_: int) -> None:
            async for _obj in client.list(ConfigMap, namespace=ns, labels={"bench": "k8s-clients"}):
                pass

        await timed("create", lambda i: client.create(from_dict(configmap(ns, i))))
        await timed("get", lambda i: client.get(ConfigMap, f"cm-{i:04d}", namespace=ns))
        await timed("list", list_all, LISTS)
        patch = PatchType.MERGE
        await timed(
            "patch",
            lambda i: client.patch(
                ConfigMap, f"cm-{i:04d}", {"data": {"x": str(i)}}, namespace=ns, patch_type=patch
            ),
        )
        await timed("apply", lambda i: client.apply(from_dict(configmap(ns, i)), force=True))
        await timed("delete", lambda i: client.delete(ConfigMap, f"cm-{i:04d}", namespace=ns))
        await client.delete(Namespace, ns)
    finally:
        await client.close()
    return phases


def run_one(variant: str, kubeconfig: str, ns: str, n: int, concurrency: int) -> dict[str, Any]:
    workload = kubeclient_workload if variant == "kubeclient" else lightkube_workload
    c0 = time.process_time()
    t0 = time.perf_counter()
    phases = asyncio.run(workload(kubeconfig, ns, n, concurrency))
    wall = time.perf_counter() - t0
    requests = 5 * n + LISTS
    return {
        "client": variant,
        "objects": n,
        "concurrency": concurrency,
        "phases_s": {k: round(v, 3) for k, v in phases.items()},
        "requests_per_s": round(requests / sum(phases.values()), 1),
        "cpu_s": round(time.process_time() - c0, 2),
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.k8s_clients", description=__doc__)
    parser.add_argument("--objects", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--variant", choices=("kubeclient", "lightkube"), help=argparse.SUPPRESS)
    parser.add_argument("--kubeconfig", help=argparse.SUPPRESS)
    parser.add_argument("--namespace", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.variant:
        print(
            json.dumps(run_one(args.variant, args.kubeconfig, args.namespace, args.objects, args.concurrency))
        )
        return 0
    home = Path(tempfile.mkdtemp(prefix="cocoon-k8s-clients-"))
    os.environ["COCOON_DEV_HOME"] = str(home)
    from cocoon_dev.cluster import launcher

    workdir = home / "cluster"
    try:
        state, _ = launcher.up(workdir, None, None, False)
        for r in range(args.rounds):
            for variant in ("kubeclient", "lightkube"):
                cmd = [sys.executable, "-m", "bench.k8s_clients", "--variant", variant,
                       "--kubeconfig", state.kubeconfig, "--namespace", f"{variant}-{r}",
                       "--objects", str(args.objects), "--concurrency", str(args.concurrency)]  # fmt: skip
                out = subprocess.run(cmd, capture_output=True, text=True, check=True)
                print(out.stdout.strip(), flush=True)
    finally:
        launcher.down(workdir)
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
