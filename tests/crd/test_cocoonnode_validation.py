"""The real API server rejects bad CocoonNodes with messages that name the field (schema + CEL)."""

import copy
import json
from typing import Any

import pytest
import yaml

from tests.unit.builders import load_examples, minimal_spec

pytestmark = pytest.mark.cluster


def _doc(name: str, **spec_overrides: Any) -> dict[str, Any]:
    return {
        "apiVersion": "cocoon.tonops.dev/v1alpha1",
        "kind": "CocoonNode",
        "metadata": {"name": name},
        "spec": minimal_spec(**spec_overrides),
    }


def _create(cluster: Any, namespace: str, doc: dict[str, Any]) -> Any:
    return cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(doc), check=False)


def _wallet(**fields: str | float) -> dict[str, Any]:
    """A spec.wallet override: the Secret it names plus `fields` (floor, target)."""
    return {"wallet": {"secretRef": {"name": "w"}, **fields}}


BAD = [
    ("malformed-model", {"model": "Qwen/Qwen3-8B@abc:def"}, "spec.model"),
    ("bad-address", {"ownerAddress": "0:xyz"}, "spec.ownerAddress"),
    ("negative-coefficient", {"workerCoefficient": -5}, "spec.workerCoefficient"),
    ("coefficient-too-high", {"workerCoefficient": 5000}, "spec.workerCoefficient"),
    ("zero-gpus", {"placement": {"gpuCount": 0}}, "spec.placement.gpuCount"),
    ("unknown-tee", {"placement": {"tee": "SGX"}}, "spec.placement.tee"),
    ("ton-not-decimal", _wallet(floor="2,5"), "spec.wallet.floor"),
    ("ton-float-number", _wallet(target=5.5), "spec.wallet.target"),
    (
        "target-below-floor",
        _wallet(floor="6", target="5"),
        "spec.wallet.target must be at least spec.wallet.floor",
    ),
    ("floor-below-runner-minimum", _wallet(floor="1"), "spec.wallet.floor must be at least 2.6"),
    ("fee-fraction", {"rewards": {"maxFeeFraction": "2"}}, "spec.rewards.maxFeeFraction"),
    (
        "short-interval",
        {"rewards": {"checkInterval": "1s"}},
        "spec.rewards.checkInterval must be at least 10s",
    ),
    (
        "fee-fraction-zero",
        {"rewards": {"maxFeeFraction": "0"}},
        "spec.rewards.maxFeeFraction must be at least 0.01",
    ),
    (
        "stall-shorter-than-three-checks",
        {"rewards": {"checkInterval": "30m", "stallAfter": "1h"}},
        "spec.rewards.stallAfter must be at least three times spec.rewards.checkInterval",
    ),
    (
        "sweep-below-target",
        {"rewards": {"sweepAbove": "1"}},
        "spec.rewards.sweepAbove must be at least spec.wallet.target",
    ),
    (
        "two-model-sources",
        {
            "inference": {
                "modelSource": {"pvc": {"claimName": "m"}, "url": "https://x.invalid/m.tar"},
                "modelSha256": "a" * 64,
            }
        },
        "exactly one of pvc and url",
    ),
    (
        "url-without-hash",
        {"inference": {"modelSource": {"url": "https://x.invalid/m.tar"}}},
        "spec.inference.modelSha256 is required",
    ),
    ("missing-worker", {"worker": None}, "spec.worker"),
    # Hard limits (issue 16): whatever an author writes, a top-up never goes beyond 100 TON.
    (
        "floor-above-limit",
        _wallet(floor="100.5", target="100.5"),
        "spec.wallet.floor must be at most 100 TON",
    ),
    ("target-above-limit", _wallet(target="9999999999"), "spec.wallet.target must be at most 100 TON"),
    # (The API server echoes a refused string value to its submitter, who knows it; nothing is stored.)
    (
        "url-with-credentials",
        {
            "inference": {
                "modelSource": {"url": "https://user:hunter2@models.invalid/m.tar"},
                "modelSha256": "a" * 64,
            }
        },
        "spec.inference.modelSource.url must not carry credentials",
    ),
    (
        "url-with-user-only",
        {"inference": {"modelSource": {"url": "http://token@models.invalid/m.tar"}, "modelSha256": "a" * 64}},
        "Keep credentials in a Secret",
    ),
]


