"""The fleet cache placement reads (handlers/runtime.py): listed at start-up, kept by Node events."""

from typing import Any

from cocoon_dev.memory_kube import FakeKube
from cocoon_operator.handlers.runtime import OperatorRuntime, fingerprint
from cocoon_operator.reconcile import Deps
from cocoon_operator.settings import Settings


def _node(name: str, gpus: str = "1", **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels, "resourceVersion": "7", "managedFields": [{}]},
        "spec": {"taints": []},
        "status": {
            "allocatable": {"nvidia.com/gpu": gpus},
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "MemoryPressure", "status": "False"},
            ],
        },
    }


def _runtime() -> OperatorRuntime:
    kube: Any = FakeKube([])
    return OperatorRuntime(settings=Settings(), kube=kube, deps=Deps(kube=kube, settings=Settings()))


def test_nodes_are_kept_slim_updated_and_dropped() -> None:
    rt = _runtime()
    rt.node_seen("a", _node("a", tee="tdx"))
    rt.node_seen("b", _node("b"))
    assert sorted(n["metadata"]["name"] for n in rt.nodes()) == ["a", "b"]
    (a,) = [n for n in rt.nodes() if n["metadata"]["name"] == "a"]
    assert "managedFields" not in a["metadata"] and a["status"]["conditions"] == [
        {"type": "Ready", "status": "True"}
    ]
    rt.node_seen("a", _node("a", gpus="0", tee="tdx"))
    assert [n["status"]["allocatable"] for n in rt.nodes() if n["metadata"]["name"] == "a"] == [
        {"nvidia.com/gpu": "0"}
    ]
    rt.node_seen("b", None)
    assert [n["metadata"]["name"] for n in rt.nodes()] == ["a"]
    assert "b" not in rt.node_fingerprints


def test_the_event_filter_sees_a_listed_node_as_unchanged() -> None:
    """A node listed at start-up and then delivered unchanged by the watch runs no handler."""
    rt = _runtime()
    body = _node("a")
    rt.node_seen("a", body)
    assert rt.node_fingerprints["a"] == fingerprint(body)
    heartbeat = {**body, "metadata": {**body["metadata"], "resourceVersion": "8"}}
    assert rt.node_fingerprints["a"] == fingerprint(heartbeat)
