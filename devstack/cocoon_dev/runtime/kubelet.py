"""The local process runtime: the kubelet part that KWOK does not simulate.

KWOK binds pod IPs (from 127.100.0.0/16, bindable loopback addresses) and marks pods Running, but
runs nothing. This loop watches pods bound to fake nodes (annotation `kwok.x-k8s.io/node=fake`) in
all namespaces and, for every COCOON worker pod (label `app.kubernetes.io/name=cocoon-worker`) that
KWOK has made Running with a pod IP, runs real processes bound to that IP:

- container `triton`: tritonserver (8000/8001/8002) + the OpenAI front (9000), see triton_container.py;
- container `runner`: the runner simulator on 12000 with the pod's ConfigMap/Secret files;
- any other container: nothing to run, reported running and ready.

Like a kubelet it writes the pod's ConfigMap/Secret volumes to disk (a per-pod dir under
`component_dir("runtime")`), runs the containers' httpGet/tcpSocket readiness, startup and
liveness probes against the pod IP, restarts dead containers with exponential backoff
(restartPolicy Always), and patches the pod status (Ready/ContainersReady conditions,
containerStatuses with state, restartCount and lastState). It stops the processes when the pod
goes away (SIGTERM, then SIGKILL after the grace period).

KWOK and this runtime do not fight: KWOK's pod-ready stage only matches pods in phase Pending;
this runtime only touches pods that are Running, and never changes the phase or the pod IP.

Light mode (`--mode light`, for benchmarks with many pods): no Triton and no subprocesses; one
in-process aiohttp server per pod IP answers Triton's health endpoints and the runner's HTTP API
(fake chain, no traffic). See docs/local-runtime.md.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import functools
import json
import logging
import math
import os
import re
import shutil
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from cocoon_dev.paths import component_dir
from cocoon_dev.runtime import triton as triton_mod
from cocoon_dev.runtime.vm import host as vm_host
from cocoon_dev.runtime.vm import pod as vm_pod

log = logging.getLogger("cocoon_dev.runtime")

WORKER_LABEL = ("app.kubernetes.io/name", "cocoon-worker")
FAKE_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
FRONT_PORT = 9000
PROBE_PERIOD_MAX_S = 2.0
INIT_TIMEOUT_S = 300.0
SHELLS = ("/bin/sh", "sh", "/bin/bash", "bash")
Mode = Literal["full", "light"]


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class RuntimeOptions:
    kubeconfig: Path | None = None
    state_dir: Path = field(default_factory=lambda: component_dir("runtime"))
    mode: Mode = "full"
    poll_interval_s: float = 1.0
    backoff_initial_s: float = 1.0  # the kubelet uses 10 s doubling to 300 s; shortened for dev loops
    backoff_max_s: float = 30.0
    max_grace_s: float = 45.0
    network_json: Path | None = None  # dev chain's network.json, handed to the runner simulator
    ton_config: Path | None = None  # the dev chain's TON global config (when the pod's is not mounted)
    sim_env: dict[str, str] = field(default_factory=dict)  # extra COCOON_SIM_* settings
    python: str = sys.executable


# ----- Kubernetes access ---------------------------------------------------------------------------


class Kube:
    """The few API calls the runtime makes, as plain dicts (sync client, run in threads)."""

    def __init__(self, kubeconfig: Path | None) -> None:
        cfg = k8s.Configuration()
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig) if kubeconfig else None, client_configuration=cfg
        )
        self.api = k8s.CoreV1Api(k8s.ApiClient(cfg))

    def _json(self, resp: Any) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(resp.data)
        return data

    async def fake_nodes(self) -> set[str]:
        resp = await asyncio.to_thread(self.api.list_node, _preload_content=False, _request_timeout=10)
        key, value = FAKE_NODE_ANNOTATION
        return {
            n["metadata"]["name"]
            for n in self._json(resp).get("items", [])
            if (n["metadata"].get("annotations") or {}).get(key) == value
        }

    async def bound_pods(self) -> list[dict[str, Any]]:
        resp = await asyncio.to_thread(
            self.api.list_pod_for_all_namespaces,
            field_selector="spec.nodeName!=",
            _preload_content=False,
            _request_timeout=10,
        )
        items: list[dict[str, Any]] = self._json(resp).get("items", [])
        return items

    async def config_map(self, namespace: str, name: str) -> dict[str, Any]:
        resp = await asyncio.to_thread(
            self.api.read_namespaced_config_map, name, namespace, _preload_content=False, _request_timeout=10
        )
        return self._json(resp)

    async def secret(self, namespace: str, name: str) -> dict[str, Any]:
        resp = await asyncio.to_thread(
            self.api.read_namespaced_secret, name, namespace, _preload_content=False, _request_timeout=10
        )
        return self._json(resp)

    async def claim_path(self, namespace: str, claim: str) -> Path | None:
        """The directory of a PVC bound to a `hostPath` or `local` PV (what a node would mount), else None."""
        try:
            pvc = self._json(await asyncio.to_thread(
                self.api.read_namespaced_persistent_volume_claim, claim, namespace,
                _preload_content=False, _request_timeout=10,
            ))  # fmt: skip
            volume = (pvc.get("spec") or {}).get("volumeName")
            if not volume:
                return None
            pv = self._json(await asyncio.to_thread(
                self.api.read_persistent_volume, volume, _preload_content=False, _request_timeout=10
            ))  # fmt: skip
        except k8s.ApiException:
            return None
        spec = pv.get("spec") or {}
        path = (spec.get("hostPath") or spec.get("local") or {}).get("path")
        return Path(path) if path else None

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        await asyncio.to_thread(
            self.api.patch_namespaced_pod_status,
            name,
            namespace,
            {"status": status},
            _content_type="application/strategic-merge-patch+json",
            _preload_content=False,
            _request_timeout=10,
        )


# ----- volumes and container specs -----------------------------------------------------------------


def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)


async def materialize_volumes(kube: Kube, pod: dict[str, Any], root: Path) -> dict[str, Path]:
    """Write the pod's ConfigMap/Secret volumes under `root`; return volume name → local dir."""
    ns = pod["metadata"]["namespace"]
    dirs: dict[str, Path] = {}
    for vol in pod["spec"].get("volumes") or []:
        name = vol["name"]
        target = root / _safe_name(name)
        if "configMap" in vol:
            src = vol["configMap"]
            obj = await kube.config_map(ns, src["name"])
            files = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
            files |= {k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()}
            secret = False
        elif "secret" in vol:
            src = vol["secret"]
            obj = await kube.secret(ns, src["secretName"])
            files = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
            secret = True
        elif "hostPath" in vol:  # a directory of the pod's node, shared by its pods (vm/host.py)
            dirs[name] = await vm_host.host_path(kube.api, pod, vol["hostPath"]["path"], root.parents[2])
            continue
        else:
            if "persistentVolumeClaim" in vol:
                # A claim bound to a hostPath/local PV is that directory (shared, not copied: the
                # content is the point, e.g. a model repository); any other claim is an empty dir.
                found = await kube.claim_path(ns, vol["persistentVolumeClaim"]["claimName"])
                if found is not None and found.is_dir():
                    dirs[name] = found
                    continue
            target.mkdir(parents=True, exist_ok=True)  # emptyDir, other PVCs, ...: an empty local dir
            dirs[name] = target
            continue
        items = src.get("items")
        if items:
            files = {item["path"]: files[item["key"]] for item in items if item["key"] in files}
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True, mode=0o700)
        for rel, content in files.items():
            path = target / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            if secret:
                path.chmod(0o600)
        dirs[name] = target
    return dirs


