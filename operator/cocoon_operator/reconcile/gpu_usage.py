"""GPUs already requested per node, from one shared, short-lived pod listing.

Explaining placement needs every bound pod's GPU requests. Listing all pods on every reconcile of an
unbound CocoonNode made a bulk create O(N²) in bytes decoded (bench/results, finding 1): concurrent
reconciles now share one in-flight LIST, and its result is reused for a couple of seconds. The
scheduler, not this count, decides where a pod lands; the count only words the explanation.

Only what placement reads of a pod is kept (`slim`), page by page as the listing arrives: a whole pod
decoded from JSON is ~90 kB, a listing of 1 000 whole pods ~90 MB at once (the operator's peak RSS
while creating), and the last listing of a bulk create stayed in memory for good (docs/performance.md,
issue 20).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from cocoon_operator.k8s.errors import ApiError

Obj = dict[str, Any]
BOUND_AND_LIVE = "spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed"


def _pick(obj: Any, keys: tuple[str, ...]) -> Any:
    return {k: obj[k] for k in keys if k in obj} if isinstance(obj, Mapping) else obj


def slim(pod: Mapping[str, Any]) -> Obj:
    """The fields placement reads (placement.requested_gpus_by_node, placement_vm.instances_by_node,
    run._placement): namespace and labels, the node, the phase, each container's resources. A key
    absent from the pod stays absent, so every `.get(…, default)` reads the same."""
    out: Obj = _pick(pod, ("metadata", "spec", "status"))
    if "metadata" in out:
        out["metadata"] = _pick(out["metadata"], ("name", "namespace", "labels"))
    if "spec" in out:
        out["spec"] = spec = _pick(out["spec"], ("nodeName", "containers"))
        if isinstance(spec, dict) and isinstance(spec.get("containers"), list):
            spec["containers"] = [_pick(c, ("resources",)) for c in spec["containers"]]
    if "status" in out:
        out["status"] = _pick(out["status"], ("phase",))
    return out


class PodListCache:
    def __init__(self, ttl_seconds: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self._clock = clock
        self._lock = asyncio.Lock()
        self._cached: dict[str | None, tuple[float, list[Obj]]] = {}
        self.fetches = 0  # LIST calls made (tests and the benchmark read it)

    async def bound_pods(self, kube: Any, namespace: str) -> tuple[list[Obj], bool]:
        """(pods bound to a node and not finished, cluster_wide). Falls back to `namespace` when the
        operator may not list pods cluster-wide (single-namespace install)."""
        async with self._lock:
            for scope in (None, namespace):
                hit = self._cached.get(scope)
                if hit is not None and self._clock() - hit[0] < self.ttl:
                    return hit[1], scope is None
            fetched_scope: str | None = None
            try:
                pods = await kube.list("v1", "Pod", field_selector=BOUND_AND_LIVE, keep=slim)
            except ApiError as exc:
                if not exc.forbidden:
                    raise
                pods = await kube.list("v1", "Pod", namespace, field_selector=BOUND_AND_LIVE, keep=slim)
                fetched_scope = namespace
            self.fetches += 1
            self._cached[fetched_scope] = (self._clock(), pods)
            return pods, fetched_scope is None
