"""The local runtime's "triton" container: a real tritonserver plus the OpenAI front, one process.

`python -m cocoon_dev.runtime.triton_container --address <pod IP> --repository <dir> ...`

- starts tritonserver (from .venv-triton) bound to the pod IP on 8000/8001/8002;
- serves the OpenAI-compatible front (openai_front.py) on the same IP (default port 9000);
- SIGTERM/SIGINT: forwards SIGTERM to tritonserver (it drains in-flight requests), keeps the
  front up until Triton exits, then exits with Triton's code;
- Triton runs in its own process group, which is always killed when this process ends (any exit
  path; PR_SET_PDEATHSIG covers a SIGKILL of this process), so no tritonserver outlives its container;
- if tritonserver dies by itself, the container exits too (code 128+signal, like a container
  runtime reports it), so the local kubelet sees a crashed container and restarts it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from aiohttp import web

from cocoon_dev import procs
from cocoon_dev.runtime import openai_front
from cocoon_dev.runtime.triton import STANDIN_MODEL, TritonServerConfig, find_triton, server_command

PR_SET_PDEATHSIG = 1  # <sys/prctl.h>


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="cocoon-dev: Triton + OpenAI front (development stand-in)")
    p.add_argument("--address", required=True, help="bind address (the pod IP)")
    p.add_argument("--repository", required=True, type=Path, help="model repository")
    p.add_argument("--http-port", type=int, default=8000)
    p.add_argument("--grpc-port", type=int, default=8001)
    p.add_argument("--metrics-port", type=int, default=8002)
    p.add_argument("--front-port", type=int, default=openai_front.DEFAULT_PORT, help="0 disables the front")
    p.add_argument("--served-model-name", default="cocoon-dev/stand-in")
    p.add_argument("--triton-model", default=STANDIN_MODEL)
    p.add_argument("--exit-timeout-secs", type=int, default=30)
    p.add_argument("--model-control-mode", default="none", choices=["none", "explicit", "poll"])
    p.add_argument("--pid-file", type=Path, help="write tritonserver's pid here (tests kill it)")
    return p.parse_args(argv)


def private_copy(repository: Path) -> Path:
    """A private copy of the model repository for this container.

    In a pod the repository is a read-only mount. Here it is a plain directory that root can write
    to, and Triton's Python backend writes `__pycache__` next to `model.py`: that would change the
    content that other pods verify against `spec.inference.modelSha256`. The copy is taken after the
    init containers verified the original.
    """
    copy = Path(tempfile.mkdtemp(prefix="cocoon-model-repo-"))
    shutil.copytree(repository, copy, dirs_exist_ok=True, symlinks=False)
    return copy


async def run(args: argparse.Namespace) -> int:
    repository = private_copy(args.repository)
    try:
        return await _serve(args, repository)
    finally:
        shutil.rmtree(repository, ignore_errors=True)


async def _serve(args: argparse.Namespace, repository: Path) -> int:
    config = TritonServerConfig(
        model_repository=repository,
        address=args.address,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        model_control_mode=args.model_control_mode,
        exit_timeout_secs=args.exit_timeout_secs,
    )
    install = find_triton()
    proc = await asyncio.create_subprocess_exec(
        *server_command(config, install),
        env=install.env(),
        stdin=asyncio.subprocess.DEVNULL,
        start_new_session=True,  # its own group: one killpg reaches Triton and its backend stubs
        preexec_fn=_die_with_parent,
    )
    # From here on, every exit path (return, exception, SIGTERM/SIGINT/SIGHUP, even SIGKILL of this
    # wrapper via PDEATHSIG) ends with Triton's whole process group gone: a leftover tritonserver keeps
    # the pod IP's ports bound and blocks the next pod that gets that IP.
    triton = procs.ref(proc.pid, "tritonserver") or procs.ProcRef(proc.pid, 0.0, "tritonserver")
    try:
        return await _supervise(args, config, proc, triton)
    finally:
        procs.kill_group(triton)  # Triton, if still there, and leftover Python stubs
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            if proc.returncode is None:
                await asyncio.wait_for(proc.wait(), timeout=5)


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL it when this wrapper dies (Linux PR_SET_PDEATHSIG)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


async def _supervise(
    args: argparse.Namespace,
    config: TritonServerConfig,
    proc: asyncio.subprocess.Process,
    triton: procs.ProcRef,
) -> int:
    if args.pid_file:
        args.pid_file.write_text(f"{proc.pid}\n")
    print(f"cocoon-dev triton container: tritonserver pid {proc.pid} on {args.address}", flush=True)

    loop = asyncio.get_running_loop()
    escalation: asyncio.TimerHandle | None = None

    def forward_term() -> None:
        nonlocal escalation
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)  # Triton drains in-flight requests ...
        if escalation is None:  # ... but not forever
            escalation = loop.call_later(args.exit_timeout_secs + 5, procs.kill_group, triton)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, forward_term)

    runner: web.AppRunner | None = None
    try:
        if args.front_port:
            app = openai_front.make_app(config.http_url, args.served_model_name, args.triton_model)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, args.address, args.front_port).start()
        rc = await proc.wait()
    finally:
        if escalation is not None:
            escalation.cancel()
        if runner is not None:
            await runner.cleanup()
    print(f"cocoon-dev triton container: tritonserver exited with {rc}", flush=True)
    return 128 - rc if rc < 0 else rc


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
