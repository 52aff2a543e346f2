"""CocoonNode handlers: watch events only feed a work queue; one level-based `reconcile.run` does the work.

Triggers: a new generation of a CocoonNode (create, spec change, deletion, and every object when the
operator starts), changes of its children seen by the watches (worker pod, StatefulSet, Service,
NetworkPolicy, PDB, runner ConfigMap), Nodes changing in a way placement cares about, and the
resync timer the queue keeps per object. The queue runs each CocoonNode at most once at a time and
collapses bursts of triggers into one reconcile (`reconcile/workqueue.py`).
"""

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any, cast

import kopf

from cocoon_operator import metrics, reconcile, status_metrics
from cocoon_operator.api import identity
from cocoon_operator.handlers.runtime import Key, OperatorRuntime, fingerprint
from cocoon_operator.k8s import stats
from cocoon_operator.reconcile import finalizer
from cocoon_operator.reconcile.workqueue import WorkQueue
from cocoon_operator.status import SCHEDULED, find
from cocoon_operator.steps import claim_request

log = logging.getLogger(__name__)
CN = (identity.GROUP, identity.VERSION, identity.PLURAL)
FINALIZE_RETRY_S = 10.0  # chain work on deletion still in progress: look again
WORKER_LABELS = {identity.LABEL_MANAGED_BY: identity.MANAGED_BY, identity.LABEL_NAME: identity.WORKER_APP}


def _runtime(memo: kopf.Memo) -> OperatorRuntime | None:
    """The shared runtime, with its queue started (from a handler: the workers inherit kopf's context,
    which `kopf.event` needs)."""
    runtime: OperatorRuntime | None = memo.get("runtime")
    if runtime is None:
        return None
    if runtime.queue is None:
        queue: WorkQueue[Key] = WorkQueue(
            lambda key: _timed(runtime, key), workers=runtime.settings.max_concurrent_reconciles
        )
        metrics.controller().queue_depth.set_function(queue.due)
        runtime.queue = queue
        if not runtime.leading:
            queue.pause()  # a standby queues keys but does not reconcile
        queue.start()
    return runtime


async def _timed(runtime: OperatorRuntime, key: Key) -> float | None:
    m = metrics.controller()
    started = time.monotonic()
    try:
        delay = await _process(runtime, key)
    except Exception:
        m.reconciles.labels("error").inc()
        raise
    finally:
        m.reconcile_seconds.observe(time.monotonic() - started)
    m.reconciles.labels("success").inc()
    return delay


async def _process(runtime: OperatorRuntime, key: Key) -> float | None:
    """One reconcile of one CocoonNode (the queue guarantees one at a time per key).

    Returns when to look again; raises on API failures (the queue retries with backoff)."""
    namespace, name = key
    body = await runtime.kube.get(identity.API_VERSION, identity.KIND, namespace, name)
    if body is None:
        runtime.forget(key)
        return None
    if body["metadata"].get("deletionTimestamp"):
        return await _finalize(runtime, key, body)
    body = dict(await finalizer.ensure(runtime.kube, body))
    outcome = await reconcile.run(body, runtime.deps, nodes=runtime.nodes)
    if outcome.status_patch:
        await runtime.kube.patch_status(
            identity.API_VERSION, identity.KIND, namespace, name, outcome.status_patch
        )
    _post(body, outcome.events)
    after = {**(body.get("status") or {}), **outcome.status}
    status_metrics.default().observe(namespace, name, status_metrics.view_of(body.get("spec"), after))
    if outcome.applied:
        log.info(f"Applied {', '.join(outcome.applied)}", extra={"cocoonnode": f"{namespace}/{name}"})
    scheduled = find(outcome.status.get("conditions"), SCHEDULED) or {}
    if scheduled.get("status") == "True":
        runtime.unscheduled.discard(key)
    else:
        runtime.unscheduled.add(key)
    stats.RECONCILES.add("reconcile", f"{namespace}/{name}")
    return runtime.next_delay(key, outcome.retry_after, status_changed=bool(outcome.status_patch))


async def _finalize(runtime: OperatorRuntime, key: Key, body: dict[str, Any]) -> float | None:
    """Deletion: children go by garbage collection (ownerReferences); chain work gets a bounded time,
    then the finalizer is released."""
    if not finalizer.has_finalizer(body):
        runtime.forget(key)
        return None
    outcome = await reconcile.finalize(body, runtime.deps)
    _post(body, outcome.events)
    if not outcome.done:
        log.info(outcome.message, extra={"cocoonnode": f"{key[0]}/{key[1]}"})
        return FINALIZE_RETRY_S
    await finalizer.release(runtime.kube, body)
    runtime.forget(key)
    return None


