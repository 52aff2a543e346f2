"""One level-based reconcile of a CocoonNode: the same steps on create, update, resume and timer.

parse → resolve references → observe → (chain pre-flight) → placement → apply changed children →
(health, chain, rewards) → status. Returns an `Outcome`; the caller writes `status_patch` when it is
not empty and posts `events`.
"""

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from cocoon_operator import status as st
from cocoon_operator.api import identity
from cocoon_operator.api.spec import CocoonNodeSpec, parse_spec
from cocoon_operator.api.tonaddr import address_problem
from cocoon_operator.conditions import BY_TYPE, CONDITION_TYPES, ConditionType, Reason
from cocoon_operator.k8s.errors import ApiError
from cocoon_operator.money.records import without_records
from cocoon_operator.reconcile import children, image_policy, observe, placement, runtimes
from cocoon_operator.reconcile.child_cache import KEPT_KINDS, digest
from cocoon_operator.reconcile.compare import up_to_date
from cocoon_operator.reconcile.deps import Deps
from cocoon_operator.reconcile.ownership import NameConflict, apply_child, owned_by
from cocoon_operator.reconcile.reads import ReconcileReads
from cocoon_operator.status import Cond
from cocoon_operator.steps.contract import Context, EventSpec, StepReport
from cocoon_operator.steps.health.pod_readiness import PodReadiness

Obj = Mapping[str, Any]
POD_READINESS = PodReadiness()
# The fleet for placement: a list, or a callable so a caller's cache is only copied when needed.
Nodes = Sequence[Obj] | Callable[[], Sequence[Obj]] | None


@dataclass(frozen=True)
class Outcome:
    status: dict[str, Any]  # the managed status as it should be
    status_patch: dict[str, Any]  # what differs from the object's status (empty: write nothing)
    events: tuple[EventSpec, ...] = ()
    retry_after: float | None = None
    applied: tuple[str, ...] = ()  # "Kind/name" of children written in this run


@dataclass
class _Run:
    body: Obj
    deps: Deps
    kube: ReconcileReads
    conditions: dict[str, Cond] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    events: list[EventSpec] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    retry_after: float | None = None
    pdb_max_unavailable: int | None = None  # lowest value any step asked for

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.body["metadata"]["namespace"])

    @property
    def old_status(self) -> Obj:
        return self.body.get("status") or {}

    def set(self, cond: Cond) -> None:
        self.conditions[cond.type] = cond

    def take(self, report: StepReport) -> None:
        for cond in report.conditions:
            self.set(cond)
        self.fields.update(report.status)
        self.events.extend(report.events)
        if report.retry_after is not None:
            self.retry_after = min(self.retry_after or report.retry_after, report.retry_after)
        if report.pdb_max_unavailable is not None:
            current = self.pdb_max_unavailable
            self.pdb_max_unavailable = (
                min(current, report.pdb_max_unavailable)
                if current is not None
                else report.pdb_max_unavailable
            )


def spec_errors(error: ValidationError) -> str:
    """Pydantic errors → 'spec.wallet.floor: ...' (CRD spelling), without echoing input values."""
    parts = []
    for err in error.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in ("spec", *err["loc"]))
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


async def run(body: Obj, deps: Deps, nodes: Nodes = None) -> Outcome:
    """Reconcile one CocoonNode. Raises ApiError only for API failures (the caller retries later)."""
    first = "observedGeneration" not in (body.get("status") or {})
    r = _Run(body, deps, ReconcileReads(deps.kube, deps.children, first_reconcile=first))
    spec = _parse(r)
    if spec is not None and await _images_allowed(r, spec) and await _resolve(r, spec):
        try:
            await _converge(r, spec, nodes)
        except NameConflict as conflict:
            # Another object has a child's name: it stays exactly as it is, and nothing else of this
            # reconcile happens (the steps after the conflict, providers included, do not run).
            r.set(Cond.false(st.CONFIGURED, Reason.NAME_CONFLICT, str(conflict)))
            if _previous_reason(r, st.CONFIGURED) != Reason.NAME_CONFLICT:
                r.events.append(EventSpec("Warning", Reason.NAME_CONFLICT, str(conflict)))
    return _finish(
        r,
        paused=spec.paused if spec is not None else False,
        sev_snp=spec is not None and spec.placement.tee == "SEV-SNP",
    )


