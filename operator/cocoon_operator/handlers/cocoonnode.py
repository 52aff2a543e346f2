"""CocoonNode handlers: every cause ends in the same level-based `reconcile.run`.

Triggers: create/update/resume, a per-object resync daemon, and watch events of the worker pods,
StatefulSets and Nodes. A per-object lock keeps reconciles of one CocoonNode serial.
"""

import asyncio
import logging
import random
from collections.abc import Mapping
from typing import Any, cast

import kopf

from cocoon_operator import reconcile
from cocoon_operator.api import identity
from cocoon_operator.handlers.runtime import Key, Runtime, fingerprint, index_values, slim_node
from cocoon_operator.k8s import stats
from cocoon_operator.status import SCHEDULED, find

log = logging.getLogger(__name__)
CN = (identity.GROUP, identity.VERSION, identity.PLURAL)
WORKER_LABELS = {identity.LABEL_MANAGED_BY: identity.MANAGED_BY, identity.LABEL_NAME: identity.WORKER_APP}


@kopf.index("nodes")
def node_index(name: str, body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    return {name: slim_node(body)}


async def _reconcile(
    key: Key, memo: kopf.Memo, kwargs: Mapping[str, Any], logger: kopf.Logger
) -> float | None:
    """One reconcile under the per-object lock; returns the earlier resync a step asked for, if any."""
    node_index: kopf.Index[str, Any] = kwargs["node_index"]
    runtime: Runtime = memo.runtime
    namespace, name = key
    async with runtime.lock(key):
        body = await runtime.kube.get(identity.API_VERSION, identity.KIND, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            runtime.forget(key)
            return None
        outcome = await reconcile.run(body, runtime.deps, nodes=index_values(node_index))
        if outcome.status_patch:
            await runtime.kube.patch_status(
                identity.API_VERSION, identity.KIND, namespace, name, outcome.status_patch
            )
        for event in outcome.events:
            kopf.event(
                kopf.Body(cast(kopf.RawBody, body)),
                type=event.type,
                reason=event.reason,
                message=event.message,
            )
        if outcome.applied:
            logger.info(f"Applied {', '.join(outcome.applied)}")
        scheduled = find(outcome.status.get("conditions"), SCHEDULED) or {}
        if scheduled.get("status") == "True":
            runtime.unscheduled.discard(key)
        else:
            runtime.unscheduled.add(key)
        stats.RECONCILES.add("reconcile", f"{namespace}/{name}")
        return outcome.retry_after


@kopf.on.resume(*CN)
@kopf.on.create(*CN)
@kopf.on.update(*CN)
async def cocoonnode_changed(
    namespace: str | None, name: str, memo: kopf.Memo, logger: kopf.Logger, **kwargs: Any
) -> None:
    await _reconcile((str(namespace), name), memo, kwargs, logger)


@kopf.daemon(*CN, cancellation_timeout=5.0, initial_delay=1.0)
async def cocoonnode_resync(
    namespace: str | None,
    name: str,
    memo: kopf.Memo,
    logger: kopf.Logger,
    stopped: kopf.DaemonStopped,
    **kwargs: Any,
) -> None:
    """Level-based resync: re-read the world every `COCOON_RESYNC_SECONDS` (a daemon reads it at run time)."""
    runtime: Runtime = memo.runtime
    # Spread the resyncs: after a restart or a bulk create every daemon starts at once and would stay
    # in phase, sending the API server N reconciles in one burst every period.
    await asyncio.sleep(random.uniform(0, runtime.settings.resync_seconds))
    while not stopped:
        delay = runtime.settings.resync_seconds
        try:
            retry_after = await _reconcile((str(namespace), name), memo, kwargs, logger)
            if retry_after is not None:
                delay = min(delay, max(retry_after, 1.0))  # e.g. health asks to look again soon
        except Exception as exc:  # keep resyncing; change handlers report and retry with backoff
            # Module logger, not kopf's per-object one: a flapping API must not turn into Events.
            log.warning("Resync failed", extra={"cocoonnode": f"{namespace}/{name}", "error": str(exc)})
        await asyncio.sleep(delay)


@kopf.on.delete(*CN)
async def cocoonnode_deleted(body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    """Children go by garbage collection (ownerReferences); chain work gets a bounded time."""
    runtime: Runtime = memo.runtime
    outcome = await reconcile.finalize(dict(body), runtime.deps)
    for event in outcome.events:
        kopf.event(body, type=event.type, reason=event.reason, message=event.message)
    if not outcome.done:
        raise kopf.TemporaryError(outcome.message, delay=10)
    runtime.forget((str(body.metadata.namespace), str(body.metadata.name)))


def _owner_key(labels: Mapping[str, str], namespace: str | None) -> Key | None:
    owner = labels.get(identity.LABEL_NODE)
    return (namespace, owner) if owner and namespace else None


@kopf.on.event("pods", labels=WORKER_LABELS)
async def worker_pod_event(
    labels: kopf.Labels,
    namespace: str | None,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **kwargs: Any,
) -> None:
    key = _owner_key(labels, namespace)
    if key is not None:
        await _reconcile(key, memo, kwargs, logger)


@kopf.on.event("apps", "v1", "statefulsets", labels=WORKER_LABELS)
async def worker_statefulset_event(
    labels: kopf.Labels,
    namespace: str | None,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **kwargs: Any,
) -> None:
    key = _owner_key(labels, namespace)
    if key is not None:
        await _reconcile(key, memo, kwargs, logger)


@kopf.on.event("nodes")
async def node_event(
    name: str,
    body: kopf.Body,
    type: str,
    memo: kopf.Memo,
    logger: kopf.Logger,
    **kwargs: Any,
) -> None:
    """A node that changed in a way placement cares about may unblock waiting CocoonNodes."""
    runtime: Runtime | None = memo.get("runtime")
    if runtime is None:
        return
    print_ = fingerprint(body) if type != "DELETED" else "deleted"
    if runtime.node_fingerprints.get(name) == print_:
        return
    runtime.node_fingerprints[name] = print_
    for key in sorted(runtime.unscheduled):
        await _reconcile(key, memo, kwargs, logger)
