"""A real Triton Inference Server on CPU, from the `nvidia-pytriton` wheel in `.venv-triton`.

`tools/setup-triton.sh` creates that venv. This module finds the server in it, renders the
stand-in model repository, builds the command line with the production flags and ports, and
runs the server with the two environment fixes the wheel needs (see docs/local-runtime.md):

1. `LD_LIBRARY_PATH` = the venv interpreter's own libpython directory (otherwise the stub may load
   another libpython 3.11 than the stdlib it imports);
2. `PATH` = the venv's `bin` first (the stub finds its site-packages, and numpy<2, through `python3`).
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import httpx

from cocoon_dev import procs
from cocoon_dev.paths import REPO_ROOT

HTTP_PORT = 8000
GRPC_PORT = 8001
METRICS_PORT = 8002
STANDIN_MODEL = "cocoon_llm"
MODELS_DIR = Path(__file__).resolve().parent / "models"
SETUP_COMMAND = "tools/setup-triton.sh"

ModelControlMode = Literal["none", "explicit", "poll"]


class TritonNotInstalled(RuntimeError):
    """`.venv-triton` is missing or incomplete; run tools/setup-triton.sh."""


@dataclass(frozen=True)
class TritonInstall:
    venv: Path
    server: Path
    backends: Path
    libpython_dir: str

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The server's environment with both fixes applied."""
        env = dict(os.environ if base is None else base)
        env["LD_LIBRARY_PATH"] = self.libpython_dir
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
        env.pop("PYTHONPATH", None)  # would let the stub import the operator venv's numpy 2
        env.pop("VIRTUAL_ENV", None)
        return env


def triton_venv() -> Path:
    env = os.environ.get("COCOON_TRITON_VENV")
    return Path(env) if env else REPO_ROOT / ".venv-triton"


@functools.cache
def _install_for(venv: Path) -> TritonInstall:
    python = venv / "bin" / "python"
    if not python.exists():
        raise TritonNotInstalled(f"no Triton venv at {venv}: run {SETUP_COMMAND}")
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import os,sysconfig,pytriton;"
            "print(os.path.dirname(pytriton.__file__));print(sysconfig.get_config_var('LIBDIR'))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if probe.returncode != 0:
        raise TritonNotInstalled(f"nvidia-pytriton is not importable in {venv}: run {SETUP_COMMAND}")
    pkg_dir, libdir = probe.stdout.split("\n")[:2]
    root = Path(pkg_dir) / "tritonserver"
    server = root / "bin" / "tritonserver"
    backends = root / "backends"
    if not server.exists() or not (backends / "python" / "triton_python_backend_stub").exists():
        raise TritonNotInstalled(
            f"Triton server or Python backend stub missing in {venv}: run {SETUP_COMMAND}"
        )
    return TritonInstall(venv=venv, server=server, backends=backends, libpython_dir=libdir)


def find_triton(venv: Path | None = None) -> TritonInstall:
    return _install_for((venv or triton_venv()).resolve())


def triton_available() -> bool:
    try:
        find_triton()
    except TritonNotInstalled:
        return False
    return True


@dataclass(frozen=True)
class StandInModel:
    """One instance of the stand-in LLM in a model repository (fault parameters for tests)."""

    name: str = STANDIN_MODEL
    served_model_name: str = "cocoon-dev/stand-in"
    init_delay_s: float = 0.0
    fail_init: bool = False


def write_model_repository(dest: Path, models: Sequence[StandInModel] = (StandInModel(),)) -> Path:
    """Render a model repository with the given stand-in models into `dest` (replaced if present)."""
    source = MODELS_DIR / STANDIN_MODEL
    template = (source / "config.pbtxt").read_text()
    dest.mkdir(parents=True, exist_ok=True)
    for model in models:
        target = dest / model.name
        if target.exists():
            shutil.rmtree(target)
        (target / "1").mkdir(parents=True)
        shutil.copyfile(source / "1" / "model.py", target / "1" / "model.py")
        config = template.replace(f'name: "{STANDIN_MODEL}"', f'name: "{model.name}"', 1)
        config = _set_param(config, "served_model_name", model.served_model_name)
        config = _set_param(config, "init_delay_s", repr(float(model.init_delay_s)))
        config = _set_param(config, "fail_init", "true" if model.fail_init else "false")
        (target / "config.pbtxt").write_text(config)
    return dest


