"""Per-process state the handlers share (kept in kopf's memo): settings, client, deps, work queue."""

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cocoon_operator import metrics, steps
from cocoon_operator.k8s import KubeClient
from cocoon_operator.leader import LeaderElector
from cocoon_operator.reconcile import Deps
from cocoon_operator.reconcile.child_cache import ChildCache
from cocoon_operator.reconcile.workqueue import WorkQueue
from cocoon_operator.settings import Settings

Key = tuple[str, str]  # (namespace, name)


def build_deps(settings: Settings, kube: KubeClient) -> Deps:
    """The reconcile's dependencies for this process: the client, the settings, its steps, caches."""
    built = steps.build(settings, kube)
    return Deps(
        kube=kube,
        settings=settings,
        children=ChildCache(),
        chain=built.chain,
        health=built.health,
        rewards=built.rewards,
    )


@dataclass
class OperatorRuntime:
    settings: Settings
    kube: KubeClient
    deps: Deps
    queue: WorkQueue[Key] | None = None  # started by the first handler (it needs kopf's task context)
    # Leader election: while another process holds the Lease, the queue is paused (nothing is written).
    elector: LeaderElector | None = None
    unscheduled: set[Key] = field(default_factory=set)  # CocoonNodes waiting for a node
    # The fleet as placement reads it (slim Nodes by name): listed once at start-up, then kept current
    # by the Node watch. Not a kopf index: while an index fills, kopf makes every watched object's
    # worker wait on one condition that each indexed Node wakes in full, which is quadratic in the
    # number of objects (a restart with 1 000 CocoonNodes took ~230 s, bench/README.md).
    fleet: dict[str, dict[str, Any]] = field(default_factory=dict)
    node_fingerprints: dict[str, str] = field(default_factory=dict)
    # (generation, deleting, claim request) last queued
    generations: dict[Key, tuple[int, bool, str]] = field(default_factory=dict)
    provider_retries: dict[Key, int] = field(default_factory=dict)

    @property
    def leading(self) -> bool:
        return self.elector is None or self.elector.leading

    async def started_leading(self) -> None:
        if self.queue is not None:
            self.queue.resume()

    async def stopped_leading(self) -> None:
        if self.queue is not None:
            self.queue.pause()

    def enqueue(self, key: Key, delay: float = 0.0) -> None:
        if self.queue is not None:
            self.queue.add(key, delay)

    def forget(self, key: Key) -> None:
        """The CocoonNode is gone: drop what this process keeps about it, its metric series included."""
        metrics.forget_node(*key)
        self.unscheduled.discard(key)
        self.generations.pop(key, None)
        self.provider_retries.pop(key, None)
        if self.queue is not None:
            self.queue.forget(key)

    def nodes(self) -> list[Mapping[str, Any]]:
        """The fleet, listed only when placement is explained."""
        return list(self.fleet.values())

    def node_seen(self, name: str, body: Mapping[str, Any] | None) -> None:
        """A Node listed, changed (body) or deleted (None)."""
        if body is None:
            self.fleet.pop(name, None)
            self.node_fingerprints.pop(name, None)
            return
        slim = slim_node(body)
        self.fleet[name] = slim
        self.node_fingerprints[name] = repr(slim)

    def next_delay(self, key: Key, retry_after: float | None, status_changed: bool) -> float:
        """When to reconcile `key` again: the resync period (with jitter, so objects do not move in
        lock step), or sooner when a provider asked — backing off while that keeps changing nothing."""
        period = self.settings.resync_seconds
        jittered = period * random.uniform(0.9, 1.1)
        if retry_after is None:
            self.provider_retries.pop(key, None)
            return jittered
        tries = 0 if status_changed else self.provider_retries.get(key, 0)
        self.provider_retries[key] = tries + 1
        return min(max(retry_after, 1.0) * 2.0**tries, jittered)


def slim_node(body: Mapping[str, Any]) -> dict[str, Any]:
    """What placement reads of a Node (keeps the index small)."""
    meta, spec, status = body.get("metadata", {}), body.get("spec", {}), body.get("status", {})
    return {
        "metadata": {"name": meta.get("name"), "labels": dict(meta.get("labels") or {})},
        "spec": {"unschedulable": bool(spec.get("unschedulable")), "taints": list(spec.get("taints") or [])},
        "status": {
            "allocatable": dict(status.get("allocatable") or {}),
            "conditions": [
                {"type": c.get("type"), "status": c.get("status")}
                for c in status.get("conditions") or []
                if c.get("type") == "Ready"
            ],
        },
    }


def fingerprint(node: Mapping[str, Any]) -> str:
    return repr(slim_node(node))
