"""Dependencies declared = dependencies imported, for the operator (pyproject.toml) and the dev stack
(devstack/pyproject.toml); and the container image's lock file covers the operator's dependencies.

Every third-party module a package imports must be a distribution its own pyproject declares (not one
that only happens to come with another), and every runtime dependency it declares must be imported
somewhere in it (a declared library that does no job is weight in the image and in every install).
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OWN = {"cocoon_operator", "cocoon_dev"}
# Code that runs in another interpreter: the stand-in model runs inside Triton's Python backend
# (.venv-triton), not in the dev stack's environment.
OTHER_INTERPRETERS = ("runtime/models/",)
# Declared for what they do without an import: a command line the package runs.
NOT_IMPORTED_ON_PURPOSE: dict[str, set[str]] = {"operator": set(), "devstack": set()}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(pyproject: Path) -> set[str]:
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    names = {normalize(re.match(r"[A-Za-z0-9._-]+", d).group(0)) for d in deps}  # type: ignore[union-attr]
    return names


def imported_modules(package: Path) -> set[str]:
    """Top-level names of every absolute import in the package (inside functions too)."""
    found: set[str] = set()
    for path in package.rglob("*.py"):
        if any(part in path.as_posix() for part in OTHER_INTERPRETERS):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"__future__"}


def distributions(modules: set[str]) -> dict[str, set[str]]:
    """Module name -> the distributions that provide it (installed ones)."""
    providers = importlib.metadata.packages_distributions()
    return {m: {normalize(d) for d in providers.get(m, [])} for m in modules}


CASES = {
    "operator": (REPO / "operator" / "cocoon_operator", REPO / "pyproject.toml"),
    "devstack": (REPO / "devstack" / "cocoon_dev", REPO / "devstack" / "pyproject.toml"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_import_is_declared(name: str) -> None:
    package, pyproject = CASES[name]
    wanted = declared(pyproject)
    own_distributions = {"cocoon-operator"} if name == "devstack" else set()
    undeclared = {
        module: sorted(dists)
        for module, dists in distributions(imported_modules(package) - OWN).items()
        if not dists & (wanted | own_distributions)
    }
    assert undeclared == {}, f"{pyproject.relative_to(REPO)} does not declare what these imports need"


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_declared_dependency_is_imported(name: str) -> None:
    package, pyproject = CASES[name]
    provided = {d for dists in distributions(imported_modules(package)).values() for d in dists}
    if name == "devstack" and "cocoon_operator" in imported_modules(package):
        provided.add("cocoon-operator")
    unused = declared(pyproject) - provided - NOT_IMPORTED_ON_PURPOSE[name]
    assert unused == set(), f"{pyproject.relative_to(REPO)} declares dependencies nothing imports"


def test_the_image_lock_covers_the_operator_dependencies() -> None:
    """requirements/operator.lock (what the Dockerfile installs) pins, with hashes, every runtime
    dependency of pyproject.toml at a version its specifier allows; regenerate it when they change."""
    from packaging.requirements import Requirement

    lock = (REPO / "requirements" / "operator.lock").read_text()
    pins: dict[str, str] = {}
    hashed: set[str] = set()
    current = ""
    for line in lock.splitlines():
        if m := re.match(r"^([A-Za-z0-9._-]+)==([^\s\\;]+)", line):
            current = normalize(m.group(1))
            pins[current] = m.group(2)
        if "--hash=sha256:" in line and current:
            hashed.add(current)
    for spec in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]:
        req = Requirement(spec)
        name = normalize(req.name)
        assert name in pins, f"{name} is not in requirements/operator.lock"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} breaks {spec}"
    assert hashed == set(pins), f"pins without hashes: {sorted(set(pins) - hashed)}"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "--require-hashes" in dockerfile and "requirements/operator.lock" in dockerfile
