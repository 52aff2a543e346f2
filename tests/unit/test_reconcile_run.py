"""reconcile.run against an in-memory API: children, zero writes when unchanged, bad input changes nothing."""

import copy
from typing import Any

import pytest

from cocoon_dev.memory_kube import FakeKube
from cocoon_operator import reconcile
from cocoon_operator import status as st
from cocoon_operator.reconcile import Context, Deps, StepReport
from cocoon_operator.reconcile.child_cache import ChildCache
from cocoon_operator.settings import Settings
from cocoon_operator.status import Cond
from tests.unit.builders import cocoonnode, minimal_spec, put_worker_pod, world

ADOPT_FOR = "cocoon.tonops.dev/adopt-for"
BOUND_UID = "cocoon.tonops.dev/bound-uid"

BOUND_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "w1-0", "namespace": "ns1"},
    "spec": {"nodeName": "tdx-h100-0"},
    "status": {"podIP": "127.100.0.5", "conditions": [{"type": "Ready", "status": "True"}]},
}


async def _run(kube: FakeKube, name: str = "w1", **deps: Any) -> reconcile.Outcome:
    body = kube.find("CocoonNode", "ns1", name)
    assert body is not None
    outcome = await reconcile.run(copy.deepcopy(body), Deps(kube=kube, settings=Settings(), **deps))
    if outcome.status_patch:
        await kube.patch_status("", "CocoonNode", "ns1", name, outcome.status_patch)
    return outcome


def _cond(kube: FakeKube, type_: str, name: str = "w1") -> dict[str, Any]:
    body = kube.find("CocoonNode", "ns1", name)
    assert body is not None
    found = st.find(body["status"]["conditions"], type_)
    assert found is not None
    return dict(found)


async def test_first_run_creates_children_then_zero_writes() -> None:
    kube = world(cocoonnode())
    first = await _run(kube)
    kinds = sorted(k for _, k, _ in kube.writes)
    assert kinds == sorted(
        [
            "ConfigMap",
            "Service",
            "PodDisruptionBudget",
            "NetworkPolicy",
            "StatefulSet",
            "Secret",
            "CocoonNode",
        ]
    )
    assert [e.reason for e in first.events] == ["WalletKeyGenerated"]
    assert _cond(kube, "Configured")["status"] == "True"
    assert _cond(kube, "Scheduled")["reason"] == "PodPending"
    assert kube.find("CocoonNode", "ns1", "w1")["status"]["observedGeneration"] == 1  # type: ignore[index]
    kube.writes.clear()
    second = await _run(kube)
    assert kube.writes == []
    assert second.status_patch == {} and second.applied == ()


async def test_pod_bound_sets_scheduled_and_fields() -> None:
    kube = world(cocoonnode())
    await _run(kube)
    put_worker_pod(kube, BOUND_POD)
    await _run(kube)
    body = kube.find("CocoonNode", "ns1", "w1")
    assert body is not None
    assert body["status"]["nodeName"] == "tdx-h100-0" and body["status"]["podIP"] == "127.100.0.5"
    assert body["status"]["modelName"] == "Qwen/Qwen3-8B"
    assert _cond(kube, "Scheduled")["status"] == "True"
    assert _cond(kube, "InferenceReady")["status"] == "True"
    assert _cond(kube, "Ready")["status"] == "True"
    assert _cond(kube, "Registered")["status"] == "Unknown"


async def test_impossible_placement_creates_no_workload() -> None:
    kube = world(cocoonnode(spec=minimal_spec(placement={"tee": "TDX", "gpuProducts": ["NVIDIA-B200"]})))
    outcome = await _run(kube)
    assert kube.find("StatefulSet", "ns1", "w1") is None
    cond = _cond(kube, "Scheduled")
    assert (cond["status"], cond["reason"]) == ("False", "NoConfidentialGPUNode")
    assert cond["message"].startswith("0 of 10 nodes fit:")
    assert [e.reason for e in outcome.events if e.type == "Warning"] == ["PlacementFailed"]
    again = await _run(kube)
    assert not [e for e in again.events if e.type == "Warning"]  # Events only on transitions


