"""Issue 16's attacks, as a tenant would make them: one stack for the whole package.

- the real API server (the session's `cluster`), the chart installed with the real helm binary (its
  RBAC, admission policies, aggregated roles) serving two tenant namespaces;
- the local TON chain (real TVM behind a real liteserver) with the dev COCOON network and a treasury;
- the operator as a process with the chart ServiceAccount's token and the chart's own arguments and
  settings (as `make demo` runs it), health probes on;
- tenants: `alice` (namespace A) and `bob` (namespace B), each bound only to the chart's `edit`
  ClusterRole; `carol` bound to the built-in `edit` role in A (she can write Secrets). Every tenant
  request is made with the admin's credentials and an `Impersonate-User` header, so the real
  authorizer and admission chain judge it as that user.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client import ApiException

from cocoon_dev.stack.operator_proc import chart_command
from cocoon_dev.ton.background import BackgroundChain
from cocoon_dev.ton.chain import LocalChain
from cocoon_dev.ton.network import deploy_cocoon_network
from cocoon_operator.ton.addresses import cocoon_wallet_address, public_key_from_seed
from tests.chart.tools import CHART, REPO, helm_bin
from tests.crd.support import install_crd
from tests.helpers.cocoonnodes import provide_chain
from tests.helpers.devnet import DevNetworkStack
from tests.helpers.k8s import token_kubeconfig, wait_for

GROUP, VERSION, PLURAL = "cocoon.tonops.dev", "v1alpha1", "cocoonnodes"
WORKER_IMAGE = "localhost/cocoon-worker-runner:dev"  # the examples' runner: on the allowlist
TON = 10**9


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, **kw)
    assert proc.returncode == 0, f"{' '.join(cmd[:4])}: {proc.stderr.strip()}"
    return proc


class Tenant:
    """The Kubernetes API as one user sees it (admin credentials + impersonation)."""

    def __init__(self, kubeconfig: Path, user: str | None, namespace: str) -> None:
        self.user, self.namespace = user, namespace
        self.api = config.new_client_from_config(config_file=str(kubeconfig))
        if user is not None:
            self.api.set_default_header("Impersonate-User", user)
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)

    def create_cn(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "CocoonNode",
            "metadata": {"name": name},
            "spec": spec,
        }
        created: dict[str, Any] = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, body
        )
        return created

    def patch_cn(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, name, patch
        )
        return patched

    def refused(self, call: Callable[[], Any]) -> ApiException:
        """The API's refusal of `call` (fails the test when it was accepted)."""
        try:
            call()
        except ApiException as exc:
            return exc
        raise AssertionError(f"{self.user}: the request was accepted")

    def close(self) -> None:
        self.api.close()


@dataclass
class SecurityStack(DevNetworkStack):
    """Owners only receive here: owner() deploys no wallet for them."""

    kubeconfig: Path
    release: str
    release_ns: str
    ns_a: str
    ns_b: str
    operator: subprocess.Popen[bytes]
    operator_log: Path
    render_image: str
    admin_a: Tenant
    admin_b: Tenant
    alice: Tenant
    bob: Tenant
    carol: Tenant

    def cn(self, namespace: str, name: str) -> dict[str, Any]:
        try:
            found: dict[str, Any] = self.admin_a.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return {}
            raise
        return found

    def wait_cn(
        self,
        namespace: str,
        name: str,
        what: str,
        pred: Callable[[dict[str, Any]], bool],
        timeout_s: float = 120,
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any]:
            assert self.operator.poll() is None, f"the operator exited:\n{self.log()[-4000:]}"
            return self.cn(namespace, name)

        return wait_for(f"{namespace}/{name}: {what}", probe, pred, timeout_s=timeout_s)

    def log(self) -> str:
        return self.operator_log.read_text(errors="replace")

    def spec(self, name: str, **overrides: Any) -> dict[str, Any]:
        """A spec the dev network accepts, paying an owner address of the node's own."""
        return self.node_spec(name, WORKER_IMAGE, **overrides)

    def wallet_seed(self, namespace: str, secret: str) -> bytes:
        """The node key of a wallet Secret (read as admin; only ever used to derive an address)."""
        data = self.admin_a.core.read_namespaced_secret(secret, namespace).data
        return base64.b64decode(base64.b64decode(data["node_wallet_key"]).decode().strip())

    def cocoon_wallet_balance(self, seed: bytes, owner: str) -> int:
        address = cocoon_wallet_address(public_key_from_seed(seed), self.owner(owner).addr)
        return int(self.bg.chain.balance(address))


