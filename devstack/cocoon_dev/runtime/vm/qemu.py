"""A stand-in `qemu-system-x86_64` for the launcher pod (development and tests only).

`cocoon-launch` ends by exec'ing QEMU with the TDX guest. This stand-in takes its place on PATH:

1. it records its command line as JSON (`$COCOON_DEV_QEMU_RECORD`, else `qemu-cmdline.json` in the
   working directory), so tests can hold the launcher's command to what the operator relies on;
2. it refuses a command without a TDX guest (`-object {"qom-type":"tdx-guest",...}` and
   `confidential-guest-support=tdx`), without a VFIO GPU (`-device vfio-pci,host=<PCI address>`),
   without the runner's port forward (`hostfwd=tcp::<port>-:12000`) or without the spec volume
   (`-virtfs local,path=<dir>,mount_tag=spec`), with exit code 1 and a QEMU-like message;
3. with `COCOON_DEV_QEMU_MODE=record` it stops there (exit 0); otherwise it "boots the guest": a real
   Triton (CPU) with the OpenAI front, and the runner simulator configured from the spec volume
   (`runtime/runtime.vars`, `runtime/global.config.json`) and listening on the forwarded host port of
   the pod IP (`$COCOON_DEV_POD_IP`), as the official image's services would. The guest's measurement
   is a stand-in too: SHA-256 over the firmware, kernel, initrd, image and command line.

It exits when the guest's processes do (a crashed VM), and stops them on SIGTERM.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS_WITHOUT_VALUE = {"-nographic", "-no-reboot", "-S", "-daemonize", "-enable-kvm"}
GUEST_RUNNER_PORT = 12000
FRONT_PORT = 9000


class BadCommand(Exception):
    """What real QEMU (or the guest) would fail on."""


@dataclass
class QemuCommand:
    argv: list[str]
    options: list[tuple[str, str]] = field(default_factory=list)

    def values(self, option: str) -> list[str]:
        return [v for o, v in self.options if o == option]

    def one(self, option: str) -> str | None:
        found = self.values(option)
        return found[-1] if found else None


def parse(argv: list[str]) -> QemuCommand:
    cmd = QemuCommand(list(argv))
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in FLAGS_WITHOUT_VALUE or not arg.startswith("-"):
            cmd.options.append((arg, ""))
            i += 1
            continue
        if i + 1 >= len(argv):
            raise BadCommand(f"option '{arg}' requires an argument")
        cmd.options.append((arg, argv[i + 1]))
        i += 2
    return cmd


@dataclass(frozen=True)
class Essentials:
    tdx_object: dict[str, Any]
    gpu: str
    runner_host_port: int
    spec_dir: Path
    cmdline: str
    measured: tuple[Path, ...]


def _kv(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if sep:
            out.setdefault(key, value)
    return out


def essentials(cmd: QemuCommand) -> Essentials:
    tdx = None
    for value in cmd.values("-object"):
        try:
            obj = json.loads(value)
        except ValueError:
            continue
        if isinstance(obj, dict) and obj.get("qom-type") == "tdx-guest":
            tdx = obj
    machine = cmd.one("-machine") or ""
    if tdx is None or "confidential-guest-support=tdx" not in machine:
        raise BadCommand("no TDX guest: expected -object {\"qom-type\":\"tdx-guest\",...} and "
                         "-machine ...,confidential-guest-support=tdx")  # fmt: skip
    devices = [v for v in cmd.values("-device") if v.startswith("vfio-pci,")]
    gpus = [_kv(v.split(",", 1)[1]).get("host", "") for v in devices]
    if len(gpus) != 1 or not re.fullmatch(r"[0-9a-fA-F:.]+", gpus[0]):
        raise BadCommand(f"expected exactly one -device vfio-pci,host=<PCI address>, got {gpus}")
    forwards = [
        int(m.group(1))
        for v in cmd.values("-netdev")
        for m in re.finditer(r"hostfwd=tcp::(\d+)-:(\d+)", v)
        if int(m.group(2)) == GUEST_RUNNER_PORT
    ]
    if len(forwards) != 1:
        raise BadCommand(f"expected one hostfwd=tcp::<port>-:{GUEST_RUNNER_PORT} in -netdev, got {forwards}")
    spec = None
    for value in cmd.values("-virtfs"):
        kind, _, rest = value.partition(",")
        opts = _kv(rest)
        if kind == "local" and opts.get("mount_tag") == "spec" and opts.get("path"):
            spec = Path(opts["path"])
    if spec is None or not spec.is_dir():
        raise BadCommand(f"no spec volume: expected -virtfs local,path=<dir>,mount_tag=spec (got {spec})")
    measured = []
    for option in ("-bios", "-kernel", "-initrd"):
        path = cmd.one(option)
        if path is None or not Path(path).is_file():
            raise BadCommand(f"{option} {path}: No such file")
        measured.append(Path(path))
    for value in cmd.values("-drive"):
        opts = _kv(value)
        if opts.get("id") == "drive1" and opts.get("file"):
            measured.append(Path(opts["file"]))
    return Essentials(tdx, gpus[0], forwards[0], spec, cmd.one("-append") or "", tuple(measured))


def measurement(found: Essentials) -> bytes:
    digest = hashlib.sha256()
    for path in found.measured:
        digest.update(path.read_bytes())
    digest.update(found.cmdline.encode())
    return digest.digest()


def runtime_vars(spec_dir: Path) -> dict[str, str]:
    path = spec_dir / "runtime" / "runtime.vars"
    out: dict[str, str] = {}
    for line in path.read_text().splitlines() if path.is_file() else []:
        key, sep, value = line.partition("=")
        if sep and key.strip():
            out[key.strip()] = value
    return out


def guest_runner_config(found: Essentials) -> dict[str, Any]:
    """The runner's worker-config.json as the guest would render it from the spec volume."""
    env = runtime_vars(found.spec_dir)
    needed = ("MODEL_NAME", "OWNER_ADDRESS", "ROOT_CONTRACT_ADDRESS", "NODE_WALLET_KEY")
    missing = [k for k in needed if not env.get(k)]
    if missing:
        raise BadCommand(f"guest init: runtime.vars lacks {', '.join(missing)}")
    ton = found.spec_dir / "runtime" / "global.config.json"
    model = env["MODEL_NAME"]
    if env.get("MODEL_COMMIT") and env.get("MODEL_VERITY_HASH"):
        model = f"{model}@{env['MODEL_COMMIT']}:{env['MODEL_VERITY_HASH']}"
    return {
        "is_test": "cocoon_debug" in found.cmdline.split(),
        "is_testnet": False,
        "http_port": GUEST_RUNNER_PORT,
        "owner_address": env["OWNER_ADDRESS"],
        "proxy_connections": 1,
        "connect_to_proxy_via": "127.0.0.1:8116",
        "model_name": model,
        "coefficient": int(env.get("WORKER_COEFFICIENT") or 1000),
        "root_contract_address": env["ROOT_CONTRACT_ADDRESS"],
        "node_wallet_key": env["NODE_WALLET_KEY"],
        "forward_requests_to": f"127.0.0.1:{FRONT_PORT}",
        "ton_config_filename": str(ton) if ton.is_file() else "",
        "check_proxy_hashes": False,
        "max_active_requests": 60,
        "image_hash": base64.b64encode(measurement(found)).decode(),
        "http_access_hash": "",
    }


