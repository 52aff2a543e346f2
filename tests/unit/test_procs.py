"""cocoon_dev.procs: a process is (pid, start time); spawned detached, stopped by its group, recorded in
pid files; a reused pid or an old bare-pid file is never taken for ours."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from cocoon_dev import procs

SLEEP = "import time; time.sleep(60)"


def _children(proc: procs.ProcRef, count: int) -> list[procs.ProcRef]:
    kids: list[procs.ProcRef] = []
    for _ in range(100):
        kids = procs.descendants(proc)
        if len(kids) >= count:
            break
        time.sleep(0.05)
    return kids


def test_spawn_records_identity_and_terminate_stops_the_group(tmp_path: Path) -> None:
    code = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {SLEEP!r}]); {SLEEP}"
    proc = procs.spawn([sys.executable, "-c", code], tmp_path / "log", what="parent")
    kids = _children(proc, 1)
    assert proc.alive() and proc.what == "parent" and len(kids) == 1
    assert procs.terminate(proc, grace_s=5.0)
    assert not proc.alive() and procs.wait_gone(kids[0], 5.0)


def test_pid_file_round_trip(tmp_path: Path) -> None:
    me = procs.ref(os.getpid(), "me")
    assert me is not None
    procs.write_pid_file(tmp_path / "x.pid", me)
    assert procs.read_pid_file(tmp_path / "x.pid") == me
    procs.write_pid_file(tmp_path / "y.pid", procs.ProcRef(me.pid, me.create_time + 1, "reused"))
    assert procs.read_pid_file(tmp_path / "y.pid") is None
    (tmp_path / "z.pid").write_text(f"{me.pid}\n")  # the old format: a bare pid is no identity
    assert procs.read_pid_file(tmp_path / "z.pid") is None


def test_kill_group_reaches_what_outlives_the_leader(tmp_path: Path) -> None:
    """Like Triton's Python stubs: the leader is gone, its group is not; kill_group ends the rest."""
    code = f"import subprocess, sys; subprocess.Popen([sys.executable, '-c', {SLEEP!r}])"
    leader = procs.spawn([sys.executable, "-c", code + "; import time; time.sleep(1)"], tmp_path / "log")
    kids = _children(leader, 1)
    assert len(kids) == 1
    assert procs.wait_gone(leader, 10.0), "the leader exits by itself"
    assert kids[0].alive(), "its child is still there, in the leader's process group"
    procs.kill_group(leader)
    assert procs.wait_gone(kids[0], 5.0)


def test_find_and_orphans(tmp_path: Path) -> None:
    marker = str(tmp_path / "marker")
    proc = procs.spawn([sys.executable, "-c", SLEEP, marker], tmp_path / "log", cwd=tmp_path)
    try:
        assert [p.pid for p in procs.find(marker)] == [proc.pid]
        assert proc.pid not in {p.pid for p in procs.orphans_in(tmp_path)}  # its parent (us) lives
    finally:
        assert procs.terminate(proc, grace_s=5.0)
    assert procs.find(marker) == []
    assert "needle" in procs.log_tail(_write(tmp_path / "x.log", "a\nb\nneedle\n"), 1)


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_stop_on_signals_sets_the_event_on_sigterm() -> None:
    code = (
        "import asyncio\nfrom cocoon_dev import procs\n"
        "async def main():\n"
        "    stop = procs.stop_on_signals()\n"
        "    print('ready', flush=True)\n"
        "    await asyncio.wait_for(stop.wait(), 30)\n"
        "    print('stopped', flush=True)\n"
        "asyncio.run(main())\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == 0
    assert child.stdout.read().strip() == "stopped"
