"""Prometheus metrics of money, chain access and the reconcile loop, on prometheus_client's default
registry (the same one the health and status collectors register on, so one exporter serves all).

Names follow the Prometheus conventions: base units in the name (`_nanoton`, `_seconds`), counters
end in `_total` on the wire, a value that is a point in time ends in `_timestamp_seconds`. The
chain-observed wallet balance is `cocoon_wallet_balance_nanoton`; the runner-reported one stays
`cocoon_worker_wallet_balance_nanoton` (health).

Every family labelled with a CocoonNode (`namespace`, `name`) registers itself as node series:
`forget_node()` drops a deleted CocoonNode's series from all of them at once.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar, get_type_hints

from prometheus_client import (
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector, CollectorRegistry

from cocoon_operator import __version__

NODE = ("namespace", "name")
METRICS_PORT_ENV = "COCOON_METRICS_PORT"

# No `<counter>_created` series: in the text format each is one more gauge series per child, and
# nothing here reads them (rate() handles counter resets).
disable_created_metrics()  # type: ignore[no-untyped-call]


class NodeSeries(Protocol):
    """Anything that holds series labelled by CocoonNode."""

    def forget(self, namespace: str, name: str) -> None: ...


_NODE_SERIES: weakref.WeakSet[NodeSeries] = weakref.WeakSet()


def track(series: NodeSeries) -> None:
    """Register per-node series so that `forget_node` reaches them."""
    _NODE_SERIES.add(series)


def forget_node(namespace: str, name: str) -> None:
    """Drop every series of a deleted CocoonNode, in every per-node family of this process."""
    for series in list(_NODE_SERIES):
        series.forget(namespace, name)


Family = GaugeMetricFamily | CounterMetricFamily
V = TypeVar("V")


class LatestPerNode(Collector, Generic[V]):
    """Holds the latest value observed per CocoonNode and renders it at scrape time. A subclass names
    its families (`families`) and fills them from one node's value (`add`)."""

    def __init__(self, registry: CollectorRegistry | None = REGISTRY) -> None:
        self._latest: dict[tuple[str, str], V] = {}
        self._lock = threading.Lock()  # scrapes run in the exporter's thread
        if registry is not None:
            registry.register(self)
        track(self)

    def observe(self, namespace: str, name: str, value: V) -> None:
        with self._lock:
            self._latest[(namespace, name)] = value

    def forget(self, namespace: str, name: str) -> None:
        """Drop a deleted CocoonNode's series."""
        with self._lock:
            self._latest.pop((namespace, name), None)

    def describe(self) -> Iterator[Metric]:
        # Empty families: lets the registry detect name clashes without a scrape.
        yield from self.families()

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            items = sorted(self._latest.items())
        families = self.families()
        for (namespace, name), value in items:
            self.add(families, [namespace, name], value)
        yield from families

    def families(self) -> list[Family]:
        raise NotImplementedError

    def add(self, families: list[Family], key: list[str], value: V) -> None:
        """Render one CocoonNode's value; `key` is its (namespace, name) label values."""
        raise NotImplementedError


def remove_node_children(
    metric: MetricWrapperBase, labelnames: Iterable[str], namespace: str, name: str
) -> None:
    """Remove the labelled children of `metric` that belong to one CocoonNode (any other labels)."""
    names = tuple(labelnames)
    keys: set[tuple[str, ...]] = set()
    for family in metric.collect():
        for sample in family.samples:
            labels = sample.labels
            if labels.get("namespace") == namespace and labels.get("name") == name:
                keys.add(tuple(labels[n] for n in names))
    for key in keys:
        with contextlib.suppress(KeyError):
            metric.remove(*key)


@dataclass(frozen=True, eq=False)
class MoneyMetrics:
    claimable: Gauge
    claimed: Counter
    claims: Counter
    claims_stalled: Gauge
    funding: Counter
    topped_up: Counter
    sweeps: Counter
    wallet_balance: Gauge
    wallet_address_mismatch: Gauge
    treasury_balance: Gauge
    ton_requests: Counter
    liteserver_queries: Counter
    ton_failures: Counter
    ton_latency: Histogram
    reconcile_duration: Histogram
    reconcile_errors: Counter
    root_params_version: Gauge
    root_price_per_token: Gauge
    root_worker_fee_per_token: Gauge
    root_registered_proxies: Gauge

    def node_families(self) -> tuple[tuple[MetricWrapperBase, tuple[str, ...]], ...]:
        """The families labelled by CocoonNode, with their label names."""
        return tuple(
            (getattr(self, field), labels)
            for field, (_, _, labels) in _MONEY_FAMILIES.items()
            if labels[: len(NODE)] == NODE
        )

    def forget(self, namespace: str, name: str) -> None:
        """Drop the per-node series of a deleted CocoonNode."""
        for metric, labelnames in self.node_families():
            remove_node_children(metric, labelnames, namespace, name)

    def observe_root(
        self, root: str, *, params_version: int, price_per_token: int, worker_fee_per_token: int, proxies: int
    ) -> None:
        """The root contract's parameters as last read (one family per quantity: a version is not
        an amount)."""
        self.root_params_version.labels(root).set(params_version)
        self.root_price_per_token.labels(root).set(price_per_token)
        self.root_worker_fee_per_token.labels(root).set(worker_fee_per_token)
        self.root_registered_proxies.labels(root).set(proxies)


