"""Events name cocoon-operator as their source, and a deleted CocoonNode leaves no metric series
(the operator in-process on the local control plane; its metrics are prometheus_client's default
registry of this process)."""

import json
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest

from tests.e2e.conftest import OperatorHandle
from tests.helpers.cocoonnodes import create
from tests.helpers.k8s import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]


def _events(cluster: Any, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(
        cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout
    )["items"]
    return items


def test_events_come_from_cocoon_operator(operator: OperatorHandle, cocoon_crd: Any) -> None:
    ns = operator.namespace
    create(cocoon_crd, ns, "b200", placement={"tee": "TDX", "gpuProducts": ["NVIDIA-B200"]})
    events = wait_for(
        "the operator's Events",
        lambda: _events(cocoon_crd, ns),
        lambda items: {"PlacementFailed", "WalletKeyGenerated"} <= {e["reason"] for e in items},
        timeout_s=60,
    )
    ours = [e for e in events if e["involvedObject"].get("kind") == "CocoonNode"]
    assert ours
    for event in ours:
        assert event["source"]["component"] == "cocoon-operator", event
        assert event["reportingComponent"] == "cocoon-operator", event
        assert event["reportingInstance"], event
        assert event["metadata"]["name"].startswith("cocoon-operator-"), event
    described = cocoon_crd.kubectl("describe", "cn", "b200", "-n", ns).stdout
    assert "cocoon-operator" in described and "kopf" not in described.split("Events:")[-1]


def _series(name: str, namespace: str) -> list[str]:
    text = generate_latest(REGISTRY).decode()
    label = f'name="{name}",namespace="{namespace}"'
    return [line for line in text.splitlines() if label in line and not line.startswith("#")]


def test_a_deleted_cocoonnode_leaves_no_series(operator: OperatorHandle, cocoon_crd: Any) -> None:
    ns = operator.namespace
    create(cocoon_crd, ns, "gone", placement={"tee": "TDX"})
    create(cocoon_crd, ns, "stays", placement={"tee": "TDX"})
    present = wait_for(
        "series of both CocoonNodes",
        lambda: (_series("gone", ns), _series("stays", ns)),
        lambda pair: all(any("cocoon_node_status_condition{" in s for s in side) for side in pair),
        timeout_s=60,
    )
    assert any("cocoon_wallet_floor_nanoton{" in s for s in present[0])
    cocoon_crd.kubectl("delete", "cn", "gone", "-n", ns, "--wait=true", "--timeout=60s")
    wait_for(
        "no series of the deleted CocoonNode", lambda: _series("gone", ns), lambda s: not s, timeout_s=30
    )
    assert _series("stays", ns), "the other CocoonNode keeps its series"