def _set_param(config: str, key: str, value: str) -> str:
    if '"' in value or "\n" in value:
        raise ValueError(f"model parameter {key}: quotes and newlines are not allowed")
    lines = []
    for line in config.splitlines():
        if line.startswith(f'parameters {{ key: "{key}"'):
            line = f'parameters {{ key: "{key}" value: {{ string_value: "{value}" }} }}'
        lines.append(line)
    return "\n".join(lines) + "\n"


@dataclass
class TritonServerConfig:
    """Flags of the production pod (triton.md §3.2), bound to one address."""

    model_repository: Path
    address: str = "127.0.0.1"
    http_port: int = HTTP_PORT
    grpc_port: int = GRPC_PORT
    metrics_port: int = METRICS_PORT
    model_control_mode: ModelControlMode = "none"
    load_models: Sequence[str] = ()
    strict_readiness: bool = True
    exit_on_error: bool = True
    exit_timeout_secs: int = 30
    extra_args: Sequence[str] = field(default_factory=tuple)

    def args(self) -> list[str]:
        args = [
            f"--model-repository={self.model_repository}",
            f"--http-address={self.address}",
            f"--http-port={self.http_port}",
            f"--grpc-address={self.address}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-address={self.address}",
            f"--metrics-port={self.metrics_port}",
            "--allow-gpu-metrics=false",
            f"--model-control-mode={self.model_control_mode}",
            f"--strict-readiness={str(self.strict_readiness).lower()}",
            f"--exit-on-error={str(self.exit_on_error).lower()}",
            f"--exit-timeout-secs={self.exit_timeout_secs}",
        ]
        args += [f"--load-model={m}" for m in self.load_models]
        args += list(self.extra_args)
        return args

    @property
    def http_url(self) -> str:
        return f"http://{self.address}:{self.http_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.address}:{self.metrics_port}/metrics"


def server_command(config: TritonServerConfig, install: TritonInstall | None = None) -> list[str]:
    install = install or find_triton()
    return [str(install.server), f"--backend-directory={install.backends}", *config.args()]


class TritonServer:
    """A tritonserver child process: start, wait until ready, stop with SIGTERM (drains)."""

    def __init__(
        self,
        config: TritonServerConfig,
        *,
        log_path: Path | None = None,
        install: TritonInstall | None = None,
    ) -> None:
        self.config = config
        self.install = install or find_triton()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.identity: procs.ProcRef | None = None  # tritonserver, the leader of its process group
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        if self.process is not None:
            raise RuntimeError("tritonserver already started")
        out: IO[bytes] | int = subprocess.DEVNULL
        if self.log_path is not None:
            self._log = self.log_path.open("ab")
            out = self._log
        self.process = subprocess.Popen(
            server_command(self.config, self.install),
            env=self.install.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the stub processes die with it
        )
        self.identity = procs.ref(self.process.pid, "tritonserver")

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("tritonserver not started")
        return self.process.pid

    def poll(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def is_ready(self, timeout: float = 2.0) -> bool:
        try:
            return httpx.get(f"{self.config.http_url}/v2/health/ready", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def is_live(self, timeout: float = 2.0) -> bool:
        try:
            return httpx.get(f"{self.config.http_url}/v2/health/live", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Poll `/v2/health/ready` until 200; raise if the process exits or the deadline passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.poll()
            if rc is not None:
                raise RuntimeError(
                    f"tritonserver exited with code {rc} before becoming ready ({self.log_path})"
                )
            if self.is_ready():
                return
            time.sleep(0.25)
        raise TimeoutError(f"tritonserver not ready within {timeout:.0f} s ({self.log_path})")

    def wait_live(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.poll()
            if rc is not None:
                raise RuntimeError(f"tritonserver exited with code {rc} ({self.log_path})")
            if self.is_live():
                return
            time.sleep(0.25)
        raise TimeoutError(f"tritonserver not live within {timeout:.0f} s ({self.log_path})")

    def terminate(self) -> None:
        """Send SIGTERM (Triton stops accepting at once and drains in-flight requests)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float | None = None) -> int:
        """SIGTERM, wait up to `timeout` (default exit timeout + 15 s), then SIGKILL the group."""
        if self.process is None:
            return 0
        self.terminate()
        wait = timeout if timeout is not None else self.config.exit_timeout_secs + 15.0
        try:
            rc = self.process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self._kill_group()
            rc = self.process.wait(timeout=10)
        # The Python stubs normally exit with the server; make sure none is left behind.
        self._kill_group()
        if self._log is not None:
            self._log.close()
            self._log = None
        return rc

    def _kill_group(self) -> None:
        if self.identity is not None:
            procs.kill_group(self.identity)

    def __enter__(self) -> TritonServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
