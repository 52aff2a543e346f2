"""Scale benchmark: the operator against the cluster's own controllers (issue 9). Not a test.

    .venv/bin/python -m bench.scale --nodes N [--repeat R] [--steady-s S] [--profile]

One invocation = one size N, R repetitions on one private cluster (own COCOON_DEV_HOME in a temp dir,
own pod CIDR, so it never touches the dev or test clusters). Per repetition:

1. baseline: N one-replica StatefulSets, built by the operator's pure builders, created directly with
   the operator stopped -> time until all N pods are Running and Ready; then deleted;
2. operator: `cocoon-operator run --namespace NS` started, N CocoonNodes created -> time until all have
   Scheduled=True and InferenceReady=True and all N pods are Running and Ready;
3. steady state (nothing changes) for S seconds: API requests per verb/resource from the API server's
   `apiserver_request_total` (differences of two scrapes), the operator's own write counter (its
   `writes` probe), CPU seconds and RSS of the operator process;
4. churn: one spec change (workerCoefficient) -> time to observedGeneration and to the new pod Ready;
5. background: the operator stopped for a window -> the same counters without it (subtracted);
6. restart: every CocoonNode's status.nodeName made stale while the operator is down, operator started
   -> time until every status is current again.

Prints progress on stderr and, as its LAST stdout line, one JSON object (medians over the repetitions).
Writes `bench/results/scale-N-<stamp>.json` and `.md`; `python -m bench.report` draws the plot.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from tenacity import AsyncRetrying, retry_if_result, stop_after_delay, wait_fixed

from bench import fleet as bench_fleet
from bench import kube as api
from bench.harness import (
    REPO,
    RUNNING,
    STOP,
    Operator,
    Sampler,
    check_stop,
    hwm_mb,
    log,
    machine,
    operator_version,
    pause,
    py_spy_record,
)
from bench.kube import diff, scrape
from bench.observe import (
    GROUP,
    cn_conditions,
    cn_done,
    cocoonnodes_of,
    pipeline,
    pod_ready,
    pods_of,
    probe_pod_ip,
    quantiles,
    summarize_requests,
    timestamp,
    wait_for,
)
from cocoon_dev import procs
from cocoon_dev.informer import Informer
from cocoon_operator.k8s import KubeClient

RESULTS = REPO / "bench" / "results"
CN_PATH = "/apis/cocoon.tonops.dev/v1alpha1/namespaces/{ns}/cocoonnodes"


# ----- phases -----------------------------------------------------------------------------------------


async def ensure_namespace(kube: KubeClient, ns: str) -> None:
    await api.create(
        kube, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
    )


async def delete_namespace(kube: KubeClient, ns: str, timeout: float) -> float:
    """Tear a namespace down completely before the next phase starts.

    The owners go first (CocoonNodes, StatefulSets; background propagation): deleting only the namespace
    removes pods before their StatefulSets, and the StatefulSet controller then spends its few workers
    failing to recreate them in the terminating namespace ("forbidden: ... being terminated"), for
    ~27 s at N = 300 — time the next phase would be charged for. Then wait until the namespace is gone.
    """
    t0 = time.monotonic()
    background = {"propagationPolicy": "Background"}
    for path in (CN_PATH.format(ns=ns), f"/apis/apps/v1/namespaces/{ns}/statefulsets"):
        await api.delete(kube, path, {"kind": "DeleteOptions", "apiVersion": "v1", **background})
    # The operator may be stopped by now: release its finalizers, or the namespace never goes.
    left = await api.get(kube, CN_PATH.format(ns=ns)) or {"items": []}
    release = {"metadata": {"finalizers": None}}
    await api.merge_patch_all(
        kube,
        ((f"{CN_PATH.format(ns=ns)}/{o['metadata']['name']}", release) for o in left["items"]),
        ok_missing=True,
    )
    await api.delete(kube, f"/api/v1/namespaces/{ns}")
    while time.monotonic() - t0 < timeout:
        if await api.get(kube, f"/api/v1/namespaces/{ns}") is None:
            return time.monotonic() - t0
        await pause(2.0)
    log(f"namespace {ns}: still present after {timeout:.0f} s")
    return time.monotonic() - t0


COLLECTION = {
    "ConfigMap": "/api/v1/namespaces/{ns}/configmaps",
    "Secret": "/api/v1/namespaces/{ns}/secrets",
    "Service": "/api/v1/namespaces/{ns}/services",
    "NetworkPolicy": "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
    "PodDisruptionBudget": "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets",
    "StatefulSet": "/apis/apps/v1/namespaces/{ns}/statefulsets",
}


async def baseline(
    kube: KubeClient, n: int, ns: str, timeout: float, *, full: bool = False
) -> dict[str, Any]:
    """N StatefulSets created directly; `full`: with every other child the operator creates (the
    control plane's own cost of those objects, e.g. endpoints and disruption controllers, is then in
    the baseline too, and the ratio shows the operator's own overhead)."""
    await ensure_namespace(kube, ns)
    cns = [bench_fleet.cocoonnode(f"w{i:04d}", i) for i in range(n)]
    if full:
        objs = [o for cn in cns for o in bench_fleet.baseline_children(cn, ns)]
    else:
        objs = [bench_fleet.baseline_statefulset(cn, ns) for cn in cns]
    pods = pods_of(kube, ns)
    await pods.start()
    t0, t0_wall = time.monotonic(), time.time()
    await api.create_all(kube, ((COLLECTION[o["kind"]].format(ns=ns), o) for o in objs))
    created = time.monotonic() - t0
    ok = await wait_for(pods, lambda o: sum(pod_ready(p) for p in o.values()) >= n, timeout)
    total = time.monotonic() - t0
    stages = await pipeline(kube, ns, t0_wall)
    log(f"  stages: {json.dumps(stages)}")
    ready = sum(pod_ready(p) for p in pods.objects.values())
    await pods.stop()
    flag = "" if ok else " TIMEOUT"
    what = "full baseline" if full else "baseline"
    log(f"{what} N={n}: {ready}/{n} pods Ready in {total:.1f} s (created in {created:.1f} s){flag}")
    prefix = "baseline_full" if full else "baseline"
    return {
        f"{prefix}_s": total if ok else None,
        f"{prefix}_create_s": created,
        f"{prefix}_ready": ready,
        f"{prefix}_stages": stages,
    }


@dataclass
class Cluster:
    kube: KubeClient
    kubeconfig: str
    workdir: Path
    n: int
    args: argparse.Namespace


async def operator_rep(c: Cluster, rep: int, sampler_out: dict[str, Any]) -> dict[str, Any]:
    kube, n, args = c.kube, c.n, c.args
    ns = f"op-{rep}"
    await ensure_namespace(kube, ns)
    for obj in bench_fleet.support_objects():
        kind_path = "configmaps" if obj["kind"] == "ConfigMap" else "secrets"
        await api.create(kube, f"/api/v1/namespaces/{ns}/{kind_path}", obj)
    op_env = {"COCOON_RESYNC_SECONDS": str(args.resync_s), "COCOON_HEALTH_PROBES": args.health_probes}
    op = Operator(c.kubeconfig, ns, c.workdir, op_env)
    pid = op.start()
    live_s = await op.wait_live()
    sampler = Sampler(pid)
    sampler.start()
    log(f"operator pid {pid} live in {live_s:.1f} s")
    cns = [bench_fleet.cocoonnode(f"w{i:04d}", i) for i in range(n)]
    cn_path = CN_PATH.format(ns=ns)
    cn_track = cocoonnodes_of(kube, ns)
    pod_track = pods_of(kube, ns)
    await cn_track.start()
    await pod_track.start()
    profiler = py_spy_record(pid, RESULTS / f"profile-{n}-{rep}-create.txt") if args.profile else None
    cpu0 = sampler.cpu_at()
    m0 = await scrape(kube)
    t0, t0_wall = time.monotonic(), time.time()
    await api.create_all(kube, ((cn_path, o) for o in cns))
    created = time.monotonic() - t0
    times: dict[str, float | None] = {}

    async def until(label: str, tracker: Informer, pred: Callable[[dict[str, dict[str, Any]]], bool]) -> None:
        ok = await wait_for(tracker, pred, args.timeout)
        times[label] = time.monotonic() - t0 if ok else None

    await asyncio.gather(
        until(
            "scheduled_s",
            cn_track,
            lambda o: sum(cn_conditions(x).get("Scheduled") == "True" for x in o.values()) >= n,
        ),
        until("pods_ready_s", pod_track, lambda o: sum(pod_ready(p) for p in o.values()) >= n),
        until("inference_ready_s", cn_track, lambda o: sum(cn_done(x, True) for x in o.values()) >= n),
    )
    done = [v for v in times.values()]
    operator_s = max(done) if all(v is not None for v in done) else None  # type: ignore[type-var]
    t_ready = time.monotonic()
    load_at_ready = os.getloadavg()[0]
    create_cpu = sampler.cpu_at() - cpu0
    create_req = summarize_requests(diff(await scrape(kube), m0))
    stages = await pipeline(kube, ns, t0_wall)
    stages["inference_ready"] = quantiles(
        [
            t
            for x in cn_track.objects.values()
            for c in (x.get("status") or {}).get("conditions") or []
            if c.get("type") == "InferenceReady" and c.get("status") == "True"
            for t in [timestamp(c.get("lastTransitionTime"))]
            if t is not None
        ],
        t0_wall,
    )
    log(f"  stages: {json.dumps(stages)}")
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            profiler.wait(timeout=30)
    sched = sum(cn_conditions(x).get("Scheduled") == "True" for x in cn_track.objects.values())
    log(f"operator N={n}: all Ready in {operator_s} s (created {created:.1f} s; {times})")
    log(f"  {sched}/{n} Scheduled")
    bad = [x["metadata"]["name"] for x in cn_track.objects.values() if not cn_done(x, True)][:5]
    if bad:
        log(f"  not done, e.g. {bad}: {[cn_conditions(cn_track.objects[b]) for b in bad[:2]]}")

    runtime_check = await asyncio.to_thread(probe_pod_ip, pod_track.objects)
    # Settle: wait until the operator-only write counters stop moving (trailing pod events), max 90 s.
    last, quiet_since = summarize_requests(await scrape(kube))["writes"], time.monotonic()
    while time.monotonic() - quiet_since < 12 and time.monotonic() - t_ready < 90:
        await asyncio.sleep(3)
        now_w = summarize_requests(await scrape(kube))["writes"]
        if now_w != last:
            last, quiet_since = now_w, time.monotonic()
    settle_s = time.monotonic() - t_ready
    await cn_track.stop()
    await pod_track.stop()

    # Steady state.
    log(f"steady window {args.steady_s:.0f} s")
    p0, m0, cpu0, ts0 = op.probes(), await scrape(kube), sampler.cpu_at(), time.monotonic()
    steady_out = RESULTS / f"profile-{n}-{rep}-steady.txt"
    prof_steady = py_spy_record(pid, steady_out, duration_s=args.steady_s) if args.profile else None
    await pause(args.steady_s)
    if prof_steady is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            prof_steady.wait(timeout=30)
    p1, m1, cpu1, ts1 = op.probes(), await scrape(kube), sampler.cpu_at(), time.monotonic()
    minutes = (ts1 - ts0) / 60
    steady = summarize_requests(diff(m1, m0))
    steady_rss = sampler.rss_between(ts0, ts1)
    op_writes = (p1.get("writes", 0) or 0) - (p0.get("writes", 0) or 0)
    op_reconciles = (p1.get("reconciles", 0) or 0) - (p0.get("reconciles", 0) or 0)

    # Churn: one spec change while N exist.
    churn = await churn_one(kube, cn_path, ns, args.timeout)

    # Background: the same window without the operator.
    op.stop()
    sampler.stop()
    peak_rss = max([s[1] for s in sampler.samples] or [0.0])
    bg_s = min(args.steady_s, args.background_s)
    mb0 = await scrape(kube)
    await pause(bg_s)
    background = summarize_requests(diff(await scrape(kube), mb0))
    bg_minutes = bg_s / 60

    # Restart: stale status everywhere, then the operator rebuilds it.
    rebuild = await restart(c, op, cn_path, ns) if not args.skip_restart else {}
    op.stop()
    await delete_namespace(kube, ns, args.timeout)

    writes_pm = steady["writes"] / minutes
    bg_writes_pm = background["writes"] / bg_minutes
    reads_pm = steady["reads"] / minutes
    bg_reads_pm = background["reads"] / bg_minutes
    return {
        "operator_versions": op.versions,
        "operator_s": operator_s,
        "operator_create_s": created,
        **times,
        "operator_live_s": live_s,
        "settle_s": settle_s,
        "load_at_ready": load_at_ready,
        "runtime_check": runtime_check,
        "create_cpu_s": create_cpu,
        "create_requests": create_req,
        "stages": stages,
        "steady_minutes": minutes,
        "steady_writes_per_min": writes_pm,
        "background_writes_per_min": bg_writes_pm,
        "steady_writes_per_node_min": max(0.0, writes_pm - bg_writes_pm) / n,
        "steady_operator_client_writes": op_writes,
        "steady_reads_per_min": reads_pm,
        "background_reads_per_min": bg_reads_pm,
        "steady_operator_reads_per_min": max(0.0, reads_pm - bg_reads_pm),
        "steady_reconciles_per_min": op_reconciles / minutes,
        "steady_cpu_s": cpu1 - cpu0,
        "steady_cpu_s_per_min": (cpu1 - cpu0) / minutes,
        "steady_requests": steady,
        "background_requests": background,
        "peak_rss_mb": max(peak_rss, sampler_out.get("hwm", 0.0)),
        "steady_rss_mb": statistics.median(steady_rss) if steady_rss else None,
        **churn,
        **rebuild,
    }


async def churn_one(kube: KubeClient, cn_path: str, ns: str, timeout: float) -> dict[str, Any]:
    name = "w0000"
    pods = pods_of(kube, ns, f"cocoon.tonops.dev/node={name}")
    cns = cocoonnodes_of(kube, ns)
    await pods.start()
    await cns.start()
    old_uid = next((p["metadata"]["uid"] for p in pods.objects.values()), None)
    t0 = time.monotonic()
    obj = await api.merge_patch(kube, f"{cn_path}/{name}", {"spec": {"workerCoefficient": 1100}})
    gen = obj["metadata"]["generation"]
    ok_obs = await wait_for(
        cns, lambda o: (o.get(name, {}).get("status") or {}).get("observedGeneration") == gen, timeout
    )
    t_obs = time.monotonic() - t0
    ok_new = await wait_for(
        pods, lambda o: any(p["metadata"]["uid"] != old_uid and pod_ready(p) for p in o.values()), timeout
    )
    t_new = time.monotonic() - t0
    new_pod = next((p for p in pods.objects.values() if p["metadata"]["uid"] != old_uid), {})
    replaced = {
        "old_uid": old_uid,
        "new_uid": new_pod.get("metadata", {}).get("uid"),
        "new_created": new_pod.get("metadata", {}).get("creationTimestamp"),
        "new_config_hash": (new_pod.get("metadata", {}).get("annotations") or {}).get(
            "cocoon.tonops.dev/config-hash"
        ),
    }
    ok_cn = await wait_for(cns, lambda o: cn_done(o.get(name, {}), True), timeout)
    t_cn = time.monotonic() - t0
    await pods.stop()
    await cns.stop()
    log(
        f"churn: observedGeneration {t_obs:.1f} s, new pod Ready {t_new:.1f} s, CocoonNode ready {t_cn:.1f} s"
    )
    return {
        "churn_observed_s": t_obs if ok_obs else None,
        "churn_pod_ready_s": t_new if ok_new else None,
        "churn_ready_s": t_cn if ok_cn else None,
        "churn_pod": replaced,
    }


async def restart(c: Cluster, op: Operator, cn_path: str, ns: str) -> dict[str, Any]:
    """Stale status everywhere while the operator is down; time until every status matches its pod again."""
    kube = c.kube
    listed = await kube.list(f"{GROUP}/v1alpha1", "CocoonNode", ns)
    names = [o["metadata"]["name"] for o in listed]
    stale = {"status": {"nodeName": "stale"}}
    await api.merge_patch_all(kube, ((f"{cn_path}/{name}/status", stale) for name in names))
    cns = cocoonnodes_of(kube, ns)
    pods = pods_of(kube, ns)
    await cns.start()
    await pods.start()
    uids_before = {p["metadata"]["uid"] for p in pods.objects.values()}

    def current(objs: dict[str, dict[str, Any]]) -> bool:
        for name, cn in objs.items():
            pod = pods.objects.get(f"{name}-0")
            node = (pod or {}).get("spec", {}).get("nodeName")
            if not node or (cn.get("status") or {}).get("nodeName") != node:
                return False
        return True

    t0 = time.monotonic()
    pid = op.start()
    sampler = Sampler(pid)
    sampler.start()
    live = await op.wait_live()
    ok = await wait_for(cns, current, c.args.timeout)
    rebuild = time.monotonic() - t0
    hwm = hwm_mb(pid)
    replaced = len(uids_before - {p["metadata"]["uid"] for p in pods.objects.values()})
    sampler.stop()
    await cns.stop()
    await pods.stop()
    log(
        f"restart: live {live:.1f} s, every status current again {rebuild:.1f} s; RSS peak {hwm:.0f} MB;"
        f" {replaced} pods replaced"
    )
    return {
        "restart_live_s": live,
        "rebuild_s": rebuild if ok else None,
        "rebuild_peak_rss_mb": hwm,
        "restart_pods_replaced": replaced,
    }


# ----- the run -------------------------------------------------------------------------------------------


async def fleet_ready(kube: KubeClient, count: int, timeout_s: float = 300.0) -> int:
    """How many nodes are Ready once all `count` are (or when the timeout passes)."""

    def ready(nodes: list[dict[str, Any]]) -> int:
        conditions = ((x.get("status") or {}).get("conditions") or [] for x in nodes)
        return sum(any(c["type"] == "Ready" and c["status"] == "True" for c in conds) for conds in conditions)

    polls = AsyncRetrying(
        retry=retry_if_result(lambda n: n < count),
        stop=stop_after_delay(timeout_s),
        wait=wait_fixed(3),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else 0,
    )

    async def count_ready() -> int:
        return ready(await kube.list("v1", "Node"))

    result: int = await polls(count_ready)
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="cocoon-bench-"))
    os.environ["COCOON_DEV_HOME"] = str(home)  # the launcher's state, the runtime's: all private
    from cocoon_dev.cluster import launcher
    from cocoon_dev.cluster.components import ClusterOptions

    runtime: procs.ProcRef | None = None
    workdir = home / "cluster"
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, STOP.set)
    reps: list[dict[str, Any]] = []
    meta: dict[str, Any] = {"operator_version": operator_version()}
    try:
        t0 = time.monotonic()
        state, _ = await asyncio.to_thread(
            launcher.up, workdir, ClusterOptions(pod_cidr=args.cidr), None, False, log
        )
        kubeconfig = state.kubeconfig
        kube = api.connect(kubeconfig)
        meta["cluster_up_s"] = time.monotonic() - t0
        crd = __import__("yaml").safe_load((REPO / "crds" / "cocoonnodes.yaml").read_text())
        await api.create(kube, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
        nodes = bench_fleet.fleet(args.nodes)
        t1 = time.monotonic()
        await api.create_all(kube, (("/api/v1/nodes", nd.manifest()) for nd in nodes), concurrency=16)
        ready = await fleet_ready(kube, len(nodes))
        meta["fleet_nodes"] = len(nodes)
        meta["fleet_ready_s"] = time.monotonic() - t1
        log(f"fleet: {ready}/{len(nodes)} nodes Ready in {meta['fleet_ready_s']:.1f} s")
        # The local runtime in light mode: one process answers Triton health and /jsonstats for every
        # worker pod IP and patches the pods Ready (docs/local-runtime.md).
        runtime = procs.spawn(
            [sys.executable, "-m", "cocoon_dev.runtime.kubelet", "--mode", "light",
             "--kubeconfig", kubeconfig, "--cidr", args.cidr, "--state-dir", str(home / "runtime")],
            home / "runtime.log",
            what="runtime",
        )  # fmt: skip
        runtime_sampler = Sampler(runtime.pid)
        runtime_sampler.start()
        cluster = Cluster(kube, kubeconfig, home, args.nodes, args)
        for rep in range(args.repeat):
            check_stop()
            row: dict[str, Any] = {"rep": rep, "load_before_baseline": os.getloadavg()[0]}
            if not args.skip_baseline:
                row.update(await baseline(kube, args.nodes, f"bl-{rep}", args.timeout))
                row["baseline_cleanup_s"] = await delete_namespace(kube, f"bl-{rep}", args.timeout)
            if args.full_baseline:
                row.update(await baseline(kube, args.nodes, f"blf-{rep}", args.timeout, full=True))
                row["baseline_full_cleanup_s"] = await delete_namespace(kube, f"blf-{rep}", args.timeout)
            row["load_before_operator"] = os.getloadavg()[0]
            row.update(await operator_rep(cluster, rep, {}))
            if row.get("baseline_s") and row.get("operator_s"):
                row["ratio"] = row["operator_s"] / row["baseline_s"]
            if row.get("baseline_full_s") and row.get("operator_s"):
                row["ratio_full"] = row["operator_s"] / row["baseline_full_s"]
            with contextlib.suppress(OSError, ValueError, psutil.Error):
                served = json.loads((home / "runtime" / "kubelet-state.json").read_text())["pods"]
                row["runtime"] = {
                    "pods": len(served),
                    "cpu_s": runtime_sampler.cpu_at(),
                    "peak_rss_mb": hwm_mb(runtime.pid),
                }
            reps.append(row)
            partial = RESULTS / "partial" / f"scale-{args.nodes}-{args.stamp}.json"
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps({"meta": meta, "reps": reps}, indent=1, default=str) + "\n")
            log(f"rep {rep}: {json.dumps({k: v for k, v in row.items() if not isinstance(v, dict)})}")
        await kube.close()
    finally:
        for op in RUNNING:
            op.stop()
        if runtime is not None:
            procs.terminate(runtime, grace_s=20.0)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(launcher.down, workdir, False, log)
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    return {"meta": meta, "reps": reps}


