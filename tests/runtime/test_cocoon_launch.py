"""The launcher pod's scripts against the official `cocoon-launch` (issue 15).

The launcher container's script, as the operator renders it, runs here with the pod's mounts mapped to
directories (what the local kubelet does), a stand-in release layout (cocoon_dev.runtime.vm.release)
carrying the OFFICIAL launcher from ../shared/reference, and a stand-in `qemu-system-x86_64` on PATH
that records its command line. The official launcher must accept the rendered worker.conf, and the
recorded command must have the TDX guest object, the VFIO GPU the device plugin allocated and the
runner's port forward the operator relies on (12000 + 10 x instance). Tests that need the reference
skip, saying where they looked, when it is absent; the rest run the dev stack's own stand-in launcher.
"""

# ruff: noqa: E501  (expected command lines and messages read better unwrapped)

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cocoon_dev.runtime.vm import host as vm_host
from cocoon_dev.runtime.vm import pod as vm_pod
from cocoon_dev.runtime.vm import release as vm_release
from cocoon_dev.runtime.volumes import mount_map, remap_paths
from cocoon_operator.api.spec import parse_spec
from cocoon_operator.reconcile import children, launcher
from cocoon_operator.settings import Settings
from tests.helpers.reference import require_reference
from tests.unit.builders import minimal_spec

KEY = "gaEatwGNgLGOeFI/TRGfPdJG/K4G8picYHQkDHpLQ9w="
HF_TOKEN = "hf_cocoonDevTestTokenNotReal0123"
OWNER = children.Owner(name="vm-a", namespace="launchers", uid="uid-vm-a")


