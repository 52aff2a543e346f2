"""The dev objects `cocoon-dev up` applies: TON global config, treasury Secret, sample CocoonNodes.

The CocoonNodes come from `examples/` and get only what ties them to THIS local network: the model the
dev root allows, the dev root address, an owner address per sample (the dev owner wallet, then
addresses derived from it: see `sample_owner`), a claim policy that pays out within a demo's
minutes, test mode (the dev root is a test network), and no model volume (the local runtime serves
its own stand-in model, and a PVC nobody
provisions would keep the pod unschedulable). Everything else (placement, images, wallet refs) is the
example's own.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pytoniq_core.boc.address import Address

from cocoon_dev.paths import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"
DEMO_NAMESPACE = "cocoon-demo"
DEV_ONLY_LABEL = {"cocoon.tonops.dev/dev-only": "true", "app.kubernetes.io/part-of": "cocoon-dev"}
# The wallet Secret marks (cocoon_operator.api.identity): the operator's binding, an admin's adoption.
BOUND_UID = "cocoon.tonops.dev/bound-uid"
ADOPT_FOR = "cocoon.tonops.dev/adopt-for"
# (example file, what it shows). At least one TDX, one SEV-SNP and one that cannot be placed.
SAMPLES = (
    ("cocoonnode-tdx.yaml", "TDX"),
    ("cocoonnode-sev-snp.yaml", "SEV-SNP"),
    ("cocoonnode-unplaceable.yaml", "unplaceable"),
    ("cocoonnode-vm.yaml", "CocoonVM"),
)
# Claim policy of the demo: claim as soon as the gas estimate is at most half of what is claimable,
# and look often. (Production defaults: 0.1 TON minimum, 5 % fee fraction, every 5 minutes.)
DEMO_REWARDS = {"minClaim": "0.000000001", "maxFeeFraction": "0.5", "checkInterval": "10s"}


def friendly(address: str, *, bounceable: bool) -> str:
    return str(Address(address).to_str(is_user_friendly=True, is_bounceable=bounceable))


def global_config_map(global_config: Path, namespace: str = DEMO_NAMESPACE) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ton-global-config", "namespace": namespace, "labels": DEV_ONLY_LABEL},
        "data": {"global.config.json": global_config.read_text()},
    }


def treasury_secret(network: dict[str, Any], namespace: str = DEMO_NAMESPACE) -> dict[str, Any]:
    """The dev treasury wallet key (a public dev key: network.json). Never printed."""
    treasury = network["treasury"]
    seed_hex = str(treasury["private_key"])
    data = {
        "privateKey": seed_hex,  # what cocoon_operator.money.funding.TreasuryKey reads (as examples/)
        "version": str(treasury.get("version", "v4r2")),
        "walletId": str(treasury.get("wallet_id", 698983191)),
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "cocoon-treasury", "namespace": namespace, "labels": DEV_ONLY_LABEL},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def sample_owner(network: dict[str, Any], index: int) -> str:
    """The owner address of the index-th sample (raw form).

    Instances with the same owner share one worker contract per proxy (cocoon-protocol.md
    "Identity"), and the runner simulators of two pods would then sign conflicting vouchers for it.
    So every sample gets its own owner: the first the dev network's owner wallet, the others
    addresses derived from it (any valid address can receive a non-bounceable payout; the account
    appears with the first one)."""
    owner = Address(str(network["owner"]["address"]))
    if index == 0:
        return str(owner.to_str(is_user_friendly=False))
    digest = hashlib.sha256(b"cocoon-dev-sample-owner:%d:" % index + bytes(owner.hash_part)).digest()
    return str(Address((owner.wc, digest)).to_str(is_user_friendly=False))


def sample_cocoonnodes(network: dict[str, Any], namespace: str = DEMO_NAMESPACE) -> list[dict[str, Any]]:
    model = str(network["models"][0])
    root = friendly(str(network["root"]), bounceable=True)
    objs = []
    for index, (filename, _) in enumerate(SAMPLES):
        owner = friendly(sample_owner(network, index), bounceable=False)
        example = yaml.safe_load((EXAMPLES / filename).read_text())
        obj = copy.deepcopy(example)
        meta = obj.setdefault("metadata", {})
        meta["namespace"] = namespace
        meta.setdefault("labels", {}).update({"app.kubernetes.io/part-of": "cocoon-dev"})
        spec = obj["spec"]
        spec["model"] = model
        spec["ownerAddress"] = owner
        spec["network"]["rootContractAddress"] = root
        spec["network"]["globalConfigRef"] = {"name": "ton-global-config", "key": "global.config.json"}
        spec["funding"] = {"treasurySecretRef": {"name": "cocoon-treasury"}}
        spec["rewards"] = {**spec.get("rewards", {}), **DEMO_REWARDS}
        # The dev root has is_test=true: its workers run in test mode (the runner's `is_test`).
        spec["worker"] = {**spec.get("worker", {}), "mode": "Test"}
        inference = spec.setdefault("inference", {})
        inference.pop("modelSource", None)
        inference.pop("resources", None)
        objs.append(obj)
    return objs


def namespace_obj(namespace: str = DEMO_NAMESPACE) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace, "labels": {"app.kubernetes.io/part-of": "cocoon-dev"}},
    }


def as_list(objs: list[dict[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": objs})