def median(values: list[Any]) -> float | None:
    nums = [v for v in values if isinstance(v, int | float)]
    return statistics.median(nums) if nums else None


def spread(values: list[Any]) -> list[float] | None:
    nums = [v for v in values if isinstance(v, int | float)]
    return [min(nums), max(nums)] if nums else None


SUMMARY_KEYS = (
    "operator_s",
    "baseline_s",
    "ratio",
    "baseline_full_s",
    "ratio_full",
    "scheduled_s",
    "pods_ready_s",
    "inference_ready_s",
    "steady_writes_per_node_min",
    "steady_operator_client_writes",
    "steady_operator_reads_per_min",
    "steady_reconciles_per_min",
    "steady_cpu_s_per_min",
    "create_cpu_s",
    "peak_rss_mb",
    "steady_rss_mb",
    "churn_observed_s",
    "churn_pod_ready_s",
    "rebuild_s",
    "rebuild_peak_rss_mb",
)


def markdown(summary: dict[str, Any], reps: list[dict[str, Any]]) -> str:
    lines = [
        f"# Scale benchmark, N = {summary['nodes']} ({summary['timestamp']})",
        "",
        f"Machine: {summary['machine']['cpus']} CPUs ({summary['machine']['cpu_model']}), "
        f"{summary['machine']['mem_gb']} GB; load average at the end {summary['machine']['loadavg_1_5']}. "
        f"Fleet: {summary['fleet_nodes']} fake nodes. Repetitions: {len(reps)}.",
        "",
        "| metric | median | min..max | per repetition |",
        "|---|---|---|---|",
    ]
    for key in SUMMARY_KEYS:
        vals = [r.get(key) for r in reps]
        med, sp = summary.get(key), summary.get("spread", {}).get(key)
        fmt = lambda v: "-" if v is None else (f"{v:.3g}" if isinstance(v, float) else str(v))  # noqa: E731
        rng = "-" if not sp else f"{fmt(sp[0])}..{fmt(sp[1])}"
        lines.append(f"| {key} | {fmt(med)} | {rng} | {', '.join(fmt(v) for v in vals)} |")
    lines += ["", "Steady-state operator writes by verb/resource (first repetition):", ""]
    if reps:
        lines.append("```")
        lines.append(json.dumps(reps[0].get("steady_requests", {}).get("writes_by"), indent=1))
        lines.append(
            "reads (top): " + json.dumps(reps[0].get("steady_requests", {}).get("reads_by"), indent=1)
        )
        lines.append(
            "background reads (top): "
            + json.dumps(reps[0].get("background_requests", {}).get("reads_by"), indent=1)
        )
        lines.append("```")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--nodes", type=int, required=True, help="N: CocoonNodes (and baseline StatefulSets)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--steady-s", type=float, default=180.0, help="steady-state window (seconds)")
    parser.add_argument("--background-s", type=float, default=60.0, help="window without the operator")
    parser.add_argument("--resync-s", type=float, default=60.0, help="COCOON_RESYNC_SECONDS of the operator")
    parser.add_argument(
        "--health-probes",
        choices=("true", "false"),
        default="true",
        help="COCOON_HEALTH_PROBES of the operator (false: InferenceReady from pod readiness only)",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="per wait (seconds)")
    parser.add_argument("--cidr", default="127.103.0.0/16", help="pod CIDR of the private cluster")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-restart", action="store_true", help="no restart phase (quicker iterations)")
    parser.add_argument(
        "--full-baseline",
        action="store_true",
        help="also a baseline with every child the operator creates (Service, PDB, ...) created directly",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the operator (create phase, steady)")
    parser.add_argument("--keep", action="store_true", help="keep the temp COCOON_DEV_HOME (logs)")
    parser.add_argument("--tag", default="", help="suffix of the result file names")
    args = parser.parse_args(argv)

    args.stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    result = asyncio.run(run(args))
    reps = result["reps"]
    stamp = args.stamp
    summary: dict[str, Any] = {
        "nodes": args.nodes,
        "timestamp": stamp,
        "repetitions": len(reps),
        "profiled": args.profile,
        "machine": machine(),
        "operator_version": result["meta"].get("operator_version"),
        "health_probes": args.health_probes == "true",
        "fleet_nodes": result["meta"].get("fleet_nodes"),
        **{k: median([r.get(k) for r in reps]) for k in SUMMARY_KEYS},
        "spread": {k: spread([r.get(k) for r in reps]) for k in SUMMARY_KEYS},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    base = RESULTS / f"scale-{args.nodes}-{stamp}{('-' + args.tag) if args.tag else ''}"
    base.with_suffix(".json").write_text(
        json.dumps({"summary": summary, **result}, indent=1, default=str) + "\n"
    )
    base.with_suffix(".md").write_text(markdown(summary, reps))
    (RESULTS / "partial" / f"scale-{args.nodes}-{stamp}.json").unlink(missing_ok=True)
    log(f"wrote {base}.json and .md")
    try:  # refresh the summary table and the plot over every result so far
        from bench import report

        by_n = report.load(include_tagged=False, split_at=report.FIXES_COMMIT)
        if by_n:
            (RESULTS / "summary.md").write_text(report.HEADER + report.table(by_n))
            report.plot(by_n, RESULTS / "scale.png")
    except Exception as exc:  # a plotting problem must not lose the measured result
        log(f"summary/plot not refreshed: {exc}")
    last = {
        k: summary[k]
        for k in ("nodes", "operator_s", "baseline_s", "ratio", "steady_writes_per_node_min", "peak_rss_mb")
    }
    last.update({k: summary[k] for k in SUMMARY_KEYS if k not in last})
    print(json.dumps(last))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
