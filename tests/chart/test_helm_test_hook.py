"""`helm test`: the hook renders with least privilege, and its script passes against the real API
server with the hook ServiceAccount's own token (the local control plane has no kubelet, so the test
Pod's script is run here as a process, as the cleanup hook's is in test_chart_cluster.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import start_http_server

from tests.chart import test_chart_cluster as chart_cluster
from tests.chart.test_chart_cluster import Kube, _free_port
from tests.chart.tools import CHART, KUBE_VERSION, helm_bin, is_hook, one, render, run
from tests.helpers.metrics import populated_registry

TEMPLATE = "templates/tests/test-install.yaml"
kube = chart_cluster.kube  # the fixtures of the chart's cluster tests (CRD applied, a release namespace)
release_ns = chart_cluster.release_ns


def _hook(values: dict[str, str] | None = None, **kw: Any) -> list[dict[str, Any]]:
    return [o for o in render(values, show_only=TEMPLATE, **kw)]


def test_hook_renders_with_least_privilege() -> None:
    objs = _hook()
    assert objs and all(is_hook(o) and o["metadata"]["annotations"]["helm.sh/hook"] == "test" for o in objs)
    pod = one(objs, "Pod")
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never"
    assert spec["securityContext"]["runAsNonRoot"] is True
    (container,) = spec["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["COCOON_TEST_DEPLOYMENT"] == "cocoon-system/cocoon-cocoon-operator"
    assert (
        env["COCOON_TEST_METRICS_URL"]
        == "http://cocoon-cocoon-operator-metrics.cocoon-system.svc:9090/metrics"
    )
    rules = [r for o in objs if o["kind"] in ("Role", "ClusterRole") for r in o["rules"]]
    verbs = {(g, res, v) for r in rules for g in r["apiGroups"] for res in r["resources"] for v in r["verbs"]}
    assert verbs == {
        ("apiextensions.k8s.io", "customresourcedefinitions", "get"),
        ("cocoon.tonops.dev", "cocoonnodes", "create"),
        ("apps", "deployments/status", "get"),
    }
    crd_rule = next(r for r in rules if "customresourcedefinitions" in r["resources"])
    assert crd_rule["resourceNames"] == ["cocoonnodes.cocoon.tonops.dev"]
    # single-namespace mode: the dry run goes where the operator watches
    objs = _hook({"watchNamespace": "cocoon-workers", "replicaCount": "0"})
    env = {e["name"]: e["value"] for e in one(objs, "Pod")["spec"]["containers"][0]["env"]}
    assert env["COCOON_TEST_NAMESPACE"] == "cocoon-workers" and env["COCOON_TEST_DEPLOYMENT"] == ""
    assert one(objs, "Role")["metadata"]["namespace"] == "cocoon-workers"
    proc = run([helm_bin(), "template", "x", str(CHART), "--kube-version", KUBE_VERSION, "--set",
                "helmTest.enabled=false", "--show-only", TEMPLATE], check=False)  # fmt: skip
    assert proc.returncode != 0 and "could not find template" in proc.stderr


@pytest.mark.parametrize(
    ("values", "image"),
    [
        ({}, "-"),  # the default policy lists no runner image: the dry run expects the refusal
        ({"imagePolicy.enabled": "false"}, "registry.example/cocoon/worker-runner:1.0"),
        ({"imagePolicy.worker.repositoryPrefixes[0]": "r.example/runner:"}, "r.example/runner:1.0"),
        (
            {"imagePolicy.worker.repositoryPrefixes[0]": "r.example/cocoon/"},
            "r.example/cocoon/worker-runner:1.0",
        ),
        (
            {"imagePolicy.worker.repositoryPrefixes[0]": "r.example/runner@"},
            "r.example/runner@sha256:" + "0" * 64,
        ),
        (
            {"imagePolicy.worker.digests[0]": "sha256:" + "a" * 64},
            "registry.example/cocoon/worker-runner@sha256:" + "a" * 64,
        ),
    ],
)
def test_hook_dry_run_uses_an_image_the_policy_admits(values: dict[str, str], image: str) -> None:
    env = {e["name"]: e["value"] for e in one(_hook(values), "Pod")["spec"]["containers"][0]["env"]}
    assert env["COCOON_TEST_WORKER_IMAGE"] == image


@pytest.mark.cluster
@pytest.mark.timeout(300)
def test_hook_script_passes_against_the_api_server(
    kube: Kube, namespace: str, release_ns: str, tmp_path: Path
) -> None:
    release = "ht"
    values = [
        "--set",
        "crds.install=false",
        "--set",
        "replicaCount=0",
        "--set",
        f"watchNamespace={namespace}",
        "--set-json",
        'imagePolicy.worker.repositoryPrefixes=["registry.example/cocoon/worker-runner:"]',
    ]
    kube.helm("install", release, str(CHART), "-n", release_ns, *values)
    docs = [
        d
        for d in yaml.safe_load_all(
            run([helm_bin(), "template", release, str(CHART), "-n", release_ns, *values,
                 "--show-only", TEMPLATE, "--kube-version", KUBE_VERSION]).stdout
        )
        if d
    ]  # fmt: skip
    pod = one(docs, "Pod")
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([d for d in docs if d["kind"] != "Pod"]))
    try:
        hook_kubeconfig = kube.token_kubeconfig(
            release_ns, pod["spec"]["serviceAccountName"], tmp_path / "test.kubeconfig"
        )
        hook = kube.as_identity(hook_kubeconfig)
        assert (
            hook.kubectl("auth", "can-i", "get", "secrets", "-n", namespace, check=False).stdout.strip()
            == "no"
        )
        assert hook.kubectl("auth", "can-i", "delete", "cocoonnodes.cocoon.tonops.dev", "-n", namespace,
                            check=False).stdout.strip() == "no"  # fmt: skip
        # The operator's real exposition stands in for the operator pod KWOK cannot run.
        port = _free_port()
        start_http_server(port, addr="127.0.0.1", registry=populated_registry())
        (container,) = pod["spec"]["containers"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
        env.update({e["name"]: e["value"] for e in container["env"]})
        env.update(
            KUBECONFIG=str(hook_kubeconfig), COCOON_TEST_METRICS_URL=f"http://127.0.0.1:{port}/metrics"
        )
        proc = subprocess.run(
            [sys.executable, *container["command"][1:], *container["args"]],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "ok   CRD cocoonnodes.cocoon.tonops.dev is Established" in proc.stdout
        assert "ok   the operator's metrics answer" in proc.stdout
        assert f"ok   the API server accepts a CocoonNode in {namespace}" in proc.stdout
        assert kube.get("cocoonnodes.cocoon.tonops.dev", "helm-test-dry-run", "-n", namespace) is None
        assert env["COCOON_TEST_WORKER_IMAGE"] == "registry.example/cocoon/worker-runner:1.0"
        # An image policy that lists no runner yet (the chart's default): the refusal is the expected answer.
        none_listed = subprocess.run(
            [sys.executable, *container["command"][1:], *container["args"]],
            capture_output=True, text=True, env={**env, "COCOON_TEST_WORKER_IMAGE": "-"}, timeout=120,
        )  # fmt: skip
        assert none_listed.returncode == 1, none_listed.stdout  # this release's policy admits the sample
        # A namespace the hook may not write to: the script says so and fails.
        env["COCOON_TEST_NAMESPACE"] = release_ns
        refused = subprocess.run(
            [sys.executable, *container["command"][1:], *container["args"]],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert refused.returncode == 1 and "FAIL a sample CocoonNode was refused" in refused.stdout
    finally:
        kube.kubectl("delete", "-f", "-", "--ignore-not-found", input=yaml.safe_dump_all(docs), check=False)