def mount_map(container: dict[str, Any], volumes: dict[str, Path]) -> list[tuple[str, Path]]:
    """(mountPath, local path) for a container, longest mount path first."""
    mounts = []
    for m in container.get("volumeMounts") or []:
        local = volumes.get(m["name"])
        if local is None:
            continue
        if m.get("subPath"):
            local = local / m["subPath"]
        mounts.append((m["mountPath"].rstrip("/") or "/", local))
    return sorted(mounts, key=lambda x: len(x[0]), reverse=True)


def resolve_path(path: str, mounts: list[tuple[str, Path]]) -> Path | None:
    for mount_path, local in mounts:
        if path == mount_path:
            return local
        if path.startswith(mount_path + "/"):
            return local / path[len(mount_path) + 1 :]
    return None


def _flag_value(argv: list[str], *names: str) -> str | None:
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def container_kind(container: dict[str, Any]) -> str:
    name = container.get("name", "")
    image = container.get("image", "")
    if name in (vm_pod.LAUNCHER, vm_pod.OPENAI):
        return str(name)
    if name == "router":  # the RA-TLS router: nothing to run without proxies speaking RA-TLS
        return "other"
    if name == "triton" or "tritonserver" in image:
        return "triton"
    if name == "runner" or "worker-runner" in image or "cocoon-worker" in image:
        return "runner"
    return "other"


def container_port(container: dict[str, Any], port: int | str) -> int | None:
    if isinstance(port, int):
        return port
    if port.isdigit():
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    return None


# ----- processes -----------------------------------------------------------------------------------


