"""What runs for each container of a worker pod on the local runtime: the command lines of the Triton
container (tritonserver + the OpenAI front), of the runner simulator, of a TritonPod's OpenAI adapter
and of a CocoonVM's launcher (the official cocoon-launch with a stand-in QEMU, vm/pod.py), resolved
through the pod's mounts. Anything else (the RA-TLS router) runs nothing and is reported running."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cocoon_dev.runtime import triton as triton_mod
from cocoon_dev.runtime.options import RuntimeOptions
from cocoon_dev.runtime.vm import pod as vm_pod
from cocoon_dev.runtime.volumes import mount_map, remap_paths, resolve_path

log = logging.getLogger("cocoon_dev.runtime")

FRONT_PORT = 9000


@dataclass(frozen=True)
class Place:
    """Where a pod runs on this host: its IP, its dir, its volumes."""

    pod: dict[str, Any]
    ip: str
    dir: Path
    volumes: dict[str, Path]

    @property
    def key(self) -> str:
        return f"{self.pod['metadata']['namespace']}/{self.pod['metadata']['name']}"


def flag_value(argv: list[str], *names: str) -> str | None:
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def container_kind(container: dict[str, Any]) -> str:
    name = container.get("name", "")
    image = container.get("image", "")
    if name in (vm_pod.LAUNCHER, vm_pod.OPENAI):
        return str(name)
    if name == "router":  # the RA-TLS router: nothing to run without proxies speaking RA-TLS
        return "other"
    if name == "triton" or "tritonserver" in image:
        return "triton"
    if name == "runner" or "worker-runner" in image or "cocoon-worker" in image:
        return "runner"
    return "other"


def read_forward(runner_cfg: Path | None) -> int | None:
    """The port of `forward_requests_to` when it points at the pod itself (localhost)."""
    if runner_cfg is None:
        return None
    try:
        target = str(json.loads(runner_cfg.read_text()).get("forward_requests_to", ""))
    except (OSError, ValueError, AttributeError):
        return None
    host, _, port = target.rpartition(":")
    host = host.split("://")[-1]
    if host in ("127.0.0.1", "localhost", "0.0.0.0") and port.isdigit():  # noqa: S104
        return int(port)
    return None


Launch = tuple[dict[str, Any], list[str] | None, dict[str, str]]  # spec, argv (None: nothing), extra env


def container_argvs(place: Place, options: RuntimeOptions) -> list[Launch]:
    """Each main container, what runs for it and its extra environment. Called after the init
    containers, which may have rendered the files it reads."""
    volumes = place.volumes
    specs = place.pod["spec"]["containers"]
    runner_spec = next((c for c in specs if container_kind(c) == "runner"), None)
    runner_cfg = _runner_config_path(runner_spec, volumes) if runner_spec else None
    forward = read_forward(runner_cfg)
    adapter = any(container_kind(c) == vm_pod.OPENAI for c in specs)  # it serves the OpenAI port
    found: list[Launch] = []
    for spec in specs:
        kind = container_kind(spec)
        argv: list[str] | None
        extra: dict[str, str] = {}
        if kind == "triton":
            argv = _triton_argv(place, options, spec, runner_cfg, forward)
            if adapter:
                argv[argv.index("--front-port") + 1] = "0"
        elif kind == "runner" and runner_spec is not None:
            argv = _runner_argv(place, options, spec, runner_cfg, forward)
        elif kind == vm_pod.OPENAI:
            argv = vm_pod.adapter_argv(spec, pod_ip=place.ip, python=options.python)
        elif kind == vm_pod.LAUNCHER:
            argv, extra = vm_pod.launcher_process(
                spec, remap=functools.partial(remap_paths, mounts=mount_map(spec, volumes)),
                pod_uid=str(place.pod["metadata"]["uid"]), pod_ip=place.ip, state_dir=options.state_dir,
                python=options.python, network_json=options.network_json,
                record=place.dir / "qemu-cmdline.json",
            )  # fmt: skip
        else:
            argv = None
        found.append((spec, argv, extra))
    return found


def _runner_config_path(spec: dict[str, Any], volumes: dict[str, Path]) -> Path | None:
    mounts = mount_map(spec, volumes)
    argv = [*(spec.get("command") or []), *(spec.get("args") or [])]
    value = flag_value(argv, "-c", "--config")
    if value:
        found = resolve_path(value, mounts)
        if found is not None and found.is_file():
            return found
    for _, local in mounts:
        for candidate in [local] if local.is_file() else local.glob("*.json"):
            if candidate.name == "worker-config.json":
                return candidate
    return None


def _triton_argv(
    place: Place, options: RuntimeOptions, spec: dict[str, Any], runner_cfg: Path | None, forward: int | None
) -> list[str]:
    argv = [*(spec.get("command") or []), *(spec.get("args") or [])]
    # A model repository the pod itself provides (e.g. fetched and verified by an init container)
    # is served as is; otherwise the stand-in model.
    given = flag_value(argv, "--model-repository")
    pod_repo = resolve_path(given, mount_map(spec, place.volumes)) if given else None
    served = "cocoon-dev/stand-in"
    if runner_cfg is not None:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            served = json.loads(runner_cfg.read_text()).get("model_name", served).split("@", 1)[0]
    annotations = place.pod["metadata"].get("annotations") or {}
    fault = annotations.get("dev.cocoon.tonops.dev/triton-fault", "")
    model = triton_mod.StandInModel(
        served_model_name=served,
        fail_init=fault == "broken",
        init_delay_s=float(fault.split(":", 1)[1]) if fault.startswith("slow-init:") else 0.0,
    )
    triton_model = triton_mod.STANDIN_MODEL
    pod_models = sorted(pod_repo.glob("*/config.pbtxt")) if pod_repo is not None and pod_repo.is_dir() else []
    if pod_models:
        repo, triton_model = pod_repo, pod_models[0].parent.name
    else:
        repo = triton_mod.write_model_repository(place.dir / "model-repository", [model])
    ports = {p.get("name"): int(p["containerPort"]) for p in spec.get("ports") or []}
    front = forward if forward not in (None, *ports.values()) else FRONT_PORT
    exit_timeout = flag_value(argv, "--exit-timeout-secs") or "30"
    mode = flag_value(argv, "--model-control-mode") or "none"
    return [
        options.python, "-m", "cocoon_dev.runtime.triton_container",
        "--address", place.ip,
        "--repository", str(repo),
        "--http-port", str(ports.get("http", triton_mod.HTTP_PORT)),
        "--grpc-port", str(ports.get("grpc", triton_mod.GRPC_PORT)),
        "--metrics-port", str(ports.get("metrics", triton_mod.METRICS_PORT)),
        "--front-port", str(front),
        "--served-model-name", served,
        "--triton-model", triton_model,
        "--exit-timeout-secs", exit_timeout,
        "--model-control-mode", mode if mode in ("none", "explicit", "poll") else "none",
        "--pid-file", str(place.dir / "tritonserver.pid"),
    ]  # fmt: skip


def _runner_argv(
    place: Place, options: RuntimeOptions, spec: dict[str, Any], runner_cfg: Path | None, forward: int | None
) -> list[str] | None:
    if runner_cfg is None:
        log.warning("Pod %s: no worker-config.json mounted in the runner container", place.key)
        return [
            options.python,
            "-c",
            "import sys; sys.exit('cocoon-dev: no worker-config.json mounted')",
        ]
    argv = [
        options.python, "-m", "cocoon_dev.runtime.runner_sim",
        "-c", str(runner_cfg),
        "--bind", place.ip,
        "--localhost-is", place.ip,
    ]  # fmt: skip
    triton_ports = {8000, 8001, 8002}
    if forward is None or forward in triton_ports:
        # The front cannot share Triton's port; point the simulator at the front instead.
        argv += ["--forward-override", f"{place.ip}:{FRONT_PORT}"]
    if options.network_json is not None:
        argv += ["--network", str(options.network_json)]
        ton_config = _ton_config(options, spec, place.volumes, runner_cfg)
        if ton_config is not None:
            argv += ["--ton-config", str(ton_config)]
    else:
        argv += ["--chain", "fake"]
    return argv


def _ton_config(
    options: RuntimeOptions, spec: dict[str, Any], volumes: dict[str, Path], runner_cfg: Path
) -> Path | None:
    """The pod's mounted TON config if the runner config names one, else the dev chain's."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        name = json.loads(runner_cfg.read_text()).get("ton_config_filename", "")
        found = resolve_path(name, mount_map(spec, volumes)) if name else None
        if found is not None and found.is_file():
            return found
    ton_config = options.ton_config
    return ton_config if ton_config is not None and ton_config.is_file() else None
