"""The dev stack's processes: one identity, one way to start, find, check and stop them.

A pid alone is not an identity: pids are reused. Everything the stack records is a `ProcRef`, the pid
plus the kernel's start time of that process (psutil `create_time()`), and every check and signal
uses both, so a reused pid is never mistaken for one of ours, let alone signalled. The cluster, the
chain, the runtime, the operator process, the runtime's containers and the benchmarks all go
through this module.

Processes the stack runs in the background are started in their own session (`spawn`), so they
outlive the command that started them and one signal to the process group reaches their children.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

# Popen objects of children started by this Python process: kept so they are reaped (a dead child of a
# long-lived process such as pytest would stay a zombie) and so no "still running" warning fires when
# the objects would be garbage-collected.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
_GONE = (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)


@dataclass(frozen=True)
class ProcRef:
    """A process as the stack knows it: pid + start time (its identity) + what it is (for people)."""

    pid: int
    create_time: float
    what: str = ""

    def process(self) -> psutil.Process | None:
        """The live process with this identity, or None (gone, a zombie, or the pid reused)."""
        _reap(self.pid)
        try:
            proc = psutil.Process(self.pid)
            if proc.create_time() != self.create_time or proc.status() in _GONE:
                return None
        except psutil.Error:
            return None
        return proc

    def alive(self) -> bool:
        return self.process() is not None

    def cmdline(self) -> list[str]:
        proc = self.process()
        if proc is None:
            return []
        try:
            return list(proc.cmdline())
        except psutil.Error:
            return []

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcRef:
        return cls(int(data["pid"]), float(data["create_time"]), str(data.get("what", "")))


def ref(pid: int, what: str = "") -> ProcRef | None:
    """The identity of the running process `pid` now, or None when there is none (or a zombie)."""
    _reap(pid)
    try:
        proc = psutil.Process(pid)
        if proc.status() in _GONE:
            return None
        return ProcRef(pid, proc.create_time(), what)
    except psutil.Error:
        return None


def _reap(pid: int) -> None:
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        del _CHILDREN[pid]


def spawn(
    argv: Sequence[str],
    log: Path,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    what: str = "",
) -> ProcRef:
    """Start `argv` detached (own session, stdin closed, stdout+stderr appended to `log`)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        child = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=None if env is None else dict(env),
            start_new_session=True,
            close_fds=True,
        )
    _CHILDREN[child.pid] = child
    found = ref(child.pid, what or Path(argv[0]).name)
    if found is None:  # it exited at once: an identity that is already gone
        return ProcRef(child.pid, 0.0, what or Path(argv[0]).name)
    return found


def exit_code(proc: ProcRef) -> int | None:
    """The exit code of a child that this process spawned and that has exited, else None."""
    child = _CHILDREN.get(proc.pid)
    return None if child is None else child.poll()


def _send(proc: ProcRef, sig: signal.Signals) -> None:
    """Signal the process group the process leads (what `spawn` starts), else the process alone."""
    target = proc.process()
    if target is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, sig)
            return
    with contextlib.suppress(psutil.Error):
        target.send_signal(sig)


def wait_gone(proc: ProcRef, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while proc.alive():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def terminate(proc: ProcRef, grace_s: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after `grace_s`; True once it is gone. Never signals a foreign process."""
    if not proc.alive():
        return True
    _send(proc, signal.SIGTERM)
    if wait_gone(proc, grace_s):
        return True
    _send(proc, signal.SIGKILL)
    return wait_gone(proc, 5.0)


def kill_group(leader: ProcRef) -> None:
    """SIGKILL what is left of the process group `leader` started (e.g. Triton's Python stubs).

    The leader itself may be gone already; members are the processes in that group that started no
    earlier than it did, so a group id that a stranger has since taken over is never hit."""
    for member in _group(leader):
        with contextlib.suppress(psutil.Error):
            member.kill()


def _group(leader: ProcRef) -> Iterator[psutil.Process]:
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == leader.pid and proc.create_time() >= leader.create_time:
                yield proc
        except (OSError, psutil.Error):
            continue


def descendants(proc: ProcRef) -> list[ProcRef]:
    """Children and grandchildren of a live process."""
    target = proc.process()
    if target is None:
        return []
    found = []
    with contextlib.suppress(psutil.Error):
        for child in target.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                found.append(ProcRef(child.pid, child.create_time(), f"{proc.what} (child)"))
    return found


def find(needle: str) -> list[ProcRef]:
    """Live processes (other than this one) whose command line contains `needle`: leftovers."""
    found = []
    for proc in psutil.process_iter(["cmdline", "create_time", "status"]):
        info = proc.info
        if proc.pid == os.getpid() or info["status"] in _GONE:
            continue
        argv = info["cmdline"] or []
        if any(needle in arg for arg in argv):
            found.append(ProcRef(proc.pid, info["create_time"], " ".join(argv)[:120]))
    return sorted(found, key=lambda p: p.pid)


def orphans_in(home: Path) -> list[ProcRef]:
    """Processes re-parented to init that work inside `home` (cwd) or name a path in it (command line),
    e.g. a Triton server whose wrapper crashed. Processes with a live parent (say, a `tail -f` of a log
    in a terminal) are never picked up."""
    prefix = str(home) + "/"
    found = []
    for proc in psutil.process_iter(["ppid", "cmdline", "create_time", "status"]):
        info = proc.info
        if info["ppid"] != 1 or info["status"] in _GONE:
            continue
        cmdline = " ".join(info["cmdline"] or [])
        try:
            cwd = proc.cwd() + "/"
        except psutil.Error:
            cwd = ""
        if cwd.startswith(prefix) or prefix in cmdline:
            found.append(ProcRef(proc.pid, info["create_time"], f"orphan in {home} ({cmdline[:60].strip()})"))
    return found


def write_pid_file(path: Path, proc: ProcRef) -> None:
    """Record a process's identity (not a bare pid) for a later `status` or `down`."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(proc.to_json()) + "\n")
    tmp.replace(path)


def read_pid_file(path: Path) -> ProcRef | None:
    """The recorded process if it still runs, else None (no file, an old format, or it is gone)."""
    try:
        proc = ProcRef.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return proc if proc.alive() else None


def stop_on_signals() -> asyncio.Event:
    """An event that SIGTERM or SIGINT sets: how the stack's long-running asyncio processes (chain,
    runtime, runner simulator) learn to shut down cleanly. Call it from within the running loop."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def log_tail(path: Path, lines: int = 15) -> str:
    """The last lines of a process's log, for an error message."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
