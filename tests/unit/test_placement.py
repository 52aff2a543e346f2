"""Placement: affinity never admits a non-confidential node; the explainer names the excluding constraint."""

from typing import Any

from cocoon_operator.api.spec import Placement
from cocoon_operator.reconcile import placement
from cocoon_operator.settings import Settings
from tests.unit.builders import default_fleet, node

SETTINGS = Settings()


def _admits(affinity: dict[str, Any], labels: dict[str, str]) -> bool:
    """Evaluate required node affinity the way the scheduler does (terms ORed, expressions ANDed)."""
    terms = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    return any(
        all(labels.get(e["key"]) in e["values"] for e in term["matchExpressions"] if e["operator"] == "In")
        for term in terms
    )


def test_affinity_requires_cc_ready_and_tee_for_every_kind() -> None:
    fleet = {n["metadata"]["name"]: n["metadata"]["labels"] for n in default_fleet()}
    for tee, expected in {
        "TDX": {"tdx-h100-0", "tdx-h100-1", "tdx-h200-0", "tdx-h100x8-0"},
        "SEV-SNP": {"snp-h100-0", "snp-h100-1"},
        "Any": {"tdx-h100-0", "tdx-h100-1", "tdx-h200-0", "tdx-h100x8-0", "snp-h100-0", "snp-h100-1"},
    }.items():
        affinity = placement.node_affinity(Placement(tee=tee), SETTINGS)  # type: ignore[arg-type]
        admitted = {name for name, labels in fleet.items() if _admits(affinity, labels)}
        assert admitted == expected, tee
        for term in affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
            "nodeSelectorTerms"
        ]:
            assert {"key": "nvidia.com/cc.ready.state", "operator": "In", "values": ["true"]} in term[
                "matchExpressions"
            ]


def test_affinity_with_gpu_products() -> None:
    affinity = placement.node_affinity(Placement(tee="TDX", gpu_products=("NVIDIA-H200",)), SETTINGS)
    fleet = {n["metadata"]["name"]: n["metadata"]["labels"] for n in default_fleet()}
    assert {name for name, labels in fleet.items() if _admits(affinity, labels)} == {"tdx-h200-0"}


def test_tolerations_include_gpu_taint_once() -> None:
    spec = Placement.model_validate(
        {
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "x", "operator": "Exists"},
            ]
        }
    )
    tols = placement.tolerations(spec, SETTINGS)
    assert tols == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "x", "operator": "Exists"},
    ]


def test_explainer_message_counts_each_constraint() -> None:
    report = placement.explain(
        Placement(tee="TDX", gpu_products=("NVIDIA-H200",)), default_fleet(), {"tdx-h200-0": 1}, SETTINGS
    )
    assert report.fitting == ()
    assert report.feasible == ("tdx-h200-0",)
    assert report.message == (
        "0 of 10 nodes fit: 4 are not confidential (nvidia.com/cc.ready.state!=true), "
        "3 are NVIDIA-H100-80GB-HBM3 but NVIDIA-H200 is required, 2 lack TDX, 1 have no free nvidia.com/gpu"
    )


def test_explainer_when_nothing_can_ever_fit() -> None:
    report = placement.explain(
        Placement(tee="TDX", gpu_products=("NVIDIA-B200",)), default_fleet(), {}, SETTINGS
    )
    assert report.feasible == ()
    assert "0 of 10 nodes fit" in report.message
    assert "are NVIDIA-H200 but NVIDIA-B200 is required" in report.message


def test_explainer_counts_used_gpus_cordons_and_taints() -> None:
    nodes = [
        node("a", gpus=2),
        node("b", unschedulable=True),
        node("c"),
        node("d", gpus=0),
    ]
    nodes[2]["spec"]["taints"].append({"key": "maintenance", "effect": "NoExecute"})
    pods = [
        {
            "metadata": {"namespace": "x", "labels": {}},
            "spec": {"nodeName": "a", "containers": [{"resources": {"limits": {"nvidia.com/gpu": "1"}}}]},
            "status": {"phase": "Running"},
        },
        {
            "metadata": {"namespace": "x", "labels": {}},
            "spec": {"nodeName": "a", "containers": [{"resources": {"requests": {"nvidia.com/gpu": "1"}}}]},
            "status": {"phase": "Succeeded"},
        },
    ]
    used = placement.requested_gpus_by_node(pods, "nvidia.com/gpu")
    assert used == {"a": 1}
    report = placement.explain(Placement(), nodes, used, SETTINGS)
    assert report.fitting == ("a",)
    assert "1 are cordoned" in report.message
    assert "1 have the untolerated taint maintenance:NoExecute" in report.message
    assert "1 have no nvidia.com/gpu" in report.message
    assert placement.explain(Placement(gpu_count=2), nodes, used, SETTINGS).fitting == ()


def test_own_pods_are_excluded_from_used_gpus() -> None:
    mine = {"app.kubernetes.io/name": "cocoon-worker", "cocoon.tonops.dev/node": "w1"}
    pods = [
        {
            "metadata": {"labels": mine},
            "spec": {"nodeName": "a", "containers": [{"resources": {"limits": {"nvidia.com/gpu": 1}}}]},
            "status": {},
        }
    ]
    assert placement.requested_gpus_by_node(pods, "nvidia.com/gpu", exclude=mine) == {}
