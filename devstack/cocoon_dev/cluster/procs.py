"""Detached processes: start them, tell whether they are still ours, stop them by pid.

Processes are started in their own session so that they outlive `cocoon-dev cluster up`. Every check
looks at /proc so that a reused pid is never mistaken for (or signalled as) one of ours.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

# Popen objects of children started by this Python process. Kept so they can be reaped (a killed child
# of a long-lived process, e.g. pytest, would otherwise stay a zombie) and so no "still running"
# warning fires when the objects would be garbage-collected.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def spawn(argv: Sequence[str], log: Path, cwd: Path, env: dict[str, str] | None = None) -> int:
    """Start `argv` detached (own session, stdin closed), stdout+stderr appended to `log`; return its pid."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    _CHILDREN[proc.pid] = proc
    return proc.pid


def _reap(pid: int) -> None:
    proc = _CHILDREN.get(pid)
    if proc is not None and proc.poll() is not None:
        del _CHILDREN[pid]


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name in field 2 may contain spaces; the state follows its closing parenthesis.
    return stat.rsplit(")", 1)[1].split()[0]


def is_alive(pid: int, executable: str | Path | None = None) -> bool:
    """True if `pid` runs (not a zombie) and, when given, its argv[0] is `executable`."""
    _reap(pid)
    state = _state(pid)
    if state is None or state in ("Z", "X"):
        return False
    if executable is not None:
        argv = cmdline(pid)
        return bool(argv) and argv[0] == str(executable)
    return True


def stop(pid: int, executable: str | Path | None, grace_s: float = 10.0) -> bool:
    """SIGTERM `pid`, SIGKILL it after `grace_s`; True once it is gone. Never signals a foreign pid."""
    if not is_alive(pid, executable):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, grace_s):
        return True
    if is_alive(pid, executable):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return _wait_gone(pid, 5.0)


def _wait_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.1)
    return not is_alive(pid)


def find_processes(needle: str) -> list[int]:
    """Pids (other than ours) whose command line contains `needle`; used to find leftovers."""
    found: list[int] = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        pid = int(entry.name)
        if any(needle in arg for arg in cmdline(pid)) and is_alive(pid):
            found.append(pid)
    return sorted(found)
