"""Summarise every `bench/results/scale-*.json` by N: Markdown table + PNG plot (matplotlib).

    .venv/bin/python -m bench.report [--include-tagged] [--split-at COMMIT[,COMMIT...]]

Results whose file name carries a tag (`--tag`, e.g. smoke or profile runs) are left out unless asked;
runs with the health probes off are always left out (another configuration).
`--split-at` (default: the commits of the first scale fixes, the work queue and the fast start) puts
each result in a series ("before", "fixes 1+6", "work queue", "fast start") by the newest of those
commits its operator contains, so the table and plot compare them; `--split-at ''` pools everything
by N. Results recorded since the harness tears each phase down completely form their own series
(", clean teardown"); the plot then shows only those and "before".
Writes `bench/results/summary.md` and `bench/results/scale.png`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
REPO = RESULTS.parent.parent
# Fixes 1 (shared, short-lived pod LIST; placement only when needed) and 6 (resync spread); then the
# work queue fed by watch caches (fixes 2-5, 7-9).
FIXES_COMMIT = "bd2dd27,23f3c68,2158811"
# "fast start": a first reconcile looks up no children, the fleet is a plain cache instead of a kopf
# index (restart), a worker just turned Ready is re-checked within seconds (7c92113).
SERIES_NAMES = ("before", "fixes 1+6", "work queue", "fast start")
# Results of the harness with the complete teardown between phases (2026-11-26): the earlier ones
# charged the previous phase's StatefulSet teardown to the operator (bench/README.md, "Teardown").
CLEAN = "clean teardown"
HEADER = "# Scale benchmark summary (medians, min..max over runs)\n\n"
COLUMNS = (
    ("operator_s", "operator to all Ready (s)"),
    ("baseline_s", "baseline StatefulSets to Ready (s)"),
    ("ratio", "ratio"),
    ("baseline_full_s", "full baseline (all children created directly) to Ready (s)"),
    ("ratio_full", "ratio to the full baseline (the operator's own overhead)"),
    ("operator_s_lower_bound", "operator not finished after (s)"),
    ("ratio_lower_bound", "ratio at least"),
    ("steady_writes_per_node_min", "steady writes / node / min"),
    ("steady_operator_reads_per_min", "steady reads / min"),
    ("steady_reconciles_per_min", "reconciles / min"),
    ("steady_cpu_s_per_min", "steady CPU s / min"),
    ("create_cpu_s", "CPU s during create"),
    ("peak_rss_mb", "peak RSS (MB)"),
    ("rebuild_peak_rss_mb", "peak RSS after a restart (MB)"),
    ("steady_rss_mb", "steady RSS (MB)"),
    ("churn_observed_s", "spec change -> observedGeneration (s)"),
    ("churn_pod_ready_s", "spec change -> new pod Ready (s)"),
    ("rebuild_s", "restart -> all status current (s)"),
)


Key = tuple[int, str]  # (N, series)


def _contains(commit: str, ancestor: str) -> bool:
    found = subprocess.run(
        ["git", "merge-base", "--is-ancestor", ancestor, commit], cwd=REPO, capture_output=True, check=False
    )
    return bool(commit) and found.returncode == 0


def _series(versions: list[dict[str, str]], split_at: str) -> str:
    """The newest series whose commit every operator start contained (clean or not)."""
    if not split_at:
        return ""
    commits = {v.get("commit", "") for v in versions} or {""}
    name = SERIES_NAMES[0]
    for i, split in enumerate(split_at.split(","), start=1):
        if all(_contains(c, split) for c in commits):
            name = SERIES_NAMES[i] if i < len(SERIES_NAMES) else f"after {split}"
    return name


def load(include_tagged: bool, split_at: str = "") -> dict[Key, list[dict[str, Any]]]:
    by_n: dict[Key, list[dict[str, Any]]] = {}
    for path in sorted(RESULTS.glob("scale-*.json")):
        parts = path.stem.split("-")  # scale-N-STAMP[-tag]
        if len(parts) > 3 and parts[3] != "incomplete" and not include_tagged:
            continue
        data = json.loads(path.read_text())
        if data["summary"].get("health_probes") is False:
            continue
        for rep in data.get("reps", []):
            rep = {**rep, "_file": path.name, "_profiled": data["summary"].get("profiled")}
            series = _series(
                rep.get("operator_versions") or [data["meta"].get("operator_version", {})], split_at
            )
            if "stages" in rep:  # recorded by the harness since its teardown fix (bench/README.md)
                series = f"{series}, {CLEAN}".lstrip(", ")
            by_n.setdefault((int(data["summary"]["nodes"]), series), []).append(rep)
    return by_n


def _label(key: Key, reps: list[dict[str, Any]]) -> str:
    n, series = key
    runs = f"{len(reps)} run{'s' if len(reps) != 1 else ''}"
    return f"N = {n}, {series} ({runs})" if series else f"N = {n} ({runs})"


def stats(values: list[Any]) -> tuple[float | None, float | None, float | None]:
    nums = [float(v) for v in values if isinstance(v, int | float)]
    if not nums:
        return None, None, None
    return statistics.median(nums), min(nums), max(nums)


def fmt(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"


def _order(key: Key) -> tuple[int, bool, int]:
    base = key[1].removesuffix(f", {CLEAN}")
    rank = SERIES_NAMES.index(base) if base in SERIES_NAMES else len(SERIES_NAMES)
    return key[0], key[1].endswith(CLEAN), rank


def _plotted(series: str, all_series: set[str]) -> bool:
    """With clean-teardown results present, the plot shows those and the very first measurements only
    (the other series are biased by the old teardown; they stay in the table)."""
    return not any(s.endswith(CLEAN) for s in all_series) or series.endswith(CLEAN) or series == "before"


def table(by_n: dict[Key, list[dict[str, Any]]]) -> str:
    by_n = {k: by_n[k] for k in sorted(by_n, key=_order)}
    head = "| metric | " + " | ".join(_label(k, r) for k, r in by_n.items()) + " |"
    lines = [head, "|---|" + "---|" * len(by_n)]
    for key, label in COLUMNS:
        cells = []
        for reps in by_n.values():
            med, lo, hi = stats([r.get(key) for r in reps])
            cells.append(fmt(med) if len(reps) == 1 or med is None else f"{fmt(med)} ({fmt(lo)}..{fmt(hi)})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(by_key: dict[Key, list[dict[str, Any]]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    present = {s for _, s in by_key}
    all_series = sorted((s for s in present if _plotted(s, present)), key=lambda s: _order((0, s)))
    # The baseline does not depend on the operator version: one line over all results.
    pooled: dict[int, list[dict[str, Any]]] = {}
    for (n, _), reps in by_key.items():
        pooled.setdefault(n, []).extend(reps)
    lines: list[tuple[str, str, str, dict[int, list[dict[str, Any]]]]] = [
        ("baseline_s", "baseline StatefulSets", "s", pooled)
    ]
    for series in all_series:
        per_n = {n: reps for (n, s), reps in by_key.items() if s == series}
        marker = "osD^v"[all_series.index(series) % 5]
        lines.append(("operator_s", f"operator {series}".strip(), marker, per_n))
    for i, (key, label, marker, per_n) in enumerate(lines):
        ns = sorted(per_n)
        meds: list[float] = []
        errs: list[list[float]] = [[], []]
        for n in ns:
            med, lo, hi = stats([r.get(key) for r in per_n[n]])
            meds.append(med if med is not None else float("nan"))
            errs[0].append((med - lo) if med is not None and lo is not None else 0)
            errs[1].append((hi - med) if med is not None and hi is not None else 0)
        ax1.errorbar(ns, meds, yerr=errs, marker=marker, capsize=3, label=label, color=f"C{i}")
        if key != "operator_s":
            continue
        bounds = [(n, stats([r.get("operator_s_lower_bound") for r in per_n[n]])[0]) for n in ns]
        bounds = [(n, b) for n, b in bounds if b is not None]
        if bounds:
            ax1.plot(
                *zip(*bounds, strict=True),
                "^",
                color=f"C{i}",
                markersize=9,
                label=f"{label}: not done yet (lower bound)",
            )
    ax1.set_xlabel("N (CocoonNodes / StatefulSets)")
    ax1.set_ylabel("time to all Ready (s)")
    ax1.set_title("Time to Ready (median, min..max)")
    ax1.set_xscale("log")
    ax1.set_yscale("log")
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend()
    for j, series in enumerate(all_series):
        per_n = {n: reps for (n, s), reps in by_key.items() if s == series}
        ns = sorted(per_n)
        last = j == len(all_series) - 1
        kinds = [("peak_rss_mb", "peak RSS (create + steady)", "o")]
        if last:  # the others only for the newest series, to keep the plot readable
            kinds += [
                ("steady_rss_mb", "steady RSS", "s"),
                ("rebuild_peak_rss_mb", "peak RSS after a restart", "^"),
            ]
        for key, label, marker in kinds:
            ax2.plot(
                ns,
                [stats([r.get(key) for r in per_n[n]])[0] or float("nan") for n in ns],
                marker=marker,
                linestyle="-" if last else "--",
                label=f"{label} {series}".strip(),
            )
    ax2.set_xlabel("N (CocoonNodes)")
    ax2.set_ylabel("operator resident memory (MB)")
    ax2.set_title("Operator memory")
    ax2.set_xscale("log")
    ax2.set_ylim(bottom=0)
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__)
    parser.add_argument("--include-tagged", action="store_true")
    parser.add_argument("--split-at", default=FIXES_COMMIT, help="commit that starts the 'after' series")
    args = parser.parse_args(argv)
    by_n = load(args.include_tagged, args.split_at)
    if not by_n:
        print("no results yet")
        return 1
    md = HEADER + table(by_n)
    (RESULTS / "summary.md").write_text(md)
    plot(by_n, RESULTS / "scale.png")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
