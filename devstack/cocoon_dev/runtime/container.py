"""One container of a pod on the local runtime: a process group on the pod IP, its probes, restarts
with backoff (restartPolicy Always), and its status as a kubelet reports it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from cocoon_dev import procs
from cocoon_dev.runtime.pods import now_rfc3339
from cocoon_dev.runtime.probes import Probe
from cocoon_dev.runtime.volumes import safe_name

if TYPE_CHECKING:
    from cocoon_dev.runtime.pod import PodRuntime

log = logging.getLogger("cocoon_dev.runtime")


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
        self.identity: procs.ProcRef | None = None  # of the current (or last) process group leader
        self.backoff = pod.options.backoff_initial_s
        self.waiting_reason = "ContainerCreating"
        self.readiness = Probe.from_spec(spec.get("readinessProbe"), spec)
        self.liveness = Probe.from_spec(spec.get("livenessProbe"), spec)
        self.startup = Probe.from_spec(spec.get("startupProbe"), spec)
        self._fails: dict[str, int] = {}
        self._oks: dict[str, int] = {}
        self._next_probe: dict[str, float] = {}
        self.log_path = pod.dir / "logs" / f"{safe_name(self.name)}.log"

    @property
    def running(self) -> bool:
        return self.argv is None or (self.process is not None and self.process.returncode is None)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.returncode is None else None

    @property
    def proc(self) -> procs.ProcRef | None:
        """The running process's identity (for the state file and `cocoon-dev down`)."""
        return self.identity if self.pid is not None else None

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
        self.identity = procs.ref(self.process.pid, f"{self.pod.key} {self.name}")
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
                self._next_probe[kind] = loop + probe.timing.initial_delay_s
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
        if self.identity is not None:
            procs.kill_group(self.identity)  # leftovers of its group (e.g. Python stubs)
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
        self._next_probe[kind] = loop + probe.timing.period_s
        if await probe.check(self.pod.ip, session):
            self._oks[kind] = self._oks.get(kind, 0) + 1
            self._fails[kind] = 0
            return True if self._oks[kind] >= probe.timing.success_threshold else None
        self._fails[kind] = self._fails.get(kind, 0) + 1
        self._oks[kind] = 0
        return False if self._fails[kind] >= probe.timing.failure_threshold else None

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
            if self.identity is not None:
                procs.kill_group(self.identity)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 10)
        if self.identity is not None:
            procs.kill_group(self.identity)  # whatever of its group outlived it

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
