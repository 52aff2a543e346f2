"""The stand-in release's own `scripts/cocoon-launch` (when the official launcher is not at hand).

It does, for a worker, the steps the official launcher does, in this project's own words: read
`worker.conf` (INI, section `[node]`, command-line options first), prepare the VM's spec directory (the
release's `spec/spec-worker`, the TON configs, `runtime/runtime.vars` with the model, owner, root,
coefficient, wallet key and Hugging Face token), build the model tar (`scripts/build-model`), check the
GPU (`scripts/setup-gpu-vfio`), create the persistent disk, then exec `qemu-system-x86_64` with a TDX
guest, the VFIO GPU, vsock, the spec volume and the forwards of 12000 + 10 x instance (runner) and
12005 + 10 x instance (ssh). Secrets are written to the spec directory only, never printed.

The tests run the official launcher itself (from ../shared/reference) with the same stand-in release;
this one exists so the dev stack works from a plain clone.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REQUIRED = ("owner_address", "model", "gpu", "node_wallet_key", "ton_config", "root_contract_address")


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="cocoon-launch (cocoon-dev stand-in)")
    p.add_argument("config_file")
    p.add_argument("--instance", type=int)
    p.add_argument("--gpu")
    p.add_argument("--test", action="store_true", default=None)
    p.add_argument("--print-only", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    ini = configparser.ConfigParser()
    if not ini.read(args.config_file):
        return _fail(f"cannot read {args.config_file}")
    node = ini["node"] if ini.has_section("node") else {}

    def get(key: str, default: str | None = None) -> str | None:
        cli = getattr(args, key, None)
        return str(cli) if cli is not None else node.get(key, default)

    if (get("type") or "").lower() != "worker":
        return _fail("type must be worker")
    missing = [k for k in REQUIRED if not get(k)]
    if missing:
        return _fail(f"{', '.join(missing)} required")
    release = Path(sys.argv[0]).resolve().parent.parent  # <release>/scripts/cocoon-launch
    instance = int(get("instance", "0") or 0)
    test = (get("test") or "false").lower() in ("1", "true", "yes", "on")
    offset = 10 * instance
    image_dir = release / "images" / ("test" if test else "prod")

    spec = Path(tempfile.mkdtemp(prefix="cocoon-spec-")) / "spec"
    shutil.copytree(release / "spec" / "spec-worker", spec)
    shutil.copy(release / "spec" / "mainnet-base-ton-config.json", spec / "global.config.json")
    ton = Path(str(get("ton_config")))
    if not ton.is_file():
        return _fail(f"ton_config not found: {ton}")
    (spec / "runtime").mkdir(exist_ok=True)
    shutil.copy(ton, spec / "runtime" / "global.config.json")

    built = subprocess.run(
        [str(release / "scripts" / "build-model"), str(get("model"))],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        return _fail(f"build-model failed: {built.stderr.strip()}")
    full, _, tar = built.stdout.strip().partition(" ")
    name, _, rest = full.partition("@")
    commit, _, verity = rest.partition(":")
    values = {
        "MODEL_NAME": name,
        "MODEL_COMMIT": commit,
        "MODEL_VERITY_HASH": verity,
        "OWNER_ADDRESS": get("owner_address"),
        "ROOT_CONTRACT_ADDRESS": get("root_contract_address"),
        "WORKER_COEFFICIENT": get("worker_coefficient", "1000"),
        "NODE_WALLET_KEY": get("node_wallet_key"),
    }
    if get("hf_token"):
        values["HF_TOKEN"] = get("hf_token")
    vars_file = spec / "runtime" / "runtime.vars"
    vars_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    vars_file.chmod(0o600)
    print(json.dumps({"spec": str(spec), "model": full, "instance": instance, "test": test}))

    gpu = str(get("gpu"))
    check = subprocess.run([str(release / "scripts" / "setup-gpu-vfio"), gpu], check=False)
    if check.returncode != 0:
        return _fail(f"GPU {gpu} is not ready for passthrough")
    persistent = Path(get("persistent", f"persistent-worker-{instance}.img") or "")
    if not persistent.exists():
        with persistent.open("wb") as handle:
            handle.truncate(100 * 2**30)  # sparse, as `truncate --size=100g`
    cmdline = (image_dir / "image.cmdline").read_text().strip()
    cmdline += (" cocoon_debug" if test else "") + " cocoon_gpu"
    qgs = {"type": "vsock", "cid": "2", "port": "4050"}  # the host's Quote Generation Service
    tdx = {"qom-type": "tdx-guest", "id": "tdx", "quote-generation-socket": qgs}
    netdev = f"user,id=user.0,hostfwd=tcp::{12005 + offset}-:22,hostfwd=tcp::{12000 + offset}-:12000"
    qemu = [
        "qemu-system-x86_64",
        "-machine", "q35,kernel-irqchip=split,confidential-guest-support=tdx,memory-backend=mem0",
        "-bios", str(image_dir / "OVMF.fd"),
        "-accel", "kvm", "-cpu", "host", "-smp", "32",
        "-object", json.dumps(tdx, separators=(",", ":")),
        "-object", "memory-backend-ram,id=mem0,size=100G",
        "-device", f"vhost-vsock-pci,guest-cid={6 + offset}",
        "-object", "iommufd,id=iommufd0",
        "-device", "pcie-root-port,id=pci.0,bus=pcie.0",
        "-drive", f"file={image_dir / 'image.img'},readonly=on,id=drive1,if=none",
        "-device", "virtio-blk-pci,bootindex=1,drive=drive1,serial=root",
        "-drive", f"file={persistent},format=raw,id=drive2,if=none",
        "-device", "virtio-blk-pci,drive=drive2,serial=persistent",
        "-drive", f"readonly=on,file={tar},id=drivecache,if=none",
        "-device", "virtio-blk-pci,drive=drivecache,serial=model-tar",
        "-kernel", str(image_dir / "image.vmlinuz"),
        "-initrd", str(image_dir / "image.initrd"),
        "-append", cmdline,
        "-virtfs", f"local,path={spec},mount_tag=spec,security_model=mapped,readonly=on",
        "-net", "nic,netdev=user.0,model=virtio",
        "-netdev", netdev,
        "-nographic",
        "-device", f"vfio-pci,host={gpu},bus=pci.0,iommufd=iommufd0",
    ]  # fmt: skip
    print("QEMU:", " ".join(qemu), flush=True)
    if args.print_only:
        return 0
    os.execvp(qemu[0], qemu)  # noqa: S606 - as the official launcher does
    return 1  # not reached


def _fail(message: str) -> int:
    print(f"ERROR: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
