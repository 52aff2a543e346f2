"""The chart against a real API server: `helm install` with the real helm binary, then the operator run
as a local process with the chart ServiceAccount's own token (TokenRequest API), never with admin
credentials. The operator reconciling an example CocoonNode to Scheduled=True shows the RBAC is
enough; the same identity getting HTTP 403 for what it must not do shows it is not more.

The local control plane has no kubelet (KWOK simulates pod phases), so the chart's Deployment and the
pre-delete hook Job never run a container here. The hook's script is therefore run by the test itself,
locally, with the hook ServiceAccount's token, while the operator still runs. On kind (CI) the hook
Job runs for real (docs/kind-ci.md).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.tools import CHART, KUBE_VERSION, REPO, helm_bin, is_hook
from tests.helpers.k8s import token_kubeconfig

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(420)]

GROUP = "cocoon.tonops.dev"
EXAMPLE = REPO / "examples" / "cocoonnode-tdx.yaml"
FINALIZER = "cocoon.tonops.dev/finalizer"


# ------------------------------------------------------------------ helpers


def _wait(what: str, probe: Callable[[], Any], timeout_s: float, every_s: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}; last: {last!r}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Kube:
    """kubectl (the control plane's build) and helm with one kubeconfig."""

    def __init__(self, kubectl: Path, kubeconfig: Path) -> None:
        self.kubectl_path, self.kubeconfig = kubectl, kubeconfig

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.kubectl_path), "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=90,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}"
            )
        return proc

    def get(self, *args: str) -> dict[str, Any] | None:
        proc = self.kubectl("get", *args, "-o", "yaml", check=False)
        if proc.returncode != 0:
            if "NotFound" in proc.stderr:
                return None
            raise AssertionError(f"kubectl get {' '.join(args)}: {proc.stderr.strip()}")
        doc: dict[str, Any] = yaml.safe_load(proc.stdout)
        return doc

    def helm(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [helm_bin(), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def token_kubeconfig(self, namespace: str, service_account: str, path: Path) -> Path:
        """A kubeconfig for the same API server whose only credential is the ServiceAccount's token."""
        token = self.kubectl(
            "create", "token", service_account, "-n", namespace, "--duration", "1h"
        ).stdout.strip()
        user = f"system:serviceaccount:{namespace}:{service_account}"
        return token_kubeconfig(self.kubeconfig, user, token, path)

    def as_identity(self, kubeconfig: Path) -> Kube:
        return Kube(self.kubectl_path, kubeconfig)


def _forbidden(proc: subprocess.CompletedProcess[str]) -> bool:
    return proc.returncode != 0 and "Forbidden" in proc.stderr and "(Forbidden)" in proc.stderr


def _scheduled(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == "Scheduled" and cond["status"] == "True":
            return dict(cond)
    return None


class Operator:
    """`python -m cocoon_operator run ...` as a child process, output to a file; always stopped."""

    def __init__(self, args: list[str], kubeconfig: Path, release_ns: str, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
        env.update(
            KUBECONFIG=str(kubeconfig),
            COCOON_OPERATOR_NAMESPACE=release_ns,
            COCOON_RESYNC_SECONDS="5",
            COCOON_HEALTH_PROBES="false",  # KWOK-only pods: nothing serves them in this test
            PYTHONPATH=os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(REPO / "operator")) if p),
        )
        self.log = log
        self._out = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cocoon_operator", *args],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
            start_new_session=True,
        )

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> str:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._out.close()
        return self.log.read_text()


# ------------------------------------------------------------------ fixtures


def _image_values() -> list[str]:
    """On kind (CI) the image built and loaded by the workflow, so the hook Job can really run there."""
    image = os.environ.get("COCOON_CHART_TEST_IMAGE", "")
    if not image:
        return []
    repository, _, tag = image.rpartition(":")
    return [
        "--set",
        f"image.repository={repository}",
        "--set",
        f"image.tag={tag}",
        "--set",
        "image.pullPolicy=Never",
    ]


@pytest.fixture
def kube(cluster: Any) -> Kube:
    k = Kube(Path(cluster.kubectl_path), Path(cluster.kubeconfig))
    # The CRD the GitOps way (crds.install=false below): a shared test cluster has one owner of the CRD.
    k.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=cocoon-tests",
        "-f",
        str(REPO / "crds"),
    )
    k.kubectl("wait", "--for=condition=Established", f"crd/cocoonnodes.{GROUP}", "--timeout=60s")
    return k