# MoneyMetrics' families: field -> (name, help, label names). A family's class (Gauge, Counter,
# Histogram) is its field's annotation; those labelled by NODE are what `forget` drops.
_MONEY_FAMILIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "claimable": (
        "cocoon_claimable_nanoton",
        "Rewards claimable now per proxy contract (committed minus paid tokens, times the fee)",
        (*NODE, "proxy"),
    ),
    "claimed": (
        "cocoon_claimed_nanoton",
        "Rewards paid to the owner per proxy contract, as recorded in the ledger",
        (*NODE, "proxy", "source"),
    ),
    "claims": ("cocoon_claims", "Claim outcomes (RewardClaimed, ClaimTimedOut, ...)", (*NODE, "outcome")),
    "claims_stalled": (
        "cocoon_claims_stalled",
        "1 while claimable earnings have gone unclaimed for longer than spec.rewards.stallAfter",
        NODE,
    ),
    "funding": ("cocoon_funding_transfers", "Treasury top-ups by result", (*NODE, "result")),
    "topped_up": (
        "cocoon_funding_topped_up_nanoton",
        "NanoTON the treasury sent to the cocoon wallet in top-ups confirmed on chain",
        (*NODE, "treasury"),
    ),
    "sweeps": ("cocoon_sweeps", "Surplus sweeps to the owner by result", (*NODE, "result")),
    "wallet_balance": ("cocoon_wallet_balance_nanoton", "Cocoon wallet balance read from the chain", NODE),
    "wallet_address_mismatch": (
        "cocoon_wallet_address_mismatch",
        "1 while the worker runner reports a cocoon wallet address other than the derived one "
        "(no top-up, no sweep)",
        NODE,
    ),
    "treasury_balance": (
        "cocoon_treasury_balance_nanoton",
        "Treasury wallet balance read from the chain when a top-up was decided (admins only: it is not "
        "in any CocoonNode's status)",
        ("treasury",),
    ),
    "ton_requests": ("cocoon_ton_requests", "Chain (liteserver) operations by kind", ("operation",)),
    "liteserver_queries": (
        "cocoon_ton_liteserver_queries",
        "Liteserver queries sent (round trips, retries included) by method",
        ("method",),
    ),
    "ton_failures": (
        "cocoon_ton_request_failures",
        "Chain operations that failed (liteserver unavailable)",
        ("operation",),
    ),
    "ton_latency": ("cocoon_ton_request_duration_seconds", "Duration of chain operations", ("operation",)),
    "reconcile_duration": (
        "cocoon_provider_duration_seconds",
        "Duration of the chain and rewards reconcile steps",
        ("step",),
    ),
    "reconcile_errors": (
        "cocoon_provider_errors",
        "Chain and rewards reconcile steps that failed",
        ("step", "reason"),
    ),
    "root_params_version": (
        "cocoon_root_params_version",
        "params_version of the root contract (bumped when prices or fees change)",
        ("root",),
    ),
    "root_price_per_token": (
        "cocoon_root_price_per_token_nanoton",
        "price_per_token of the root contract, in nanoTON",
        ("root",),
    ),
    "root_worker_fee_per_token": (
        "cocoon_root_worker_fee_per_token_nanoton",
        "worker_fee_per_token of the root contract (what a worker earns per token), in nanoTON",
        ("root",),
    ),
    "root_registered_proxies": (
        "cocoon_root_registered_proxies",
        "Proxies registered in the root contract",
        ("root",),
    ),
}


def create(registry: CollectorRegistry | None = REGISTRY) -> MoneyMetrics:
    reg = registry if registry is not None else CollectorRegistry()
    kinds = get_type_hints(MoneyMetrics)
    metrics = MoneyMetrics(
        **{
            field: kinds[field](name, documentation, labels, registry=reg)
            for field, (name, documentation, labels) in _MONEY_FAMILIES.items()
        }
    )
    track(metrics)
    return metrics


@dataclass(frozen=True)
class ControllerMetrics:
    """The reconcile loop itself: how long reconciles take, how many fail, how much work waits."""

    reconcile_seconds: Histogram
    reconciles: Counter
    queue_depth: Gauge
    build_info: Gauge


def build_labels() -> dict[str, str]:
    return {"version": __version__, "python_version": platform.python_version()}


