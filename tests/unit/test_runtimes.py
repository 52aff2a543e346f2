"""The runtime-kind registries, and a CocoonVM reconciled end to end against the in-memory API: the
reconcile reaches each kind only through `reconcile.runtimes`."""

import copy
from typing import Any, get_args

from cocoon_operator import reconcile
from cocoon_operator.api.spec import RuntimeKind, parse_spec
from cocoon_operator.reconcile import Deps, runtimes
from cocoon_operator.settings import Settings
from cocoon_operator.steps.contract import HealthProbe
from cocoon_operator.steps.health import WorkerHealth, provider
from cocoon_operator.steps.health.probe import RunnerProbe
from tests.unit.builders import cocoonnode, step_context, world
from tests.unit.health.builders import IP, NOW, StubProber, container, runner_ok, running, triton_ok
from tests.unit.test_cocoon_vm import SETTINGS, host_node, launcher_pod, vm_spec


def test_every_kind_is_in_every_registry() -> None:
    """A new RuntimeKind fails here until it has its entry; every way of probing health has a check."""
    assert set(runtimes.RUNTIMES) == set(get_args(RuntimeKind))
    assert set(provider.CHECKS) == set(HealthProbe)


def _vm_world() -> Any:
    hosts = [{"apiVersion": "v1", "kind": "Node", **host_node(f"host-{i}")} for i in range(2)]
    return world(cocoonnode(spec=vm_spec({"instance": 2})), *hosts)


async def _run(kube: Any, settings: Settings = SETTINGS) -> reconcile.Outcome:
    body = copy.deepcopy(kube.find("CocoonNode", "ns1", "w1"))
    outcome = await reconcile.run(body, Deps(kube=kube, settings=settings))
    if outcome.status_patch:
        await kube.patch_status("", "CocoonNode", "ns1", "w1", outcome.status_patch)
    return outcome


def _containers(kube: Any) -> list[str]:
    sts = kube.find("StatefulSet", "ns1", "w1")
    return [c["name"] for c in sts["spec"]["template"]["spec"]["containers"]]


async def test_a_cocoon_vm_gets_the_launcher_and_its_placement() -> None:
    kube = _vm_world()
    outcome = await _run(kube)
    assert "ConfigMap/w1-launcher" in outcome.applied and _containers(kube) == ["launcher"]
    assert kube.find("Service", "ns1", "w1")["spec"]["ports"][0]["port"] == 12020
    scheduled = kube.find("CocoonNode", "ns1", "w1")["status"]["conditions"]
    message = next(c["message"] for c in scheduled if c["type"] == "Scheduled")
    assert message == "Waiting for the worker pod"
    refused = _vm_world()
    await _run(refused, SETTINGS.model_copy(update={"launcher_namespaces": ("other",)}))
    assert refused.find("StatefulSet", "ns1", "w1") is None
    assert refused.find("Secret", "ns1", "w1-wallet") is None  # nothing is created


async def test_stopping_a_cocoon_vm_keeps_its_launcher_template() -> None:
    """A wallet Secret swapped under a running CocoonVM stops it with its own StatefulSet at zero
    replicas (it used to be replaced by a TritonPod's, whose runner has no image)."""
    kube = _vm_world()
    await _run(kube)
    secret = kube.find("Secret", "ns1", "w1-wallet")
    secret["metadata"]["annotations"] = {}
    outcome = await _run(kube)
    assert outcome.applied == ("StatefulSet/w1",)
    assert kube.find("StatefulSet", "ns1", "w1")["spec"]["replicas"] == 0
    assert _containers(kube) == ["launcher"]


class _VmProber(StubProber):
    def __init__(self) -> None:
        super().__init__((triton_ok(), runner_ok()))
        self.runner_only: list[tuple[str, int]] = []

    async def probe_runner_only(self, pod_ip: str, port: int) -> RunnerProbe:
        self.runner_only.append((pod_ip, port))
        return runner_ok()


async def test_health_probes_a_launcher_pod_by_its_runner_alone() -> None:
    prober = _VmProber()
    spec = parse_spec(vm_spec({"instance": 3}))
    ctx = step_context(spec, pod=launcher_pod(main=container("launcher", running())), settings=SETTINGS)
    report = await WorkerHealth(prober, clock=lambda: NOW).observe(ctx)
    assert prober.asked == [] and prober.runner_only == [(IP, 12030)]
    assert [(c.type, c.reason) for c in report.conditions] == [
        ("InferenceReady", "VmServing"),
        ("RunnerHealthy", "Healthy"),
    ]