def _parse(r: _Run) -> CocoonNodeSpec | None:
    try:
        spec = parse_spec(r.body.get("spec"))
    except ValidationError as exc:
        r.set(Cond.false(st.CONFIGURED, Reason.INVALID_SPEC, spec_errors(exc)))
        return None
    for path, value in (
        ("spec.ownerAddress", spec.owner_address),
        ("spec.network.rootContractAddress", spec.network.root_contract_address),
    ):
        problem = address_problem(value)
        if problem:
            r.set(Cond.false(st.CONFIGURED, Reason.INVALID_TON_ADDRESS, f"{path}: {problem}"))
            return None
    return spec


async def _images_allowed(r: _Run, spec: CocoonNodeSpec) -> bool:
    """The admin's image policy (the runner gets the wallet key): a worker with another image stops."""
    problem = image_policy.problem(spec, r.deps.settings)
    if problem is None:
        return True
    r.set(Cond.false(st.CONFIGURED, Reason.IMAGE_NOT_ALLOWED, problem))
    if _previous_reason(r, st.CONFIGURED) != Reason.IMAGE_NOT_ALLOWED:
        r.events.append(EventSpec("Warning", Reason.IMAGE_NOT_ALLOWED, problem))
    await _stop_worker(r, spec)
    return False


async def _resolve(r: _Run, spec: CocoonNodeSpec) -> bool:
    """Referenced ConfigMap and Secrets exist and are usable; the wallet Secret is created when absent."""
    kube, ns = r.kube, r.namespace
    refused = await runtimes.of(spec).refusal(spec, ns, r.deps.settings, kube)
    if refused is not None:
        previous = st.find(r.old_status.get("conditions"), st.CONFIGURED) or {}
        if previous.get("reason") != refused.reason:
            r.events.append(EventSpec("Warning", refused.reason, refused.message))
        r.set(Cond.false(st.CONFIGURED, refused.reason, refused.message))
        return False
    ref = spec.network.global_config_ref
    config_map = await kube.get("v1", "ConfigMap", ns, ref.name)
    if config_map is None:
        r.set(
            Cond.false(
                st.CONFIGURED,
                Reason.CONFIG_MAP_NOT_FOUND,
                f"spec.network.globalConfigRef: ConfigMap {ref.name} not found",
            )
        )
        return False
    if ref.key not in (config_map.get("data") or {}):
        r.set(
            Cond.false(
                st.CONFIGURED,
                Reason.CONFIG_KEY_MISSING,
                f"spec.network.globalConfigRef: ConfigMap {ref.name} has no key {ref.key!r}",
            )
        )
        return False
    treasury = spec.funding.treasury_secret_ref
    if treasury is not None and await kube.get("v1", "Secret", ns, treasury.name) is None:
        r.set(
            Cond.false(
                st.CONFIGURED,
                Reason.TREASURY_SECRET_NOT_FOUND,
                f"spec.funding.treasurySecretRef: Secret {treasury.name} not found",
            )
        )
        return False
    if not await _wallet_secret(r, spec):
        return False
    r.set(
        Cond.true(
            st.CONFIGURED, Reason.RESOLVED, "The spec is valid and its ConfigMap and Secrets are present"
        )
    )
    return True


