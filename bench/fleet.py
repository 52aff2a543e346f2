"""The benchmark's fake fleet and workload objects (pure: manifests only, no API calls).

Nodes come from the dev stack's fleet profiles (`cocoon_dev.cluster.fleet`, node classes of the
`default` profile), so they carry exactly the label conventions of the dev cluster; only the counts are
sized to N. CocoonNodes are the `examples/` TDX worker (80 %) and an SEV-SNP variant (20 %), without a
model PVC (a missing PVC would keep the real scheduler from binding the pod).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import yaml

from cocoon_dev.cluster.fleet import FakeNode, parse_profile

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SNP_SHARE = 0.2  # one CocoonNode in five asks for SEV-SNP

# Per N CocoonNodes (ratios of the `large` profile, ~10 % GPU headroom for each TEE kind).
GROUPS = (
    ("b-tdx-h100", "tdx-h100x1", 0.52),
    ("b-tdx-h200", "tdx-h200x1", 0.26),
    ("b-tdx-h100x8", "tdx-h100x8", 0.02),  # 8 GPUs each: 0.16 N GPUs
    ("b-snp-h100", "snp-h100x1", 0.23),
    # Not eligible: the operator must never place a worker here.
    ("b-tdx-h100-ccoff", "tdx-h100x1-ccoff", 0.03),
    ("b-a100", "a100x1", 0.06),
    ("b-cpu", "cpu", 0.02),
)


def fleet(n: int) -> list[FakeNode]:
    groups = [{"name": g, "class": c, "count": max(1, math.ceil(share * n))} for g, c, share in GROUPS]
    profile = parse_profile({"name": f"bench-{n}", "classesFrom": "default", "groups": groups}, "bench")
    return profile.nodes()


def cocoonnode(name: str, index: int) -> dict[str, Any]:
    """The `examples/` TDX CocoonNode under a new name; every fifth one asks for SEV-SNP."""
    base = yaml.safe_load((EXAMPLES / "cocoonnode-tdx.yaml").read_text())
    obj: dict[str, Any] = copy.deepcopy(base)
    obj["metadata"] = {"name": name, "labels": {"bench.cocoon.tonops.dev/run": "1"}}
    spec = obj["spec"]
    spec["wallet"]["secretRef"]["name"] = f"{name}-wallet"
    spec["inference"].pop("modelSource", None)
    if index % round(1 / SNP_SHARE) == round(1 / SNP_SHARE) - 1:
        spec["placement"] = {"tee": "SEV-SNP", "gpuProducts": ["NVIDIA-H100-80GB-HBM3"], "gpuCount": 1}
    return obj


def support_objects() -> list[dict[str, Any]]:
    """The ConfigMap and treasury Secret the example CocoonNode references."""
    docs: list[dict[str, Any]] = []
    for file in ("ton-global-config.yaml", "treasury-secret.yaml"):
        docs.extend(d for d in yaml.safe_load_all((EXAMPLES / file).read_text()) if d)
    return docs


def baseline_children(cn: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    """Every object the operator creates for `cn` (runner ConfigMap, Service, NetworkPolicy, PDB, wallet
    Secret, StatefulSet last), from its pure builders, minus the owner: the "full" baseline."""
    from cocoon_operator.api.spec import parse_spec
    from cocoon_operator.reconcile import children
    from cocoon_operator.settings import Settings

    spec = parse_spec(cn["spec"])
    owner = children.Owner(
        name=cn["metadata"]["name"], namespace=namespace, uid="00000000-0000-0000-0000-000000000000"
    )
    objs = children.desired(owner, spec, Settings())  # the PDB included (maxUnavailable 1)
    objs.append(children.new_wallet_secret(owner, spec.wallet.secret_ref.name))
    for obj in objs:
        obj["metadata"].pop("ownerReferences", None)
    return sorted(objs, key=lambda o: o["kind"] == "StatefulSet")


def baseline_statefulset(cn: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The StatefulSet the operator would create for `cn`, from its pure builders, minus the owner."""
    from cocoon_operator.api.spec import parse_spec
    from cocoon_operator.reconcile import children
    from cocoon_operator.settings import Settings

    spec = parse_spec(cn["spec"])
    settings = Settings()
    owner = children.Owner(
        name=cn["metadata"]["name"], namespace=namespace, uid="00000000-0000-0000-0000-000000000000"
    )
    desired = children.desired(owner, spec, settings)
    sts = next(o for o in desired if o["kind"] == "StatefulSet")
    sts["metadata"].pop("ownerReferences", None)  # no owner: the garbage collector would delete it
    return sts
