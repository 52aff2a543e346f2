"""docs/metrics.md and the operator's exposition agree both ways: every metric the process exposes is
documented with its type and labels, and every documented metric exists with that type and those labels."""

import re
from pathlib import Path

from tests.helpers.metrics import families

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| `(cocoon_[a-z0-9_]+)` \| (\w+) \|([^|]*)\|", re.MULTILINE)


def _documented() -> dict[str, tuple[str, frozenset[str]]]:
    text = (ROOT / "docs" / "metrics.md").read_text()
    rows = ROW.findall(text)
    found: dict[str, tuple[str, frozenset[str]]] = {}
    for name, type_, labels in rows:
        assert name not in found, f"docs/metrics.md documents {name} twice"
        found[name] = (type_, frozenset(label.strip() for label in labels.split(",") if label.strip()))
    return found


def test_every_exposed_metric_is_documented_with_its_type_and_labels() -> None:
    doc = _documented()
    code = families()
    assert len(code) >= 35, sorted(code)
    missing = sorted(set(code) - set(doc))
    assert not missing, f"docs/metrics.md lacks {missing}"
    for name, family in code.items():
        assert doc[name] == (family.type, family.labels), (
            f"{name}: docs say {doc[name]}, the code exposes {(family.type, sorted(family.labels))}"
        )


def test_every_documented_metric_exists() -> None:
    stale = sorted(set(_documented()) - set(families()))
    assert not stale, f"docs/metrics.md documents metrics the operator does not expose: {stale}"


def test_names_follow_prometheus_conventions() -> None:
    for name, family in families().items():
        assert name.startswith("cocoon_")
        assert (family.type == "counter") == name.endswith("_total"), name
        assert not name.endswith("_ton") and "_ton_total" not in name, f"{name}: amounts are nanoTON"
        if "timestamp" in name:
            assert name.endswith("_timestamp_seconds"), name
