"""Where the Go-built control-plane binaries live, and building them when they are missing."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from cocoon_dev import procs
from cocoon_dev.paths import REPO_ROOT, testenv_cache

from .errors import ClusterError

BUILD_SCRIPT = REPO_ROOT / "tools" / "build-testenv.sh"
VERSIONS_FILE = REPO_ROOT / "tools" / "versions.env"


def pinned_versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
    """Parse `tools/versions.env` (KEY=VALUE lines), the single source of the pinned versions."""
    if not path.is_file():
        raise ClusterError(f"version pins not found: {path} (is this a checkout of cocoon-operator?)")
    versions: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if "=" in line:
            key, value = line.split("=", 1)
            versions[key.strip()] = value.strip().strip("'\"")
    for key in ("K8S_VERSION", "ETCD_VERSION", "KWOK_VERSION"):
        if key not in versions:
            raise ClusterError(f"{path} does not pin {key}")
    return versions


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of every executable the cluster needs (plus kubectl for humans)."""

    k8s_version: str
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    kwok: Path
    kwok_stages: Path

    @classmethod
    def from_cache(cls, cache: Path | None = None, versions: dict[str, str] | None = None) -> Binaries:
        cache = cache or testenv_cache()
        v = versions or pinned_versions()
        k8s = cache / f"k8s-v{v['K8S_VERSION']}"
        kwok = cache / f"kwok-v{v['KWOK_VERSION']}"
        return cls(
            k8s_version=v["K8S_VERSION"],
            etcd=cache / f"etcd-v{v['ETCD_VERSION']}" / "etcd",
            kube_apiserver=k8s / "kube-apiserver",
            kube_controller_manager=k8s / "kube-controller-manager",
            kube_scheduler=k8s / "kube-scheduler",
            kubectl=k8s / "kubectl",
            kwok=kwok / "kwok",
            kwok_stages=kwok / "stages",
        )

    def executables(self) -> list[Path]:
        return [
            self.etcd,
            self.kube_apiserver,
            self.kube_controller_manager,
            self.kube_scheduler,
            self.kubectl,
            self.kwok,
        ]

    def missing(self) -> list[Path]:
        gone = [p for p in self.executables() if not p.is_file()]
        if not self.kwok_stages.is_dir():
            gone.append(self.kwok_stages)
        return gone

    def stage_files(self) -> list[Path]:
        """The KWOK Stage manifests copied by the build script (the kustomization file is not one)."""
        return sorted(p for p in self.kwok_stages.glob("*.yaml") if p.name != "kustomization.yaml")


def ensure_binaries(build: bool = True, echo: bool = True) -> Binaries:
    """Return the binaries, running `tools/build-testenv.sh` first if any is missing (and `build`)."""
    bins = Binaries.from_cache()
    missing = bins.missing()
    if not missing:
        return bins
    hint = f"run {BUILD_SCRIPT} (a cold build takes 30-60 min on 2 cores)"
    if not build:
        raise ClusterError(f"control-plane binaries missing: {', '.join(map(str, missing))}; {hint}")
    running = procs.find(str(BUILD_SCRIPT.name))
    if running:
        raise ClusterError(
            f"control-plane binaries missing and a build is already running (pid {running[0].pid}); "
            "wait for it to finish, then run this again"
        )
    if not BUILD_SCRIPT.is_file():
        raise ClusterError(
            f"control-plane binaries missing and the build script is not there: {BUILD_SCRIPT}"
        )
    if echo:
        print(
            f"[cluster] binaries missing ({missing[0].name}, ...); building them with {BUILD_SCRIPT}",
            flush=True,
        )
    # The script prints its own progress; let it write straight to our terminal.
    result = subprocess.run(["bash", str(BUILD_SCRIPT)], check=False)
    if result.returncode != 0:
        raise ClusterError(f"{BUILD_SCRIPT} failed (exit {result.returncode}); its output is above")
    bins = Binaries.from_cache()
    still = bins.missing()
    if still:
        raise ClusterError(f"build finished but binaries are still missing: {', '.join(map(str, still))}")
    return bins
