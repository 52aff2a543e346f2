"""The benchmark harness's plumbing: stopping on Ctrl-C, the processes it runs and measures (the
operator, py-spy), and what it records about the code and the machine."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from cocoon_dev import procs
from cocoon_dev.ports import free_port

REPO = Path(__file__).resolve().parents[1]


class Interrupted(Exception):
    """SIGINT/SIGTERM: stop the repetition; `run` still stops every process it started."""


STOP = threading.Event()


def check_stop() -> None:
    # Polled in every wait: on Python 3.11 `wait_for` can swallow a task cancellation (bpo-42130).
    if STOP.is_set():
        raise Interrupted("interrupted")


async def pause(seconds: float) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        check_stop()
        await asyncio.sleep(min(left, 1.0))


def log(msg: str) -> None:
    print(f"[{dt.datetime.now(dt.UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


# ----- processes ------------------------------------------------------------------------------------


@dataclass
class Sampler:
    """RSS and CPU of one process, sampled every 0.5 s in a thread."""

    pid: int
    samples: list[tuple[float, float, float]] = field(default_factory=list)  # (t, rss_mb, cpu_s)
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        proc = psutil.Process(self.pid)
        while not self._stop.is_set():
            try:
                cpu = proc.cpu_times()
                self.samples.append((time.monotonic(), proc.memory_info().rss / 2**20, cpu.user + cpu.system))
            except psutil.Error:
                return
            self._stop.wait(0.5)

    def stop(self) -> None:
        self._stop.set()

    def cpu_at(self) -> float:
        cpu = psutil.Process(self.pid).cpu_times()
        return float(cpu.user + cpu.system)

    def rss_between(self, t0: float, t1: float) -> list[float]:
        return [rss for t, rss, _ in self.samples if t0 <= t <= t1]


def hwm_mb(pid: int) -> float:
    """Peak resident set (VmHWM) from /proc: catches peaks between samples."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


RUNNING: list[Operator] = []  # stopped in run()'s finally, whatever happens


class Operator:
    def __init__(self, kubeconfig: str, namespace: str, logdir: Path, env: dict[str, str]) -> None:
        self.kubeconfig, self.namespace, self.logdir, self.env = kubeconfig, namespace, logdir, env
        self.proc: procs.ProcRef | None = None
        self.port = 0
        self.starts = 0
        self.versions: list[dict[str, str]] = []
        RUNNING.append(self)

    def start(self) -> int:
        self.port = free_port()
        self.starts += 1
        self.versions.append(operator_version())
        exe = shutil.which("cocoon-operator", path=str(Path(sys.executable).parent)) or "cocoon-operator"
        argv = [
            exe,
            "run",
            "--namespace",
            self.namespace,
            "--standalone",
            "--liveness",
            f"http://127.0.0.1:{self.port}/healthz",
        ]
        env = {
            **os.environ,
            "KUBECONFIG": self.kubeconfig,
            "COCOON_LEASE_NAMESPACE": self.namespace,  # the benched namespace holds the Lease
            **self.env,
        }
        log_file = self.logdir / f"operator-{self.namespace}-{self.starts}.log"
        self.proc = procs.spawn(argv, log_file, env=env, what="operator")
        return self.proc.pid

    def probes(self) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as resp:
                data: dict[str, Any] = json.loads(resp.read() or b"{}")
                return data
        except (OSError, ValueError):
            return {}

    async def wait_live(self, timeout: float = 120.0) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            assert self.proc is not None
            if not self.proc.alive():
                raise RuntimeError(f"operator exited with {procs.exit_code(self.proc)}; see {self.logdir}")
            if await asyncio.to_thread(self.probes):
                return time.monotonic() - t0
            await asyncio.sleep(0.3)
        raise RuntimeError("operator liveness endpoint did not answer")

    def stop(self) -> None:
        if self.proc is not None:
            procs.terminate(self.proc, grace_s=20.0)


def py_spy() -> str:
    """py-spy from the same environment as this interpreter (the venv need not be activated)."""
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"


def py_spy_record(pid: int, out: Path, duration_s: float | None = None) -> subprocess.Popen[bytes]:
    """A raw py-spy profile of `pid` (25 samples/s) until stopped with SIGINT or for `duration_s`."""
    argv = [py_spy(), "record", "--pid", str(pid), "--rate", "25", "--nonblocking", "--format", "raw"]
    if duration_s is not None:
        argv += ["--duration", str(int(duration_s))]
    return subprocess.Popen([*argv, "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def operator_version() -> dict[str, str]:
    """Commit and a digest of uncommitted changes under operator/ (the operator changes between runs)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False).stdout

    return {
        "commit": git("rev-parse", "--short", "HEAD").strip(),
        "operator_diff_sha256": hashlib.sha256(git("diff", "HEAD", "--", "operator/").encode()).hexdigest()[
            :12
        ],
    }


def machine() -> dict[str, Any]:
    load1, load5, _ = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        ),
        "mem_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "loadavg_1_5": [round(load1, 2), round(load5, 2)],
    }
