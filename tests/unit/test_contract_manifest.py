"""The committed contract BoCs match their FunC sources (ton-devnet.md §4).

A contract's address derives from its code hash, so a stale BoC or an unpinned compiler silently
moves every dev address. Two checks:
- the source digest recorded at compile time still matches the sources (no Node needed);
- a real recompile with the pinned func-js (`npm ci` from the committed lock file) gives the
  manifest's code hashes. Skipped, with the reason, when Node or the packages are not available.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = REPO / "contracts"
MANIFEST = CONTRACTS / "build" / "manifest.json"
RECOMPILE_HINT = "recompile with `cd contracts && npm ci && node compile.mjs` and commit contracts/build"


def _manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(MANIFEST.read_text())
    return data


def test_manifest_pins_the_compiler() -> None:
    compiler = _manifest()["compiler"]
    assert compiler["name"] == "func" and compiler["version"] == "0.4.6"
    package = json.loads((CONTRACTS / "package.json").read_text())
    assert package["devDependencies"]["@ton-community/func-js"] == compiler["package_version"]
    lock = json.loads((CONTRACTS / "package-lock.json").read_text())
    locked = lock["packages"]["node_modules/@ton-community/func-js"]["version"]
    assert locked == compiler["package_version"], "package-lock.json and the manifest disagree on func-js"


def test_sources_unchanged_since_compile() -> None:
    stale = []
    for name, entry in _manifest()["contracts"].items():
        digest = hashlib.sha256()
        for source in entry["sources"]:
            path = CONTRACTS / source
            if not path.is_file():
                stale.append(f"{name} ({source} is missing)")
                break
            filename = source.removeprefix("src/")
            digest.update(f"{filename}\0{path.read_text(encoding='utf-8')}\0".encode())
        else:
            if digest.hexdigest() != entry["sources_sha256"]:
                stale.append(name)
    assert not stale, f"stale compiled contracts: {', '.join(stale)}; {RECOMPILE_HINT}"


def _ensure_node_modules() -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: cannot recompile the FunC contracts")
    if (CONTRACTS / "node_modules" / "@ton-community" / "func-js").is_dir():
        return
    if shutil.which("npm") is None:
        pytest.skip("contracts/node_modules is absent and npm is not installed")
    try:
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=CONTRACTS,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("contracts/node_modules is absent and `npm ci` timed out (no package registry?)")
    if done.returncode != 0:
        pytest.skip(f"contracts/node_modules is absent and `npm ci` failed: {done.stderr.strip()[-300:]}")


@pytest.mark.slow
def test_recompile_matches_manifest() -> None:
    _ensure_node_modules()
    done = subprocess.run(
        ["node", "compile.mjs", "--check"], cwd=CONTRACTS, capture_output=True, text=True, timeout=300
    )
    assert done.returncode in (0, 1), f"compile.mjs failed: {done.stderr.strip()}"
    report = json.loads(done.stdout)
    assert report["func_version"] == _manifest()["compiler"]["version"]
    stale = report["stale"]
    details = {name: report["contracts"][name] for name in stale}
    assert not stale, f"stale compiled contracts: {', '.join(stale)} {details}; {RECOMPILE_HINT}"