@dataclass
class Probe:
    kind: Literal["http", "tcp", "exec"]
    port: int
    path: str = "/"
    period_s: float = 10.0
    timeout_s: float = 1.0
    failure_threshold: int = 3
    success_threshold: int = 1
    initial_delay_s: float = 0.0

    @classmethod
    def from_spec(cls, spec: dict[str, Any] | None, container: dict[str, Any]) -> Probe | None:
        if not spec:
            return None
        # Probe at most every PROBE_PERIOD_MAX_S, scaling failureThreshold so that the time budget
        # (period x threshold, e.g. a startup probe's allowance for model loads) stays the same.
        period = float(spec.get("periodSeconds", 10))
        fast = min(period, PROBE_PERIOD_MAX_S)
        common = {
            "period_s": fast,
            "timeout_s": min(float(spec.get("timeoutSeconds", 1)), 5.0),
            "failure_threshold": math.ceil(int(spec.get("failureThreshold", 3)) * period / fast),
            "success_threshold": int(spec.get("successThreshold", 1)),
            "initial_delay_s": min(float(spec.get("initialDelaySeconds", 0)), 30.0),
        }
        if "httpGet" in spec:
            port = container_port(container, spec["httpGet"].get("port", 80))
            if port is None:
                return None
            return cls("http", port, spec["httpGet"].get("path", "/"), **common)  # type: ignore[arg-type]
        if "tcpSocket" in spec:
            port = container_port(container, spec["tcpSocket"].get("port", 0))
            return None if port is None else cls("tcp", port, **common)  # type: ignore[arg-type]
        return cls("exec", 0, **common)  # type: ignore[arg-type]  # exec: succeeds while running

    async def check(self, ip: str, session: aiohttp.ClientSession) -> bool:
        if self.kind == "exec":
            return True
        try:
            if self.kind == "http":
                async with session.get(
                    f"http://{ip}:{self.port}{self.path}", timeout=aiohttp.ClientTimeout(total=self.timeout_s)
                ) as resp:
                    return 200 <= resp.status < 400
            _, writer = await asyncio.wait_for(asyncio.open_connection(ip, self.port), self.timeout_s)
            writer.close()
            return True
        except (aiohttp.ClientError, OSError, TimeoutError):
            return False


@dataclass
class Termination:
    exit_code: int
    reason: str
    started_at: str
    finished_at: str


class Container:
    """One container of one pod: a process group, its probes, restarts and status."""

    def __init__(
        self,
        pod: PodRuntime,
        spec: dict[str, Any],
        argv: list[str] | None,
        env: dict[str, str],
    ) -> None:
        self.pod = pod
        self.spec = spec
        self.name: str = spec["name"]
        self.argv = argv  # None: nothing to run (reported running)
        self.env = env
        self.process: asyncio.subprocess.Process | None = None
        self.started_at: str | None = None
        self.restart_count = 0
        self.last: Termination | None = None
        self.ready = False
        self.started = False  # startup probe passed
        self.next_start = 0.0
        self.last_pid = 0
        self.backoff = pod.options.backoff_initial_s
        self.waiting_reason = "ContainerCreating"
        self.readiness = Probe.from_spec(spec.get("readinessProbe"), spec)
        self.liveness = Probe.from_spec(spec.get("livenessProbe"), spec)
        self.startup = Probe.from_spec(spec.get("startupProbe"), spec)
        self._fails: dict[str, int] = {}
        self._oks: dict[str, int] = {}
        self._next_probe: dict[str, float] = {}
        self.log_path = pod.dir / "logs" / f"{_safe_name(self.name)}.log"

    @property
    def running(self) -> bool:
        return self.argv is None or (self.process is not None and self.process.returncode is None)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.returncode is None else None

    async def start(self) -> None:
        if self.argv is None:
            self.started_at = self.started_at or now_rfc3339()
            self.ready = True
            self.started = True
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        logf = self.log_path.open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=logf,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                cwd=str(self.pod.dir),
            )
        finally:
            logf.close()
        self.last_pid = self.process.pid
        self.started_at = now_rfc3339()
        self.ready = False
        self.started = self.startup is None
        self._fails.clear()
        self._oks.clear()
        loop = asyncio.get_running_loop().time()
        for kind, probe in (
            ("readiness", self.readiness),
            ("liveness", self.liveness),
            ("startup", self.startup),
        ):
            if probe is not None:
                self._next_probe[kind] = loop + probe.initial_delay_s
        log.info(
            "Started %s/%s container %s (pid %d)",
            self.pod.namespace,
            self.pod.name,
            self.name,
            self.process.pid,
        )

    def reap(self) -> bool:
        """Record an exit; return True if the process died since the last check."""
        if self.process is None or self.process.returncode is None:
            return False
        rc = self.process.returncode
        code = 128 - rc if rc < 0 else rc
        self.last = Termination(
            exit_code=code,
            reason="Completed" if code == 0 else "Error",
            started_at=self.started_at or now_rfc3339(),
            finished_at=now_rfc3339(),
        )
        self.process = None
        self.ready = False
        self.waiting_reason = "CrashLoopBackOff"
        loop = asyncio.get_running_loop().time()
        self.next_start = loop + self.backoff
        self.backoff = min(self.backoff * 2, self.pod.options.backoff_max_s)
        log.warning(
            "Container %s/%s %s exited with %d; restarting in %.0f s",
            self.pod.namespace,
            self.pod.name,
            self.name,
            code,
            self.next_start - loop,
        )
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.last_pid, signal.SIGKILL)  # leftovers of its group (e.g. Python stubs)
        return True

    async def tick(self, session: aiohttp.ClientSession) -> None:
        loop = asyncio.get_running_loop().time()
        if self.argv is not None and self.process is None:
            if loop >= self.next_start:
                if self.last is not None:
                    self.restart_count += 1
                await self.start()
            return
        if not self.running:
            return
        if not self.started and self.startup is not None:
            ok = await self._probe("startup", self.startup, session, loop)
            if ok is True:
                self.started = True
            elif ok is False:
                await self.kill_for_restart("startup probe failed")
            return
        if self.liveness is not None and await self._probe("liveness", self.liveness, session, loop) is False:
            await self.kill_for_restart("liveness probe failed")
            return
        if self.readiness is None:
            self.ready = True
        else:
            result = await self._probe("readiness", self.readiness, session, loop)
            if result is not None:
                self.ready = result
        if self.ready:
            self.backoff = self.pod.options.backoff_initial_s

    async def _probe(
        self, kind: str, probe: Probe, session: aiohttp.ClientSession, loop: float
    ) -> bool | None:
        """Run the probe when due; return its thresholded verdict, or None when nothing changed."""
        if loop < self._next_probe.get(kind, 0.0):
            return None
        self._next_probe[kind] = loop + probe.period_s
        if await probe.check(self.pod.ip, session):
            self._oks[kind] = self._oks.get(kind, 0) + 1
            self._fails[kind] = 0
            return True if self._oks[kind] >= probe.success_threshold else None
        self._fails[kind] = self._fails.get(kind, 0) + 1
        self._oks[kind] = 0
        return False if self._fails[kind] >= probe.failure_threshold else None

    async def kill_for_restart(self, why: str) -> None:
        log.warning("Container %s/%s %s: %s", self.pod.namespace, self.pod.name, self.name, why)
        await self.stop(grace_s=5.0)

    def pre_stop_sleep_s(self) -> float:
        """`lifecycle.preStop` of the form `exec: sleep N` (what the operator sets on Triton)."""
        command = ((self.spec.get("lifecycle") or {}).get("preStop") or {}).get("exec", {}).get(
            "command"
        ) or []
        if len(command) == 2 and command[0] in ("sleep", "/bin/sleep") and command[1].isdigit():
            return float(command[1])
        return 0.0

    async def stop(self, grace_s: float, pre_stop: bool = False) -> None:
        """Like the kubelet: preStop (when the pod is deleted), SIGTERM, SIGKILL when the grace ends."""
        proc = self.process
        if proc is None or proc.returncode is not None:
            return
        if pre_stop and (sleep_s := min(self.pre_stop_sleep_s(), grace_s)) > 0:
            await asyncio.sleep(sleep_s)  # the pod keeps serving while endpoints drop it
            grace_s = max(2.0, grace_s - sleep_s)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 10)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    def status(self, previous: dict[str, Any] | None) -> dict[str, Any]:
        previous = previous or {}
        st: dict[str, Any] = {
            "name": self.name,
            "image": self.spec.get("image", previous.get("image", "")),
            "imageID": previous.get("imageID", ""),
            "ready": self.ready and self.running,
            "restartCount": self.restart_count,
            "started": self.running and self.started,
        }
        if self.running and self.started_at:
            st["state"] = {"running": {"startedAt": self.started_at}}
        else:
            msg = f"back-off restarting failed container {self.name} in pod {self.pod.name}"
            st["state"] = {
                "waiting": {"reason": self.waiting_reason, **({"message": msg} if self.last else {})}
            }
        if self.last is not None:
            st["lastState"] = {
                "terminated": {
                    "exitCode": self.last.exit_code,
                    "reason": self.last.reason,
                    "startedAt": self.last.started_at,
                    "finishedAt": self.last.finished_at,
                }
            }
        if self.pid is not None:
            st["containerID"] = f"cocoon-dev://{self.pid}"
        return st