@pytest.mark.parametrize(
    ("spec", "reason", "field"),
    [
        (minimal_spec(model="nope"), "InvalidSpec", "spec.model"),
        (
            minimal_spec(ownerAddress="UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-n"),
            "InvalidTonAddress",
            "spec.ownerAddress",
        ),
        (
            minimal_spec(
                network={"globalConfigRef": {"name": "missing"}, "rootContractAddress": "0:" + "0" * 64}
            ),
            "ConfigMapNotFound",
            "globalConfigRef",
        ),
        (
            minimal_spec(funding={"treasurySecretRef": {"name": "nope"}}),
            "TreasurySecretNotFound",
            "treasurySecretRef",
        ),
    ],
)
async def test_bad_input_changes_nothing(spec: dict[str, Any], reason: str, field: str) -> None:
    kube = world(cocoonnode(spec=spec))
    await _run(kube)
    assert [w for w in kube.writes if w[1] != "CocoonNode"] == []
    cond = _cond(kube, "Configured")
    assert (cond["status"], cond["reason"]) == ("False", reason)
    assert field in cond["message"]
    assert _cond(kube, "Ready")["reason"] == reason


async def test_existing_wallet_secret_is_never_replaced_and_validated() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        # adopted by an admin for this CocoonNode (else WalletSecretNotOwned comes first)
        "metadata": {"name": "w1-wallet", "namespace": "ns1", "annotations": {ADOPT_FOR: "w1"}},
        "data": {"node_wallet_key": "bm90LWEta2V5"},
    }
    kube = world(cocoonnode(), secret)
    await _run(kube)
    assert ("create", "Secret", "w1-wallet") not in kube.writes
    assert _cond(kube, "Configured")["reason"] == "InvalidWalletSecret"
    assert "bm90LWEta2V5" not in str(kube.find("CocoonNode", "ns1", "w1"))
    assert kube.find("StatefulSet", "ns1", "w1") is None


async def test_paused_scales_to_zero_and_spec_change_applies_only_workload() -> None:
    kube = world(cocoonnode())
    await _run(kube)
    body = kube.find("CocoonNode", "ns1", "w1")
    assert body is not None
    body["spec"]["paused"] = True
    body["metadata"]["generation"] = 2
    kube.writes.clear()
    outcome = await _run(kube)
    assert outcome.applied == ("StatefulSet/w1",)
    assert kube.find("StatefulSet", "ns1", "w1")["spec"]["replicas"] == 0  # type: ignore[index]
    assert _cond(kube, "Ready")["reason"] == "Paused"
    assert _cond(kube, "Ready")["observedGeneration"] == 2


class _BlockingChain:
    async def preflight(self, ctx: Context) -> StepReport:
        return StepReport(
            conditions=(
                Cond.false(st.REGISTERED, "ModelNotAllowed", f"Model {ctx.spec.model.name} is not allowed"),
            ),
            allow_workload=False,
        )

    async def observe(self, ctx: Context) -> StepReport:
        return StepReport(status={"walletAddress": "EQwallet"})

    async def finalize(self, ctx: Context) -> bool:
        return True


class _BrokenHealth:
    async def observe(self, ctx: Context) -> StepReport:
        raise RuntimeError("boom")


async def test_providers_plug_in_and_failures_are_contained() -> None:
    kube = world(cocoonnode())
    await _run(kube, chain=_BlockingChain(), health=_BrokenHealth())
    assert kube.find("StatefulSet", "ns1", "w1") is None
    assert _cond(kube, "Registered")["reason"] == "ModelNotAllowed"
    assert _cond(kube, "Scheduled")["reason"] == "WorkloadNotCreated"
    assert _cond(kube, "InferenceReady")["reason"] == "ProviderError"
    assert kube.find("CocoonNode", "ns1", "w1")["status"]["walletAddress"] == "EQwallet"  # type: ignore[index]


