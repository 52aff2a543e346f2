"""docs/dashboard.png: the dashboard's own queries (`cocoon_dev.dashboard.PANELS`) evaluated by a real
Prometheus over what it scraped from the dev stack's operator, drawn with matplotlib in the
dashboard's layout. It is a rendering of the queries, not a Grafana screenshot (Grafana is not
installable on the development machines).

    python -m cocoon_dev.dashboard_png --prometheus http://127.0.0.1:9091 --minutes 20 [--out FILE]

`hack/render-dashboard.sh` runs the whole thing: Prometheus (built from its Go module) scraping the
running dev stack's operator, the wait, and this.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cocoon_dev.dashboard import PANELS, REPO, ROWS, Panel, Target

OUT = REPO / "docs" / "dashboard.png"
RATE_INTERVAL = "1m"  # what Grafana's $__rate_interval is at this scrape interval and time range


def concrete(expr: str) -> str:
    """The query as Grafana sends it for "all namespaces"."""
    return expr.replace("$namespace", ".*").replace("$__rate_interval", RATE_INTERVAL)


def legend(template: str, labels: dict[str, str]) -> str:
    text = template
    for key, value in labels.items():
        text = text.replace("{{" + key + "}}", value)
    return text if "{{" not in text else template.split("{{")[0] or "series"


@dataclass
class Series:
    label: str
    times: list[float]
    values: list[float]


def query_range(prometheus: str, expr: str, start: float, end: float, step: float) -> list[Series]:
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query_range?{params}", timeout=60) as response:  # noqa: S310
        data: dict[str, Any] = json.loads(response.read())
    if data.get("status") != "success":
        raise RuntimeError(f"{expr}: {data}")
    found = []
    for result in data["data"]["result"]:
        values = [(float(t), float(v)) for t, v in result["values"]]
        found.append(Series(json.dumps(result["metric"]), [t for t, _ in values], [v for _, v in values]))
    return found


def evaluate(prometheus: str, panel: Panel, start: float, end: float, step: float) -> list[Series]:
    out = []
    for target in panel.targets:
        for series in query_range(prometheus, concrete(target.expr), start, end, step):
            series.label = legend(target.legend, json.loads(series.label))
            out.append(series)
    return out


def _last(series: list[Series]) -> float | None:
    values = [v for s in series for v in s.values[-1:] if not math.isnan(v)]
    return sum(values) if values else None


def _fmt(value: float | None, unit: str) -> str:
    if value is None or math.isinf(value):
        return "—" if value is None else "∞"
    if unit == "percentunit":
        return f"{value * 100:.1f} %"
    if unit == "d":
        return f"{value:,.1f} days"
    return f"{value:,.4g}"


def render(prometheus: str, minutes: float, out: Path, *, now: float | None = None) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import dates as mdates

    end = now or time.time()
    start = end - minutes * 60
    step = max(5.0, minutes * 60 / 200)
    rows_of_panels: list[list[Panel]] = []
    for row in ROWS:
        rows_of_panels.append([p for p in PANELS if p.row == row])
    # Layout: a 24-column grid like Grafana's; timeseries panels 8 units high, stats 4.
    layout: list[tuple[str, list[Panel]]] = []
    for row, panels in zip(ROWS, rows_of_panels, strict=True):
        line: list[Panel] = []
        width = 0
        first = True
        for panel in panels:
            if width + panel.width > 24:
                layout.append((row if first else "", line))
                first, line, width = False, [], 0
            line.append(panel)
            width += panel.width
        layout.append((row if first else "", line))
    heights = [p[1][0].height for p in layout]
    fig = plt.figure(figsize=(24, sum(heights) * 0.62 + 2), dpi=80)
    grid = fig.add_gridspec(
        sum(heights), 24, hspace=2.2, wspace=1.2, top=0.965, bottom=0.03, left=0.03, right=0.99
    )
    fig.suptitle(
        f"COCOON fleet — the dashboard's queries over the dev stack's metrics (last {minutes:.0f} min); "
        "rendered with matplotlib from Prometheus, not a Grafana screenshot",
        fontsize=15,
        x=0.01,
        ha="left",
    )
    summary: dict[str, Any] = {}
    y = 0
    for row_title, line in layout:
        x = 0
        h = line[0].height
        for panel in line:
            ax = fig.add_subplot(grid[y : y + h, x : x + panel.width])
            series = evaluate(prometheus, panel, start, end, step)
            title = f"{row_title} ▸ {panel.title}" if row_title and x == 0 else panel.title
            ax.set_title(title, fontsize=11, loc="left")
            if panel.kind == "stat":
                value = _last(series)
                summary[panel.title] = value
                ax.text(0.5, 0.42, _fmt(value, panel.unit), fontsize=26, ha="center", va="center",
                        color="#3274d9", transform=ax.transAxes)  # fmt: skip
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                summary[panel.title] = len(series)
                for s in series[:8]:
                    times = [mdates.date2num(dt.datetime.fromtimestamp(t, dt.UTC)) for t in s.times]
                    ax.plot(times, s.values, linewidth=1.2, label=s.label)
                if not series:
                    ax.text(
                        0.5, 0.5, "no data", ha="center", va="center", color="grey", transform=ax.transAxes
                    )
                ax.set_xlim(
                    mdates.date2num(dt.datetime.fromtimestamp(start, dt.UTC)),
                    mdates.date2num(dt.datetime.fromtimestamp(end, dt.UTC)),
                )
                ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=dt.UTC))
                ax.tick_params(labelsize=8)
                ax.grid(alpha=0.3)
                if series:
                    ax.legend(fontsize=7, loc="upper left", ncol=2, frameon=False)
            x += panel.width
        y += h
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="render docs/dashboard.png from a Prometheus")
    parser.add_argument("--prometheus", required=True, help="e.g. http://127.0.0.1:9091")
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    summary = render(args.prometheus.rstrip("/"), args.minutes, args.out)
    print(json.dumps({"out": str(args.out), "stats": summary}, default=str))
    return 0


__all__ = ["Target", "concrete", "legend", "main", "render"]

if __name__ == "__main__":
    sys.exit(main())
