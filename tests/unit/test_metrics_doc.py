"""docs/metrics.md lists every metric the operator defines (names as they appear on the wire)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("operator/cocoon_operator/metrics.py", "operator/cocoon_operator/health/metrics.py")
DEFINITION = re.compile(
    r'(Gauge|Counter|Histogram|GaugeMetricFamily|CounterMetricFamily)\(\s*"(cocoon_[a-z_]+)"'
)


def test_every_metric_is_documented() -> None:
    doc = (ROOT / "docs" / "metrics.md").read_text()
    names = []
    for source in SOURCES:
        for kind, name in DEFINITION.findall((ROOT / source).read_text()):
            counter = kind.startswith("Counter") and not name.endswith("_total")
            names.append(f"{name}_total" if counter else name)
    assert len(names) >= 20, names
    missing = [n for n in names if f"`{n}`" not in doc]
    assert not missing, f"docs/metrics.md lacks {missing}"