async def test_finalize_is_bounded() -> None:
    class Slow:
        async def observe(self, ctx: Context) -> StepReport:
            return StepReport()

        async def finalize(self, ctx: Context) -> bool:
            return False

    body = cocoonnode()
    body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    deps = Deps(kube=FakeKube(), settings=Settings(finalize_timeout_seconds=60), rewards=Slow())
    import datetime as dt

    early = await reconcile.finalize(body, deps, now=dt.datetime(2026, 1, 1, 0, 0, 30, tzinfo=dt.UTC))
    assert not early.done
    late = await reconcile.finalize(body, deps, now=dt.datetime(2026, 1, 1, 0, 2, tzinfo=dt.UTC))
    assert late.done and late.events[0].reason == "FinalizeTimedOut"
    assert (await reconcile.finalize(body, Deps(kube=FakeKube(), settings=Settings()))).done


async def _rolling_to_a_new_revision() -> FakeKube:
    """A reconciled CocoonNode whose StatefulSet has moved on to revision w1-new."""
    kube = world(cocoonnode())
    await _run(kube)
    sts = kube.find("StatefulSet", "ns1", "w1")
    assert sts is not None
    sts["status"] = {"updateRevision": "w1-new"}
    return kube


def _unready_old_revision_pod(**status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "w1-0", "namespace": "ns1", "labels": {"controller-revision-hash": "w1-old"}},
        "spec": {"nodeName": "tdx-h100-0"},
        "status": {**status, "conditions": [{"type": "Ready", "status": "False"}]},
    }


async def test_pod_stuck_on_old_revision_is_replaced() -> None:
    kube = await _rolling_to_a_new_revision()
    pod = _unready_old_revision_pod()
    put_worker_pod(kube, pod)
    outcome = await _run(kube)
    assert ("delete", "Pod", "w1-0") in kube.writes
    assert "WorkerRestarted" in [e.reason for e in outcome.events]
    # a Ready pod of an old revision is left to the StatefulSet's own rolling update
    pod["status"]["conditions"][0]["status"] = "True"
    put_worker_pod(kube, pod)
    kube.writes.clear()
    await _run(kube)
    assert ("delete", "Pod", "w1-0") not in kube.writes


async def test_failed_preflight_stops_an_existing_worker() -> None:
    kube = world(cocoonnode())
    await _run(kube)
    assert kube.find("StatefulSet", "ns1", "w1")["spec"]["replicas"] == 1  # type: ignore[index]
    await _run(kube, chain=_BlockingChain())
    sts = kube.find("StatefulSet", "ns1", "w1")
    assert sts is not None and sts["spec"]["replicas"] == 0  # kept (stable name), but stopped
    assert _cond(kube, "Scheduled")["reason"] == "WorkloadNotCreated"


async def test_a_step_can_hold_evictions_off() -> None:
    class ClaimInFlight:
        async def observe(self, ctx: Context) -> StepReport:
            return StepReport(pdb_max_unavailable=0)

        async def finalize(self, ctx: Context) -> bool:
            return True

    kube = world(cocoonnode())
    await _run(kube)
    assert kube.find("PodDisruptionBudget", "ns1", "w1")["spec"]["maxUnavailable"] == 1  # type: ignore[index]
    await _run(kube, rewards=ClaimInFlight())
    assert kube.find("PodDisruptionBudget", "ns1", "w1")["spec"]["maxUnavailable"] == 0  # type: ignore[index]


def _watch(kube: FakeKube, cache: ChildCache) -> None:
    """What the operator's watches would have delivered by now."""
    for (kind, _ns, _name), obj in kube.objects.items():
        if kind in ("StatefulSet", "Pod", "Service", "ConfigMap", "PodDisruptionBudget", "NetworkPolicy"):
            cache.observe(kind, copy.deepcopy(obj))