async def _wallet_secret(r: _Run, spec: CocoonNodeSpec) -> bool:
    name = spec.wallet.secret_ref.name
    owner = _owner(r)
    # First reconcile: most wallet Secrets do not exist yet, so create without looking (a Secret the
    # user made is never replaced: create refuses, and it is read below).
    secret = None if r.kube.first_reconcile else await r.kube.get("v1", "Secret", r.namespace, name)
    if secret is None:
        created = await r.kube.create(children.new_wallet_secret(owner, name))
        if created is not None:
            r.applied.append(f"Secret/{name}")
            r.events.append(
                EventSpec("Normal", "WalletKeyGenerated", f"Generated the node wallet key in Secret {name}")
            )
            return True
        secret = await r.kube.fresh("v1", "Secret", r.namespace, name)  # lost a race: use the winner's
        if secret is None:
            raise ApiError(409, "Conflict", f"Secret {name} vanished while being created")
    # Whose key it is comes first: nothing about a Secret that is not this CocoonNode's is reported.
    foreign = children.wallet_binding_problem(secret, owner)
    if foreign:
        message = f"spec.wallet.secretRef: {foreign}"
        r.set(Cond.false(st.CONFIGURED, Reason.WALLET_SECRET_NOT_OWNED, message))
        if _previous_reason(r, st.CONFIGURED) != Reason.WALLET_SECRET_NOT_OWNED:
            r.events.append(EventSpec("Warning", Reason.WALLET_SECRET_NOT_OWNED, message))
        await _stop_worker(r, spec)
        return False
    problem = children.wallet_key_problem(secret)
    if problem:
        r.set(Cond.false(st.CONFIGURED, Reason.INVALID_WALLET_SECRET, f"spec.wallet.secretRef: {problem}"))
        return False
    return True


def _previous_reason(r: _Run, type_: str) -> str | None:
    found = st.find(r.old_status.get("conditions"), type_)
    return str(found.get("reason")) if found else None


async def _stop_worker(r: _Run, spec: CocoonNodeSpec) -> None:
    """Scale an existing worker StatefulSet of this CocoonNode to zero (its pod would mount a key that is
    not this CocoonNode's, e.g. after someone replaced the Secret). Nothing else is applied."""
    owner = _owner(r)
    sts = await r.kube.child("apps/v1", "StatefulSet", r.namespace, children.statefulset_name(owner))
    if sts is None or not owned_by(sts, owner.uid) or sts.get("spec", {}).get("replicas") == 0:
        return
    stopped = _scaled_to_zero(runtimes.of(spec).build.statefulset(owner, spec, r.deps.settings))
    await _apply_changed(r, [stopped], {"StatefulSet": sts})


def _owner(r: _Run) -> children.Owner:
    return children.Owner(name=r.name, namespace=r.namespace, uid=str(r.body["metadata"]["uid"]))


def _context(r: _Run, spec: CocoonNodeSpec, pod: Obj | None) -> Context:
    meta = r.body["metadata"]
    return Context(
        name=r.name,
        namespace=r.namespace,
        uid=str(meta["uid"]),
        generation=int(meta.get("generation", 0)),
        spec=spec,
        status=r.old_status,
        pod=pod,
        wallet_secret_name=spec.wallet.secret_ref.name,
        settings=r.deps.settings,
        kube=r.kube,
        worker=runtimes.worker_access(spec, r.deps.settings),
        deleting=bool(meta.get("deletionTimestamp")),
        annotations=dict(meta.get("annotations") or {}),
    )


async def _provider(r: _Run, step: Awaitable[StepReport], cond_type: ConditionType, what: str) -> StepReport:
    """Run a provider step bounded in time; failure → Unknown condition, not a failed reconcile."""
    try:
        async with asyncio.timeout(r.deps.provider_timeout_seconds):
            return await step
    except TimeoutError:
        message = f"{what} did not answer within {r.deps.provider_timeout_seconds:g}s"
    except ApiError as exc:
        message = f"{what} failed: {exc.reason or exc.status}"
    except Exception as exc:  # a provider bug must not stop placement and status
        message = f"{what} failed: {type(exc).__name__}"
    return StepReport(conditions=(Cond.unknown(cond_type, Reason.PROVIDER_ERROR, message),), retry_after=30.0)


