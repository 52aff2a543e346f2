"""Shared builders for unit tests (objects shaped like the API server returns them)."""

import copy
from pathlib import Path
from typing import Any

import yaml

from cocoon_dev.memory_kube import FakeKube
from cocoon_operator.api.spec import CocoonNodeSpec
from cocoon_operator.k8s.api import KubeApi
from cocoon_operator.reconcile import runtimes
from cocoon_operator.settings import Settings
from cocoon_operator.steps.contract import Context

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CRD_PATH = ROOT / "crds" / "cocoonnodes.yaml"

MODEL = (
    "Qwen/Qwen3-8B@b968826d9c46dd6066d109eabc6255188de91218"
    ":7e9d33bebf5518e0dc666e5a04ffbab247ff5878f91a9a55a6e942fe245a8ee9"
)
OWNER = "UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-m"
ROOT_ADDRESS = "EQCns7bYSp0igFvS1wpb5wsZjCKCV19MD5AVzI4EyxsnU73k"


def minimal_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "model": MODEL,
        "ownerAddress": OWNER,
        "network": {"globalConfigRef": {"name": "ton-global-config"}, "rootContractAddress": ROOT_ADDRESS},
        "wallet": {"secretRef": {"name": "w1-wallet"}},
        "worker": {"image": "localhost/runner:dev"},
    }
    spec.update(overrides)
    return spec


def cocoonnode(
    name: str = "w1", namespace: str = "ns1", spec: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "cocoon.tonops.dev/v1alpha1",
        "kind": "CocoonNode",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "generation": 1},
        "spec": copy.deepcopy(spec) if spec is not None else minimal_spec(),
    }


def node(
    name: str,
    *,
    tee: str | None = "tdx",
    cc: bool = True,
    product: str | None = "NVIDIA-H100-80GB-HBM3",
    gpus: int = 1,
    taint: bool = True,
    unschedulable: bool = False,
) -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": name}
    if product:
        labels["nvidia.com/gpu.product"] = product
        labels["nvidia.com/gpu.present"] = "true"
        labels["nvidia.com/cc.ready.state"] = "true" if cc else "false"
    if tee == "tdx":
        labels["feature.node.kubernetes.io/cpu-security.tdx.protected"] = "true"
    elif tee == "sev-snp":
        labels["feature.node.kubernetes.io/cpu-security.sev.snp.enabled"] = "true"
    taints = (
        [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}] if taint and product else []
    )
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": taints, "unschedulable": unschedulable},
        "status": {
            "allocatable": {"cpu": "16", "nvidia.com/gpu": str(gpus if product else 0)},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def default_fleet() -> list[dict[str, Any]]:
    """The shape of the dev cluster's default fleet."""
    return [
        node("tdx-h100-0"),
        node("tdx-h100-1"),
        node("tdx-h100-ccoff-0", cc=False),
        node("tdx-h200-0", product="NVIDIA-H200"),
        node("tdx-h100x8-0", gpus=8),
        node("snp-h100-0", tee="sev-snp"),
        node("snp-h100-1", tee="sev-snp"),
        node("a100-0", tee=None, cc=False, product="NVIDIA-A100-SXM4-80GB"),
        node("a100-1", tee=None, cc=False, product="NVIDIA-A100-SXM4-80GB"),
        node("cpu-0", tee=None, product=None),
    ]


def load_crd() -> dict[str, Any]:
    with CRD_PATH.open() as fh:
        loaded: dict[str, Any] = yaml.safe_load(fh)
    return loaded


def load_examples() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        with path.open() as fh:
            docs.extend(d for d in yaml.safe_load_all(fh) if d)
    return docs


CONFIG_MAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "ton-global-config", "namespace": "ns1"},
    "data": {"global.config.json": "{}"},
}


def world(body: dict[str, Any], *extra: dict[str, Any]) -> FakeKube:
    """The in-memory API with `body`, the TON config it references and the default fleet."""
    return FakeKube([body, copy.deepcopy(CONFIG_MAP), *default_fleet(), *extra])


def put_worker_pod(kube: FakeKube, pod: dict[str, Any]) -> dict[str, Any]:
    """`pod` as the StatefulSet controller makes it: with the StatefulSet's selector labels and
    controlled by it."""
    sts = kube.find("StatefulSet", "ns1", "w1")
    assert sts is not None
    pod = copy.deepcopy(pod)
    meta = pod["metadata"]
    meta["labels"] = {**(meta.get("labels") or {}), **sts["spec"]["selector"]["matchLabels"]}
    ref = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "w1", "uid": sts["metadata"]["uid"]}
    meta["ownerReferences"] = [{**ref, "controller": True}]
    return kube.put(pod)


def step_context(
    spec: CocoonNodeSpec,
    *,
    name: str = "w1",
    namespace: str = "ns1",
    status: dict[str, Any] | None = None,
    pod: dict[str, Any] | None = None,
    settings: Settings | None = None,
    kube: KubeApi | None = None,
    annotations: dict[str, str] | None = None,
) -> Context:
    """What the reconcile hands a step for one CocoonNode (kube None: the step must not call the API)."""
    settings = settings or Settings()
    return Context(
        name=name,
        namespace=namespace,
        uid=f"uid-{name}",
        generation=1,
        spec=spec,
        status=status if status is not None else {},
        pod=pod,
        wallet_secret_name=f"{name}-wallet",
        settings=settings,
        kube=kube,  # type: ignore[arg-type]
        worker=runtimes.worker_access(spec, settings),
        annotations=annotations or {},
    )