async def test_with_the_watch_cache_an_idle_reconcile_reads_only_its_references() -> None:
    kube, cache = world(cocoonnode()), ChildCache()
    await _run(kube, children=cache)
    put_worker_pod(kube, BOUND_POD)
    _watch(kube, cache)
    await _run(kube, children=cache)  # verifies each child once against the live object
    kube.reads.clear()
    kube.writes.clear()
    idle = await _run(kube, children=cache)
    assert kube.writes == [] and idle.status_patch == {}
    # The referenced ConfigMap and wallet Secret are read (once each); no child is.
    assert sorted(kind for kind, _ in kube.reads) == ["ConfigMap", "Secret"]


async def test_with_the_watch_cache_a_child_changed_by_someone_else_is_corrected() -> None:
    kube, cache = world(cocoonnode()), ChildCache()
    await _run(kube, children=cache)
    _watch(kube, cache)
    service = kube.find("Service", "ns1", "w1")
    assert service is not None
    drifted = copy.deepcopy(service)
    drifted["spec"]["ports"] = [{"name": "other", "port": 1}]
    drifted = kube.put(drifted)  # kubectl edit: a new resourceVersion…
    assert cache.observe("Service", drifted)  # …which the watch reports: reconcile the owner
    kube.writes.clear()
    outcome = await _run(kube, children=cache)
    assert outcome.applied == ("Service/w1",)
    assert kube.find("Service", "ns1", "w1")["spec"]["ports"][0]["port"] != 1  # type: ignore[index]


async def test_providers_share_one_read_of_each_reference() -> None:
    class Reader:
        async def observe(self, ctx: Context) -> StepReport:
            for _ in range(3):
                await ctx.kube.get("v1", "Secret", ctx.namespace, ctx.wallet_secret_name)
            return StepReport()

    kube = world(cocoonnode())
    await _run(kube)
    kube.reads.clear()
    await _run(kube, health=Reader(), rewards=Reader())
    assert [r for r in kube.reads if r[0] == "Secret"] == [("Secret", "w1-wallet")]


async def test_after_a_restart_the_watched_children_are_checked_without_reads() -> None:
    kube = world(cocoonnode())
    await _run(kube, children=ChildCache())
    restarted = ChildCache()  # a new process: nothing verified yet, the watches deliver every child
    _watch(kube, restarted)
    kube.reads.clear()
    kube.writes.clear()
    outcome = await _run(kube, children=restarted)
    assert kube.writes == [] and outcome.applied == ()
    read = sorted(kind for kind, _ in kube.reads)
    # The StatefulSet is read whole once (the watch keeps it without its pod template); Service,
    # NetworkPolicy, PDB and the runner ConfigMap are compared as the watch delivered them. (No pod
    # exists in this fake world, so it is looked up.)
    assert read == ["ConfigMap", "Pod", "Secret", "StatefulSet"], read
    kube.reads.clear()
    await _run(kube, children=restarted)
    assert "StatefulSet" not in {kind for kind, _ in kube.reads}


async def test_a_first_reconcile_looks_up_no_children() -> None:
    """A CocoonNode that was never reconciled has no children: with the watch cache, nothing the
    watches have not shown is read, the wallet Secret is created without a look, and the references
    are read once each."""
    kube, cache = world(cocoonnode()), ChildCache()
    outcome = await _run(kube, children=cache)
    assert sorted(kind for kind, _ in kube.reads) == ["ConfigMap"]
    assert "Secret/w1-wallet" in outcome.applied
    assert {k for _, k, _ in kube.writes} >= {"StatefulSet", "Service", "ConfigMap", "Secret"}


async def test_a_first_reconcile_keeps_a_users_wallet_secret_and_reapplies_unseen_children() -> None:
    """Status lost (e.g. restored without it) while the children and a user's wallet Secret exist:
    creating the Secret is refused and it is read instead; children are re-applied unchanged."""
    kube = world(cocoonnode())
    await _run(kube, children=ChildCache())
    secret = kube.find("Secret", "ns1", "w1-wallet")
    sts = kube.find("StatefulSet", "ns1", "w1")
    body = kube.find("CocoonNode", "ns1", "w1")
    assert secret is not None and sts is not None and body is not None
    body.pop("status")
    kube.writes.clear()
    kube.reads.clear()
    outcome = await _run(kube, children=ChildCache())  # a new process whose watches lag behind
    assert kube.find("Secret", "ns1", "w1-wallet") == secret
    assert ("Secret", "w1-wallet") in kube.reads
    assert "Secret/w1-wallet" not in outcome.applied
    assert kube.find("StatefulSet", "ns1", "w1")["spec"] == sts["spec"]  # type: ignore[index]
    assert _cond(kube, "Configured")["status"] == "True"


