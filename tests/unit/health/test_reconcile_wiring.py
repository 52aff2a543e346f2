"""WorkerHealth plugged into the real reconcile (Deps.health) against the in-memory API: the
conditions land in status, Ready follows them, status.models is written, Events fire on loss."""

from __future__ import annotations

import copy
from typing import Any

from cocoon_dev.memory_kube import FakeKube
from cocoon_operator import reconcile
from cocoon_operator import status as st
from cocoon_operator.conditions import Reason
from cocoon_operator.reconcile import Deps
from cocoon_operator.settings import Settings
from cocoon_operator.status import RUNNER_HEALTHY
from cocoon_operator.steps.health import WorkerHealth
from tests.unit.builders import cocoonnode, put_worker_pod, world
from tests.unit.health.builders import NOW, StubProber, model, runner_ok, triton_down, triton_ok

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "w1-0", "namespace": "ns1", "labels": {}},
    "spec": {"nodeName": "tdx-h100-0"},
    "status": {
        "phase": "Running",
        "podIP": "127.100.0.5",
        "conditions": [{"type": "Ready", "status": "True"}],
    },
}


async def _run(kube: FakeKube, health: WorkerHealth) -> reconcile.Outcome:
    body = kube.find("CocoonNode", "ns1", "w1")
    assert body is not None
    outcome = await reconcile.run(copy.deepcopy(body), Deps(kube=kube, settings=Settings(), health=health))
    if outcome.status_patch:
        await kube.patch_status("", "CocoonNode", "ns1", "w1", outcome.status_patch)
    return outcome


def _status(kube: FakeKube) -> dict[str, Any]:
    body = kube.find("CocoonNode", "ns1", "w1")
    assert body is not None
    return dict(body["status"])


async def test_health_drives_conditions_models_and_events() -> None:
    kube = world(cocoonnode())
    await reconcile.run(
        copy.deepcopy(kube.find("CocoonNode", "ns1", "w1")), Deps(kube=kube, settings=Settings())
    )
    # The pod the StatefulSet would create, labelled as reconcile looks for it.
    pod = copy.deepcopy(POD)
    put_worker_pod(kube, pod)

    prober = StubProber((triton_ok(model(), model("broken_llm", "UNAVAILABLE", "boom")), runner_ok()))
    health = WorkerHealth(prober, clock=lambda: NOW)
    await _run(kube, health)
    status = _status(kube)
    inference = st.find(status["conditions"], st.INFERENCE_READY)
    runner = st.find(status["conditions"], RUNNER_HEALTHY)
    ready = st.find(status["conditions"], st.READY)
    assert inference is not None and runner is not None and ready is not None
    assert prober.asked == [("127.100.0.5", None)]
    assert inference["reason"] == Reason.MODEL_UNAVAILABLE
    assert ready["status"] == "False" and ready["reason"] == Reason.MODEL_UNAVAILABLE
    assert status["models"][1] == {"name": "broken_llm", "ready": False, "reason": "UNAVAILABLE: boom"}

    prober.result = (triton_ok(), runner_ok())
    await _run(kube, health)
    status = _status(kube)
    assert st.find(status["conditions"], st.INFERENCE_READY)["status"] == "True"  # type: ignore[index]
    assert st.find(status["conditions"], RUNNER_HEALTHY)["reason"] == Reason.HEALTHY  # type: ignore[index]
    assert status["models"] == [{"name": "cocoon_llm", "ready": True}]

    prober.result = (triton_down(), runner_ok())
    outcome = await _run(kube, health)
    assert [(e.type, e.reason) for e in outcome.events] == [("Warning", Reason.TRITON_UNREACHABLE)]
    assert "models" not in _status(kube)
    again = await _run(kube, health)
    assert again.events == ()  # only on the transition


class _AgeRecordingProber(StubProber):
    def __init__(self, result: Any) -> None:
        super().__init__(result)
        self.max_ages: list[float | None] = []

    async def probe(
        self, pod_ip: str, model_name: str | None = None, *, max_age_s: float | None = None
    ) -> Any:
        self.max_ages.append(max_age_s)
        return await super().probe(pod_ip, model_name, max_age_s=max_age_s)


async def test_a_just_ready_worker_that_does_not_answer_is_rechecked_within_seconds() -> None:
    """Pod Ready a second ago, Triton not answering yet: probed fresh (no answer cached from before it
    was Ready) and looked at again in 2 s; long after readiness the usual 10 s re-check applies."""
    kube = world(cocoonnode())
    await _run(kube, WorkerHealth(StubProber((triton_ok(), runner_ok())), clock=lambda: NOW))
    pod = copy.deepcopy(POD)
    pod["status"]["containerStatuses"] = [{"name": "triton", "ready": True}]
    ready = {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-25T22:59:59Z"}  # NOW - 1 s
    pod["status"]["conditions"] = [ready]
    put_worker_pod(kube, pod)

    prober = _AgeRecordingProber((triton_down(), runner_ok()))
    outcome = await _run(kube, WorkerHealth(prober, clock=lambda: NOW))
    assert outcome.retry_after == 2.0
    assert prober.max_ages == [0.0]

    ready["lastTransitionTime"] = "2026-11-25T22:50:00Z"  # ten minutes ago
    put_worker_pod(kube, pod)
    prober.max_ages.clear()
    outcome = await _run(kube, WorkerHealth(prober, clock=lambda: NOW))
    assert outcome.retry_after == 10.0
    assert prober.max_ages == [None]