async def _converge(r: _Run, spec: CocoonNodeSpec, nodes: Nodes) -> None:
    kube, ns, settings = r.kube, r.namespace, r.deps.settings
    owner = _owner(r)
    sts = await kube.child("apps/v1", "StatefulSet", ns, children.statefulset_name(owner))
    pod = await kube.child("v1", "Pod", ns, children.pod_name(owner)) if sts is not None else None
    if pod is not None and (sts is None or not owned_by(pod, str(sts["metadata"].get("uid")))):
        pod = None  # a pod of that name that our StatefulSet did not make is none of ours: never touched
    ctx = _context(r, spec, pod)

    blocked_by = None
    if r.deps.chain is not None:
        pre = await _provider(r, r.deps.chain.preflight(ctx), st.REGISTERED, "Chain pre-flight")
        r.take(pre)
        if not pre.allow_workload:
            blocked = [c.message for c in pre.conditions if c.status != "True"]
            blocked_by = blocked[0] if blocked else "the chain pre-flight did not pass"

    report = None
    if not spec.paused and _needs_placement_check(sts, pod):
        report = await _placement(r, spec, nodes)
    feasible = report is None or bool(report.feasible)
    with_workload = blocked_by is None and (sts is not None or feasible)

    # The PDB is applied after the providers: a step may hold evictions off (e.g. a claim in flight).
    build = runtimes.of(spec).build
    desired = build.children(owner, spec, settings, with_workload=with_workload, pdb_max_unavailable=None)
    if blocked_by is not None and sts is not None:
        # Keep the StatefulSet (and the stable pod name) but stop the worker.
        desired.append(_scaled_to_zero(build.statefulset(owner, spec, settings)))
    await _apply_changed(r, desired, {"StatefulSet": sts})
    if sts is not None and pod is not None and observe.stuck_on_old_revision(sts, pod):
        # StatefulSets never replace a broken pod of an old revision (kubernetes#67250): do it for them.
        await r.kube.delete("v1", "Pod", r.namespace, pod["metadata"]["name"])
        r.applied.append(f"Pod/{pod['metadata']['name']} (deleted: stuck on the previous revision)")
        r.events.append(
            EventSpec("Normal", "WorkerRestarted", "Replaced a worker pod stuck on the previous revision")
        )

    previous = st.find(r.old_status.get("conditions"), st.SCHEDULED)
    cond = observe.scheduled(paused=spec.paused, pod=pod, report=report, blocked_by=blocked_by)
    r.set(cond)
    if cond.reason == Reason.NO_FITTING_NODE and (previous or {}).get("reason") != Reason.NO_FITTING_NODE:
        r.events.append(EventSpec("Warning", "PlacementFailed", cond.message))

    # One path for InferenceReady: the health step (probes, or the pod's readiness without them).
    health = r.deps.health if r.deps.health is not None else POD_READINESS
    r.take(await _provider(r, health.observe(ctx), st.INFERENCE_READY, "Health check"))
    if r.deps.chain is not None:
        r.take(await _provider(r, r.deps.chain.observe(ctx), st.REGISTERED, "Chain check"))
    if r.deps.rewards is not None:
        r.take(await _provider(r, r.deps.rewards.observe(ctx), st.REWARDS_HEALTHY, "Rewards check"))

    pdb = children.pod_disruption_budget(owner, 1 if r.pdb_max_unavailable is None else r.pdb_max_unavailable)
    await _apply_changed(r, [pdb], {})

    r.fields.update(
        {
            "podName": pod["metadata"]["name"] if pod is not None else None,
            "nodeName": (pod or {}).get("spec", {}).get("nodeName") or None,
            "podIP": (pod or {}).get("status", {}).get("podIP") or None,
            "modelName": spec.model.name,
        }
    )


