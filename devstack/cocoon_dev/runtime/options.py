"""Settings of the local runtime (the `cocoon-dev runtime` command line sets them)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cocoon_dev.paths import component_dir

Mode = Literal["full", "light"]


@dataclass
class RuntimeOptions:
    kubeconfig: Path | None = None
    state_dir: Path = field(default_factory=lambda: component_dir("runtime"))
    mode: Mode = "full"
    cidr: str | None = None  # only pod IPs in this range (None: any)
    poll_interval_s: float = 1.0  # how often pods are looked at again without news from the watch
    backoff_initial_s: float = 1.0  # the kubelet uses 10 s doubling to 300 s; shortened for dev loops
    backoff_max_s: float = 30.0
    max_grace_s: float = 45.0
    network_json: Path | None = None  # dev chain's network.json, handed to the runner simulator
    ton_config: Path | None = None  # the dev chain's TON global config (when the pod's is not mounted)
    sim_env: dict[str, str] = field(default_factory=dict)  # extra COCOON_SIM_* settings
    python: str = sys.executable