@pytest.fixture
def release_ns(kube: Kube, namespace: str) -> Iterator[str]:
    """The release's namespace. Teardown leaves nothing behind even when a test failed half-way:
    releases still installed are uninstalled (their ClusterRoles are cluster-scoped), and CocoonNodes
    left in the test's namespace lose their finalizer (the test's operator is gone by then), so that
    both namespaces can be deleted."""
    name = f"rel-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        listed = subprocess.run(
            [helm_bin(), "--kubeconfig", str(kube.kubeconfig), "list", "-n", name, "-q"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        for release in listed.stdout.split():
            uninstall = ["uninstall", release, "-n", name, "--no-hooks"]
            subprocess.run(
                [helm_bin(), "--kubeconfig", str(kube.kubeconfig), *uninstall],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
        left = kube.kubectl(
            "get", f"cocoonnodes.{GROUP}", "-n", namespace, "-o", "name", check=False
        ).stdout.split()
        no_finalizers = '{"metadata":{"finalizers":null}}'
        for obj in left:
            kube.kubectl("patch", obj, "-n", namespace, "--type=merge", "-p", no_finalizers, check=False)
        kube.kubectl("delete", "namespace", name, "--wait=false", check=False)


# ------------------------------------------------------------------ tests


def test_single_namespace_install_reconciles_with_the_chart_identity(
    kube: Kube, namespace: str, release_ns: str, tmp_path: Path
) -> None:
    workers_ns = namespace
    release = "co"
    values = [
        "--set", f"watchNamespace={workers_ns}",
        "--set", "crds.install=false",
        "--set", "networkPolicy.enabled=true",
        "--set", "podDisruptionBudget.enabled=true",
        # the example's runner image (the admission policy refuses any other)
        "--set", "imagePolicy.worker.repositoryPrefixes={localhost/cocoon-worker-runner:}",
        *_image_values(),
    ]  # fmt: skip
    kube.helm("install", release, str(CHART), "-n", release_ns, *values, "--timeout", "120s")
    sa = f"{release}-cocoon-operator"
    # The local process below is the operator under test: the chart's Deployment must not compete with
    # it (here it never runs a container anyway; on kind it would).
    kube.kubectl("scale", "deployment", sa, "-n", release_ns, "--replicas=0")
    assert kube.get("serviceaccount", sa, "-n", release_ns)
    assert kube.get("role", sa, "-n", workers_ns), (
        "single-namespace mode: the Role lives in the watched namespace"
    )
    assert kube.get("deployment", sa, "-n", release_ns)

    # Everything the example needs, created as admin (the user's job, not the operator's).
    for f in ("ton-global-config.yaml", "treasury-secret.yaml"):
        kube.kubectl("apply", "-n", workers_ns, "-f", str(REPO / "examples" / f))
    example = yaml.safe_load(EXAMPLE.read_text())
    claim = (((example["spec"].get("inference") or {}).get("modelSource") or {}).get("pvc") or {}).get(
        "claimName"
    )
    pv_name = f"models-{workers_ns}"
    if claim:  # a pre-bound PV + PVC, so the scheduler's volume check passes
        kube.kubectl(
            "apply",
            "-f",
            "-",
            input=yaml.safe_dump_all(
                [
                    {
                        "apiVersion": "v1",
                        "kind": "PersistentVolume",
                        "metadata": {"name": pv_name, "labels": {"cocoon.tonops.dev/test": "true"}},
                        "spec": {
                            "capacity": {"storage": "100Gi"},
                            "accessModes": ["ReadOnlyMany", "ReadWriteOnce"],
                            "hostPath": {"path": "/models"},
                            "storageClassName": "",
                            "claimRef": {"namespace": workers_ns, "name": claim},
                        },
                    },
                    {
                        "apiVersion": "v1",
                        "kind": "PersistentVolumeClaim",
                        "metadata": {"name": claim, "namespace": workers_ns},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "100Gi"}},
                            "storageClassName": "",
                            "volumeName": pv_name,
                        },
                    },
                ]
            ),
        )

    op_kubeconfig = kube.token_kubeconfig(release_ns, sa, tmp_path / "operator.kubeconfig")
    me = kube.as_identity(op_kubeconfig)
    assert me.kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout == (
        f"system:serviceaccount:{release_ns}:{sa}"
    )

    # The chart's own arguments (from the rendered Deployment), with a local liveness address.
    deploy = kube.get("deployment", sa, "-n", release_ns)
    assert deploy is not None
    args = [
        a if not a.startswith("--liveness=") else f"--liveness=http://127.0.0.1:{_free_port()}/healthz"
        for a in deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    ]
    operator = Operator(args, op_kubeconfig, release_ns, tmp_path / "operator.log")
    try:
        kube.kubectl("apply", "-n", workers_ns, "-f", str(EXAMPLE))
        name = example["metadata"]["name"]

        def scheduled() -> dict[str, Any] | None:
            out = operator.output()
            # no point in waiting: exited, unauthenticated, or its start-up failed
            if (
                not operator.alive()
                or "system:anonymous" in out
                or ("kopf.activities" in out and " failed " in out)
            ):
                raise AssertionError("the operator exited, failed to start, or sent unauthenticated requests")
            return _scheduled(kube.get(f"cocoonnodes.{GROUP}", name, "-n", workers_ns))

        try:
            cond = _wait(f"CocoonNode {name} Scheduled=True", scheduled, timeout_s=150, every_s=2)
        except AssertionError:
            if "system:anonymous" in operator.output():
                raise AssertionError(
                    "the operator sent its requests without the ServiceAccount token (as system:anonymous): "
                    "its client does not read the kubeconfig's bearer token (kubernetes>=30 stores it under "
                    "api_key['BearerToken']; see cocoon_operator/k8s/config.py and the kopf login handler in "
                    "cocoon_operator/handlers/startup.py); admin client certificates "
                    f"hide this.\noperator output:\n{operator.output()[-3000:]}"
                ) from None
            obj = kube.get(f"cocoonnodes.{GROUP}", name, "-n", workers_ns)
            status = yaml.safe_dump((obj or {}).get("status"))
            raise AssertionError(
                f"status:\n{status}\noperator output:\n{operator.output()[-6000:]}"
            ) from None
        assert cond["reason"] == "PodScheduled"
        cn = kube.get(f"cocoonnodes.{GROUP}", name, "-n", workers_ns)
        assert cn is not None and FINALIZER in cn["metadata"].get("finalizers", [])
        # the children the operator created with its own identity
        assert kube.get("statefulset", name, "-n", workers_ns)
        wallet = example["spec"]["wallet"]["secretRef"]["name"]
        secret = kube.get("secret", wallet, "-n", workers_ns)
        assert secret, "the operator generated the wallet Secret"
        # ... through the admission policies, with its own token: Opaque, labelled, bound to the node
        assert secret["type"] == "Opaque"
        assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "cocoon-operator"
        assert secret["metadata"]["annotations"]["cocoon.tonops.dev/bound-uid"] == cn["metadata"]["uid"]

        # ... and what that identity may not do: HTTP 403, not hidden by admin credentials
        node = kube.kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}").stdout
        assert _forbidden(me.kubectl("delete", "node", node, "--dry-run=server", check=False))
        assert _forbidden(me.kubectl("get", "secrets", "-n", workers_ns, check=False)), "no Secret listing"
        kube.kubectl("create", "secret", "generic", "other", "-n", release_ns, "--from-literal=k=v")
        assert _forbidden(me.kubectl("get", "secret", "other", "-n", release_ns, check=False))
        assert _forbidden(me.kubectl("get", "configmaps", "-n", "default", check=False))
        assert _forbidden(me.kubectl("get", f"cocoonnodes.{GROUP}", "-n", release_ns, check=False))
        assert _forbidden(
            me.kubectl(
                "delete", f"cocoonnodes.{GROUP}", name, "-n", workers_ns, "--dry-run=server", check=False
            )
        )
        assert me.kubectl("auth", "can-i", "create", "clusterroles", check=False).stdout.strip() == "no"
        # issue 16: RBAC lets it create Secrets in its namespace; the admission policy lets it create
        # only its own kind (no token for a ServiceAccount, nothing unlabelled)
        token_secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/service-account-token",
            "metadata": {
                "name": "stolen-token",
                "namespace": workers_ns,
                "labels": {"app.kubernetes.io/managed-by": "cocoon-operator"},
                "annotations": {"kubernetes.io/service-account.name": "default"},
            },
        }
        refused = me.kubectl("create", "-f", "-", input=json.dumps(token_secret), check=False)
        assert _forbidden(refused) and "may create only Opaque Secrets" in refused.stderr, refused.stderr
        refused = me.kubectl(
            "create", "secret", "generic", "unlabelled", "-n", workers_ns, "--from-literal=k=v", check=False
        )
        assert refused.returncode != 0 and "is forbidden: ValidatingAdmissionPolicy" in refused.stderr
        assert "app.kubernetes.io/managed-by=cocoon-operator" in refused.stderr
        assert kube.get("secret", "stolen-token", "-n", workers_ns) is None
        out = operator.output()
        assert "Forbidden" not in out and " 403" not in out, (
            f"the operator was refused something:\n{out[-6000:]}"
        )

        # Uninstall, step 1: the pre-delete hook's procedure with the hook's own identity, while the
        # operator runs. Its ServiceAccount and RBAC are Helm hook objects; create them as Helm would.
        hook_docs = [
            d
            for d in yaml.safe_load_all(
                subprocess.run(
                    [helm_bin(), "template", release, str(CHART), "-n", release_ns, *values,
                     "--show-only", "templates/cleanup-hook.yaml", "--kube-version", KUBE_VERSION],
                    capture_output=True, text=True, check=True, timeout=60,
                ).stdout
            )
            if d
        ]  # fmt: skip
        assert all(is_hook(d) for d in hook_docs)
        job = next(d for d in hook_docs if d["kind"] == "Job")
        kube.kubectl(
            "apply", "-f", "-", input=yaml.safe_dump_all([d for d in hook_docs if d["kind"] != "Job"])
        )
        pod = job["spec"]["template"]["spec"]
        hook_kubeconfig = kube.token_kubeconfig(
            release_ns, pod["serviceAccountName"], tmp_path / "hook.kubeconfig"
        )
        hook = kube.as_identity(hook_kubeconfig)
        assert _forbidden(hook.kubectl("get", "statefulsets", "-n", workers_ns, check=False))
        (container,) = pod["containers"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
        env.update({e["name"]: e["value"] for e in container["env"]})
        env.update(KUBECONFIG=str(hook_kubeconfig), COCOON_CLEANUP_TIMEOUT="120")
        cleanup = subprocess.run(
            [sys.executable, *container["command"][1:], *container["args"]],
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
        )
        assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr + operator.output()[-4000:]
        assert f"Deleted CocoonNode {workers_ns}/{name}" in cleanup.stdout
        assert "All CocoonNodes are gone" in cleanup.stdout
        assert kube.get(f"cocoonnodes.{GROUP}", name, "-n", workers_ns) is None
    finally:
        out = operator.stop()
        kube.kubectl("delete", "pv", pv_name, "--wait=false", "--ignore-not-found", check=False)
    assert "Traceback" not in out, out[-6000:]

    # Step 2: helm uninstall. The hook Job is created again by Helm; with no kubelet here KWOK only
    # marks its pod finished, so this step checks that Helm and the API server accept the hook objects
    # and that everything else of the release goes, not the Job's work (done above).
    kube.helm("uninstall", release, "-n", release_ns, "--wait", "--timeout", "120s")
    assert kube.get("deployment", sa, "-n", release_ns) is None
    assert kube.get("role", sa, "-n", workers_ns) is None
    assert kube.get(f"clusterrole/{sa}-{release_ns}") is None
    assert kube.get("crd", f"cocoonnodes.{GROUP}") is not None, "the CRD is not the release's"


def test_all_namespaces_install_rbac(kube: Kube, namespace: str, release_ns: str, tmp_path: Path) -> None:
    """Cluster-wide mode (only with the explicit allNamespaces): what the identity may and may not do,
    asked of the real authorizer."""
    release = "ca"
    kube.helm(
        "install", release, str(CHART), "-n", release_ns, "--set", "crds.install=false",
        "--set", "allNamespaces=true", *_image_values(),
    )  # fmt: skip
    kube.kubectl("scale", "deployment", f"{release}-cocoon-operator", "-n", release_ns, "--replicas=0")
    sa = f"{release}-cocoon-operator"
    me = kube.as_identity(kube.token_kubeconfig(release_ns, sa, tmp_path / "op.kubeconfig"))

    def can(verb: str, resource: str, ns: str | None = None) -> bool:
        args = ["auth", "can-i", verb, resource] + (["-n", ns] if ns else [])
        return me.kubectl(*args, check=False).stdout.strip() == "yes"

    for verb, resource in [
        ("watch", f"cocoonnodes.{GROUP}"),
        ("patch", f"cocoonnodes.{GROUP}/status"),
        ("create", "statefulsets.apps"),
        ("create", "secrets"),
        ("get", "secrets"),
        ("create", "events"),
        ("list", "pods"),
    ]:
        assert can(verb, resource, namespace), f"{verb} {resource}"
    assert can("list", "nodes")
    for verb, resource in [
        ("list", "secrets"),
        ("update", "secrets"),
        ("delete", "secrets"),
        ("delete", f"cocoonnodes.{GROUP}"),
        ("create", "pods"),
        ("create", "pods/exec"),
        ("delete", "nodes"),
        ("patch", "nodes"),
        ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
        ("impersonate", "serviceaccounts"),
        ("deletecollection", "configmaps"),
    ]:
        assert not can(verb, resource, namespace), f"{verb} {resource} must be refused"
    assert _forbidden(me.kubectl("get", "secrets", "-A", check=False))
    # users: the aggregated roles reach the built-in view role
    kube.kubectl("create", "serviceaccount", "viewer", "-n", namespace)
    binding = ["rolebinding", "viewer", "--clusterrole=view", f"--serviceaccount={namespace}:viewer"]
    kube.kubectl("create", *binding, "-n", namespace)
    viewer = kube.as_identity(kube.token_kubeconfig(namespace, "viewer", tmp_path / "viewer.kubeconfig"))
    assert _wait(
        "aggregation of the view role",
        lambda: (
            viewer.kubectl(
                "auth", "can-i", "list", f"cocoonnodes.{GROUP}", "-n", namespace, check=False
            ).stdout.strip()
            == "yes"
        ),
        timeout_s=30,
    )
    assert (
        viewer.kubectl(
            "auth", "can-i", "create", f"cocoonnodes.{GROUP}", "-n", namespace, check=False
        ).stdout.strip()
        == "no"
    )
    kube.helm("uninstall", release, "-n", release_ns, "--no-hooks", "--timeout", "60s")


def test_default_install_has_secret_rights_only_where_it_serves(
    kube: Kube, namespace: str, release_ns: str, tmp_path: Path
) -> None:
    """Issue 16: without allNamespaces the operator serves the release namespace only, and may read or
    create Secrets nowhere else (the real authorizer says so)."""
    release = "dn"
    kube.helm("install", release, str(CHART), "-n", release_ns, "--set", "crds.install=false",
              "--set", "replicaCount=0", *_image_values())  # fmt: skip
    sa = f"{release}-cocoon-operator"
    me = kube.as_identity(kube.token_kubeconfig(release_ns, sa, tmp_path / "op.kubeconfig"))

    def can(verb: str, resource: str, ns: str) -> bool:
        return me.kubectl("auth", "can-i", verb, resource, "-n", ns, check=False).stdout.strip() == "yes"

    assert can("get", "secrets", release_ns) and can("create", "secrets", release_ns)
    assert can("watch", f"cocoonnodes.{GROUP}", release_ns)
    for verb in ("get", "create", "list"):
        assert not can(verb, "secrets", namespace), f"{verb} secrets outside the served namespace"
    assert not can("watch", f"cocoonnodes.{GROUP}", namespace)
    assert not can("create", "statefulsets.apps", namespace)
    deploy = kube.get("deployment", sa, "-n", release_ns)
    assert deploy is not None
    assert f"--namespace={release_ns}" in deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    assert kube.get("networkpolicy", sa, "-n", release_ns), "the operator's NetworkPolicy is on by default"
    kube.helm("uninstall", release, "-n", release_ns, "--no-hooks", "--timeout", "60s")


def test_kind_add_gpus_script(kube: Kube) -> None:
    """hack/kind-add-gpus.sh against real Node objects shaped like kind-config.yaml's GPU workers."""
    tag = uuid.uuid4().hex[:6]
    kind_cfg = yaml.safe_load((REPO / "kind-config.yaml").read_text())
    gpu_workers = [
        n for n in kind_cfg["nodes"] if n.get("labels", {}).get("nvidia.com/gpu.present") == "true"
    ]
    names = [f"kindlike-{tag}-{i}" for i in range(len(gpu_workers))]
    nodes = [
        {
            "apiVersion": "v1",
            "kind": "Node",
            # no kwok annotation: nothing manages these nodes, nothing schedules on them (taint)
            "metadata": {"name": n, "labels": {**w["labels"], "cocoon.tonops.dev/kind-test": tag}},
            "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
            "status": {"capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                       "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"}},
        }
        for n, w in zip(names, gpu_workers, strict=True)
    ]  # fmt: skip
    kube.kubectl("create", "-f", "-", input=yaml.safe_dump_all(nodes))
    try:
        env = {**os.environ, "KUBECTL": str(kube.kubectl_path), "KUBECONFIG": str(kube.kubeconfig)}
        for _ in range(2):  # idempotent
            proc = subprocess.run(
                ["bash", str(REPO / "hack" / "kind-add-gpus.sh"), "--set-allocatable", "--timeout", "30",
                 "--selector", f"cocoon.tonops.dev/kind-test={tag}"],
                capture_output=True, text=True, env=env, timeout=120,
            )  # fmt: skip
            assert proc.returncode == 0, proc.stdout + proc.stderr
        for n, w in zip(names, gpu_workers, strict=True):
            node = kube.get("node", n)
            assert node is not None
            count = w["labels"]["nvidia.com/gpu.count"]
            assert node["status"]["capacity"]["nvidia.com/gpu"] == count
            assert node["status"]["allocatable"]["nvidia.com/gpu"] == count
            tee = w["labels"]["cloud.google.com/gke-confidential-nodes-instance-type"]
            key = {
                "TDX": "feature.node.kubernetes.io/cpu-security.tdx.protected",
                "SEV_SNP": "feature.node.kubernetes.io/cpu-security.sev.snp.enabled",
            }[tee]
            assert node["metadata"]["labels"][key] == "true"
    finally:
        kube.kubectl("delete", "node", *names, "--ignore-not-found", check=False)