def record(argv: list[str]) -> None:
    target = Path(os.environ.get("COCOON_DEV_QEMU_RECORD") or "qemu-cmdline.json")
    target.write_text(json.dumps({"argv": ["qemu-system-x86_64", *argv]}, indent=1) + "\n")


def boot(found: Essentials) -> int:
    from cocoon_dev.runtime import triton as triton_mod

    ip = os.environ.get("COCOON_DEV_POD_IP", "127.0.0.1")
    config = guest_runner_config(found)
    guest = Path(tempfile.mkdtemp(prefix="cocoon-dev-guest-"))
    cfg_path = guest / "worker-config.json"
    cfg_path.write_text(json.dumps(config, indent=1))
    cfg_path.chmod(0o600)
    served = config["model_name"].split("@", 1)[0]
    repo = triton_mod.write_model_repository(
        guest / "models", [triton_mod.StandInModel(served_model_name=served)]
    )
    python = sys.executable
    inference = [python, "-m", "cocoon_dev.runtime.triton_container", "--address", ip, "--repository",
                 str(repo), "--front-port", str(FRONT_PORT), "--served-model-name", served,
                 "--pid-file", str(guest / "tritonserver.pid")]  # fmt: skip
    runner = [python, "-m", "cocoon_dev.runtime.runner_sim", "-c", str(cfg_path), "--bind", ip,
              "--port", str(found.runner_host_port), "--localhost-is", ip]  # fmt: skip
    if not os.environ.get("COCOON_DEV_NETWORK_JSON"):
        runner += ["--chain", "fake"]
    where = f"{ip}:{found.runner_host_port}"
    print(f"qemu (cocoon-dev stand-in): TDX guest with GPU {found.gpu}; runner on {where}", flush=True)
    procs = [subprocess.Popen(inference), subprocess.Popen(runner)]
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while all(p.poll() is None for p in procs):
        time.sleep(0.5)
    stop()
    deadline = time.monotonic() + 40
    for proc in procs:
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0 if stopping else next((p.returncode or 1 for p in procs if p.returncode), 1)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cmd = parse(args)
        record(args)
        found = essentials(cmd)
    except (BadCommand, OSError) as exc:
        print(f"qemu-system-x86_64 (cocoon-dev stand-in): {exc}", file=sys.stderr)
        return 1
    if os.environ.get("COCOON_DEV_QEMU_MODE") == "record":
        print(f"qemu (cocoon-dev stand-in): recorded; TDX guest, GPU {found.gpu}, "
              f"runner forwarded to host port {found.runner_host_port}")  # fmt: skip
        return 0
    try:
        return boot(found)
    except (BadCommand, OSError) as exc:
        print(f"qemu (cocoon-dev stand-in): the guest did not start: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
