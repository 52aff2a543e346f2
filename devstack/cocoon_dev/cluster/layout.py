"""File layout of one cluster's work directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    workdir: Path

    @property
    def state_file(self) -> Path:
        return self.workdir / "state.json"

    @property
    def lock_file(self) -> Path:
        return self.workdir / ".lock"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig handed to users and tests."""
        return self.workdir / "kubeconfig"

    @property
    def pki_dir(self) -> Path:
        return self.workdir / "pki"

    @property
    def etcd_data(self) -> Path:
        return self.workdir / "etcd"

    @property
    def logs_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def kubectl_wrapper(self) -> Path:
        return self.workdir / "bin" / "kubectl"

    def log(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    def component_kubeconfig(self, component: str) -> Path:
        return self.workdir / "kubeconfigs" / f"{component}.kubeconfig"

    def run_dir(self, component: str) -> Path:
        """Scratch dir of a component (self-signed serving certs of controller-manager/scheduler)."""
        return self.workdir / "run" / component
