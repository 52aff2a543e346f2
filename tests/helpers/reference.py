"""Where the official COCOON sources (`../shared/reference`) are, for tests that hold the project to them.

The reference is a test oracle only: the product and the dev stack never read it. It sits next to the
repository in this project's CI; a test that needs it runs whenever it exists and otherwise skips,
saying exactly where it looked.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENV = "COCOON_REFERENCE_DIR"


def candidates() -> list[Path]:
    """$COCOON_REFERENCE_DIR, then `shared/reference` beside the repository and each of its parents."""
    found = [Path(os.environ[ENV]).resolve()] if os.environ.get(ENV) else []
    found += [
        parent.parent / "shared" / "reference" for parent in (REPO, *REPO.parents) if parent.parent != parent
    ]
    return found


def reference_dir() -> Path | None:
    return next((p for p in candidates() if (p / "README.md").is_file()), None)


def require_reference(*parts: str) -> Path:
    """The path `<reference>/<parts…>`, or skip naming every place that was tried."""
    root = reference_dir()
    if root is None:
        looked = ", ".join(str(p) for p in candidates())
        pytest.skip(f"the official COCOON reference is not here (looked in: {looked}; set {ENV})")
    path = root.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"the official COCOON reference at {root} has no {'/'.join(parts)}")
    return path
