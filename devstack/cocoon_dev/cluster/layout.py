"""File layout of one cluster's work directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cocoon_dev.paths import InDir


@dataclass(frozen=True)
class Layout:
    root: Path  # the work directory

    state_file = InDir("state.json")
    lock_file = InDir(".lock")
    kubeconfig = InDir("kubeconfig")  # the admin kubeconfig handed to users and tests
    pki_dir = InDir("pki")
    etcd_data = InDir("etcd")
    logs_dir = InDir("logs")
    kubectl_wrapper = InDir("bin", "kubectl")

    def log(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    def component_kubeconfig(self, component: str) -> Path:
        return self.root / "kubeconfigs" / f"{component}.kubeconfig"

    def run_dir(self, component: str) -> Path:
        """Scratch dir of a component (self-signed serving certs of controller-manager/scheduler)."""
        return self.root / "run" / component