# --- issue 16: no takeover by name -------------------------------------------------------------------

VICTIM_CONFIG_MAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "w1-runner", "namespace": "ns1", "labels": {"app": "someone-elses"}},
    "data": {"precious": "yes"},
}


@pytest.mark.parametrize("watch_cache", [False, True], ids=["reads", "first-reconcile-without-reads"])
async def test_an_object_of_someone_else_with_a_childs_name_is_left_as_it_is(watch_cache: bool) -> None:
    kube = world(cocoonnode(), VICTIM_CONFIG_MAP)
    before = copy.deepcopy(kube.find("ConfigMap", "ns1", "w1-runner"))
    outcome = await _run(kube, children=ChildCache() if watch_cache else None)
    assert kube.find("ConfigMap", "ns1", "w1-runner") == before  # not one field, not its resourceVersion
    assert ("apply", "ConfigMap", "w1-runner") not in kube.writes
    configured = _cond(kube, "Configured")
    assert (configured["status"], configured["reason"]) == ("False", "NameConflict")
    assert (
        "ConfigMap w1-runner already exists and is not owned by this CocoonNode (it has no owner)"
        in (configured["message"])
    )
    assert _cond(kube, "Ready")["reason"] == "NameConflict"
    # the ConfigMap comes first: nothing after it was applied, no workload, no provider ran
    assert not kube.of_kind("StatefulSet") and not kube.of_kind("Service")
    assert [e.reason for e in outcome.events if e.type == "Warning"] == ["NameConflict"]
    kube.writes.clear()
    again = await _run(kube)  # the Warning once, not on every reconcile
    assert not [e for e in again.events if e.reason == "NameConflict"]
    assert [w for w in kube.writes if w[1] != "CocoonNode"] == []


async def test_a_child_owned_by_another_cocoonnode_is_not_taken_over() -> None:
    other = copy.deepcopy(VICTIM_CONFIG_MAP)
    other["metadata"]["ownerReferences"] = [
        {"apiVersion": "cocoon.tonops.dev/v1alpha1", "kind": "CocoonNode", "name": "w1", "uid": "old-uid"}
    ]
    kube = world(cocoonnode(), other)
    await _run(kube)
    assert "owned by CocoonNode w1" in _cond(kube, "Configured")["message"]
    assert kube.find("ConfigMap", "ns1", "w1-runner")["data"] == {"precious": "yes"}  # type: ignore[index]


async def test_the_conflict_clears_when_the_object_goes() -> None:
    kube = world(cocoonnode(), VICTIM_CONFIG_MAP)
    await _run(kube)
    assert _cond(kube, "Configured")["reason"] == "NameConflict"
    await kube.delete("v1", "ConfigMap", "ns1", "w1-runner")
    await _run(kube)
    assert _cond(kube, "Configured")["status"] == "True"
    assert kube.of_kind("StatefulSet")


