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




def start(sa_kubeconfig: Path, *, extra_env: dict[str, str] | None = None, ready_s: float = 90.0) -> ProcRef:
    """Start `cocoon-operator run --all-namespaces` in the background; wait until its liveness answers."""
    port = free_port()
    argv = [
        sys.executable, "-m", "cocoon_operator", "run", "--all-namespaces", "--standalone",
        "--liveness", f"http://127.0.0.1:{port}/healthz",
    ]  # fmt: skip
    env = dict(os.environ)
    env.update({"KUBECONFIG": str(sa_kubeconfig), "PYTHONUNBUFFERED": "1", **DEV_ENV, **(extra_env or {})})
    env.pop("KUBERNETES_SERVICE_HOST", None)
    log = log_path()
    with log.open("ab") as out:
        out.write(f"\n# cocoon-dev: starting {' '.join(argv)} at {time.strftime('%H:%M:%S')}\n".encode())
    proc = procs.spawn(argv, log, cwd=state_dir(), env=env, what="operator")
    if not proc.alive():
        raise StepFailed(f"the operator exited at once (code {procs.exit_code(proc)})", log)
    (state_dir() / PID_FILE).write_text(
        json.dumps({"proc": proc.to_json(), "liveness": f"http://127.0.0.1:{port}/healthz", "argv": argv})
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
