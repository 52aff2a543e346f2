"""Per-process state the handlers share (kept in kopf's memo): settings, client, deps, locks."""

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cocoon_operator import health
from cocoon_operator.k8s import KubeClient
from cocoon_operator.reconcile import Deps, providers
from cocoon_operator.settings import Settings

Key = tuple[str, str]  # (namespace, name)

# Extension point: later steps (health, chain, rewards) register a factory that builds their
# providers from the settings and the client; `build_deps` passes them to reconcile.
ProviderFactory = Callable[[Settings, KubeClient], Mapping[str, Any]]


def health_factory(settings: Settings, kube: KubeClient) -> Mapping[str, Any]:
    """Triton + runner probes on the pod IP, unless switched off (COCOON_HEALTH_PROBES=false)."""
    return health.provider_factory(settings, kube) if settings.health_probes else {}


PROVIDER_FACTORIES: list[ProviderFactory] = [providers.provider_factory, health_factory]


def build_deps(settings: Settings, kube: KubeClient) -> Deps:
    providers: dict[str, Any] = {}
    for factory in PROVIDER_FACTORIES:
        providers.update(factory(settings, kube))
    return Deps(
        kube=kube,
        settings=settings,
        chain=providers.get("chain"),
        health=providers.get("health"),
        rewards=providers.get("rewards"),
    )


@dataclass
class Runtime:
    settings: Settings
    kube: KubeClient
    deps: Deps
    locks: dict[Key, asyncio.Lock] = field(default_factory=dict)
    unscheduled: set[Key] = field(default_factory=set)  # CocoonNodes waiting for a node
    node_fingerprints: dict[str, str] = field(default_factory=dict)

    def lock(self, key: Key) -> asyncio.Lock:
        return self.locks.setdefault(key, asyncio.Lock())

    def forget(self, key: Key) -> None:
        self.locks.pop(key, None)
        self.unscheduled.discard(key)


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


def index_values(index: Mapping[Any, Iterable[Any]]) -> list[dict[str, Any]]:
    return [dict(value) for store in index.values() for value in store]