@pytest.mark.parametrize(("name", "override", "expected"), BAD, ids=[b[0] for b in BAD])
def test_invalid_cocoonnode_rejected_naming_the_field(
    cocoon_crd: Any, namespace: str, name: str, override: dict[str, Any], expected: str
) -> None:
    doc = _doc(name, **override)
    doc["spec"] = {k: v for k, v in doc["spec"].items() if v is not None}
    out = _create(cocoon_crd, namespace, doc)
    assert out.returncode != 0, f"accepted: {override}"
    assert expected in out.stderr, out.stderr
    assert cocoon_crd.kubectl("get", "cn", name, "-n", namespace, check=False).returncode != 0


def test_limits_themselves_are_accepted(cocoon_crd: Any, namespace: str) -> None:
    """The bounds are inclusive: 100 TON and a URL with an `@` only in its path are fine."""
    doc = _doc(
        "at-limits",
        **_wallet(floor="100", target="100"),
        inference={"modelSource": {"url": "https://models.invalid/a@b/m.tar"}, "modelSha256": "a" * 64},
    )
    out = _create(cocoon_crd, namespace, doc)
    assert out.returncode == 0, out.stderr


def test_invalid_metadata_name(cocoon_crd: Any, namespace: str) -> None:
    out = _create(cocoon_crd, namespace, _doc("x" * 48))
    assert out.returncode != 0 and "metadata.name must be a DNS-1035 label" in out.stderr


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("ownerAddress",), "0:" + "1" * 64, "spec.ownerAddress is immutable"),
        (
            ("network", "rootContractAddress"),
            "0:" + "2" * 64,
            "spec.network.rootContractAddress is immutable",
        ),
        (("wallet", "secretRef"), {"name": "other-wallet"}, "spec.wallet.secretRef is immutable"),
    ],
)
def test_immutable_fields(
    cocoon_crd: Any, namespace: str, path: tuple[str, ...], value: Any, field: str
) -> None:
    doc = _doc("immutable")
    assert _create(cocoon_crd, namespace, doc).returncode == 0
    patch: dict[str, Any] = {}
    cursor = patch
    for key in path[:-1]:
        cursor = cursor.setdefault(key, {})
    cursor[path[-1]] = value

    def merge_patch(spec: dict[str, Any]) -> Any:
        return cocoon_crd.kubectl(
            "patch",
            "cn",
            "immutable",
            "-n",
            namespace,
            "--type=merge",
            "-p",
            json.dumps({"spec": spec}),
            check=False,
        )

    out = merge_patch(patch)
    assert out.returncode != 0 and field in out.stderr, out.stderr
    # mutable fields still change
    ok = merge_patch({"paused": True})
    assert ok.returncode == 0, ok.stderr


def test_defaults_applied_and_examples_accepted(cocoon_crd: Any, namespace: str) -> None:
    assert _create(cocoon_crd, namespace, _doc("defaults")).returncode == 0
    got = json.loads(cocoon_crd.kubectl("get", "cn", "defaults", "-n", namespace, "-o", "json").stdout)
    spec = got["spec"]
    assert spec["wallet"]["floor"] == "3" and spec["wallet"]["target"] == "5"
    assert spec["placement"] == {"tee": "TDX", "gpuCount": 1}
    assert spec["rewards"]["checkInterval"] == "5m" and spec["rewards"]["minClaim"] == "0.1"
    assert spec["inference"]["image"].startswith("nvcr.io/nvidia/tritonserver:")
    assert spec["workerCoefficient"] == 1000 and spec["paused"] is False
    # stallAfter has no stored default, so a slow checkInterval alone is never refused for it.
    assert "stallAfter" not in spec["rewards"]
    slow = _doc("slow-checks", rewards={"checkInterval": "30m"})
    assert _create(cocoon_crd, namespace, slow).returncode == 0
    for doc in load_examples():
        doc = copy.deepcopy(doc)
        out = cocoon_crd.kubectl(
            "create", "--dry-run=server", "-n", namespace, "-f", "-", input=yaml.safe_dump(doc), check=False
        )
        assert out.returncode == 0, (doc["metadata"]["name"], out.stderr)


def test_printer_columns(cocoon_crd: Any, namespace: str) -> None:
    assert _create(cocoon_crd, namespace, _doc("columns")).returncode == 0
    header = cocoon_crd.kubectl("get", "cn", "-n", namespace, "-o", "wide").stdout.splitlines()[0].split()
    assert header[:7] == ["NAME", "READY", "REASON", "NODE", "MODEL", "CLAIMABLE", "AGE"]
    assert {"TEE", "POD", "POD-IP", "WALLET"} <= set(header)
    assert cocoon_crd.kubectl("get", "cocoon", "-n", namespace).returncode == 0  # category
