"""The local runtime's "triton" container: a real tritonserver plus the OpenAI front, one process.

`python -m cocoon_dev.runtime.triton_container --address <pod IP> --repository <dir> ...`

- starts tritonserver (from .venv-triton) bound to the pod IP on 8000/8001/8002;
- serves the OpenAI-compatible front (openai_front.py) on the same IP (default port 9000);
- SIGTERM/SIGINT: forwards SIGTERM to tritonserver (it drains in-flight requests), keeps the
  front up until Triton exits, then exits with Triton's code;
- if tritonserver dies by itself, the container exits too (code 128+signal, like a container
  runtime reports it), so the local kubelet sees a crashed container and restarts it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from aiohttp import web

from cocoon_dev.runtime import openai_front
from cocoon_dev.runtime.triton import (
    STANDIN_MODEL,
    TritonServerConfig,
    find_triton,
    kill_group,
    server_command,
)


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


async def run(args: argparse.Namespace) -> int:
    config = TritonServerConfig(
        model_repository=args.repository,
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
        start_new_session=True,
    )
    if args.pid_file:
        args.pid_file.write_text(f"{proc.pid}\n")
    print(f"cocoon-dev triton container: tritonserver pid {proc.pid} on {args.address}", flush=True)

    runner: web.AppRunner | None = None
    if args.front_port:
        app = openai_front.make_app(config.http_url, args.served_model_name, args.triton_model)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, args.address, args.front_port).start()

    loop = asyncio.get_running_loop()

    def forward_term() -> None:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, forward_term)
    try:
        rc = await proc.wait()
    finally:
        kill_group(proc.pid)  # leftover Python stubs, if any
        if runner is not None:
            await runner.cleanup()
    print(f"cocoon-dev triton container: tritonserver exited with {rc}", flush=True)
    return 128 - rc if rc < 0 else rc


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
