"""The sub-commands `up` and `down` drive: other `cocoon-dev` groups, with logged output or JSON answers.

(The processes themselves, and their identities, are `cocoon_dev.procs`.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any


class StepFailed(RuntimeError):
    """A step of `up` failed: what failed, in plain words, and the log file to look at."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message)
        self.log = log


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
