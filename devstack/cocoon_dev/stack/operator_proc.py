"""The operator as a local process with the Helm chart's ServiceAccount identity.

Same approach as the chart's cluster test (docs/security.md, "Proof, not just review"): a token of the
chart's ServiceAccount from the TokenRequest API, in a kubeconfig of its own, so every call the
operator makes is authorised by the chart's RBAC and nothing else. A rule the chart lacks shows up
as a 403 in the operator log, not hidden by admin credentials.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from cocoon_dev import procs
from cocoon_dev.paths import component_dir
from cocoon_dev.ports import free_port
from cocoon_dev.procs import ProcRef
from cocoon_dev.stack.commands import StepFailed

TOKEN_HOURS = 48
PID_FILE = "operator.json"
LOG_FILE = "operator.log"
# Resync often so the demo's status (and claims) moves every few seconds (the chart default: 60 s).
DEV_ENV = {"COCOON_RESYNC_SECONDS": "5"}


def state_dir() -> Path:
    return component_dir("operator")


def log_path() -> Path:
    return state_dir() / LOG_FILE


def kubeconfig_path() -> Path:
    return state_dir() / "operator-sa.kubeconfig"


def running() -> tuple[ProcRef, dict[str, Any]] | None:
    try:
        data = json.loads((state_dir() / PID_FILE).read_text())
        proc = ProcRef.from_json(data["proc"])
    except (OSError, ValueError, KeyError):
        return None
    return (proc, data) if proc.alive() else None


def write_sa_kubeconfig(kubectl: str, admin_kubeconfig: str, namespace: str, service_account: str) -> Path:
    """A kubeconfig that authenticates as the ServiceAccount (token from the TokenRequest API)."""
    proc = subprocess.run(
        [kubectl, "--kubeconfig", admin_kubeconfig, "-n", namespace, "create", "token", service_account,
         f"--duration={TOKEN_HOURS}h"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise StepFailed(
            f"could not get a token for ServiceAccount {namespace}/{service_account}: {proc.stderr.strip()}"
        )
    token = proc.stdout.strip()
    admin = yaml.safe_load(Path(admin_kubeconfig).read_text())
    user = f"system:serviceaccount:{namespace}:{service_account}"
    return _write_kubeconfig(admin["clusters"][0]["cluster"], user, {"token": token})


def client_can_send_tokens(kubeconfig: Path) -> bool:
    """Whether the operator's own API client sends the kubeconfig's bearer token (it may not: see
    docs/demo.md, "Known gaps"); kopf's client does."""
    from cocoon_operator.k8s import config

    try:
        return bool(config.load(str(kubeconfig)).auth_headers())
    except Exception:
        return False


