"""`state.json`: what `up` started (process identities, ports, logs), so `status` and `down` can find it."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cocoon_dev import procs

STATE_VERSION = 2  # 2: processes are recorded as pid + start time


@dataclass
class ComponentState:
    pid: int
    create_time: float  # with the pid, the process's identity (procs.ProcRef)
    executable: str
    log: str
    port: int | None = None

    @property
    def proc(self) -> procs.ProcRef:
        return procs.ProcRef(self.pid, self.create_time, Path(self.executable).name)

    def alive(self) -> bool:
        return self.proc.alive()


@dataclass
class ClusterState:
    workdir: str
    kubeconfig: str
    server: str
    k8s_version: str
    started_at: str
    ports: dict[str, int]
    options: dict[str, Any] = field(default_factory=dict)
    # Insertion order is start order; `down` stops them in reverse.
    components: dict[str, ComponentState] = field(default_factory=dict)

    def pids(self) -> dict[str, int]:
        return {name: c.pid for name, c in self.components.items()}

    def logs(self) -> dict[str, str]:
        return {name: c.log for name, c in self.components.items()}

    def alive(self) -> dict[str, bool]:
        return {name: c.alive() for name, c in self.components.items()}

    def save(self, path: Path) -> None:
        data = {"version": STATE_VERSION, **asdict(self)}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> ClusterState | None:
        """The recorded state, or None when there is none (or it is from an incompatible version)."""
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if data.pop("version", None) != STATE_VERSION:
            return None
        components = {name: ComponentState(**c) for name, c in data.pop("components", {}).items()}
        return cls(components=components, **data)
