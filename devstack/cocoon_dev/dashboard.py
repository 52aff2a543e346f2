"""The Grafana dashboard the chart ships, as code (grafana-foundation-sdk).

    python -m cocoon_dev.dashboard          write charts/cocoon-operator/dashboards/cocoon-fleet.json
    python -m cocoon_dev.dashboard --check  exit 1 when the committed JSON differs from this code

The panels are plain data (`PANELS`) so that the same queries feed the SDK here and the rendering of
docs/dashboard.png from the dev stack's metrics (`cocoon_dev.dashboard_png`). Every query selects the
Prometheus data source of the `datasource` variable and the CocoonNode namespaces of `namespace`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import common, prometheus, stat, timeseries
from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as gm

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "charts" / "cocoon-operator" / "dashboards" / "cocoon-fleet.json"
UID = "cocoon-fleet"
DS = gm.DataSourceRef(type_val="prometheus", uid="${datasource}")
NS = 'namespace=~"$namespace"'
TON = "1e9"  # nanoTON per TON: amounts are shown in TON


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
    height: int
    description: str
    row: str


def _p(row: str, title: str, kind: str, unit: str, width: int, description: str, *targets: Target) -> Panel:
    return Panel(title, kind, targets, unit, width, 4 if kind == "stat" else 8, description, row)


PANELS: tuple[Panel, ...] = (
    # ------------------------------------------------------------------------- fleet at a glance
    _p("Fleet", "Workers Ready", "stat", "none", 4,
       "CocoonNodes whose Ready condition is true",
       Target(f'sum(cocoon_node_status_condition{{condition="Ready", status="true", {NS}}})', "Ready")),
    _p("Fleet", "Workers not Ready", "stat", "none", 4,
       "CocoonNodes whose Ready condition is false or unknown (paused ones included)",
       Target(f'sum(cocoon_node_status_condition{{condition="Ready", status!="true", {NS}}})', "not Ready")),
    _p("Fleet", "TON earned (24 h)", "stat", "none", 4,
       "Payouts to the owners confirmed on chain in the last 24 hours",
       Target(f"sum(increase(cocoon_claimed_nanoton_total{{{NS}}}[24h])) / {TON}", "TON")),
    _p("Fleet", "TON claimable now", "stat", "none", 4,
       "Rewards committed to the worker contracts and not paid yet",
       Target(f"sum(cocoon_claimable_nanoton{{{NS}}}) / {TON}", "TON")),
    _p("Fleet", "Treasury runway", "stat", "d", 4,
       "Days until the emptiest treasury runs dry at its top-up rate of the last day",
       Target("min(cocoon_treasury_balance_nanoton / on (treasury) group_left () "
              "(sum by (treasury) (rate(cocoon_funding_topped_up_nanoton_total[1d])) * 86400))", "days")),
    _p("Fleet", "Chain operations failing", "stat", "percentunit", 4,
       "Share of liteserver operations that failed in the last 5 minutes",
       # (no failure series yet is 0 %, not "no data")
       Target("(sum(rate(cocoon_ton_request_failures_total[5m])) or vector(0)) "
              "/ sum(rate(cocoon_ton_requests_total[5m]))", "failing")),
    # ------------------------------------------------------------------------- earnings and claims
    _p("Earnings and claims", "TON paid to owners per hour", "timeseries", "none", 12,
       "Confirmed payouts per CocoonNode (the ledger's claims, operator-triggered and external)",
       Target(f"sum by (namespace, name) (increase(cocoon_claimed_nanoton_total{{{NS}}}[1h])) / {TON}",
              "{{namespace}}/{{name}}")),
    _p("Earnings and claims", "TON claimable", "timeseries", "none", 12,
       "What each worker could claim now",
       Target(f"sum by (namespace, name) (cocoon_claimable_nanoton{{{NS}}}) / {TON}",
              "{{namespace}}/{{name}}")),
    _p("Earnings and claims", "Claim outcomes per hour", "timeseries", "none", 12,
       "RewardClaimed, and the failures the CocoonClaimsFailing alert watches",
       Target(f"sum by (outcome) (increase(cocoon_claims_total{{{NS}}}[1h]))", "{{outcome}}")),
    _p("Earnings and claims", "Tokens served per second", "timeseries", "none", 12,
       "Adjusted tokens credited to each worker (what it is paid for)",
       Target(f"sum by (namespace, name) (rate(cocoon_worker_adjusted_tokens_total{{{NS}}}"
              "[$__rate_interval]))", "{{namespace}}/{{name}}")),
    # ------------------------------------------------------------------------- wallets and treasury
    _p("Wallets and treasury", "Cocoon wallet balance", "timeseries", "none", 12,
       "TON in each worker's cocoon wallet (read from the chain), and its floor",
       Target(f"cocoon_wallet_balance_nanoton{{{NS}}} / {TON}", "{{namespace}}/{{name}}"),
       Target(f"min(cocoon_wallet_floor_nanoton{{{NS}}}) / {TON}", "lowest floor")),
    _p("Wallets and treasury", "Treasury balance", "timeseries", "none", 12,
       "TON in each treasury wallet at its latest funding check",
       Target(f"cocoon_treasury_balance_nanoton / {TON}", "{{treasury}}")),
    _p("Wallets and treasury", "Top-ups per hour", "timeseries", "none", 12,
       "TON the treasuries sent to cocoon wallets (confirmed on chain)",
       Target(f"sum by (treasury) (increase(cocoon_funding_topped_up_nanoton_total{{{NS}}}[1h])) / {TON}",
              "{{treasury}}")),
    _p("Wallets and treasury", "Funding results per hour", "timeseries", "none", 12,
       "Top-ups sent, confirmed, and refused for an empty or missing treasury",
       Target(f"sum by (result) (increase(cocoon_funding_transfers_total{{{NS}}}[1h]))", "{{result}}")),
    # ------------------------------------------------------------------------- health
    _p("Health", "CocoonNodes with a condition not true", "timeseries", "none", 12,
       "Per condition type: how many CocoonNodes have it false or unknown",
       Target(f'sum by (condition) (cocoon_node_status_condition{{status!="true", {NS}}})', "{{condition}}")),
    _p("Health", "Requests served per second", "timeseries", "reqps", 12,
       "Requests the runners handled for proxies",
       Target(f'sum by (namespace, name) (rate(cocoon_worker_runner_requests_total{{outcome="success", {NS}}}'
              "[$__rate_interval]))", "{{namespace}}/{{name}}")),
    _p("Health", "Triton queue time per compute time", "timeseries", "percentunit", 12,
       "Time requests wait in Triton's queue per second of compute (saturation)",
       Target(f"sum by (namespace, name) (rate(cocoon_worker_inference_queue_seconds_total{{{NS}}}"
              "[$__rate_interval])) / clamp_min(sum by (namespace, name) "
              f"(rate(cocoon_worker_inference_compute_seconds_total{{{NS}}}[$__rate_interval])), 1e-9)",
              "{{namespace}}/{{name}}")),
    _p("Health", "Runner's TON sync age", "timeseries", "s", 12,
       "Seconds since each runner last read the root contract",
       Target(f"cocoon_worker_ton_sync_age_seconds{{{NS}}}", "{{namespace}}/{{name}}")),
    # ------------------------------------------------------------------------- the operator
    _p("Operator", "Reconcile latency", "timeseries", "s", 8,
       "Quantiles of one reconcile of a CocoonNode (API calls, probes and chain steps included)",
       Target("histogram_quantile(0.5, sum by (le) (rate(cocoon_reconcile_duration_seconds_bucket"
              "[$__rate_interval])))", "p50"),
       Target("histogram_quantile(0.95, sum by (le) (rate(cocoon_reconcile_duration_seconds_bucket"
              "[$__rate_interval])))", "p95"),
       Target("histogram_quantile(0.99, sum by (le) (rate(cocoon_reconcile_duration_seconds_bucket"
              "[$__rate_interval])))", "p99")),
    _p("Operator", "Reconciles per second and backlog", "timeseries", "none", 8,
       "Reconciles by result, and CocoonNodes waiting for a reconcile worker",
       Target("sum by (result) (rate(cocoon_reconciles_total[$__rate_interval]))", "{{result}}"),
       Target("max(cocoon_reconcile_queue_depth)", "waiting")),
    _p("Operator", "Chain operation latency (p95)", "timeseries", "s", 8,
       "95th percentile of liteserver operations by kind",
       Target("histogram_quantile(0.95, sum by (le, operation) "
              "(rate(cocoon_ton_request_duration_seconds_bucket[$__rate_interval])))", "{{operation}}")),
)  # fmt: skip

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