def write_sa_cert_kubeconfig(
    kubectl: str, admin_kubeconfig: str, namespace: str, service_account: str
) -> Path:
    """Fallback: the same identity as a client certificate from the CSR API.

    A certificate with CN `system:serviceaccount:<ns>:<name>` and the ServiceAccount groups is
    authenticated as exactly the user RBAC binds for that ServiceAccount. Signed by the cluster's
    `kubernetes.io/kube-apiserver-client` signer after an approval, like any user certificate.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    user = f"system:serviceaccount:{namespace}:{service_account}"
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:serviceaccounts"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"system:serviceaccounts:{namespace}"),
            x509.NameAttribute(NameOID.COMMON_NAME, user),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    name = f"cocoon-dev-operator-{int(time.time())}"
    obj = {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": "cocoon-dev"}},
        "spec": {
            "request": base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode(),
            "signerName": "kubernetes.io/kube-apiserver-client",
            "expirationSeconds": TOKEN_HOURS * 3600,
            "usages": ["client auth"],
        },
    }
    base = [kubectl, "--kubeconfig", admin_kubeconfig]

    def kc(*args: str, stdin: str | None = None) -> str:
        proc = subprocess.run(
            [*base, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
        )
        if proc.returncode != 0:
            raise StepFailed(
                f"client certificate for {user}: kubectl {args[0]} failed: {proc.stderr.strip()}"
            )
        return proc.stdout

    kc("create", "-f", "-", stdin=json.dumps(obj))
    kc("certificate", "approve", name)
    deadline = time.monotonic() + 30
    cert_b64 = ""
    while time.monotonic() < deadline and not cert_b64:
        cert_b64 = kc("get", "csr", name, "-o", "jsonpath={.status.certificate}").strip()
        time.sleep(0.5)
    if not cert_b64:
        raise StepFailed(f"the cluster did not sign the client certificate for {user} within 30 s")
    kc("delete", "csr", name)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    admin = yaml.safe_load(Path(admin_kubeconfig).read_text())
    user_entry = {"client-certificate-data": cert_b64, "client-key-data": base64.b64encode(key_pem).decode()}
    return _write_kubeconfig(admin["clusters"][0]["cluster"], user, user_entry)


def _write_kubeconfig(cluster: dict[str, Any], user: str, user_entry: dict[str, Any]) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cocoon-dev", "cluster": cluster}],
        "users": [{"name": user, "user": user_entry}],
        "contexts": [{"name": "operator", "context": {"cluster": "cocoon-dev", "user": user}}],
        "current-context": "operator",
    }
    path = kubeconfig_path()
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(config, fh)
    os.replace(path.with_suffix(".tmp"), path)
    return path


# Settings of the chart's Deployment the local process does not take: the metrics port would collide
# with other local stacks (the dev operator serves no metrics), the rest has no meaning outside a pod.
_POD_ONLY_ENV = frozenset({"COCOON_METRICS_PORT"})


def chart_command(
    kubectl: str, admin_kubeconfig: str, namespace: str, deployment: str
) -> tuple[list[str], dict[str, str]]:
    """The operator's arguments and COCOON_* settings as the installed chart's Deployment has them
    (the namespaces it serves, the render image, the image policy), minus `--liveness` (chosen locally)
    and settings that only make sense in a pod. Values from a fieldRef become the local equivalent."""
    proc = subprocess.run(
        [kubectl, "--kubeconfig", admin_kubeconfig, "-n", namespace, "get", "deployment", deployment,
         "-o", "json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        what = f"the chart's Deployment {namespace}/{deployment}"
        raise StepFailed(f"could not read {what}: {proc.stderr.strip()}")
    (container,) = json.loads(proc.stdout)["spec"]["template"]["spec"]["containers"]
    args = [a for a in container.get("args", []) if not a.startswith("--liveness")]
    env = {"COCOON_OPERATOR_NAMESPACE": namespace}
    for item in container.get("env", []):
        if item["name"].startswith("COCOON_") and "value" in item and item["name"] not in _POD_ONLY_ENV:
            env[item["name"]] = str(item["value"])
    return args, env


def start(
    sa_kubeconfig: Path,
    *,
    args: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
    ready_s: float = 90.0,
) -> ProcRef:
    """Start `cocoon-operator <args>` (default `run --all-namespaces --standalone`) in the background
    with a local liveness endpoint; wait until it answers."""
    port = free_port()
    metrics_port = free_port()  # the exporter, as the chart runs it (COCOON_METRICS_PORT)
    argv = [
        sys.executable, "-m", "cocoon_operator", *(args or ["run", "--all-namespaces", "--standalone"]),
        "--liveness", f"http://127.0.0.1:{port}/healthz",
    ]  # fmt: skip
    env = dict(os.environ)
    env.update({"KUBECONFIG": str(sa_kubeconfig), "PYTHONUNBUFFERED": "1", **DEV_ENV, **(extra_env or {})})
    env.setdefault("COCOON_METRICS_PORT", str(metrics_port))
    metrics_url = f"http://127.0.0.1:{env['COCOON_METRICS_PORT']}/metrics"
    env.pop("KUBERNETES_SERVICE_HOST", None)
    log = log_path()
    with log.open("ab") as out:
        out.write(f"\n# cocoon-dev: starting {' '.join(argv)} at {time.strftime('%H:%M:%S')}\n".encode())
    proc = procs.spawn(argv, log, cwd=state_dir(), env=env, what="operator")
    if not proc.alive():
        raise StepFailed(f"the operator exited at once (code {procs.exit_code(proc)})", log)
    (state_dir() / PID_FILE).write_text(
        json.dumps(
            {
                "proc": proc.to_json(),
                "liveness": f"http://127.0.0.1:{port}/healthz",
                "metrics": metrics_url,
                "argv": argv,
            }
        )
    )
    deadline = time.monotonic() + ready_s
    while time.monotonic() < deadline:
        if not proc.alive():
            code = procs.exit_code(proc)
            raise StepFailed(f"the operator exited with code {code}:\n{procs.log_tail(log, 8)}", log)
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2, trust_env=False).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    procs.terminate(proc, grace_s=20.0)
    raise StepFailed(f"the operator did not report alive within {ready_s:.0f} s", log)


def stop() -> ProcRef | None:
    found = running()
    if found is None:
        (state_dir() / PID_FILE).unlink(missing_ok=True)
        return None
    proc, _ = found
    if not procs.terminate(proc, grace_s=20.0):
        raise StepFailed(f"could not stop the operator (pid {proc.pid})", log_path())
    (state_dir() / PID_FILE).unlink(missing_ok=True)
    return proc
