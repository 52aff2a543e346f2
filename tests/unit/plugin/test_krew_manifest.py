"""plugins/cocoon.yaml is a krew plugin manifest for the executable the package installs."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]


def test_krew_manifest() -> None:
    text = (ROOT / "plugins" / "cocoon.yaml").read_text()
    doc = yaml.safe_load(text.replace("SHA256", "ab" * 32))
    assert doc["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2" and doc["kind"] == "Plugin"
    assert doc["metadata"]["name"] == "cocoon"  # kubectl cocoon
    spec = doc["spec"]
    assert spec["version"] == "vVERSION" and len(spec["shortDescription"]) <= 50
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "kubectl-cocoon" in scripts
    seen = set()
    for platform in spec["platforms"]:
        labels = platform["selector"]["matchLabels"]
        seen.add((labels["os"], labels["arch"]))
        assert platform["bin"] == "kubectl-cocoon"
        assert platform["uri"].startswith(
            "https://github.com/OWNER/cocoon-operator/releases/download/vVERSION/"
        )
        assert platform["sha256"] == "ab" * 32
    assert {("linux", "amd64"), ("linux", "arm64")} <= seen