def _scaled_to_zero(sts: dict[str, Any]) -> dict[str, Any]:
    sts["spec"]["replicas"] = 0
    return sts


def _needs_placement_check(sts: Obj | None, pod: Obj | None) -> bool:
    """Explain placement before the workload exists, and when the scheduler gave up on the pod.

    In between (StatefulSet created, pod not yet created or not yet bound) the scheduler is at work:
    checking the fleet again on every pod event of a bulk create only costs API reads.
    """
    if pod is not None and pod.get("spec", {}).get("nodeName"):
        return False
    if sts is None:
        return True
    sched = observe.pod_condition(pod, "PodScheduled")
    return sched is not None and sched.get("status") == "False"


async def _placement(r: _Run, spec: CocoonNodeSpec, nodes: Nodes) -> placement.PlacementReport:
    kube, settings = r.kube, r.deps.settings
    if callable(nodes):
        nodes = nodes()
    node_list = list(nodes) if nodes is not None else await kube.list("v1", "Node")
    # Namespaced install: GPU counts of other namespaces are unknown, so the message is approximate.
    pods, _cluster_wide = await r.deps.pods.bound_pods(kube, r.namespace)
    mine = identity.selector_labels(r.name)
    ours = [p for p in pods if p.get("metadata", {}).get("namespace") == r.namespace]
    others = [p for p in pods if p.get("metadata", {}).get("namespace") != r.namespace]
    resource = runtimes.of(spec).gpu_resource(spec, settings)
    used = placement.requested_gpus_by_node(ours, resource, exclude=mine)
    used.update(placement.requested_gpus_by_node(others, resource))
    return runtimes.of(spec).explain(spec, placement.Fleet(node_list, used, pods, mine), settings)


async def _apply_changed(r: _Run, desired: list[dict[str, Any]], known: Mapping[str, Obj | None]) -> None:
    """Apply only what differs from the live object, so an unchanged CocoonNode costs zero writes.

    With the watch-fed child cache, a child whose live fingerprint is still the one it had when it was
    last found equal to the same desired object is not even read.
    """
    cache = r.kube.children
    uid = _owner(r).uid
    for obj in desired:
        kind, name = obj["kind"], obj["metadata"]["name"]
        wanted = digest(obj) if cache is not None else ""
        if cache is not None and cache.is_current(kind, r.namespace, name, wanted):
            continue  # (verified means found equal to `obj`, whose ownerReferences name this CocoonNode)
        existing = await _live_child(r, obj, known)
        if existing is not None and not owned_by(existing, uid):
            raise NameConflict(kind, name, existing)
        if not up_to_date(existing, obj):
            applied = await apply_child(r.kube, obj, existing, uid)
            r.applied.append(f"{kind}/{name}")
            if cache is not None:
                cache.wrote(kind, applied, wanted)
        elif cache is not None and existing is not None:
            cache.verified(kind, existing, wanted)


async def _live_child(r: _Run, obj: Obj, known: Mapping[str, Obj | None]) -> Obj | None:
    """The whole live child to compare with: what this run already read, the watch's unchecked copy,
    or a read."""
    kind, name = obj["kind"], obj["metadata"]["name"]
    cache = r.kube.children
    if cache is not None and kind in KEPT_KINDS:
        # The watch keeps these slim (no pod template), and `known` may be that copy: read the whole.
        if kind in known and known[kind] is None:
            return None  # this run found it absent
        return await r.kube.fresh(obj["apiVersion"], kind, r.namespace, name)
    if kind in known:
        return known[kind]
    seen = cache.body(kind, r.namespace, name) if cache is not None else None
    # (On a first reconcile, `child` answers None without a request for a child no watch has shown.)
    return seen if seen is not None else await r.kube.child(obj["apiVersion"], kind, r.namespace, name)