def cond(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for c in (obj.get("status") or {}).get("conditions", []):
        if c["type"] == type_:
            return dict(c)
    return {}


@pytest.fixture(scope="package")
def security_stack(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecurityStack]:
    tmp = tmp_path_factory.mktemp("security")
    kubeconfig = Path(cluster.kubeconfig)
    install_crd(cluster)
    tag = uuid.uuid4().hex[:6]
    release, release_ns, ns_a, ns_b = "sec", f"sec-rel-{tag}", f"sec-a-{tag}", f"sec-b-{tag}"
    helm = [helm_bin(), "--kubeconfig", str(kubeconfig)]
    bg = BackgroundChain(LocalChain(config_b64=_mainnet_config())).start()
    operator: subprocess.Popen[bytes] | None = None
    tenants: list[Tenant] = []
    try:
        network = bg.call(deploy_cocoon_network, bg.chain)
        (tmp / "global-config.json").write_text(json.dumps(bg.global_config))
        for ns in (release_ns, ns_a, ns_b):
            cluster.kubectl("create", "namespace", ns)
        for ns in (ns_a, ns_b):
            wait_for(
                f"{ns}/default ServiceAccount",
                lambda ns=ns: cluster.kubectl("get", "sa", "default", "-n", ns, check=False).returncode,
                lambda rc: rc == 0,
                timeout_s=60,
            )
            provide_chain(cluster, ns, tmp / "global-config.json", network.treasury)
        _run([
            *helm, "install", release, str(CHART), "-n", release_ns, "--timeout", "120s",
            "--set", "crds.install=false", "--set", "replicaCount=0", "--set", "cleanup.enabled=false",
            "--set", f"watchNamespaces={{{ns_a},{ns_b}}}",
            "--set", "imagePolicy.worker.repositoryPrefixes={localhost/cocoon-worker-runner:}",
        ])  # fmt: skip
        edit = f"{release}-cocoon-operator-{release_ns}-edit"  # the chart's edit role (CocoonNodes only)
        cluster.kubectl("create", "rolebinding", "alice", f"--clusterrole={edit}", "--user=alice", "-n", ns_a)
        cluster.kubectl("create", "rolebinding", "bob", f"--clusterrole={edit}", "--user=bob", "-n", ns_b)
        cluster.kubectl("create", "rolebinding", "carol", "--clusterrole=edit", "--user=carol", "-n", ns_a)

        sa = f"{release}-cocoon-operator"
        token = cluster.kubectl("create", "token", sa, "-n", release_ns, "--duration", "2h").stdout.strip()
        op_kubeconfig = token_kubeconfig(
            kubeconfig, f"system:serviceaccount:{release_ns}:{sa}", token, tmp / "operator.kubeconfig"
        )
        args, env = chart_command(str(cluster.kubectl_path), str(kubeconfig), release_ns, sa)
        log = tmp / "operator.log"
        run_env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
        run_env.update(env)
        run_env.update(
            KUBECONFIG=str(op_kubeconfig),
            COCOON_RESYNC_SECONDS="3",
            COCOON_FINALIZE_TIMEOUT_SECONDS="20",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=os.pathsep.join(p for p in (run_env.get("PYTHONPATH"), str(REPO / "operator")) if p),
        )
        with log.open("wb") as out:
            operator = subprocess.Popen(
                [sys.executable, "-m", "cocoon_operator", *args,
                 f"--liveness=http://127.0.0.1:{_free_port()}/healthz"],
                stdout=out, stderr=subprocess.STDOUT, env=run_env, cwd=REPO, start_new_session=True,
            )  # fmt: skip
        tenants = [
            Tenant(kubeconfig, None, ns_a),
            Tenant(kubeconfig, None, ns_b),
            Tenant(kubeconfig, "alice", ns_a),
            Tenant(kubeconfig, "bob", ns_b),
            Tenant(kubeconfig, "carol", ns_a),
        ]
        yield SecurityStack(
            kubeconfig, release, release_ns, ns_a, ns_b, operator, log, env["COCOON_RENDER_IMAGE"], *tenants,
            cluster=cluster, bg=bg, network=network,
        )  # fmt: skip
    finally:
        for ns in (ns_a, ns_b):  # CocoonNodes go through the operator while it still runs
            cluster.kubectl("delete", "cn", "--all", "-n", ns, "--wait=true", "--timeout=50s", check=False)
        if operator is not None and operator.poll() is None:
            os.killpg(operator.pid, signal.SIGTERM)
            try:
                operator.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(operator.pid, signal.SIGKILL)
                operator.wait(timeout=10)
        for tenant in tenants:
            tenant.close()
        subprocess.run(
            [*helm, "uninstall", release, "-n", release_ns, "--no-hooks"], capture_output=True, timeout=120
        )
        for ns in (ns_a, ns_b):
            no_finalizers = '{"metadata":{"finalizers":null}}'
            for obj in cluster.kubectl("get", "cn", "-n", ns, "-o", "name", check=False).stdout.split():
                cluster.kubectl("patch", obj, "-n", ns, "--type=merge", "-p", no_finalizers, check=False)
        cluster.kubectl("delete", "namespace", release_ns, ns_a, ns_b, "--wait=false", check=False)
        bg.stop()


def _mainnet_config() -> str:
    from cocoon_dev.ton.engine import load_mainnet_config_b64

    return load_mainnet_config_b64()
