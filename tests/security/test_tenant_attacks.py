"""Issue 16, attack by attack, as a tenant bound only to the chart's `edit` role (alice, bob) or to the
built-in `edit` role (carol), against the real API server, the chart's RBAC and admission policies,
the operator running with the chart's identity, and the local chain.

Each test shows the attack refused (or made harmless), nothing leaked, nothing funded beyond what is
allowed, and no object the CocoonNode does not own changed."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from tests.helpers.k8s import wait_for
from tests.security.conftest import SecurityStack, cond

pytestmark = [pytest.mark.cluster, pytest.mark.chain, pytest.mark.timeout(600)]

EVIL_IMAGE = "evil.example/steal-the-key:1"
HEX64 = "ab" * 32


def _pod_spec(stack: SecurityStack, namespace: str, name: str) -> dict[str, Any]:
    apps = client.AppsV1Api(stack.admin_a.api)
    sts = apps.read_namespaced_stateful_set(name, namespace)
    pod: dict[str, Any] = stack.admin_a.api.sanitize_for_serialization(sts.spec.template.spec)
    return pod


# ---------------------------------------------------------------- 1 + 3: the key-stealing image


def test_the_wallet_key_never_reaches_an_image_the_tenant_picks(security_stack: SecurityStack) -> None:
    s, alice = security_stack, security_stack.alice
    # create with an image that is not on the allowlist: refused at admission, nothing stored
    refused = alice.refused(
        lambda: alice.create_cn("grabber", s.spec("grabber", worker={"image": EVIL_IMAGE}))
    )
    assert refused.status == 403
    assert "spec.worker.image: image evil.example/steal-the-key:1 is not allowed" in refused.body
    assert "localhost/cocoon-worker-runner:*" in refused.body
    assert s.cn(s.ns_a, "grabber") == {}
    refused = alice.refused(
        lambda: alice.create_cn("grabber", s.spec("grabber", inference={"image": "evil.example/triton:1"}))
    )
    assert refused.status == 403 and "spec.inference.image" in refused.body

    # an allowed worker: the only container that mounts the key file runs the admin's image
    alice.create_cn("honest-img", s.spec("honest-img"))
    s.wait_cn(s.ns_a, "honest-img", "a StatefulSet", lambda o: cond(o, "Configured").get("status") == "True")
    apps = client.AppsV1Api(s.admin_a.api)
    wait_for("the StatefulSet", lambda: apps.read_namespaced_stateful_set("honest-img", s.ns_a), bool)
    pod = _pod_spec(s, s.ns_a, "honest-img")
    containers = pod["initContainers"] + pod["containers"]
    with_key = {
        c["name"]: c["image"]
        for c in containers
        if any(m["name"] == "wallet" for m in c.get("volumeMounts", []))
    }
    assert with_key == {"render-config": s.render_image}
    assert s.render_image == "cocoon-operator:0.1.0"  # the chart's operator image
    before = apps.read_namespaced_stateful_set("honest-img", s.ns_a).metadata.resource_version

    # change the running worker's image: refused on update too, the StatefulSet untouched
    refused = alice.refused(lambda: alice.patch_cn("honest-img", {"spec": {"worker": {"image": EVIL_IMAGE}}}))
    assert refused.status == 403 and "is not allowed by the cluster image policy" in refused.body
    refused = alice.refused(
        lambda: alice.patch_cn("honest-img", {"spec": {"inference": {"image": "evil.example/triton:2"}}})
    )
    assert refused.status == 403
    assert s.cn(s.ns_a, "honest-img")["spec"]["worker"]["image"] == "localhost/cocoon-worker-runner:dev"
    # an edit that does not touch the images is fine (the policy judges image changes only)
    alice.patch_cn("honest-img", {"spec": {"workerCoefficient": 1500}})
    s.wait_cn(
        s.ns_a, "honest-img", "the edit reconciled", lambda o: o["status"].get("observedGeneration") == 2
    )
    pod = _pod_spec(s, s.ns_a, "honest-img")
    assert {c["image"] for c in pod["containers"]} == {
        "localhost/cocoon-worker-runner:dev",  # the runner and the RA-TLS router
        "nvcr.io/nvidia/tritonserver:24.10-trtllm-python-py3",
        s.render_image,  # the OpenAI adapter: the operator's image, the admin's choice
    }
    assert apps.read_namespaced_stateful_set("honest-img", s.ns_a).metadata.resource_version != before


# ---------------------------------------------------------------- 2 + 8: hard limits, credentials


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"wallet": {"secretRef": {"name": "w"}, "target": "5000"}},
            "spec.wallet.target must be at most 100 TON",
        ),
        (
            {"wallet": {"secretRef": {"name": "w"}, "floor": "150", "target": "150"}},
            "spec.wallet.floor must be at most 100 TON",
        ),
        (
            {
                "inference": {
                    "modelSource": {"url": "https://me:s3cret@models.example/m.tar"},
                    "modelSha256": "a" * 64,
                }
            },
            "Keep credentials in a Secret",
        ),
    ],
    ids=["target", "floor", "url-credentials"],
)
def test_limits_and_credentials_are_refused_at_admission(
    security_stack: SecurityStack, override: dict[str, Any], message: str
) -> None:
    s, alice = security_stack, security_stack.alice
    refused = alice.refused(lambda: alice.create_cn("limits", s.spec("limits", **override)))
    assert refused.status == 422 and message in refused.body
    assert s.cn(s.ns_a, "limits") == {}


def test_only_an_admin_trusts_other_contract_code(security_stack: SecurityStack) -> None:
    s, alice = security_stack, security_stack.alice
    hashes = {"network": {**s.spec("x")["network"], "trustedCodeHashes": [HEX64]}}
    refused = alice.refused(lambda: alice.create_cn("truster", s.spec("truster", **hashes)))
    assert refused.status == 403 and "only a cluster admin may trust contract code" in refused.body
    alice.create_cn("truster", s.spec("truster"))
    patch = {"spec": {"network": {"trustedCodeHashes": [HEX64]}}}
    assert alice.refused(lambda: alice.patch_cn("truster", patch)).status == 403
    s.admin_a.patch_cn("truster", patch)  # the admin may
    alice.patch_cn("truster", {"spec": {"paused": True}})  # other fields stay the tenant's
    refused = alice.refused(
        lambda: alice.patch_cn("truster", {"spec": {"network": {"trustedCodeHashes": []}}})
    )
    assert refused.status == 403


# ---------------------------------------------------------------- 4: another node's key


def test_a_wallet_secret_serves_only_its_own_cocoonnode(security_stack: SecurityStack) -> None:
    s, alice = security_stack, security_stack.alice
    # the victim: another team's worker in the same namespace, funded by the treasury
    s.admin_a.create_cn("victim", s.spec("victim"))
    victim_secret = wait_for(
        "the victim's wallet Secret",
        lambda: s.admin_a.core.read_namespaced_secret("victim-wallet", s.ns_a),
        bool,
    )
    victim_uid = s.cn(s.ns_a, "victim")["metadata"]["uid"]
    assert victim_secret.metadata.annotations["cocoon.tonops.dev/bound-uid"] == victim_uid
    seed = s.wallet_seed(s.ns_a, "victim-wallet")
    # the positive control: in this setup the treasury does fund a CocoonNode's own wallet
    wait_for(
        "the victim's wallet funded", lambda: s.cocoon_wallet_balance(seed, "victim"), lambda b: b > 0, 180
    )

    # alice names the victim's Secret for her own node (owner: hers)
    alice.create_cn("thief", s.spec("thief", wallet={"secretRef": {"name": "victim-wallet"}}))
    thief = s.wait_cn(
        s.ns_a, "thief", "refused", lambda o: cond(o, "Configured").get("reason") == "WalletSecretNotOwned"
    )
    message = cond(thief, "Configured")["message"]
    assert f"Secret victim-wallet holds the wallet key of another CocoonNode (UID {victim_uid})" in message
    # several reconciles later: nothing mounts it, nothing was funded for the thief, nothing leaked
    s.wait_cn(s.ns_a, "thief", "reconciled again", lambda o: o["status"].get("observedGeneration") == 1)
    apps = client.AppsV1Api(s.admin_a.api)
    with pytest.raises(ApiException) as none:
        apps.read_namespaced_stateful_set("thief", s.ns_a)
    assert none.value.status == 404
    assert s.cocoon_wallet_balance(seed, "thief") == 0, "the treasury funded a wallet of the victim's key"
    thief = s.cn(s.ns_a, "thief")
    assert "walletAddress" not in thief["status"] and "funding" not in thief["status"]
    after = s.admin_a.core.read_namespaced_secret("victim-wallet", s.ns_a)
    assert after.metadata.resource_version == victim_secret.metadata.resource_version
    _assert_no_key_material(s, [seed], ["victim", "thief"])


def test_an_unmarked_secret_needs_an_admins_adoption_that_tenants_cannot_forge(
    security_stack: SecurityStack,
) -> None:
    s, alice, carol = security_stack, security_stack.alice, security_stack.carol
    key = base64.b64encode(bytes(range(32))).decode()
    # carol (built-in edit) writes a Secret with a key she knows
    carol.core.create_namespaced_secret(
        s.ns_a, {"metadata": {"name": "known-key"}, "stringData": {"node_wallet_key": key}}
    )
    alice.create_cn("borrower", s.spec("borrower", wallet={"secretRef": {"name": "known-key"}}))
    borrower = s.wait_cn(
        s.ns_a, "borrower", "refused", lambda o: cond(o, "Configured").get("reason") == "WalletSecretNotOwned"
    )
    assert "was not created by the operator for this CocoonNode" in cond(borrower, "Configured")["message"]
    # the marks are not hers to write: not on a new Secret, not added, not on the operator's Secrets
    uid = borrower["metadata"]["uid"]
    forged = {"metadata": {"name": "forged", "annotations": {"cocoon.tonops.dev/bound-uid": uid}},
              "stringData": {"node_wallet_key": key}}  # fmt: skip
    refused = carol.refused(lambda: carol.core.create_namespaced_secret(s.ns_a, forged))
    assert refused.status == 403 and "only the cocoon-operator and cluster admins" in refused.body
    adopt = {"metadata": {"annotations": {"cocoon.tonops.dev/adopt-for": "borrower"}}}
    assert carol.refused(lambda: carol.core.patch_namespaced_secret("known-key", s.ns_a, adopt)).status == 403
    # nor may she put her key into a Secret the operator made (it carries the binding)
    alice.create_cn("keyed", s.spec("keyed"))
    wait_for(
        "keyed's wallet Secret", lambda: s.admin_a.core.read_namespaced_secret("keyed-wallet", s.ns_a), bool
    )
    swap = {"stringData": {"node_wallet_key": key}}
    assert (
        carol.refused(lambda: carol.core.patch_namespaced_secret("keyed-wallet", s.ns_a, swap)).status == 403
    )
    unmark = {"metadata": {"annotations": {"cocoon.tonops.dev/bound-uid": None}}}
    assert (
        carol.refused(lambda: carol.core.patch_namespaced_secret("keyed-wallet", s.ns_a, unmark)).status
        == 403
    )
    # the cluster admin may adopt it on purpose: then it serves that CocoonNode
    s.admin_a.core.patch_namespaced_secret("known-key", s.ns_a, adopt)
    s.wait_cn(s.ns_a, "borrower", "adopted", lambda o: cond(o, "Configured").get("status") == "True")


# ---------------------------------------------------------------- 5: takeover by name


def test_an_object_with_a_childs_name_is_left_exactly_as_it_was(security_stack: SecurityStack) -> None:
    s, alice = security_stack, security_stack.alice
    # an application's ConfigMap, named like the runner ConfigMap of a CocoonNode "billing"
    victim = s.admin_a.core.create_namespaced_config_map(
        s.ns_a,
        {"metadata": {"name": "billing-runner", "labels": {"app": "billing"}}, "data": {"db": "primary"}},
    )
    alice.create_cn("billing", s.spec("billing"))
    obj = s.wait_cn(
        s.ns_a, "billing", "refused", lambda o: cond(o, "Configured").get("reason") == "NameConflict"
    )
    assert (
        "ConfigMap billing-runner already exists and is not owned by this CocoonNode (it has no owner)"
        in (cond(obj, "Configured")["message"])
    )
    s.wait_cn(s.ns_a, "billing", "reconciled again", lambda o: o["status"].get("observedGeneration") == 1)
    now = s.admin_a.core.read_namespaced_config_map("billing-runner", s.ns_a)
    assert now.metadata.resource_version == victim.metadata.resource_version
    assert now.metadata.owner_references is None and now.data == {"db": "primary"}
    apps = client.AppsV1Api(s.admin_a.api)
    assert not [x for x in apps.list_namespaced_stateful_set(s.ns_a).items if x.metadata.name == "billing"]
    events = s.admin_a.core.list_namespaced_event(s.ns_a, field_selector="involvedObject.name=billing").items
    assert [e.reason for e in events if e.type == "Warning"].count("NameConflict") == 1
    # deleting the CocoonNode garbage-collects nothing of the victim's
    s.kubectl("delete", "cn", "billing", "-n", s.ns_a, "--wait=true", "--timeout=60s")
    kept = s.admin_a.core.read_namespaced_config_map("billing-runner", s.ns_a)
    assert kept.metadata.resource_version == victim.metadata.resource_version


def test_the_operator_needed_nothing_more(security_stack: SecurityStack) -> None:
    """All of the above with the chart's identity and policies: the operator was never refused (its
    own wallet Secrets passed the admission policies) and never failed."""
    log = security_stack.log()
    assert "Forbidden" not in log and " 403" not in log, log[-4000:]
    assert "Traceback" not in log, log[-4000:]


# ---------------------------------------------------------------- helpers


def _assert_no_key_material(s: SecurityStack, seeds: list[bytes], names: list[str]) -> None:
    texts = {
        "operator log": s.log(),
        "events": json.dumps(
            [e.message for e in s.admin_a.core.list_namespaced_event(s.ns_a).items], default=str
        ),
        "status": json.dumps([s.cn(s.ns_a, n).get("status") for n in names]),
    }
    for seed in seeds:
        b64 = base64.b64encode(seed).decode()
        for where, text in texts.items():
            for form in (b64, seed.hex(), base64.b64encode(b64.encode()).decode()):
                assert form not in text, f"key material in the {where}"
    assert s.network.treasury.private_key not in texts["operator log"]


# ---------------------------------------------------------------- the treasury's own policy


def test_only_a_treasury_admin_writes_a_treasury_or_its_spending_policy(
    security_stack: SecurityStack,
) -> None:
    """The treasury pays what its owner allows: its limits are annotations on its Secret. A holder of
    the built-in edit role (who can write Secrets) may neither lift them nor plant a treasury key of
    their own; the cluster admin may."""
    s, carol = security_stack, security_stack.carol
    lift = {"metadata": {"annotations": {"cocoon.tonops.dev/max-per-day": "100000"}}}
    refused = carol.refused(lambda: carol.core.patch_namespaced_secret("treasury", s.ns_a, lift))
    assert refused.status == 403 and "only treasury admins" in refused.body
    planted = {"metadata": {"name": "my-treasury"}, "stringData": {"privateKey": "00" * 32}}
    assert carol.refused(lambda: carol.core.create_namespaced_secret(s.ns_a, planted)).status == 403
    # An unrelated Secret of hers is still hers to write.
    carol.core.create_namespaced_secret(s.ns_a, {"metadata": {"name": "notes"}, "stringData": {"a": "b"}})
    before = s.admin_a.core.read_namespaced_secret("treasury", s.ns_a).metadata.annotations or {}
    assert "cocoon.tonops.dev/max-per-day" not in before
    tighten = {"metadata": {"annotations": {"cocoon.tonops.dev/max-top-up": "8"}}}
    s.admin_a.core.patch_namespaced_secret("treasury", s.ns_a, tighten)
    undo = {"metadata": {"annotations": {"cocoon.tonops.dev/max-top-up": None}}}
    s.admin_a.core.patch_namespaced_secret("treasury", s.ns_a, undo)