@dataclass
class Sandbox:
    """One launcher pod's volumes as directories, and how to run its containers' scripts."""

    root: Path
    pod: dict[str, Any]
    volumes: dict[str, Path]
    release: vm_release.PackedRelease

    def mounts(self, container: dict[str, Any]) -> list[tuple[str, Path]]:
        """What this container sees, as a kubelet mounts it (each container its own mounts)."""
        return mount_map(container, self.volumes)

    def container(self, name: str) -> dict[str, Any]:
        spec = self.pod["spec"]
        return next(c for c in spec["initContainers"] + spec["containers"] if c["name"] == name)

    def run_init(self, name: str) -> subprocess.CompletedProcess[str]:
        c = self.container(name)
        env = os.environ | {e["name"]: e["value"] for e in c.get("env", [])}
        return subprocess.run(["/bin/sh", "-c", remap_paths(c["command"][2], self.mounts(c))], env=env,
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip

    def run_launcher(self, **env: str) -> subprocess.CompletedProcess[str]:
        c = self.container("launcher")
        argv, extra = vm_pod.launcher_process(
            c, remap=lambda text: remap_paths(text, self.mounts(c)), pod_uid="uid-vm-a", pod_ip="127.0.0.1",
            state_dir=self.root / "runtime", python=sys.executable, network_json=None, record=self.record,
        )  # fmt: skip
        full = os.environ | extra | {"COCOON_DEV_QEMU_MODE": "record"} | env
        full = {k: v for k, v in full.items() if v != "<unset>"}
        return subprocess.run(
            argv, env=full, capture_output=True, text=True, timeout=120, cwd=self.root, check=False
        )

    @property
    def record(self) -> Path:
        return self.root / "qemu-cmdline.json"

    def recorded(self) -> list[str]:
        argv: list[str] = json.loads(self.record.read_text())["argv"]
        return argv


def make_sandbox(
    tmp: Path, *, launcher_file: Path | None, vm: dict[str, Any], sha: str | None = None
) -> Sandbox:
    packed = vm_release.build(tmp / "release", launcher=launcher_file)
    settings = Settings(
        launcher_image="launcher:test",
        launcher_namespaces=("launchers",),
        vm_release_url=packed.url,
        vm_release_sha256=sha or packed.sha256,
    )
    spec = parse_spec(minimal_spec(runtime={"kind": "CocoonVM", "vm": vm}, worker={"mode": "Production"}))
    objs = {o["kind"]: o for o in launcher.desired(OWNER, spec, settings)}
    pod = objs["StatefulSet"]["spec"]["template"]
    host = tmp / "host"
    vm_host.prepare(host)
    volumes = {
        "release-cache": host / "var/lib/cocoon/releases",
        "state": host / "var/lib/cocoon/vm/launchers_vm-a",
        "launcher-template": tmp / "vol/launcher-template",
        "wallet": tmp / "vol/wallet",
        "ton-config": tmp / "vol/ton-config",
        "work": tmp / "vol/work",
        "hf-token": tmp / "vol/hf-token",
        "host-dev": host / "dev",
        "host-sys": host / "sys",
        "host-proc": host / "proc",
        "kvm": host / "dev" / "kvm",
        "vhost-vsock": host / "dev" / "vhost-vsock",
    }
    for path in volumes.values():
        if not path.exists():  # the host's devices are files of the fake host tree
            path.mkdir(parents=True, exist_ok=True)
    (volumes["launcher-template"] / "worker.conf.tmpl").write_text(
        objs["ConfigMap"]["data"]["worker.conf.tmpl"]
    )
    (volumes["wallet"] / "node_wallet_key").write_text(KEY + "\n")
    (volumes["hf-token"] / "token").write_text(HF_TOKEN)
    (volumes["ton-config"] / "global.config.json").write_text('{"liteservers": []}')
    return Sandbox(tmp, pod, volumes, packed)


def _value(argv: list[str], option: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == option]


def _secrets_absent(*texts: str) -> None:
    for text in texts:
        assert KEY not in text and HF_TOKEN not in text, "a secret reached the launcher's output"


# --- the official launcher -------------------------------------------------------------------------


def test_official_launcher_accepts_the_rendered_worker_conf(tmp_path: Path) -> None:
    official = require_reference("cocoon-runner", "scripts", "cocoon-launch")
    box = make_sandbox(
        tmp_path, launcher_file=official, vm={"instance": 1, "hfTokenSecretRef": {"name": "hf"}}
    )
    fetched = box.run_init("fetch-release")
    assert fetched.returncode == 0, fetched.stderr
    assert f"worker release {box.release.sha256} verified" in fetched.stdout
    out = box.run_launcher()
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    argv = box.recorded()
    print("recorded QEMU command:", " ".join(argv))  # for the report
    # The TDX guest.
    tdx = [json.loads(v) for v in _value(argv, "-object") if v.startswith("{")]
    assert any(o.get("qom-type") == "tdx-guest" for o in tdx), tdx
    assert "confidential-guest-support=tdx" in _value(argv, "-machine")[0]
    # The VFIO GPU: the address the device plugin put in the container's environment.
    address = vm_pod.fake_pci_address("uid-vm-a")
    assert f"vfio-pci,host={address},bus=pci.0,iommufd=iommufd0" in _value(argv, "-device")
    # The runner's HTTP API on 12000 + 10 x instance of the pod, and the vsock CID of instance 1.
    netdev = _value(argv, "-netdev")[0]
    assert "hostfwd=tcp::12010-:12000" in netdev
    assert "vhost-vsock-pci,guest-cid=16" in _value(argv, "-device")
    # The spec volume the guest reads: runtime.vars from worker.conf, the TON config from the ConfigMap.
    virtfs = _value(argv, "-virtfs")[0]
    spec_dir = Path(virtfs.split("path=", 1)[1].split(",", 1)[0])
    runtime_vars = (spec_dir / "runtime" / "runtime.vars").read_text()
    assert "MODEL_NAME=Qwen/Qwen3-8B\n" in runtime_vars and "WORKER_COEFFICIENT=1000\n" in runtime_vars
    assert f"NODE_WALLET_KEY={KEY}\n" in runtime_vars and f"HF_TOKEN={HF_TOKEN}\n" in runtime_vars
    assert (spec_dir / "runtime" / "global.config.json").read_text() == '{"liteservers": []}'
    assert str(spec_dir).startswith(str(tmp_path / "vol" / "work")), "the spec lives in the memory volume"
    # The persistent disk in the worker's host state directory.
    assert (tmp_path / "host/var/lib/cocoon/vm/launchers_vm-a/persistent-worker-1.img").exists()
    _secrets_absent(fetched.stdout, fetched.stderr, out.stdout, out.stderr)
    conf = tmp_path / "vol/work/worker.conf"
    assert oct(conf.stat().st_mode & 0o777) == "0o600"
    assert f"node_wallet_key = {KEY}" in conf.read_text()


def test_official_launcher_without_a_hugging_face_token(tmp_path: Path) -> None:
    official = require_reference("cocoon-runner", "scripts", "cocoon-launch")
    box = make_sandbox(tmp_path, launcher_file=official, vm={})
    assert box.run_init("fetch-release").returncode == 0
    out = box.run_launcher()
    assert out.returncode == 0, out.stderr[-2000:]
    argv = box.recorded()
    assert "hostfwd=tcp::12000-:12000" in _value(argv, "-netdev")[0]
    spec_dir = Path(_value(argv, "-virtfs")[0].split("path=", 1)[1].split(",", 1)[0])
    assert "HF_TOKEN" not in (spec_dir / "runtime" / "runtime.vars").read_text()


# --- the same scripts without the reference ----------------------------------------------------------


def test_standin_launcher_gives_the_stand_in_qemu_the_same_essentials(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path, launcher_file=None, vm={"instance": 2})
    assert box.run_init("fetch-release").returncode == 0
    out = box.run_launcher()
    assert out.returncode == 0, out.stderr[-2000:]
    argv = box.recorded()
    assert "hostfwd=tcp::12020-:12000" in _value(argv, "-netdev")[0]
    assert any(v.startswith("vfio-pci,host=") for v in _value(argv, "-device"))
    _secrets_absent(out.stdout, out.stderr)


def test_release_with_another_sha256_is_refused(tmp_path: Path) -> None:
    wrong = "0" * 64
    box = make_sandbox(tmp_path, launcher_file=None, vm={}, sha=wrong)
    out = box.run_init("fetch-release")
    assert out.returncode == launcher.RELEASE_MISMATCH_EXIT_CODE
    assert box.release.sha256 in out.stderr and wrong in out.stderr, out.stderr
    cache = tmp_path / "host/var/lib/cocoon/releases" / wrong
    assert not (cache / "release").exists() and not (cache / "release.archive").exists(), "nothing kept"
    started = box.run_launcher()
    assert started.returncode != 0 and not box.record.exists(), "no VM without a verified release"


def test_cached_release_is_verified_again(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path, launcher_file=None, vm={})
    assert box.run_init("fetch-release").returncode == 0
    cached = tmp_path / "host/var/lib/cocoon/releases" / box.release.sha256 / "release.archive"
    cached.write_bytes(b"tampered on the host")
    out = box.run_init("fetch-release")
    assert out.returncode == launcher.RELEASE_MISMATCH_EXIT_CODE and "integrity check failed" in out.stderr


def test_launcher_without_a_vfio_gpu_says_so(tmp_path: Path) -> None:
    box = make_sandbox(tmp_path, launcher_file=None, vm={})
    assert box.run_init("fetch-release").returncode == 0
    out = box.run_launcher(PCI_RESOURCE_NVIDIA_COM_GH100_H100_SXM5_80GB="<unset>")
    assert out.returncode == launcher.LAUNCH_FAILED_EXIT_CODE
    assert (
        "no VFIO GPU was allocated" in out.stderr
        and "PCI_RESOURCE_NVIDIA_COM_GH100_H100_SXM5_80GB" in out.stderr
    )
    two = box.run_launcher(PCI_RESOURCE_NVIDIA_COM_GH100_H100_SXM5_80GB="0000:01:00.0,0000:02:00.0")
    assert two.returncode == launcher.LAUNCH_FAILED_EXIT_CODE and "more than one GPU" in two.stderr


def test_stand_in_qemu_refuses_a_command_without_tdx(tmp_path: Path) -> None:
    from cocoon_dev.runtime.vm import qemu

    spec = tmp_path / "spec"
    spec.mkdir()
    argv = ["-machine", "q35", "-netdev", "user,id=u,hostfwd=tcp::12000-:12000",
            "-device", "vfio-pci,host=0000:01:00.0", "-virtfs", f"local,path={spec},mount_tag=spec"]  # fmt: skip
    with pytest.raises(qemu.BadCommand, match="no TDX guest"):
        qemu.essentials(qemu.parse(argv))


@pytest.mark.parametrize(
    ("missing", "expected"),
    [
        (set(), None),
        ({"tdx", "qgs"}, ("tdx: KVM has TDX off", "qgs: no Quote Generation Service")),
        ({"kvm", "iommu", "iommufd", "vsock", "seal-server"},
         ("kvm: /dev/kvm is missing", "iommu: the host has no IOMMU groups", "iommufd:", "vsock:", "seal-server:")),
    ],
)  # fmt: skip
def test_check_host_names_what_is_missing(
    tmp_path: Path, missing: set[str], expected: tuple[str, ...] | None
) -> None:
    box = make_sandbox(tmp_path, launcher_file=None, vm={})
    vm_host.prepare(tmp_path / "host", missing)
    out = box.run_init("check-host")
    if expected is None:
        assert out.returncode == 0 and "host prerequisites met (kernel 6.16.0-cocoon-dev)" in out.stdout
        return
    assert out.returncode == launcher.HOST_MISSING_EXIT_CODE
    assert out.stderr.startswith("host prerequisites missing: ")
    for text in expected:
        assert text in out.stderr