async def test_a_victim_that_appears_after_a_first_look_is_not_written() -> None:
    """The apply itself carries the precondition: an object created between the look and the write
    (here: after a first reconcile believed the name free) makes the server refuse the write."""
    kube, cache = world(cocoonnode()), ChildCache()
    victim = {"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"port": 1}]}}
    kube.put({**victim, "metadata": {"name": "w1", "namespace": "ns1"}})
    before = copy.deepcopy(kube.find("Service", "ns1", "w1"))
    await _run(kube, children=cache)  # first reconcile: it looks up no child, it applies "only if absent"
    assert kube.find("Service", "ns1", "w1") == before
    assert "Service w1 already exists" in _cond(kube, "Configured")["message"]


async def test_a_pod_of_that_name_the_statefulset_did_not_make_is_never_touched() -> None:
    kube = await _rolling_to_a_new_revision()
    kube.put(_unready_old_revision_pod(podIP="127.100.0.9"))
    kube.writes.clear()
    await _run(kube)
    assert ("delete", "Pod", "w1-0") not in kube.writes
    assert "podIP" not in kube.find("CocoonNode", "ns1", "w1")["status"]  # type: ignore[index]


# --- issue 16: a wallet Secret serves only the CocoonNode it was made or adopted for ---------------------


async def test_the_operator_binds_the_wallet_secret_it_creates_to_the_cocoonnodes_uid() -> None:
    kube = world(cocoonnode())
    await _run(kube)
    secret = kube.find("Secret", "ns1", "w1-wallet")
    assert secret is not None and secret["metadata"]["annotations"][BOUND_UID] == "uid-w1"
    assert secret["type"] == "Opaque"
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "cocoon-operator"


async def test_a_wallet_secret_bound_to_another_cocoonnode_is_neither_mounted_nor_funded() -> None:
    class Chain:
        calls = 0

        async def preflight(self, ctx: Context) -> StepReport:
            Chain.calls += 1
            return StepReport()

        async def observe(self, ctx: Context) -> StepReport:
            Chain.calls += 1
            return StepReport()

        async def finalize(self, ctx: Context) -> bool:
            Chain.calls += 1
            return True

    kube = world(cocoonnode())
    await _run(kube)  # the victim: w1 and its key
    victim_secret = copy.deepcopy(kube.find("Secret", "ns1", "w1-wallet"))
    thief = cocoonnode("thief", spec=minimal_spec(wallet={"secretRef": {"name": "w1-wallet"}}))
    kube.put(thief)
    kube.writes.clear()
    outcome = await _run(kube, name="thief", chain=Chain())
    configured = _cond(kube, "Configured", name="thief")
    assert (configured["status"], configured["reason"]) == ("False", "WalletSecretNotOwned")
    assert "Secret w1-wallet holds the wallet key of another CocoonNode (UID uid-w1)" in configured["message"]
    assert "annotate secret w1-wallet cocoon.tonops.dev/adopt-for=thief" in configured["message"]
    assert [e.reason for e in outcome.events] == ["WalletSecretNotOwned"]
    # nothing mounts it, nothing was funded, the victim's Secret is as it was
    assert kube.find("StatefulSet", "ns1", "thief") is None
    assert [w for w in kube.writes if w[1] != "CocoonNode"] == []
    assert Chain.calls == 0
    assert kube.find("Secret", "ns1", "w1-wallet") == victim_secret
    assert "node_wallet_key" not in str(kube.find("CocoonNode", "ns1", "thief")["status"])  # type: ignore[index]
    # deleting the thief does no chain work with the victim's key
    body = copy.deepcopy(kube.find("CocoonNode", "ns1", "thief"))
    assert body is not None
    body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    done = await reconcile.finalize(body, Deps(kube=kube, settings=Settings(), chain=Chain()))
    assert done.done and Chain.calls == 0


async def test_an_unmarked_secret_needs_an_admins_adoption() -> None:
    import base64

    key = base64.b64encode(base64.b64encode(bytes(range(32)))).decode()
    loose = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "w1-wallet", "namespace": "ns1"},
        "data": {"node_wallet_key": key},
    }
    kube = world(cocoonnode(), loose)
    await _run(kube)
    configured = _cond(kube, "Configured")
    assert configured["reason"] == "WalletSecretNotOwned"
    assert "was not created by the operator for this CocoonNode" in configured["message"]
    assert kube.find("StatefulSet", "ns1", "w1") is None
    # the admin adopts it for w1 (the chart's admission policy lets only admins set this annotation)
    secret = kube.find("Secret", "ns1", "w1-wallet")
    assert secret is not None
    secret["metadata"]["annotations"] = {ADOPT_FOR: "w1"}
    await _run(kube)
    assert _cond(kube, "Configured")["status"] == "True"
    assert kube.find("StatefulSet", "ns1", "w1") is not None
    # adopted for another name: not for w1
    secret["metadata"]["annotations"] = {ADOPT_FOR: "w2"}
    await _run(kube)
    assert _cond(kube, "Configured")["reason"] == "WalletSecretNotOwned"


