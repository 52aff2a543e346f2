"""Fleet profiles expand into the nodes the issue asks for (pure; no cluster needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cocoon_dev.cluster import fleet as f
from cocoon_dev.cluster.fleet import FleetError, load_profile


def _by_group(nodes: list[f.FakeNode]) -> dict[str, list[f.FakeNode]]:
    out: dict[str, list[f.FakeNode]] = {}
    for n in nodes:
        out.setdefault(n.name.rsplit("-", 1)[0], []).append(n)
    return out


def test_default_fleet_has_the_required_shapes() -> None:
    nodes = load_profile("default").nodes()
    tdx = [n for n in nodes if n.labels.get(f.NFD_TDX) == "true"]
    snp = [n for n in nodes if n.labels.get(f.NFD_SEV_SNP) == "true"]
    h100 = "NVIDIA-H100-80GB-HBM3"
    cc_on = [n for n in nodes if n.labels.get(f.CC_READY_STATE) == "true"]
    assert len([n for n in tdx if n.labels[f.GPU_PRODUCT] == h100 and n.gpus == 1 and n in cc_on]) >= 2
    assert len([n for n in tdx if n.labels[f.GPU_PRODUCT] == "NVIDIA-H200" and n.gpus == 1]) >= 1
    assert len([n for n in snp if n.labels[f.GPU_PRODUCT] == h100 and n.gpus == 1 and n in cc_on]) >= 2
    assert len([n for n in tdx if n.gpus == 8]) == 1
    plain = [n for n in nodes if n.labels.get(f.GPU_PRODUCT) == "NVIDIA-A100-SXM4-80GB"]
    assert len(plain) >= 2
    for n in plain:
        assert n.labels[f.CC_MODE] == "off" and n.labels[f.CC_READY_STATE] == "false"
        assert not {f.NFD_TDX, f.NFD_SEV_SNP, f.GKE_CONFIDENTIAL} & set(n.labels)
    cpu_only = [n for n in nodes if f.GPU_PRESENT not in n.labels]
    assert len(cpu_only) == 1 and cpu_only[0].taints == [] and f.GPU_RESOURCE not in cpu_only[0].capacity


def test_gpu_nodes_are_consistent() -> None:
    for n in load_profile("default").nodes():
        assert n.annotations["kwok.x-k8s.io/node"] == "fake"
        if n.gpus:
            assert n.labels[f.GPU_COUNT] == str(n.gpus) == n.allocatable[f.GPU_RESOURCE]
            assert f.GPU_TAINT in n.taints
            assert n.labels[f.CC_MODE] == n.labels[f.CC_MODE_STATE]


def test_large_profile_scales() -> None:
    profile = load_profile("large")
    nodes = profile.nodes()
    assert len(nodes) == 500
    assert len(profile.nodes(scale=2)) == 1000
    assert len({n.name for n in nodes}) == len(nodes)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("name: x\ngroups: [{name: a, class: nope, count: 1}]\n", "groups[0].class"),
        (
            "name: x\nclasses: {c: {tee: sgx, capacity: {cpu: '1', memory: 1Gi, pods: '1'}}}\n"
            "groups: [{name: a, class: c}]\n",
            "classes.c.tee",
        ),
        (
            "name: x\nclasses: {c: {gpu: {product: P, count: 0},"
            " capacity: {cpu: '1', memory: 1Gi, pods: '1'}}}\n"
            "groups: [{name: a, class: c}]\n",
            "classes.c.gpu.count",
        ),
        (
            "name: x\nclasses: {c: {capacity: {cpu: '1', pods: '1'}}}\ngroups: [{name: a, class: c}]\n",
            "classes.c.capacity.memory",
        ),
        (
            "name: x\nclasses: {c: {ccMode: maybe, capacity: {cpu: '1', memory: 1Gi, pods: '1'}}}\n"
            "groups: [{name: a, class: c}]\n",
            "classes.c.ccMode",
        ),
    ],
)
def test_bad_profile_names_the_field(tmp_path: Path, body: str, field: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(FleetError, match=field.replace("[", r"\[").replace("]", r"\]")):
        load_profile(path)


def test_unknown_builtin_profile() -> None:
    with pytest.raises(FleetError, match="no built-in fleet profile 'nope'"):
        load_profile("nope")