class PodRuntime:
    """The processes of one pod, and its status as a kubelet would report it."""

    def __init__(self, runtime: Kubelet, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        self.runtime = runtime
        self.options = runtime.options
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.uid: str = meta["uid"]
        self.ip: str = pod["status"]["podIP"]
        self.pod = pod
        self.dir = self.options.state_dir / "pods" / f"{self.namespace}_{self.name}_{self.uid[:8]}"
        self.containers: list[Container] = []
        self.init_statuses: dict[str, dict[str, Any]] = {}
        self.initialized = not pod["spec"].get("initContainers")
        self.blocked: str | None = None  # a reason the pod cannot start (e.g. its IP is taken)
        self.volumes: dict[str, Path] = {}
        self.last_patch: dict[str, Any] | None = None
        self.task: asyncio.Task[None] | None = None
        self.grace_s = min(
            float(pod["spec"].get("terminationGracePeriodSeconds", 30)), self.options.max_grace_s
        )

    async def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.volumes = await materialize_volumes(self.runtime.kube, self.pod, self.dir / "volumes")

    def build_containers(self) -> None:
        """The main containers' processes (after the init containers, which may render their files)."""
        volumes = self.volumes
        specs = self.pod["spec"]["containers"]
        runner_spec = next((c for c in specs if container_kind(c) == "runner"), None)
        runner_cfg = self._runner_config_path(runner_spec, volumes) if runner_spec else None
        forward = _read_forward(runner_cfg)
        adapter = any(container_kind(c) == vm_pod.OPENAI for c in specs)  # it serves the OpenAI port
        for spec in specs:
            kind = container_kind(spec)
            argv: list[str] | None
            extra: dict[str, str] = {}
            if kind == "triton":
                argv = self._triton_argv(spec, runner_cfg, forward)
                if adapter:
                    argv[argv.index("--front-port") + 1] = "0"
            elif kind == "runner" and runner_spec is not None:
                argv = self._runner_argv(spec, volumes, runner_cfg, forward)
            elif kind == vm_pod.OPENAI:
                argv = vm_pod.adapter_argv(spec, pod_ip=self.ip, python=self.options.python)
            elif kind == vm_pod.LAUNCHER:
                argv, extra = vm_pod.launcher_process(
                    spec, remap=functools.partial(remap_paths, mounts=mount_map(spec, volumes)),
                    pod_uid=self.uid, pod_ip=self.ip, state_dir=self.options.state_dir,
                    python=self.options.python, network_json=self.options.network_json,
                    record=self.dir / "qemu-cmdline.json",
                )  # fmt: skip
            else:
                argv = None
            env = os.environ | {"PYTHONUNBUFFERED": "1", "COCOON_DEV_POD": f"{self.namespace}/{self.name}"}
            env |= self.options.sim_env | extra
            self.containers.append(Container(self, spec, argv, env))

    def _runner_config_path(self, spec: dict[str, Any], volumes: dict[str, Path]) -> Path | None:
        mounts = mount_map(spec, volumes)
        argv = [*(spec.get("command") or []), *(spec.get("args") or [])]
        value = _flag_value(argv, "-c", "--config")
        if value:
            found = resolve_path(value, mounts)
            if found is not None and found.is_file():
                return found
        for _, local in mounts:
            for candidate in [local] if local.is_file() else local.glob("*.json"):
                if candidate.name == "worker-config.json":
                    return candidate
        return None

    def _triton_argv(self, spec: dict[str, Any], runner_cfg: Path | None, forward: int | None) -> list[str]:
        argv = [*(spec.get("command") or []), *(spec.get("args") or [])]
        # A model repository the pod itself provides (e.g. fetched and verified by an init container)
        # is served as is; otherwise the stand-in model.
        given = _flag_value(argv, "--model-repository")
        pod_repo = resolve_path(given, mount_map(spec, self.volumes)) if given else None
        served = "cocoon-dev/stand-in"
        if runner_cfg is not None:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                served = json.loads(runner_cfg.read_text()).get("model_name", served).split("@", 1)[0]
        annotations = self.pod["metadata"].get("annotations") or {}
        fault = annotations.get("dev.cocoon.tonops.dev/triton-fault", "")
        model = triton_mod.StandInModel(
            served_model_name=served,
            fail_init=fault == "broken",
            init_delay_s=float(fault.split(":", 1)[1]) if fault.startswith("slow-init:") else 0.0,
        )
        triton_model = triton_mod.STANDIN_MODEL
        pod_models = (
            sorted(pod_repo.glob("*/config.pbtxt")) if pod_repo is not None and pod_repo.is_dir() else []
        )
        if pod_models:
            repo, triton_model = pod_repo, pod_models[0].parent.name
        else:
            repo = triton_mod.write_model_repository(self.dir / "model-repository", [model])
        ports = {p.get("name"): int(p["containerPort"]) for p in spec.get("ports") or []}
        front = forward if forward not in (None, *ports.values()) else FRONT_PORT
        exit_timeout = _flag_value(argv, "--exit-timeout-secs") or "30"
        mode = _flag_value(argv, "--model-control-mode") or "none"
        return [
            self.options.python, "-m", "cocoon_dev.runtime.triton_container",
            "--address", self.ip,
            "--repository", str(repo),
            "--http-port", str(ports.get("http", triton_mod.HTTP_PORT)),
            "--grpc-port", str(ports.get("grpc", triton_mod.GRPC_PORT)),
            "--metrics-port", str(ports.get("metrics", triton_mod.METRICS_PORT)),
            "--front-port", str(front),
            "--served-model-name", served,
            "--triton-model", triton_model,
            "--exit-timeout-secs", exit_timeout,
            "--model-control-mode", mode if mode in ("none", "explicit", "poll") else "none",
            "--pid-file", str(self.dir / "tritonserver.pid"),
        ]  # fmt: skip

    def _runner_argv(
        self, spec: dict[str, Any], volumes: dict[str, Path], runner_cfg: Path | None, forward: int | None
    ) -> list[str] | None:
        if runner_cfg is None:
            log.warning(
                "Pod %s/%s: no worker-config.json mounted in the runner container", self.namespace, self.name
            )
            return [
                self.options.python,
                "-c",
                "import sys; sys.exit('cocoon-dev: no worker-config.json mounted')",
            ]
        argv = [
            self.options.python, "-m", "cocoon_dev.runtime.runner_sim",
            "-c", str(runner_cfg),
            "--bind", self.ip,
            "--localhost-is", self.ip,
        ]  # fmt: skip
        triton_ports = {8000, 8001, 8002}
        if forward is None or forward in triton_ports:
            # The front cannot share Triton's port; point the simulator at the front instead.
            argv += ["--forward-override", f"{self.ip}:{FRONT_PORT}"]
        if self.options.network_json is not None:
            argv += ["--network", str(self.options.network_json)]
            ton_config = self._ton_config(spec, volumes, runner_cfg)
            if ton_config is not None:
                argv += ["--ton-config", str(ton_config)]
        else:
            argv += ["--chain", "fake"]
        return argv

    def _ton_config(self, spec: dict[str, Any], volumes: dict[str, Path], runner_cfg: Path) -> Path | None:
        """The pod's mounted TON config if the runner config names one, else the dev chain's."""
        with contextlib.suppress(OSError, ValueError, AttributeError):
            name = json.loads(runner_cfg.read_text()).get("ton_config_filename", "")
            found = resolve_path(name, mount_map(spec, volumes)) if name else None
            if found is not None and found.is_file():
                return found
        ton_config = self.options.ton_config
        return ton_config if ton_config is not None and ton_config.is_file() else None

    def pids(self) -> dict[str, int]:
        return {c.name: c.pid for c in self.containers if c.pid is not None}

    async def run(self) -> None:
        await self.prepare()
        while (taken := await _ip_in_use(self.ip)) is not None:
            self.blocked = (
                f"another process listens on {self.ip}:{taken} (another local cluster with this pod CIDR?)"
            )
            log.warning("Pod %s/%s: %s", self.namespace, self.name, self.blocked)
            await self.publish()
            await asyncio.sleep(5)
        self.blocked = None
        await self.run_init_containers()
        self.build_containers()
        async with aiohttp.ClientSession() as session:
            while True:
                for c in self.containers:
                    c.reap()
                    await c.tick(session)
                await self.publish()
                await asyncio.sleep(0.5)

    async def run_init_containers(self) -> None:
        """Run each init container to completion, in order, restarting failures with backoff."""
        backoff = self.options.backoff_initial_s
        for spec in self.pod["spec"].get("initContainers") or []:
            name = spec["name"]
            restarts = 0
            while True:
                self.init_statuses[name] = _init_status(
                    spec, restarts, {"running": {"startedAt": now_rfc3339()}}
                )
                await self.publish()
                started = now_rfc3339()
                code, message = await self._run_init(spec)
                terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                              "startedAt": started, "finishedAt": now_rfc3339()}  # fmt: skip
                if message and code != 0:
                    terminated["message"] = message
                if code == 0:
                    self.init_statuses[name] = _init_status(
                        spec, restarts, {"terminated": terminated}, ready=True
                    )
                    await self.publish()
                    break
                log.warning("Init container %s/%s %s exited with %d", self.namespace, self.name, name, code)
                message = f"back-off restarting failed container {name} in pod {self.name}"
                waiting = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
                status = _init_status(spec, restarts, waiting)
                status["lastState"] = {"terminated": terminated}
                self.init_statuses[name] = status
                await self.publish()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.options.backoff_max_s)
                restarts += 1
        self.initialized = True

    async def _run_init(self, spec: dict[str, Any]) -> tuple[int, str]:
        """A `sh -c` init container runs on the host with its mount paths mapped to the pod's volume
        dirs; other commands cannot be emulated and count as completed."""
        argv = [*(spec.get("command") or []), *(spec.get("args") or [])]
        if len(argv) < 3 or argv[0] not in SHELLS or argv[1] != "-c":
            log.info("Init container %s/%s %s: not a shell script, treated as completed",
                     self.namespace, self.name, spec["name"])  # fmt: skip
            return 0, ""
        script = remap_paths(argv[2], mount_map(spec, self.volumes))
        env = os.environ | {e["name"]: str(e["value"]) for e in spec.get("env") or [] if "value" in e}
        log_path = self.dir / "logs" / f"init-{_safe_name(spec['name'])}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh", "-c", script, *argv[3:], env=env, stdin=asyncio.subprocess.DEVNULL, stdout=out,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True, cwd=str(self.dir),
            )  # fmt: skip
            try:
                rc = await asyncio.wait_for(proc.wait(), INIT_TIMEOUT_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                rc = await proc.wait()
        code = 128 - rc if rc < 0 else rc
        # terminationMessagePolicy FallbackToLogsOnError: the log tail becomes the message.
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        return code, "\n".join(tail)[-1024:]

    async def publish(self) -> None:
        current = self.pod.get("status") or {}
        prev_statuses = {s["name"]: s for s in current.get("containerStatuses") or []}
        if self.containers:
            statuses = [c.status(prev_statuses.get(c.name)) for c in self.containers]
        else:
            reason = "PodIPInUse" if self.blocked else "PodInitializing"
            waiting: dict[str, Any] = {"reason": reason}
            if self.blocked:
                waiting["message"] = self.blocked
            statuses = [
                {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
                 "restartCount": 0, "started": False, "state": {"waiting": dict(waiting)}}
                for c in self.pod["spec"]["containers"]
            ]  # fmt: skip
        all_ready = all(s["ready"] for s in statuses)
        not_ready = [s["name"] for s in statuses if not s["ready"]]
        mine = ("Ready", "ContainersReady", "Initialized")
        conditions: list[dict[str, Any]] = [
            c for c in current.get("conditions") or [] if c["type"] not in mine
        ]
        old = {c["type"]: c for c in current.get("conditions") or []}
        pending_init = [n for n, st in self.init_statuses.items() if "terminated" not in st["state"]
                        or st["state"]["terminated"]["exitCode"] != 0]  # fmt: skip
        init_ok = self.initialized and not pending_init
        init_cond: dict[str, Any] = {
            "type": "Initialized",
            "status": "True" if init_ok else "False",
            "lastProbeTime": None,
            "lastTransitionTime": old.get("Initialized", {}).get("lastTransitionTime")
            if old.get("Initialized", {}).get("status") == ("True" if init_ok else "False")
            else now_rfc3339(),
        }
        if not init_ok:
            init_cond["reason"] = "ContainersNotInitialized"
            init_cond["message"] = f"containers with incomplete status: [{' '.join(pending_init)}]"
        conditions.append(init_cond)
        for ctype in ("ContainersReady", "Ready"):
            status = "True" if all_ready else "False"
            previous = old.get(ctype, {})
            cond: dict[str, Any] = {
                "type": ctype,
                "status": status,
                "lastProbeTime": None,
                "lastTransitionTime": previous.get("lastTransitionTime")
                if previous.get("status") == status
                else now_rfc3339(),
            }
            if not all_ready:
                cond["reason"] = "ContainersNotReady"
                cond["message"] = f"containers with unready status: [{' '.join(not_ready)}]"
            conditions.append(cond)
        desired: dict[str, Any] = {"conditions": conditions, "containerStatuses": statuses}
        if self.init_statuses:
            desired["initContainerStatuses"] = list(self.init_statuses.values())
        # Compare without timestamps that only change on transitions we already encoded.
        if desired == self.last_patch:
            return
        try:
            await self.runtime.kube.patch_status(self.namespace, self.name, desired)
            self.last_patch = desired
            self.pod["status"] = current | desired
        except Exception as exc:  # pod gone or API hiccup: retried on the next tick
            log.debug("Status patch for %s/%s failed: %s", self.namespace, self.name, exc)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        await asyncio.gather(
            *(c.stop(self.grace_s, pre_stop=True) for c in self.containers), return_exceptions=True
        )
        log.info("Stopped pod %s/%s", self.namespace, self.name)


def _init_status(
    spec: dict[str, Any], restarts: int, state: dict[str, Any], ready: bool = False
) -> dict[str, Any]:
    return {"name": spec["name"], "image": spec.get("image", ""), "imageID": "", "ready": ready,
            "restartCount": restarts, "started": "running" in state, "state": state}  # fmt: skip


def remap_paths(script: str, mounts: list[tuple[str, Path]]) -> str:
    """Replace container mount paths in a shell script by the pod's local volume dirs (one pass, so
    a local dir is never rewritten again by a shorter mount path)."""
    if not mounts:
        return script
    mapping = {mount_path: str(local) for mount_path, local in mounts}
    alternatives = "|".join(re.escape(m) for m in sorted(mapping, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w./-])({alternatives})(?=$|[/\s\"';:|&)])")
    return pattern.sub(lambda m: mapping[m.group(1)], script)


async def _ip_in_use(ip: str, ports: tuple[int, ...] = (8000, 12000)) -> int | None:
    """A port of the pod IP that something else already listens on, if any."""
    for port in ports:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), 0.5)
        except (OSError, TimeoutError):
            continue
        writer.close()
        return port
    return None