async def test_a_running_worker_whose_key_secret_was_swapped_is_stopped() -> None:
    """Someone replaced the wallet Secret with one the operator did not make: the pod must not start
    with it, so the StatefulSet goes to zero replicas (nothing else is applied)."""
    kube = world(cocoonnode())
    await _run(kube)
    assert kube.find("StatefulSet", "ns1", "w1")["spec"]["replicas"] == 1  # type: ignore[index]
    await kube.delete("v1", "Secret", "ns1", "w1-wallet")
    kube.put({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "w1-wallet", "namespace": "ns1"},
              "data": {"node_wallet_key": "eA=="}})  # fmt: skip
    kube.writes.clear()
    await _run(kube)
    assert _cond(kube, "Configured")["reason"] == "WalletSecretNotOwned"
    assert kube.find("StatefulSet", "ns1", "w1")["spec"]["replicas"] == 0  # type: ignore[index]
    assert {(op, kind) for op, kind, _ in kube.writes} == {
        ("apply", "StatefulSet"),
        ("patch/status", "CocoonNode"),
    }


# --- issue 16: the admin's image policy, checked by the operator too -----------------------------------

POLICY = Settings(
    image_policy=True,
    worker_image_prefixes=("localhost/",),
    inference_image_prefixes=("nvcr.io/nvidia/tritonserver:",),
    inference_image_digests=("sha256:" + "a" * 64,),
)


async def _run_with(kube: FakeKube, settings: Settings) -> reconcile.Outcome:
    body = kube.find("CocoonNode", "ns1", "w1")
    assert body is not None
    outcome = await reconcile.run(copy.deepcopy(body), Deps(kube=kube, settings=settings))
    if outcome.status_patch:
        await kube.patch_status("", "CocoonNode", "ns1", "w1", outcome.status_patch)
    return outcome


async def test_an_image_outside_the_policy_stops_the_worker() -> None:
    kube = world(cocoonnode())
    await _run_with(kube, POLICY)
    assert _cond(kube, "Configured")["status"] == "True"
    assert kube.find("StatefulSet", "ns1", "w1")["spec"]["replicas"] == 1  # type: ignore[index]
    body = kube.find("CocoonNode", "ns1", "w1")
    assert body is not None
    body["spec"]["worker"]["image"] = "evil.example/steal:1"  # e.g. set before the policy was tightened
    outcome = await _run_with(kube, POLICY)
    configured = _cond(kube, "Configured")
    assert (configured["status"], configured["reason"]) == ("False", "ImageNotAllowed")
    assert configured["message"].startswith("spec.worker.image: image 'evil.example/steal:1' is not allowed")
    assert "localhost/*" in configured["message"]
    assert [e.reason for e in outcome.events] == ["ImageNotAllowed"]
    sts = kube.find("StatefulSet", "ns1", "w1")
    assert sts is not None and sts["spec"]["replicas"] == 0  # no pod with that image runs


async def test_inference_images_by_digest_and_the_policy_off() -> None:
    digest = "sha256:" + "a" * 64
    kube = world(cocoonnode(spec=minimal_spec(inference={"image": f"mirror.example/triton@{digest}"})))
    await _run_with(kube, POLICY)
    assert _cond(kube, "Configured")["status"] == "True"
    body = kube.find("CocoonNode", "ns1", "w1")
    assert body is not None
    body["spec"]["inference"]["image"] = "mirror.example/triton:latest"
    await _run_with(kube, POLICY)
    assert _cond(kube, "Configured")["message"].startswith("spec.inference.image:")
    await _run_with(kube, Settings())  # no policy configured: the operator does not judge images
    assert _cond(kube, "Configured")["status"] == "True"
