"""Where the dev stack keeps its state: one work directory per component under COCOON_DEV_HOME."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

REPO_ROOT = Path(__file__).resolve().parents[2]


def dev_home() -> Path:
    """Root of all dev-stack state (default: `<repo>/.cocoon-dev`, git-ignored)."""
    env = os.environ.get("COCOON_DEV_HOME")
    return Path(env).resolve() if env else REPO_ROOT / ".cocoon-dev"


def component_dir(name: str) -> Path:
    path = dev_home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def testenv_cache() -> Path:
    """Cache of the Go-built binaries (see tools/build-testenv.sh)."""
    env = os.environ.get("COCOON_TESTENV_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "cocoon-operator" / "testenv"


class _HasRoot(Protocol):
    @property
    def root(self) -> Path: ...


class InDir:
    """A path at a fixed place under an object's directory `root`, declared as a class attribute:
    `log_file = InDir("chain.log")` reads as `self.root / "chain.log"`."""

    def __init__(self, *parts: str) -> None:
        self.parts = parts

    def __get__(self, obj: _HasRoot, owner: type | None = None) -> Path:
        return obj.root.joinpath(*self.parts)
