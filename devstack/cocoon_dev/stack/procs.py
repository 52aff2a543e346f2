"""Processes the stack starts or drives: sub-commands with logged output, and pids that stay pids.

A pid alone is not an identity (pids are reused), so what the stack records is `ProcRef`: pid plus the
kernel's start time of that process. Stopping and "is anything left" checks use both.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


class StepFailed(RuntimeError):
    """A step of `up` failed: what failed, in plain words, and the log file to look at."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log


@dataclass(frozen=True)
class ProcRef:
    pid: int
    start_ticks: int
    what: str

    def alive(self) -> bool:
        ticks = start_ticks(self.pid)
        return ticks is not None and ticks == self.start_ticks

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcRef:
        return cls(pid=int(data["pid"]), start_ticks=int(data["start_ticks"]), what=str(data["what"]))


def start_ticks(pid: int) -> int | None:
    """The process's start time (clock ticks since boot), or None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def ref(pid: int, what: str) -> ProcRef | None:
    ticks = start_ticks(pid)
    return None if ticks is None else ProcRef(pid, ticks, what)


def children_of(pid: int) -> list[int]:
    """Direct and indirect children (from /proc), so a check also sees grandchildren."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry.name)] = int(fields[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found += kids
        frontier += kids
    return found


def terminate(proc: ProcRef, grace_s: float = 20.0) -> bool:
    """SIGTERM the process (and its session's group), SIGKILL after the grace period. True when gone."""
    if not proc.alive():
        return True
    _signal(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not proc.alive():
            return True
        time.sleep(0.2)
    _signal(proc, signal.SIGKILL)
    time.sleep(0.3)
    return not proc.alive()


def _signal(proc: ProcRef, sig: signal.Signals) -> None:
    # The stack starts its processes in their own session, so the group id is the pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, sig)
            return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)


def dev_cli(*args: str) -> list[str]:
    """argv of another `cocoon-dev` command group, in this interpreter."""
    return [sys.executable, "-m", "cocoon_dev.cli", *args]


def run_logged(
    argv: Sequence[str],
    log: Path,
    *,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
    echo: Callable[[str], None] | None = None,
) -> tuple[int, str]:
    """Run a command, append its output to `log` (and echo each line); return (rc, output)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env["PYTHONUNBUFFERED"] = "1"
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(argv)}   # {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        out.flush()
        proc = subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=full_env,
        )
        deadline = time.monotonic() + timeout_s
        assert proc.stdout is not None
        # A reader thread would be more exact about the timeout; the sub-commands print progress
        # regularly, and a watchdog kills a silent one.
        import threading

        def watchdog() -> None:
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    proc.kill()
                    return
                time.sleep(0.5)

        threading.Thread(target=watchdog, daemon=True).start()
        for line in proc.stdout:
            out.write(line)
            out.flush()
            lines.append(line.rstrip("\n"))
            if echo is not None:
                echo(line.rstrip("\n"))
        rc = proc.wait()
        if time.monotonic() > deadline and rc != 0:
            out.write(f"# killed after {timeout_s:.0f} s\n")
            lines.append(f"(killed: no result within {timeout_s:.0f} s)")
    return rc, "\n".join(lines)


def run_json(argv: Sequence[str], *, timeout_s: float = 60.0) -> dict[str, Any]:
    """Run a `... --json` command and parse its one JSON object (raises StepFailed on failure)."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise StepFailed(f"`{' '.join(argv[2:])}` did not answer within {timeout_s:.0f} s") from exc
    if proc.returncode != 0:
        raise StepFailed(f"`{' '.join(argv[2:])}` failed: {proc.stderr.strip() or proc.stdout.strip()}")
    text = proc.stdout.strip()
    start = text.find("{")
    try:
        data: dict[str, Any] = json.loads(text[start:] if start >= 0 else text)
    except ValueError as exc:
        raise StepFailed(f"`{' '.join(argv[2:])}` printed no JSON object") from exc
    return data


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
