"""kopf start-up: own names, timeouts, Event posting level, the shared runtime, probes."""

import asyncio
import contextlib
import logging
import os
import socket
from typing import Any

import kopf

from cocoon_operator import metrics, status_metrics
from cocoon_operator.api import identity
from cocoon_operator.handlers.runtime import OperatorRuntime, build_deps, slim_node
from cocoon_operator.k8s import KubeClient, config, stats
from cocoon_operator.leader import LeaderElector, LeaseTimings
from cocoon_operator.settings import Settings


class NoDiffBase(kopf.DiffBaseStorage):
    """No diff-base: every handler here is an event handler (the reconcile is level-based), so kopf's
    per-event deep copy of each object's "essence" (11 % of the operator's CPU while 1000 CocoonNodes
    were created, bench/results) computed something nobody reads."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    cfg = Settings()  # read now, not at import: tests and the CLI set the environment first
    # The operator manages its finalizer itself (reconcile/finalizer.py) and has no kopf change
    # handlers: kopf must never add or remove the operator's finalizer, so it gets a name of its own.
    settings.persistence.finalizer = f"{identity.GROUP}/kopf"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=identity.ANNOTATION_PREFIX)
    settings.persistence.diffbase_storage = NoDiffBase()
    # Detect silent watch streams (bookmarks + inactivity) and cap each watch request.
    settings.watching.inactivity_timeout = 70.0
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 310
    # kopf's initial listings (every watched object at a restart) come in pages, not as one answer
    # decoded whole: 1 000 pods alone are ~90 MB of Python objects (docs/performance.md, issue 20).
    settings.watching.chunk_size = 100
    settings.networking.request_timeout = cfg.request_timeout_seconds
    settings.networking.connect_timeout = 10.0
    # Ordinary logs must not become Kubernetes Events; Events are posted explicitly.
    settings.posting.level = logging.WARNING
    # Events say they come from cocoon-operator (`kubectl describe`'s "From", the Event's source and
    # reportingController), not from the framework; the instance is the pod (HOSTNAME in a pod).
    settings.posting.reporting_component = identity.MANAGED_BY
    settings.posting.reporting_instance = os.environ.get("HOSTNAME") or socket.gethostname()
    settings.posting.event_name_prefix = f"{identity.MANAGED_BY}-"
    settings.execution.max_workers = 4
    # The loop's metrics and cocoon_build_info from the first scrape, not from the first CocoonNode.
    metrics.controller()
    status_metrics.default()
    kube = KubeClient(config.load(), timeout=cfg.request_timeout_seconds)
    runtime = OperatorRuntime(settings=cfg, kube=kube, deps=build_deps(cfg, kube))
    # The whole fleet before any handler runs, so no reconcile explains placement against part of it
    # (the Node watch keeps it current from here; an error here makes kopf retry the start-up).
    try:
        fleet = await kube.list("v1", "Node", keep=slim_node)  # in pages: only what placement reads
    except BaseException:
        await kube.close()  # kopf retries this handler with a new client
        raise
    for node in fleet:
        runtime.node_seen(str(node["metadata"]["name"]), node)
    if cfg.leader_election:
        runtime.elector = LeaderElector(
            kube,
            namespace=cfg.lease_namespace or cfg.operator_namespace,
            name=cfg.lease_name,
            identity=cfg.pod_name or f"{socket.gethostname()}-{os.getpid()}",
            timings=LeaseTimings(
                lease_s=cfg.lease_seconds,
                renew_deadline_s=cfg.lease_renew_deadline_seconds,
                retry_s=cfg.lease_retry_seconds,
            ),
            on_started=runtime.started_leading,
            on_stopped=runtime.stopped_leading,
        )
        memo.elector_task = asyncio.create_task(runtime.elector.run(), name="leader-election")
    memo.runtime = runtime
    fields = {
        "resync_seconds": cfg.resync_seconds,
        "nodes": len(runtime.fleet),
        "leader_election": cfg.leader_election,
    }
    logger.info("Configured cocoon-operator", extra=fields)


@kopf.on.login()
def login(**_: Any) -> kopf.ConnectionInfo:
    """kopf and the operator's own client share one credential source (kubeconfig or in-cluster)."""
    c = config.load().configuration
    scheme, _sep, token = (config.bearer_token(c) or "").partition(" ")
    return kopf.ConnectionInfo(
        server=c.host,
        ca_path=c.ssl_ca_cert,
        insecure=not c.verify_ssl,
        certificate_path=c.cert_file,
        private_key_path=c.key_file,
        scheme=scheme or None,
        token=token or None,
    )


@kopf.on.cleanup()
async def close(memo: kopf.Memo, **_: Any) -> None:
    runtime = memo.get("runtime")
    if isinstance(runtime, OperatorRuntime):
        if runtime.queue is not None:
            await runtime.queue.stop()
        if runtime.elector is not None:
            await runtime.elector.release()  # the standby takes over at once, not after the lease
        task = memo.get("elector_task")
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await runtime.kube.close()


@kopf.on.probe(id="writes")
def writes_probe(**_: Any) -> int:
    """Write calls made by the operator's client for CocoonNodes (debug aid; also seen by the liveness
    probe). The leader's Lease renewals, a per-process heartbeat, are not counted."""
    return stats.WRITES.total(exclude_kinds=stats.HEARTBEAT_KINDS)


@kopf.on.probe(id="reconciles")
def reconciles_probe(**_: Any) -> int:
    return stats.RECONCILES.total()
