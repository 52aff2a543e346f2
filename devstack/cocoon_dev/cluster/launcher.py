"""`up` / `down` / `status` of one local cluster, identified by its work directory."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cocoon_dev import procs
from cocoon_dev.paths import component_dir
from cocoon_dev.ports import free_ports, is_free

from . import components as comp
from . import kubeconfig, pki
from .binaries import Binaries, ensure_binaries
from .components import ClusterOptions
from .errors import ClusterError
from .layout import Layout
from .readiness import admin_ssl_context, http_ok, insecure_ssl_context, wait_until
from .state import ClusterState, ComponentState

Echo = Callable[[str], None]
TIMEOUTS_S = {
    "etcd": 30.0,
    "kube-apiserver": 120.0,
    "kube-controller-manager": 120.0,
    "kube-scheduler": 60.0,
    "kwok": 60.0,
}
STOP_GRACE_S = 10.0


def default_workdir() -> Path:
    return component_dir("cluster")


def _quiet(_: str) -> None:
    pass


@contextlib.contextmanager
def _locked(lay: Layout) -> Iterator[None]:
    """One `up`/`down` at a time per work dir."""
    lay.root.mkdir(parents=True, exist_ok=True)
    with open(lay.lock_file, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def is_running(state: ClusterState) -> bool:
    """All recorded processes alive and the API server answers /readyz."""
    if not state.components or not all(state.alive().values()):
        return False
    return http_ok(f"{state.server}/readyz", verify=admin_ssl_context(pki.load(Path(state.workdir) / "pki")))


def up(
    workdir: Path | None = None,
    options: ClusterOptions | None = None,
    fleet: str | Path | None = "default",
    build: bool = True,
    echo: Echo = _quiet,
) -> tuple[ClusterState, bool]:
    """Start the cluster (or reuse the running one) and apply `fleet`; returns (state, reused)."""
    lay = Layout((workdir or default_workdir()).resolve())
    opts = options or ClusterOptions()
    with _locked(lay):
        state = ClusterState.load(lay.state_file)
        reused = state is not None and is_running(state)
        if state is not None and reused:
            echo(f"[cluster] already running in {lay.root}; reusing it")
            if state.options.get("extended_resource_toleration") != opts.extended_resource_toleration:
                echo(
                    "[cluster] note: the running cluster was started with extended_resource_toleration="
                    f"{state.options.get('extended_resource_toleration')}; run `down` first to change it"
                )
        else:
            if state is not None:
                _stop_all(lay, state, echo)  # a half-dead cluster from before: clear it first
            state = _start(lay, opts, ensure_binaries(build=build), echo)
    if fleet is not None:
        from .nodes import apply_profile  # the client's imports are slow; only when needed

        t0 = time.monotonic()
        count = apply_profile(Path(state.kubeconfig), fleet, wait_ready_s=120.0)
        echo(f"[cluster] fleet {fleet}: {count} nodes applied and Ready in {time.monotonic() - t0:.1f} s")
    return state, reused


def _prepare(lay: Layout) -> None:
    """A cold start begins from nothing: fresh PKI, empty etcd, empty logs."""
    for path in (lay.etcd_data, lay.pki_dir, lay.root / "kubeconfigs", lay.root / "run", lay.logs_dir):
        shutil.rmtree(path, ignore_errors=True)
    lay.kubeconfig.unlink(missing_ok=True)
    lay.logs_dir.mkdir(parents=True)


def _pick_ports(opts: ClusterOptions) -> dict[str, int]:
    ports = dict(zip(comp.PORT_NAMES, free_ports(len(comp.PORT_NAMES)), strict=True))
    if opts.apiserver_port is not None:
        if not is_free(opts.apiserver_port):
            raise ClusterError(
                f"port {opts.apiserver_port} on 127.0.0.1 is already in use; pick another "
                "--apiserver-port or leave it out to get a free one"
            )
        ports["kube-apiserver"] = opts.apiserver_port
    return ports


def _start(lay: Layout, opts: ClusterOptions, bins: Binaries, echo: Echo) -> ClusterState:
    t_start = time.monotonic()
    _prepare(lay)
    ports = _pick_ports(opts)
    keys = pki.generate(lay.pki_dir)
    server = f"https://{comp.HOST}:{ports['kube-apiserver']}"
    kubeconfig.write(
        lay.kubeconfig, kubeconfig.render(server, keys.ca.cert, keys.clients["admin"], "cocoon-dev-admin")
    )
    for name in ("kube-controller-manager", "kube-scheduler", "kwok"):
        kubeconfig.write(
            lay.component_kubeconfig(name), kubeconfig.render(server, keys.ca.cert, keys.clients[name], name)
        )
    for name in comp.COMPONENTS:
        lay.run_dir(name).mkdir(parents=True, exist_ok=True)

    state = ClusterState(
        workdir=str(lay.root),
        kubeconfig=str(lay.kubeconfig),
        server=server,
        k8s_version=bins.k8s_version,
        started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        ports=ports,
        options={
            "extended_resource_toleration": opts.extended_resource_toleration,
            "pod_cidr": opts.pod_cidr,
        },
    )
    admin_tls = admin_ssl_context(keys)
    api = server
    health: dict[str, Callable[[], bool]] = {
        "etcd": lambda: http_ok(f"http://{comp.HOST}:{ports['etcd-client']}/readyz"),
        "kube-apiserver": lambda: http_ok(f"{api}/readyz", verify=admin_tls),
        # The `default` ServiceAccount appears once the controller-manager's controllers run.
        "kube-controller-manager": lambda: http_ok(
            f"{api}/api/v1/namespaces/default/serviceaccounts/default", verify=admin_tls
        ),
        "kube-scheduler": lambda: http_ok(
            f"https://{comp.HOST}:{ports['kube-scheduler']}/healthz", verify=insecure_ssl_context()
        ),
        "kwok": lambda: http_ok(f"http://{comp.HOST}:{ports['kwok']}/healthz"),
    }
    argvs = {
        "etcd": comp.etcd(bins, lay, ports),
        "kube-apiserver": comp.kube_apiserver(bins, lay, keys, ports, opts),
        "kube-controller-manager": comp.kube_controller_manager(bins, lay, keys, ports),
        "kube-scheduler": comp.kube_scheduler(bins, lay, ports),
        "kwok": comp.kwok(bins, lay, ports, opts),
    }
    port_of = {
        "etcd": ports["etcd-client"],
        "kube-apiserver": ports["kube-apiserver"],
        "kube-controller-manager": ports["kube-controller-manager"],
        "kube-scheduler": ports["kube-scheduler"],
        "kwok": ports["kwok"],
    }
    # etcd and the API server must be up before anything else; the rest start together and are awaited after.
    waves = (("etcd",), ("kube-apiserver",), ("kube-controller-manager", "kube-scheduler", "kwok"))
    try:
        for wave in waves:
            for name in wave:
                log = lay.log(name)
                proc = procs.spawn(argvs[name], log, cwd=lay.root, what=name)
                state.components[name] = ComponentState(
                    pid=proc.pid,
                    create_time=proc.create_time,
                    executable=argvs[name][0],
                    log=str(log),
                    port=port_of[name],
                )
                state.save(lay.state_file)  # record at once: `down` must find it even if `up` dies now
                echo(f"[cluster] started {name} (pid {proc.pid}, 127.0.0.1:{port_of[name]}, log {log})")
            for name in wave:
                t0 = time.monotonic()
                c = state.components[name]
                wait_until(
                    f"{name} did not become ready",
                    health[name],
                    TIMEOUTS_S[name],
                    Path(c.log),
                    proc=c.proc,
                )
                echo(f"[cluster] {name} ready ({time.monotonic() - t0:.1f} s)")
    except BaseException:
        echo("[cluster] start-up failed; stopping what was started")
        _stop_all(lay, state, echo)
        raise
    write_kubectl_wrapper(lay, bins)
    echo(f"[cluster] control plane ready in {time.monotonic() - t_start:.1f} s")
    return state


def write_kubectl_wrapper(lay: Layout, bins: Binaries) -> Path:
    """`<workdir>/bin/kubectl`: the kubectl built with the control plane, bound to this cluster."""
    path = lay.kubectl_wrapper
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\nexec "{bins.kubectl}" --kubeconfig "{lay.kubeconfig}" "$@"\n')
    path.chmod(0o755)
    return path


def _leftovers(lay: Layout) -> list[procs.ProcRef]:
    """Processes of our binaries that still point into this work dir (recorded or not)."""
    found = procs.find(f"{lay.root}/")
    return [p for p in found if (argv := p.cmdline()) and Path(argv[0]).name in comp.COMPONENTS]


def _stop_all(lay: Layout, state: ClusterState, echo: Echo) -> None:
    for name in reversed(list(state.components)):
        c = state.components[name]
        if c.alive():
            echo(f"[cluster] stopping {name} (pid {c.pid})")
        if not procs.terminate(c.proc, STOP_GRACE_S):
            raise ClusterError(f"{name} (pid {c.pid}) did not stop even after SIGKILL", Path(c.log))
    for proc in _leftovers(lay):
        echo(f"[cluster] stopping unrecorded leftover pid {proc.pid}: {proc.what}")
        procs.terminate(proc, STOP_GRACE_S)
    state.components.clear()
    state.save(lay.state_file)


def down(workdir: Path | None = None, purge: bool = False, echo: Echo = _quiet) -> list[int]:
    """Stop every recorded process (reverse start order); returns pids still found after (empty = clean)."""
    lay = Layout((workdir or default_workdir()).resolve())
    if not lay.root.exists():
        return []
    with _locked(lay):
        state = ClusterState.load(lay.state_file)
        if state is not None:
            _stop_all(lay, state, echo)
        else:
            for proc in _leftovers(lay):
                procs.terminate(proc, STOP_GRACE_S)
        left = [p.pid for p in _leftovers(lay)]
        if left:
            raise ClusterError(f"processes of this cluster are still running after down: {left}")
    if purge:
        shutil.rmtree(lay.root)
    return left


def restart(workdir: Path, name: str, *, down_s: float = 0.0, ready_s: float = 60.0) -> float:
    """Stop one component (SIGTERM, as a supervisor restarting it would) and start it again with the
    same command line; return the seconds until the API server answers again. Chaos tests use it for
    an API server restart: clients see connections reset and watches end, and must carry on."""
    lay = Layout(workdir.resolve())
    with _locked(lay):
        state = ClusterState.load(lay.state_file)
        if state is None or name not in state.components:
            raise ClusterError(f"no running {name} recorded in {lay.state_file}")
        old = state.components[name]
        argv = old.proc.cmdline()
        if not argv:
            raise ClusterError(f"{name} (pid {old.pid}) is not running", Path(old.log))
        t0 = time.monotonic()
        if not procs.terminate(old.proc, STOP_GRACE_S):
            raise ClusterError(f"{name} (pid {old.pid}) did not stop", Path(old.log))
        time.sleep(down_s)
        proc = procs.spawn(argv, Path(old.log), cwd=lay.root, what=name)
        state.components[name] = ComponentState(
            pid=proc.pid, create_time=proc.create_time, executable=argv[0], log=old.log, port=old.port
        )
        state.save(lay.state_file)
        tls = admin_ssl_context(pki.load(lay.pki_dir))  # the cluster's own keys (never generate here)
        readyz = f"{state.server}/readyz"
        wait_until(
            f"{name} did not come back",
            lambda: http_ok(readyz, verify=tls),
            ready_s,
            Path(old.log),
            proc=proc,
        )
        return time.monotonic() - t0


def status(workdir: Path | None = None) -> dict[str, Any]:
    """One JSON-able object describing the cluster (also when it is not running)."""
    lay = Layout((workdir or default_workdir()).resolve())
    state = ClusterState.load(lay.state_file)
    bins = Binaries.from_cache()
    info: dict[str, Any] = {
        "running": False,
        "workdir": str(lay.root),
        "kubeconfig": str(lay.kubeconfig),
        "server": None,
        "k8s_version": bins.k8s_version,
        "pids": {},
        "procs": {},
        "alive": {},
        "ports": {},
        "logs": {},
        "kubectl": str(bins.kubectl),
        "kubectl_wrapper": str(lay.kubectl_wrapper),
        "started_at": None,
        "options": {},
    }
    if state is None:
        return info
    info.update(
        running=is_running(state),
        server=state.server,
        pids=state.pids(),
        procs={name: c.proc.to_json() for name, c in state.components.items()},
        alive=state.alive(),
        ports=state.ports,
        logs=state.logs(),
        started_at=state.started_at,
        options=state.options,
        k8s_version=state.k8s_version,
    )
    return info
