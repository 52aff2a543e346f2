"""`cocoon-dev up` / `down`: the six steps, in order, each timed and reported in plain words.

Every step drives a component through its own command line (`--json` where it reads results) and
reuses what is already up. A failing step names what failed and its log file; the steps after it do
not run, and what this run started is stopped again (reverse order), unless `keep_on_failure`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from cocoon_dev import procs
from cocoon_dev.paths import REPO_ROOT, component_dir, dev_home, testenv_cache
from cocoon_dev.procs import ProcRef
from cocoon_dev.stack import manifests, operator_proc
from cocoon_dev.stack import vm as stack_vm
from cocoon_dev.stack.commands import StepFailed, dev_cli, run_json, run_logged

CHART = REPO_ROOT / "charts" / "cocoon-operator"
# What the dev stack asks of the chart: the demo namespace only, the examples' images (checked by the
# chart tests like every ci/ scenario).
CHART_VALUES = CHART / "ci" / "dev-stack-values.yaml"
RELEASE = "cocoon-operator"
RELEASE_NAMESPACE = "cocoon-system"
HELM_VERSION = "3.21.4"
# The runner simulators' pace in the demo: one real inference request per second per worker, vouchers
# committed every 5 s (defaults: 0.5/s and 30 s).
RUNTIME_ENV = {"COCOON_SIM_REQUEST_RATE": "1", "COCOON_SIM_COMMIT_INTERVAL": "5", "COCOON_SIM_REFRESH": "2"}


# nanoTON per token of the demo network. With the dev default (fee 1 nano/token) a claim is never worth
# its ~0.05 TON of gas (the operator's policy needs claimable >= gas / maxFeeFraction, i.e. 50 M+
# tokens); at 0.001 TON per token a few inference requests make a claim worth it. Passed explicitly to
# `cocoon-dev chain up` (its defaults are the same); only used when the network is first deployed.
DEMO_PRICES = {"--price-per-token": 2_000_000, "--worker-fee-per-token": 1_000_000}


def stack_dir() -> Path:
    return component_dir("stack")


def logs_dir() -> Path:
    path = stack_dir() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def state_file() -> Path:
    return stack_dir() / "stack.json"


def load_state() -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(state_file().read_text())
    except (OSError, ValueError):
        return {}
    return data


def save_state(state: dict[str, Any]) -> None:
    tmp = state_file().with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, state_file())


def helm_bin() -> str:
    env = os.environ.get("COCOON_HELM")
    path = Path(env) if env else testenv_cache() / f"helm-v{HELM_VERSION}" / "helm"
    if not path.is_file():
        raise StepFailed(f"helm v{HELM_VERSION} is not built ({path}); run tools/build-testenv.sh")
    return str(path)


# ----------------------------------------------------------------------------------------- status


def cluster_status() -> dict[str, Any]:
    return run_json(dev_cli("cluster", "status", "--json"))


def chain_status() -> dict[str, Any]:
    return run_json(dev_cli("chain", "status", "--json"))


def runtime_status() -> dict[str, Any]:
    return run_json(dev_cli("runtime", "status", "--json"))


def kubectl(cluster: dict[str, Any], *args: str, stdin: str | None = None, timeout_s: float = 60) -> str:
    proc = subprocess.run(
        [cluster["kubectl"], "--kubeconfig", cluster["kubeconfig"], *args],
        input=stdin, capture_output=True, text=True, timeout=timeout_s, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise StepFailed(f"kubectl {' '.join(args[:3])} failed: {proc.stderr.strip()}")
    return proc.stdout


# ----------------------------------------------------------------------------------------- steps


@dataclass
class StackContext:
    console: Console
    verbose: bool = False
    cluster: dict[str, Any] = field(default_factory=dict)
    chain: dict[str, Any] = field(default_factory=dict)
    network: dict[str, Any] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)  # components this run started (not reused)

    def echo(self, line: str) -> None:
        if self.verbose or line.startswith(("build", "building", "[", "  building")):
            self.console.print(f"      [dim]{line}[/dim]", highlight=False)


@dataclass(frozen=True)
class StackStep:
    key: str
    title: str
    run: Callable[[StackContext], str]  # returns a short detail; raises StepFailed


def pod_cidr() -> str:
    """Pod IPs (bindable loopback addresses) of this stack. The default home keeps the project's
    127.100.0.0/16; any other home (tests, a second stack) gets its own /16 of 127.0.0.0/8, so two
    stacks on one machine never serve the same pod IP."""
    home = str(dev_home())
    if Path(home) == REPO_ROOT / ".cocoon-dev":
        return "127.100.0.0/16"
    # 127.100 is the dev stack's, 127.101 the test fixtures' own cluster (tests/fixtures/cluster.py).
    second = 102 + int(hashlib.sha256(home.encode()).hexdigest(), 16) % 148
    return f"127.{second}.0.0/16"


def _cluster_up(ctx: StackContext) -> str:
    log = logs_dir() / "cluster.log"
    before = _quiet(cluster_status)
    argv = dev_cli("cluster", "up", "--fleet", "default", "--pod-cidr", pod_cidr())
    rc, out = run_logged(argv, log, timeout_s=3600, echo=ctx.echo)
    if rc != 0:
        raise StepFailed(f"the control plane did not come up: {_last_error(out)}", log)
    ctx.cluster = cluster_status()
    if not ctx.cluster.get("running"):
        raise StepFailed("the control plane says it is not running after `cluster up`", log)
    reused = bool(before and before.get("running"))
    if not reused:
        ctx.started.append("cluster")
    nodes = kubectl(ctx.cluster, "get", "nodes", "-o", "name").split()
    return f"{'reused, ' if reused else ''}{ctx.cluster.get('server')}, {len(nodes)} fake nodes"


def _chain_up(ctx: StackContext) -> str:
    log = logs_dir() / "chain.log"
    before = _quiet(chain_status)
    # --resume: the chain keeps its state across `down`/`up`, like the cluster's etcd does, so the
    # CocoonNodes' ledgers (cursors, claims) keep matching the chain they were written against.
    argv = dev_cli("chain", "up", "--resume", "--json", *_chain_price_args())
    rc, out = run_logged(argv, log, timeout_s=300, echo=ctx.echo)
    if rc != 0:
        raise StepFailed(f"the TON chain did not come up: {_last_error(out)}", log)
    ctx.chain = chain_status()
    if (
        not ctx.chain.get("running")
        or not ctx.chain.get("network_file")
        or not ctx.chain.get("global_config")
    ):
        raise StepFailed("the chain runs but has no COCOON network or global config", Path(ctx.chain["log"]))
    ctx.network = json.loads(Path(ctx.chain["network_file"]).read_text())
    reused = bool(before and before.get("running"))
    if not reused:
        ctx.started.append("chain")
    return (
        f"{'reused, ' if reused else ''}liteserver {ctx.chain.get('liteserver')}, root {ctx.chain['root']}, "
        f"{len(ctx.chain.get('proxies') or [])} proxies"
    )


def _chain_price_args() -> list[str]:
    """The demo network's prices as `chain up` options (see DEMO_PRICES)."""
    return [arg for flag, value in DEMO_PRICES.items() for arg in (flag, str(value))]


