"""A stand-in of the official COCOON worker release, as `cocoon-launch` expects it, packed and hashed.

Layout (the official archive holds one directory `release-<commit>/` with the same parts):

    release-standin/
      scripts/cocoon-launch      the official launcher when given (tests), else this package's stand-in
      scripts/build-model        prints "<model@commit:verity> <tar>" and leaves a small tar + .verity
      scripts/setup-gpu-vfio     accepts a PCI address (the real one binds the GPU to vfio-pci)
      spec/spec-worker/          the guest's spec directory (the stand-in QEMU renders the runner config)
      spec/mainnet-base-ton-config.json
      images/{prod,test}/        OVMF.fd, image.img, image.vmlinuz, image.initrd, image.cmdline
      bin/seal-server, bin/enclave.signed.so

`pack` writes a reproducible `.tar.xz` (sorted, zero mtimes and owners) and returns its SHA-256, what
a CocoonNode's `spec.runtime.vm.release.sha256` (or the chart's launcher.release) names.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

TOP = "release-standin"

BUILD_MODEL = """#!/usr/bin/env python3
# cocoon-dev stand-in for the release's build-model: the real one fetches the model from Hugging Face
# and builds a dm-verity protected tar; this one leaves a small tar and its .verity beside the caller.
import os
import pathlib
import sys

spec = sys.argv[1] if len(sys.argv) > 1 else ""
name, _, rest = spec.partition("@")
commit, _, verity = rest.partition(":")
if not name or len(commit) != 40 or len(verity) != 64:
    sys.exit(f"build-model (cocoon-dev stand-in): expected <name>@<commit>:<verity hash>, got {spec!r}")
out = pathlib.Path(os.environ.get("COCOON_DEV_MODEL_DIR", "models"))
out.mkdir(parents=True, exist_ok=True)
tar = out / (name.replace("/", "_") + ".tar")
if not tar.exists():
    tar.write_bytes(b"cocoon-dev stand-in model archive for " + spec.encode())
    pathlib.Path(str(tar) + ".verity").write_bytes(bytes.fromhex(verity))
print(f"{name}@{commit}:{verity} {tar.resolve()}")
"""

SETUP_GPU_VFIO = """#!/bin/sh
# cocoon-dev stand-in for the release's setup-gpu-vfio: the real one checks that the GPU is bound to
# vfio-pci and in CC mode; this one checks the PCI address's shape.
case "$1" in
  ""|*[!0-9a-fA-F:.]*) echo "setup-gpu-vfio (cocoon-dev stand-in): not a PCI address: '$1'" >&2; exit 1;;
esac
echo "setup-gpu-vfio (cocoon-dev stand-in): $1 is ready for passthrough"
"""

STANDIN_LAUNCHER = """#!/usr/bin/env python3
# cocoon-dev stand-in for the release's cocoon-launch (see cocoon_dev/runtime/vm/launch.py).
import sys

from cocoon_dev.runtime.vm.launch import main

sys.exit(main())
"""

SEAL_SERVER = """#!/bin/sh
# cocoon-dev stand-in for the release's seal-server (the real one needs SGX and the signed enclave).
echo "seal-server (cocoon-dev stand-in): enclave $2"
exec sleep 2147483647
"""

SPEC_README = """cocoon-dev stand-in of the worker VM's spec directory. The stand-in QEMU reads
runtime/runtime.vars and runtime/global.config.json from here (shared with the guest over 9p,
as with the real image).
"""


@dataclass(frozen=True)
class PackedRelease:
    directory: Path  # the unpacked layout (release-standin/)
    archive: Path  # the .tar.xz
    sha256: str

    @property
    def url(self) -> str:
        return self.archive.resolve().as_uri()


def _write(path: Path, content: str | bytes, *, executable: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    if executable:
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def build_layout(dest: Path, *, launcher: Path | None = None) -> Path:
    """Write the layout under `dest/release-standin` (replaced) and return that directory.

    `launcher`: a `cocoon-launch` to ship (the official one, in tests); default: the stand-in.
    """
    root = dest / TOP
    if root.exists():
        shutil.rmtree(root)
    scripts = root / "scripts"
    if launcher is not None:
        _write(scripts / "cocoon-launch", launcher.read_bytes(), executable=True)
    else:
        _write(scripts / "cocoon-launch", STANDIN_LAUNCHER, executable=True)
    _write(scripts / "build-model", BUILD_MODEL, executable=True)
    _write(scripts / "setup-gpu-vfio", SETUP_GPU_VFIO, executable=True)
    _write(root / "spec" / "spec-worker" / "README", SPEC_README)
    _write(
        root / "spec" / "mainnet-base-ton-config.json",
        '{"@type": "config.global", "cocoon_dev": "stand-in base config"}\n',
    )
    for kind in ("prod", "test"):
        images = root / "images" / kind
        _write(images / "image.cmdline", f"console=hvc0 cocoon_standin_{kind}\n")
        for part in ("OVMF.fd", "image.img", "image.vmlinuz", "image.initrd"):
            _write(images / part, f"cocoon-dev stand-in {kind} {part}\n".encode())
    _write(root / "bin" / "seal-server", SEAL_SERVER, executable=True)
    _write(root / "bin" / "enclave.signed.so", b"cocoon-dev stand-in enclave\n")
    return root


def pack(layout: Path, archive: Path) -> str:
    """A reproducible .tar.xz of the layout directory (its name as the archive's top directory)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        for path in sorted([layout, *layout.rglob("*")]):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(layout.parent)))
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if path.is_file():
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    data = buffer.getvalue()
    archive.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def build(dest: Path, *, launcher: Path | None = None) -> PackedRelease:
    """Layout + archive under `dest`; the archive's SHA-256."""
    layout = build_layout(dest, launcher=launcher)
    archive = dest / "cocoon-worker-release-standin.tar.xz"
    return PackedRelease(layout, archive, pack(layout, archive))