def _finish(r: _Run, *, paused: bool, sev_snp: bool = False) -> Outcome:
    for type_ in CONDITION_TYPES[1:]:
        if type_ not in r.conditions:
            r.set(_not_checked(type_, r))
    detail = [c for t, c in r.conditions.items() if t != st.READY]
    r.set(
        st.summarize_ready(
            detail, paused=paused and r.conditions[st.CONFIGURED].status == "True", sev_snp=sev_snp
        )
    )
    generation = r.body["metadata"].get("generation")
    new_status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": st.merge_conditions(r.old_status.get("conditions"), r.conditions.values(), generation),
        **r.fields,
    }
    # Money records (intents, the claim ledger) were written by guarded writes during the run; this
    # patch is not guarded, so it never carries them (an older snapshot must not roll them back).
    patch = st.status_diff(without_records(r.old_status), without_records(new_status))
    if set(patch) == {"conditions"} and _only_times_differ(
        r.old_status.get("conditions"), patch["conditions"]
    ):
        patch = {}
    return Outcome(
        status=new_status,
        status_patch=patch,
        events=tuple(r.events),
        retry_after=r.retry_after,
        applied=tuple(r.applied),
    )


def _not_checked(type_: ConditionType, r: _Run) -> Cond:
    if type_ in (st.SCHEDULED, st.INFERENCE_READY):
        return Cond.unknown(type_, Reason.NOT_CHECKED, "Waiting for a valid spec and its references")
    step = BY_TYPE[type_].step
    return Cond.unknown(type_, Reason.NOT_CHECKED, f"No {step} checks are enabled in this operator")


def _only_times_differ(old: Sequence[Obj] | None, new: Sequence[Obj]) -> bool:
    strip = [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in (old or [])]
    return strip == [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in new]


@dataclass(frozen=True)
class FinalizeOutcome:
    done: bool
    message: str
    events: tuple[EventSpec, ...] = ()


async def finalize(body: Obj, deps: Deps, *, now: dt.datetime | None = None) -> FinalizeOutcome:
    """Deletion: children go by garbage collection; providers get bounded time for chain work.

    Returns done=True once providers are done, or when `finalize_timeout_seconds` since the deletion
    request have passed (a stuck chain must not block deletion forever).
    """
    now = now or dt.datetime.now(dt.UTC)
    meta = body["metadata"]
    started = st.parse_time(meta.get("deletionTimestamp")) or now
    deadline = started + dt.timedelta(seconds=deps.settings.finalize_timeout_seconds)
    providers = [p for p in (deps.rewards, deps.chain) if p is not None]
    if not providers:
        return FinalizeOutcome(True, "No chain work to finish")
    try:
        spec = parse_spec(body.get("spec"))
    except ValidationError:
        return FinalizeOutcome(True, "Invalid spec: nothing on chain to finish")
    r = _Run(body, deps, ReconcileReads(deps.kube, deps.children))
    secret = await r.kube.get("v1", "Secret", r.namespace, spec.wallet.secret_ref.name)
    if secret is not None and children.wallet_binding_problem(secret, _owner(r)):
        # Its chain state (claims, sweeps) belongs to whichever CocoonNode the key is bound to.
        return FinalizeOutcome(True, "The wallet Secret is not this CocoonNode's: nothing on chain to finish")
    ctx = _context(r, spec, None)
    remaining = (deadline - now).total_seconds()
    if remaining <= 0:
        limit = deps.settings.finalize_timeout_seconds
        message = f"Gave up finishing chain work after {limit:g}s; released the finalizer"
        return FinalizeOutcome(True, message, (EventSpec("Warning", "FinalizeTimedOut", message),))
    done = True
    try:
        async with asyncio.timeout(min(remaining, deps.provider_timeout_seconds)):
            for provider in providers:
                done = await provider.finalize(ctx) and done
    except TimeoutError:
        done = False
    return FinalizeOutcome(done, "Chain work finished" if done else "Chain work still in progress")