def create_controller(registry: CollectorRegistry | None = REGISTRY) -> ControllerMetrics:
    reg = registry if registry is not None else CollectorRegistry()
    info = build_labels()
    build_info = Gauge(
        "cocoon_build_info",
        "Always 1; the labels say which operator build runs (version from the git tag)",
        list(info),
        registry=reg,
    )
    build_info.labels(**info).set(1)
    return ControllerMetrics(
        reconcile_seconds=Histogram(
            "cocoon_reconcile_duration_seconds",
            "Duration of one reconcile of a CocoonNode (API calls, probes and chain steps included)",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=reg,
        ),
        reconciles=Counter(
            "cocoon_reconciles",
            "Reconciles of CocoonNodes by result (success, error)",
            ["result"],
            registry=reg,
        ),
        queue_depth=Gauge(
            "cocoon_reconcile_queue_depth",
            "CocoonNodes due or waiting for a worker of the reconcile queue (not those being reconciled)",
            registry=reg,
        ),
        build_info=build_info,
    )


class FollowerStatsView(Protocol):
    """What a block follower counts (`ton.follower.FollowerStats`)."""

    @property
    def blocks(self) -> int: ...
    @property
    def gaps(self) -> int: ...
    @property
    def failures(self) -> int: ...
    @property
    def hits(self) -> int: ...
    @property
    def misses(self) -> int: ...


class FollowerView(Protocol):
    """A block follower as the metrics see it (`ton.follower.BlockFollower`)."""

    @property
    def stats(self) -> FollowerStatsView: ...
    @property
    def mc_seqno(self) -> int | None: ...

    def in_step(self) -> bool: ...

    def watched(self) -> int: ...


class FollowerMetrics(Collector):
    """The block followers of this process (one per network, keyed by the hash of its global config),
    read at scrape time: whether each is in step (else every read goes to a liteserver), how far it
    walked, the gaps that dropped its cache, and how many account reads its cache saved."""

    def __init__(self, registry: CollectorRegistry | None = REGISTRY) -> None:
        self._source: Callable[[], Mapping[str, FollowerView]] = dict
        if registry is not None:
            registry.register(self)

    def follow(self, source: Callable[[], Mapping[str, FollowerView]]) -> None:
        """Where the followers are (the chain hub's, one hub per process)."""
        self._source = source

    def describe(self) -> Iterator[Metric]:
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        families = self._families()
        in_step, head, blocks, gaps, failures, reads, watched = families
        for network, f in sorted(self._source().items()):
            in_step.add_metric([network], 1 if f.in_step() else 0)
            if f.mc_seqno is not None:
                head.add_metric([network], f.mc_seqno)
            blocks.add_metric([network], f.stats.blocks)
            gaps.add_metric([network], f.stats.gaps)
            failures.add_metric([network], f.stats.failures)
            reads.add_metric([network, "hit"], f.stats.hits)
            reads.add_metric([network, "miss"], f.stats.misses)
            watched.add_metric([network], f.watched())
        yield from families

    @staticmethod
    def _families() -> list[Family]:
        net = ["network"]
        return [
            GaugeMetricFamily(
                "cocoon_ton_follower_in_step",
                "1 while the block follower is at most 2 blocks behind the head (its cache serves reads)",
                labels=net,
            ),
            GaugeMetricFamily(
                "cocoon_ton_follower_masterchain_seqno", "The last masterchain block it walked", labels=net
            ),
            CounterMetricFamily(
                "cocoon_ton_follower_blocks", "Shard and masterchain blocks it listed", labels=net
            ),
            CounterMetricFamily(
                "cocoon_ton_follower_gaps",
                "Stretches of blocks it could not walk (every cached state was dropped)",
                labels=net,
            ),
            CounterMetricFamily("cocoon_ton_follower_failures", "Steps that failed", labels=net),
            CounterMetricFamily(
                "cocoon_ton_cache_reads",
                "Reads of watched accounts: served from the follower's cache (hit) or sent to a liteserver",
                labels=[*net, "result"],
            ),
            GaugeMetricFamily("cocoon_ton_follower_watched_accounts", "Accounts it watches", labels=net),
        ]


@functools.cache
def followers() -> FollowerMetrics:
    """The process-wide instance on the default registry (created once)."""
    return FollowerMetrics()


@functools.cache
def controller() -> ControllerMetrics:
    """The process-wide instance on the default registry (created once)."""
    return create_controller()


@functools.cache
def default() -> MoneyMetrics:
    """The process-wide instance on the default registry (created once)."""
    return create()


_SERVED = False


def serve_from_env() -> int | None:
    """Start the exporter once when `COCOON_METRICS_PORT` is set (it serves the default registry)."""
    global _SERVED
    port = os.environ.get(METRICS_PORT_ENV)
    if not port or _SERVED:
        return None
    start_http_server(int(port))
    _SERVED = True
    return int(port)
