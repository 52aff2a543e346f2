"""Helpers of the chart/image/CI tests: find the real tools, render the chart, pick objects."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "cocoon-operator"
# The Kubernetes version the chart is rendered for: the local control plane's (tools/versions.env).
KUBE_VERSION = "1.35.4"


def versions() -> dict[str, str]:
    """tools/versions.env as a dict (the pinned versions of the cached binaries)."""
    out: dict[str, str] = {}
    for line in (REPO / "tools" / "versions.env").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key] = value
    return out


def tool_cache_dir() -> Path:
    return Path(
        os.environ.get("COCOON_TESTENV_CACHE", Path.home() / ".cache" / "cocoon-operator" / "testenv")
    )


def find_tool(name: str, env: str, cached: Path | None) -> str | None:
    """A tool from $<env>, else the testenv cache, else PATH (and the venv's bin, for pip-shipped ones)."""
    if os.environ.get(env):
        return os.environ[env]
    if cached is not None and cached.is_file() and os.access(cached, os.X_OK):
        return str(cached)
    venv_bin = REPO / ".venv" / "bin" / name
    if venv_bin.is_file():
        return str(venv_bin)
    return shutil.which(name)


def helm_bin() -> str:
    version = versions().get("HELM_VERSION", "3.21.4")
    found = find_tool("helm", "COCOON_HELM", tool_cache_dir() / f"helm-v{version}" / "helm")
    if found is None:
        pytest.skip(f"helm v{version} is not built: run tools/build-testenv.sh (or set COCOON_HELM)")
    return found


def run(
    cmd: Sequence[str], *, check: bool = True, timeout: float = 120, **kw: Any
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def helm_args_for(values: dict[str, str] | None, values_files: Iterable[Path] = ()) -> list[str]:
    args: list[str] = []
    for f in values_files:
        args += ["-f", str(f)]
    for key, value in (values or {}).items():
        args += ["--set", f"{key}={value}"]
    return args


def template(
    values: dict[str, str] | None = None,
    *,
    values_files: Iterable[Path] = (),
    release: str = "cocoon",
    namespace: str = "cocoon-system",
    show_only: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    cmd = [
        helm_bin(),
        "template",
        release,
        str(CHART),
        "--namespace",
        namespace,
        "--kube-version",
        KUBE_VERSION,
    ]
    if show_only:
        cmd += ["--show-only", show_only]
    return run(cmd + helm_args_for(values, values_files), check=check, timeout=60)


def render(values: dict[str, str] | None = None, **kw: Any) -> list[dict[str, Any]]:
    """The chart's objects (hooks included), parsed."""
    return [d for d in yaml.safe_load_all(template(values, **kw).stdout) if d]


def of_kind(objs: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def one(objs: Iterable[dict[str, Any]], kind: str, name_suffix: str = "") -> dict[str, Any]:
    found = [o for o in of_kind(objs, kind) if o["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, (
        f"expected one {kind} named *{name_suffix}, got {[o['metadata']['name'] for o in found]}"
    )
    return found[0]


def is_hook(obj: dict[str, Any]) -> bool:
    return "helm.sh/hook" in (obj["metadata"].get("annotations") or {})