def _helm_install(ctx: StackContext) -> str:
    log = logs_dir() / "helm.log"
    helm = helm_bin()
    base = [helm, "--kubeconfig", ctx.cluster["kubeconfig"], "-n", RELEASE_NAMESPACE]
    # Always `upgrade --install` (idempotent, ~1 s): a chart or CRD changed since the last `up` lands.
    # replicaCount=0: images cannot run on this machine (no container runtime); the operator runs as a
    # local process with the chart's identity (next step).
    # The served namespace must exist before the chart puts the operator's Role into it.
    apply = ("apply", "--server-side", "--field-manager=cocoon-dev", "--force-conflicts", "-f", "-")
    kubectl(ctx.cluster, *apply, stdin=manifests.as_list([manifests.namespace_obj()]))
    install = [*base, "upgrade", "--install", RELEASE, str(CHART), "--create-namespace",
               "--timeout", "120s", "-f", str(CHART_VALUES), "--set", "replicaCount=0"]  # fmt: skip
    rc, out = run_logged(
        install,
        log,
        timeout_s=180,
        echo=ctx.echo,
    )
    if rc != 0:
        raise StepFailed(f"helm install of {CHART.name} failed: {_last_error(out)}", log)
    revision = next(
        (line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("REVISION:")), "?"
    )
    kubectl(ctx.cluster, "get", "crd", "cocoonnodes.cocoon.tonops.dev", "-o", "name")
    detail = (
        f"release {RELEASE_NAMESPACE}/{RELEASE} revision {revision}: CRD, RBAC (namespace "
        f"{manifests.DEMO_NAMESPACE}), admission policies; replicaCount=0"
    )
    check = subprocess.run(
        ["bash", str(REPO_ROOT / "hack" / "sync-crds.sh"), "--check"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if check.returncode == 1:  # the chart installs its own copy of the CRD: say when it is stale
        detail += (
            " [yellow](WARNING: the chart's CRD copy differs from crds/; run hack/sync-crds.sh)[/yellow]"
        )
    return detail


def _operator_up(ctx: StackContext) -> str:
    found = operator_proc.running()
    if found is not None:
        return f"reused, pid {found[0].pid}, log {operator_proc.log_path()}"
    args = (ctx.cluster["kubectl"], ctx.cluster["kubeconfig"], RELEASE_NAMESPACE, RELEASE)
    sa_kubeconfig = operator_proc.write_sa_kubeconfig(*args)
    how = "token"
    if not operator_proc.client_can_send_tokens(sa_kubeconfig):
        # The operator's API client ignores bearer tokens (reported): same identity as a certificate.
        sa_kubeconfig = operator_proc.write_sa_cert_kubeconfig(*args)
        how = "client certificate"
    # The chart's own arguments (its namespaces) and settings (render image, image policy).
    argv, env = operator_proc.chart_command(*args)
    proc = operator_proc.start(
        sa_kubeconfig, args=argv, extra_env={**env, **stack_vm.operator_env(manifests.DEMO_NAMESPACE)}
    )
    ctx.started.append("operator")
    identity = f"system:serviceaccount:{RELEASE_NAMESPACE}:{RELEASE}"
    return f"pid {proc.pid} as {identity} ({how}), log {operator_proc.log_path()}"


def _runtime_up(ctx: StackContext) -> str:
    log = logs_dir() / "runtime.log"
    before = _quiet(runtime_status)
    argv = dev_cli(
        "runtime", "up", "--kubeconfig", ctx.cluster["kubeconfig"], "--network", ctx.chain["network_file"]
    )
    rc, out = run_logged(argv, log, timeout_s=120, env=RUNTIME_ENV, echo=ctx.echo)
    if rc != 0:
        raise StepFailed(f"the local runtime did not start: {_last_error(out)}", log)
    status = runtime_status()
    if not status.get("running"):
        raise StepFailed("the local runtime is not running after `runtime up`", log)
    reused = bool(before and before.get("running"))
    if not reused:
        ctx.started.append("runtime")
    reuse = "reused, " if reused else ""
    return f"{reuse}pid {status.get('pid')}, real Triton (CPU) + runner simulator per worker pod"


def _apply_samples(ctx: StackContext) -> str:
    ns = manifests.DEMO_NAMESPACE
    objs = [
        manifests.namespace_obj(ns),
        manifests.global_config_map(Path(ctx.chain["global_config"]), ns),
        manifests.treasury_secret(ctx.network, ns),
        *stack_vm.sample_objects(ns),
    ]
    apply = ("apply", "--server-side", "--field-manager=cocoon-dev", "--force-conflicts", "-f", "-")
    kubectl(ctx.cluster, *apply, stdin=manifests.as_list(objs))
    nodes = manifests.sample_cocoonnodes(ctx.network, ns)
    _adopt_older_wallet_secrets(ctx, nodes)
    kubectl(ctx.cluster, *apply, stdin=manifests.as_list(nodes))
    names = ", ".join(
        f"{n['metadata']['name']} ({label})" for n, (_, label) in zip(nodes, manifests.SAMPLES, strict=True)
    )
    return f"namespace {ns}: ConfigMap ton-global-config, Secret cocoon-treasury, CocoonNodes {names}"


def _adopt_older_wallet_secrets(ctx: StackContext, nodes: list[dict[str, Any]]) -> None:
    """A dev stack kept from before wallet Secrets were bound to their CocoonNode (issue 16) has sample
    wallet Secrets without the operator's mark: as the cluster admin it is, the dev stack adopts each
    for its sample (never for another name). Only annotations are read, never the key."""
    for node in nodes:
        name = node["metadata"]["name"]
        secret, ns = node["spec"]["wallet"]["secretRef"]["name"], node["metadata"]["namespace"]
        proc = subprocess.run(
            [ctx.cluster["kubectl"], "--kubeconfig", ctx.cluster["kubeconfig"], "-n", ns,
             "get", "secret", secret, "-o", "jsonpath={.metadata.annotations}"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            continue  # not there yet: the operator generates it, bound to the sample
        annotations = json.loads(proc.stdout or "{}")
        if not {manifests.BOUND_UID, manifests.ADOPT_FOR} & set(annotations):
            kubectl(ctx.cluster, "-n", ns, "annotate", "secret", secret, f"{manifests.ADOPT_FOR}={name}")


STEPS = (
    StackStep("cluster", "control plane + default confidential GPU fleet", _cluster_up),
    StackStep("chain", "local TON chain + COCOON network", _chain_up),
    StackStep("helm", "Helm chart: CRDs + RBAC", _helm_install),
    StackStep("operator", "operator process with the chart's ServiceAccount", _operator_up),
    StackStep("runtime", "local runtime: Triton + runner simulators", _runtime_up),
    StackStep("samples", "dev config + sample CocoonNodes", _apply_samples),
)


def _quiet(fn: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    try:
        return fn()
    except StepFailed:
        return None


def _last_error(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["no output"])[-1].strip()


def up(console: Console, *, verbose: bool = False, keep_on_failure: bool = False) -> StackContext:
    """Bring the stack up (or reuse it). Raises StepFailed after reporting it."""
    ctx = StackContext(console=console, verbose=verbose)
    console.print(f"[bold]cocoon-dev up[/bold]  (state in {dev_home()})")
    t_all = time.monotonic()
    for i, step in enumerate(STEPS, 1):
        t0 = time.monotonic()
        console.print(f"  [{i}/{len(STEPS)}] {step.title} ...", highlight=False)
        try:
            detail = step.run(ctx)
        except StepFailed as exc:
            took = time.monotonic() - t0
            console.print(
                f"  [red]✗ [{i}/{len(STEPS)}] {step.title} failed after {took:.1f} s[/red]", highlight=False
            )
            console.print(f"    {exc}", highlight=False, markup=False)
            if exc.log is not None:
                console.print(f"    log: {exc.log}", highlight=False)
            if ctx.started and not keep_on_failure:
                console.print(f"    stopping what this run started: {', '.join(reversed(ctx.started))}")
                stop_components(console, list(reversed(ctx.started)))
            raise
        took = time.monotonic() - t0
        console.print(
            f"  [green]✓[/green] [{i}/{len(STEPS)}] {step.title}: {took:.1f} s — {detail}", highlight=False
        )
    record_processes(ctx)
    console.print(f"[bold green]stack up in {time.monotonic() - t_all:.1f} s[/bold green]")
    return ctx


# ----------------------------------------------------------------------------------------- processes


def current_processes() -> list[ProcRef]:
    """Every process of the stack that runs now (components, pods, and their children)."""
    found: list[ProcRef] = []

    def add(proc: ProcRef | None) -> None:
        if proc is not None and proc.alive():
            found.append(proc)
            found.extend(procs.descendants(proc))

    def add_json(data: Any, what: str) -> None:
        if isinstance(data, dict):
            with contextlib.suppress(KeyError, TypeError, ValueError):
                add(replace(ProcRef.from_json(data), what=what))

    op = operator_proc.running()
    if op is not None:
        add(op[0])
    runtime = _quiet(runtime_status) or {}
    add_json(runtime.get("proc"), "runtime")
    for pod, info in (runtime.get("pods") or {}).items():
        for container, proc in (info.get("procs") or {}).items():
            add_json(proc, f"pod {pod} {container}")
    chain = _quiet(chain_status) or {}
    add_json(chain.get("proc"), "chain")
    cluster = _quiet(cluster_status) or {}
    for name, proc in (cluster.get("procs") or {}).items():
        add_json(proc, f"cluster {name}")
    found += procs.orphans_in(dev_home())
    unique = {(p.pid, p.create_time): p for p in found}
    return list(unique.values())


def _recorded(state: dict[str, Any]) -> list[ProcRef]:
    """The processes `up` recorded (entries of an older format are no identities and are skipped)."""
    found = []
    for data in state.get("processes", []):
        with contextlib.suppress(KeyError, TypeError, ValueError):
            found.append(ProcRef.from_json(data))
    return found


def record_processes(ctx: StackContext | None = None) -> None:
    state = load_state()
    known = {(p.pid, p.create_time): p.to_json() for p in _recorded(state)}
    for proc in current_processes():
        known[(proc.pid, proc.create_time)] = proc.to_json()
    state["processes"] = list(known.values())
    state["updated"] = time.time()
    save_state(state)


def stop_components(console: Console, order: list[str]) -> list[str]:
    """Stop the named components in this order; returns failures in plain words."""
    failures = []
    for name in order:
        t0 = time.monotonic()
        try:
            if name == "operator":
                proc = operator_proc.stop()
                detail = f"pid {proc.pid}" if proc else "was not running"
            elif name == "helm":
                detail = "release kept (the cluster's data goes with the cluster)"
            else:
                group = {"cluster": "cluster", "chain": "chain", "runtime": "runtime"}[name]
                rc, out = run_logged(dev_cli(group, "down"), logs_dir() / f"{group}.log", timeout_s=180)
                if rc != 0:
                    raise StepFailed(f"`cocoon-dev {group} down` failed: {_last_error(out)}",
                                     logs_dir() / f"{group}.log")  # fmt: skip
                detail = out.strip().splitlines()[-1] if out.strip() else "stopped"
        except StepFailed as exc:
            failures.append(f"{name}: {exc}")
            console.print(f"  [red]✗ {name}: {exc}[/red]", highlight=False, markup=False)
            continue
        console.print(f"  [green]✓[/green] {name}: {detail} ({time.monotonic() - t0:.1f} s)", highlight=False)
    return failures


def down(console: Console, *, purge: bool = False) -> int:
    """Stop everything, reverse order, by pid; then check that no recorded process is left.
    `purge` then deletes the whole state (cluster data, chain state, logs) for a fresh start."""
    record_processes()  # pods started since `up` are recorded too
    console.print(f"[bold]cocoon-dev down[/bold]  (state in {dev_home()})")
    failures = stop_components(console, ["operator", "runtime", "helm", "chain", "cluster"])
    state = load_state()
    left = [p for p in _recorded(state) + procs.orphans_in(dev_home()) if p.alive()]
    left = list({(p.pid, p.create_time): p for p in left}.values())
    for proc in left:  # a leftover is stopped by its recorded identity, never by name
        procs.terminate(proc, grace_s=5.0)
    still = [p for p in left if p.alive()]
    if left:
        listed = ", ".join(f"{p.what} (pid {p.pid})" for p in left)
        console.print(f"  [yellow]stopped {len(left) - len(still)} leftover process(es): {listed}[/yellow]")
    if still:
        console.print(f"[red]still running: {', '.join(f'{p.what} (pid {p.pid})' for p in still)}[/red]")
        return 1
    state["processes"] = []
    save_state(state)
    if failures:
        console.print("[red]down finished with errors (see above)[/red]")
        return 1
    console.print("[bold green]down: nothing of the stack is left running[/bold green]")
    if purge:
        shutil.rmtree(dev_home(), ignore_errors=True)
        console.print(f"  purged {dev_home()}")
    return 0
