"""One worker pod on the local runtime (full mode): its volumes, init containers run to completion,
then its containers as processes on the pod IP, and its status written as a kubelet writes it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from cocoon_dev import procs
from cocoon_dev.runtime import pod_status
from cocoon_dev.runtime.container import Container
from cocoon_dev.runtime.launch import Place, container_argvs
from cocoon_dev.runtime.pods import Pod, ip_in_use, ip_in_use_message, now_rfc3339
from cocoon_dev.runtime.volumes import materialize_volumes, mount_map, remap_paths, safe_name

if TYPE_CHECKING:
    from cocoon_dev.runtime.kubelet import Kubelet

log = logging.getLogger("cocoon_dev.runtime")

INIT_TIMEOUT_S = 300.0
SHELLS = ("/bin/sh", "sh", "/bin/bash", "bash")


class PodRuntime:
    """The processes of one pod, and its status as a kubelet would report it."""

    def __init__(self, runtime: Kubelet, pod: Pod) -> None:
        meta = pod["metadata"]
        self.runtime = runtime
        self.options = runtime.options
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.uid: str = meta["uid"]
        self.ip: str = pod["status"]["podIP"]
        self.pod = pod
        self.key = f"{self.namespace}/{self.name}"
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
        place = Place(self.pod, self.ip, self.dir, self.volumes)
        env = os.environ | {"PYTHONUNBUFFERED": "1", "COCOON_DEV_POD": self.key} | self.options.sim_env
        for spec, argv, extra in container_argvs(place, self.options):
            self.containers.append(Container(self, spec, argv, env | extra))

    def identities(self) -> dict[str, dict[str, Any]]:
        """The identities of the running container processes, by container."""
        return {c.name: proc.to_json() for c in self.containers if (proc := c.proc) is not None}

    async def run(self) -> None:
        await self.prepare()
        while (taken := await ip_in_use(self.ip)) is not None:
            self.blocked = ip_in_use_message(self.ip, taken)
            log.warning("Pod %s: %s", self.key, self.blocked)
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
                running = {"running": {"startedAt": now_rfc3339()}}
                self.init_statuses[name] = pod_status.container_status(spec, running, restarts=restarts)
                await self.publish()
                started = now_rfc3339()
                code, message = await self._run_init(spec)
                terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                              "startedAt": started, "finishedAt": now_rfc3339()}  # fmt: skip
                if message and code != 0:
                    terminated["message"] = message
                if code == 0:
                    self.init_statuses[name] = pod_status.container_status(
                        spec, {"terminated": terminated}, ready=True, restarts=restarts
                    )
                    await self.publish()
                    break
                log.warning("Init container %s %s exited with %d", self.key, name, code)
                message = f"back-off restarting failed container {name} in pod {self.name}"
                waiting = {"waiting": {"reason": "CrashLoopBackOff", "message": message}}
                status = pod_status.container_status(spec, waiting, restarts=restarts)
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
            log.info("Init container %s %s: not a shell script, treated as completed", self.key, spec["name"])
            return 0, ""
        script = remap_paths(argv[2], mount_map(spec, self.volumes))
        env = os.environ | {e["name"]: str(e["value"]) for e in spec.get("env") or [] if "value" in e}
        log_path = self.dir / "logs" / f"init-{safe_name(spec['name'])}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh", "-c", script, *argv[3:], env=env, stdin=asyncio.subprocess.DEVNULL, stdout=out,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True, cwd=str(self.dir),
            )  # fmt: skip
            identity = procs.ref(proc.pid, f"{self.key} init {spec['name']}")
            try:
                rc = await asyncio.wait_for(proc.wait(), INIT_TIMEOUT_S)
            except TimeoutError:
                if identity is not None:
                    procs.kill_group(identity)
                rc = await proc.wait()
        code = 128 - rc if rc < 0 else rc
        # terminationMessagePolicy FallbackToLogsOnError: the log tail becomes the message.
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        return code, "\n".join(tail)[-1024:]

    async def publish(self) -> None:
        """Write the pod's status when it changed (the kubelet's status manager)."""
        current = self.pod.get("status") or {}
        if self.containers:
            previous = {s["name"]: s for s in current.get("containerStatuses") or []}
            statuses = [c.status(previous.get(c.name)) for c in self.containers]
        elif self.blocked:
            statuses = pod_status.waiting_statuses(self.pod, "PodIPInUse", self.blocked)
        else:
            statuses = pod_status.waiting_statuses(self.pod, "PodInitializing")
        pending = [n for n, st in self.init_statuses.items()
                   if st["state"].get("terminated", {}).get("exitCode") != 0]  # fmt: skip
        desired = pod_status.pod_status(
            self.pod,
            statuses,
            pending_init=None if self.initialized and not pending else pending,
            init_statuses=list(self.init_statuses.values()),
        )
        if desired == self.last_patch:
            return
        try:
            await self.runtime.kube.patch_status("v1", "Pod", self.namespace, self.name, desired)
            self.last_patch = desired
            self.pod["status"] = current | desired
        except Exception as exc:  # pod gone or API hiccup: retried on the next tick
            log.debug("Status patch for %s failed: %s", self.key, exc)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        await asyncio.gather(
            *(c.stop(self.grace_s, pre_stop=True) for c in self.containers), return_exceptions=True
        )
        log.info("Stopped pod %s", self.key)