def _post(body: Mapping[str, Any], events: Iterable[reconcile.EventSpec]) -> None:
    for event in events:
        kopf.event(
            kopf.Body(cast(kopf.RawBody, body)),
            type=event.type,
            reason=event.reason,
            message=event.message,
        )


@kopf.on.event(*CN)
async def cocoonnode_event(
    type: str | None, body: kopf.Body, namespace: str | None, name: str, memo: kopf.Memo, **kwargs: Any
) -> None:
    """Queue a reconcile for a new generation, a deletion or a claim request (and for every object when
    the operator starts).

    Status-only events (most of them: the operator's own status writes) queue nothing; the resync
    timer re-reads everything anyway."""
    runtime = _runtime(memo)
    if runtime is None:
        return
    key = (str(namespace), name)
    if type == "DELETED":
        runtime.forget(key)
        return
    seen = (
        int(body.metadata.get("generation") or 0),
        bool(body.metadata.get("deletionTimestamp")),
        # A claim asked for (`kubectl cocoon claim`) changes no generation: look at once all the same.
        str(body.metadata.annotations.get(claim_request.ANNOTATION) or ""),
    )
    if runtime.generations.get(key) != seen:
        runtime.generations[key] = seen
        runtime.enqueue(key)


def _owner_key(labels: Mapping[str, str], namespace: str | None) -> Key | None:
    owner = labels.get(identity.LABEL_NODE)
    return (namespace, owner) if owner and namespace else None


def _child_event(kind: str, type: str | None, body: kopf.Body, memo: kopf.Memo) -> None:
    runtime = _runtime(memo)
    key = _owner_key(body.metadata.labels, body.metadata.namespace)
    if runtime is None or key is None or runtime.deps.children is None:
        return
    if runtime.deps.children.observe(kind, body, deleted=type == "DELETED"):
        runtime.enqueue(key)


@kopf.on.event("pods", labels=WORKER_LABELS)
async def worker_pod_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    _child_event("Pod", type, body, memo)


@kopf.on.event("apps", "v1", "statefulsets", labels=WORKER_LABELS)
async def worker_statefulset_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    _child_event("StatefulSet", type, body, memo)


@kopf.on.event("v1", "services", labels=WORKER_LABELS)
async def worker_service_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    _child_event("Service", type, body, memo)


@kopf.on.event("v1", "configmaps", labels=WORKER_LABELS)
async def worker_configmap_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    _child_event("ConfigMap", type, body, memo)


@kopf.on.event("policy", "v1", "poddisruptionbudgets", labels=WORKER_LABELS)
async def worker_pdb_event(type: str | None, body: kopf.Body, memo: kopf.Memo, **kwargs: Any) -> None:
    _child_event("PodDisruptionBudget", type, body, memo)


@kopf.on.event("networking.k8s.io", "v1", "networkpolicies", labels=WORKER_LABELS)
async def worker_networkpolicy_event(
    type: str | None, body: kopf.Body, memo: kopf.Memo, **kwargs: Any
) -> None:
    _child_event("NetworkPolicy", type, body, memo)


def _node_print(body: kopf.Body, type: str | None) -> str:
    return fingerprint(body) if type != "DELETED" else "deleted"


def _node_changed(name: str, body: kopf.Body, type: str | None, memo: kopf.Memo, **_: Any) -> bool:
    """Filter before the handler runs: KWOK/kubelet heartbeats change nothing placement reads, and a
    filtered event costs neither a handler run nor a log line. (Pure: kopf may evaluate it again.)"""
    runtime: OperatorRuntime | None = memo.get("runtime")
    return runtime is not None and runtime.node_fingerprints.get(name) != _node_print(body, type)


@kopf.on.event("nodes", when=_node_changed)
async def node_event(name: str, body: kopf.Body, type: str | None, memo: kopf.Memo, **kwargs: Any) -> None:
    """A node that changed in a way placement cares about may unblock waiting CocoonNodes."""
    runtime = _runtime(memo)
    if runtime is None:
        return
    runtime.node_seen(name, None if type == "DELETED" else body)
    for key in runtime.unscheduled:
        runtime.enqueue(key)
