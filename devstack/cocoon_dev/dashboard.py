"""The Grafana dashboard the chart ships, as code (grafana-foundation-sdk).

    python -m cocoon_dev.dashboard          write charts/cocoon-operator/dashboards/cocoon-fleet.json
    python -m cocoon_dev.dashboard --check  exit 1 when the committed JSON differs from this code

The panels are data (`dashboard_panels.yaml`, loaded as `PANELS`) so that the same queries feed the
SDK here and the rendering of docs/dashboard.png from the dev stack's metrics
(`cocoon_dev.dashboard_png`). Every query selects the Prometheus data source of the `datasource`
variable, and those over CocoonNode metrics the namespaces of `namespace`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from grafana_foundation_sdk.builders import common, prometheus, stat, timeseries
from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as gm

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "charts" / "cocoon-operator" / "dashboards" / "cocoon-fleet.json"
UID = "cocoon-fleet"
DS = gm.DataSourceRef(type_val="prometheus", uid="${datasource}")
PANELS_FILE = Path(__file__).with_name("dashboard_panels.yaml")


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str


@dataclass(frozen=True)
class Panel:
    title: str
    kind: str  # "stat" or "timeseries"
    targets: tuple[Target, ...]
    unit: str
    width: int
    description: str
    row: str

    @property
    def height(self) -> int:
        return 4 if self.kind == "stat" else 8


def load_panels(path: Path = PANELS_FILE) -> tuple[Panel, ...]:
    panels = []
    for row in yaml.safe_load(path.read_text()):
        for p in row["panels"]:
            if p["kind"] not in ("stat", "timeseries"):
                raise ValueError(f"{path}: panel {p['title']!r} has an unknown kind {p['kind']!r}")
            targets = tuple(Target(t["expr"], t["legend"]) for t in p["targets"])
            panels.append(
                Panel(p["title"], p["kind"], targets, p["unit"], p["width"], p["description"], row["row"])
            )
    return tuple(panels)


PANELS = load_panels()
ROWS = tuple(dict.fromkeys(p.row for p in PANELS))


def _query(target: Target, ref: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(target.expr).legend_format(target.legend).ref_id(ref).datasource(DS)


def _panel(panel: Panel, panel_id: int) -> stat.Panel | timeseries.Panel:
    builder: stat.Panel | timeseries.Panel
    if panel.kind == "stat":
        builder = (
            stat.Panel()
            .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
            .graph_mode(cm.BigValueGraphMode.AREA)
            .color_mode(cm.BigValueColorMode.VALUE)
            .text_mode(cm.BigValueTextMode.AUTO)
        )
    else:
        builder = (
            timeseries.Panel()
            .fill_opacity(10)
            .line_width(1)
            .legend(
                common.VizLegendOptions()
                .display_mode(cm.LegendDisplayMode.LIST)
                .placement(cm.LegendPlacement.BOTTOM)
                .show_legend(True)
            )
            .tooltip(
                common.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING)
            )
        )
    builder = builder.id(panel_id).title(panel.title).description(panel.description).datasource(DS)
    builder = builder.unit(panel.unit).span(panel.width).height(panel.height)
    for i, target in enumerate(panel.targets):
        builder = builder.with_target(_query(target, chr(ord("A") + i)))
    return builder


def build() -> gm.Dashboard:
    board = (
        gd.Dashboard("COCOON fleet")
        .uid(UID)
        .description("cocoon-operator: workers, earnings, wallets and treasury, health, the operator")
        .tags(["cocoon", "ton", "cocoon-operator"])
        .editable()
        .refresh("1m")
        .time("now-6h", "now")
        .timezone("browser")
        .tooltip(gm.DashboardCursorSync.CROSSHAIR)
        .with_variable(gd.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(
            gd.QueryVariable("namespace")
            .label("Namespace")
            .datasource(DS)
            .query("label_values(cocoon_node_info, namespace)")
            .refresh(gm.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(gm.VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
    )
    panel_id = 0
    for row in ROWS:
        panel_id += 1
        board = board.with_row(gd.Row(row).id(panel_id))
        for panel in PANELS:
            if panel.row == row:
                panel_id += 1
                board = board.with_panel(_panel(panel, panel_id))
    return board.build()


def render() -> str:
    return json.dumps(build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="compare with the committed JSON")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT.relative_to(REPO)} is stale: run python -m cocoon_dev.dashboard", file=sys.stderr)
            return 1
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(REPO)} ({len(PANELS)} panels)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