def _read_forward(runner_cfg: Path | None) -> int | None:
    """The port of `forward_requests_to` when it points at the pod itself (localhost)."""
    if runner_cfg is None:
        return None
    try:
        target = str(json.loads(runner_cfg.read_text()).get("forward_requests_to", ""))
    except (OSError, ValueError, AttributeError):
        return None
    host, _, port = target.rpartition(":")
    host = host.split("://")[-1]
    if host in ("127.0.0.1", "localhost", "0.0.0.0") and port.isdigit():  # noqa: S104
        return int(port)
    return None


# ----- the loop ------------------------------------------------------------------------------------


class Kubelet:
    def __init__(
        self, options: RuntimeOptions, pod_factory: Callable[[Kubelet, dict[str, Any]], Any] | None = None
    ):
        self.options = options
        self.kube = Kube(options.kubeconfig)
        self.pods: dict[str, Any] = {}  # uid -> PodRuntime (or a light-mode pod)
        self._fake_nodes: set[str] = set()
        self._nodes_at = -1e9
        self._pod_factory = pod_factory or (PodRuntime if options.mode == "full" else _light_factory())
        self._stopping = asyncio.Event()

    def wanted(self, pod: dict[str, Any]) -> bool:
        meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
        key, value = WORKER_LABEL
        return (
            (meta.get("labels") or {}).get(key) == value
            and spec.get("nodeName") in self._fake_nodes
            and not meta.get("deletionTimestamp")
            and status.get("phase") == "Running"
            and bool(status.get("podIP"))
        )

    async def sync_once(self) -> None:
        loop = asyncio.get_running_loop().time()
        if loop - self._nodes_at > 10:
            self._fake_nodes = await self.kube.fake_nodes()
            self._nodes_at = loop
        pods = await self.kube.bound_pods()
        wanted = {p["metadata"]["uid"]: p for p in pods if self.wanted(p)}
        for uid in [u for u in self.pods if u not in wanted]:
            pod_rt = self.pods.pop(uid)
            await pod_rt.stop()
        for uid, pod in wanted.items():
            if uid in self.pods:
                self.pods[uid].pod["metadata"] = pod["metadata"]
                if self.pods[uid].last_patch is None:
                    self.pods[uid].pod["status"] = pod.get("status") or {}
                continue
            if any(p.ip == pod["status"]["podIP"] for p in self.pods.values()):
                continue  # the old pod with this IP is still stopping
            pod_rt = self._pod_factory(self, pod)
            self.pods[uid] = pod_rt
            pod_rt.task = asyncio.create_task(self._guard(pod_rt), name=f"pod-{pod['metadata']['name']}")
            log.info("Running pod %s/%s on %s", pod_rt.namespace, pod_rt.name, pod_rt.ip)
        self.write_state()

    async def _guard(self, pod_rt: Any) -> None:
        try:
            await pod_rt.run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Pod %s/%s failed in the runtime", pod_rt.namespace, pod_rt.name)

    def write_state(self) -> None:
        state = {
            "pid": os.getpid(),
            "mode": self.options.mode,
            "pods": {
                f"{p.namespace}/{p.name}": {"uid": uid, "ip": p.ip, "dir": str(p.dir), "pids": p.pids()}
                for uid, p in self.pods.items()
            },
        }
        path = self.options.state_dir / "kubelet-state.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(path)

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.sync_once()
            except Exception as exc:  # the API server may be restarting
                log.warning("Pod sync failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.options.poll_interval_s)
        await self.shutdown()

    def stop(self) -> None:
        self._stopping.set()

    async def shutdown(self) -> None:
        pods = list(self.pods.values())
        self.pods.clear()
        await asyncio.gather(*(p.stop() for p in pods), return_exceptions=True)
        self.write_state()


def _light_factory() -> Callable[[Kubelet, dict[str, Any]], Any]:
    from cocoon_dev.runtime.light import LightPod

    return LightPod


# ----- process entry point (`cocoon-dev runtime up` starts this in the background) ---------------


def default_kubeconfig() -> Path | None:
    env = os.environ.get("KUBECONFIG")
    if env:
        return Path(env)
    path = component_dir("cluster") / "kubeconfig"
    return path if path.exists() else None


def default_network_json() -> Path | None:
    """The dev chain's network.json (`cocoon-dev chain up` writes it), if there is one."""
    env = os.environ.get("COCOON_DEV_NETWORK_JSON")
    if env:
        return Path(env)
    path = component_dir("chain") / "network.json"  # cocoon_dev.ton.server.COMPONENT is "chain"
    return path if path.exists() else None


def default_ton_config() -> Path | None:
    env = os.environ.get("COCOON_DEV_TON_CONFIG")
    if env:
        return Path(env)
    path = component_dir("chain") / "global-config.json"
    return path if path.exists() else None


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="cocoon-dev-kubelet", description="cocoon-dev local process runtime")
    p.add_argument("--kubeconfig", type=Path, default=None)
    p.add_argument("--mode", choices=["full", "light"], default="full")
    p.add_argument("--state-dir", type=Path, default=None)
    p.add_argument(
        "--network", type=Path, default=None, help="dev chain network.json for the runner simulator"
    )
    p.add_argument("--ton-config", type=Path, default=None, help="TON global config of the dev chain")
    p.add_argument("--no-chain", action="store_true", help="runner simulators use the fake chain")
    p.add_argument("--poll-interval", type=float, default=1.0)
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s cocoon-dev-kubelet %(levelname)s %(message)s",
    )
    options = RuntimeOptions(
        kubeconfig=args.kubeconfig or default_kubeconfig(),
        mode=args.mode,
        poll_interval_s=args.poll_interval,
        network_json=None if args.no_chain else args.network or default_network_json(),
        ton_config=args.ton_config or default_ton_config(),
    )
    if args.state_dir is not None:
        options.state_dir = args.state_dir
    options.state_dir.mkdir(parents=True, exist_ok=True)

    try:
        Kube(options.kubeconfig)
    except Exception as exc:  # kubeconfig missing or invalid
        print(f"cocoon-dev-kubelet: cannot use the kubeconfig {options.kubeconfig}: {exc}", file=sys.stderr)
        return 2

    async def run() -> None:
        kubelet = Kubelet(options)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, kubelet.stop)
        await kubelet.run()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
