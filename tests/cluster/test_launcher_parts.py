"""Pure parts of the launcher: PKI identities, state file, process checks, ports (no cluster needed)."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cocoon_dev import procs
from cocoon_dev.cluster import pki
from cocoon_dev.cluster.state import ClusterState, ComponentState
from cocoon_dev.ports import free_ports, is_free
from tests.helpers.k8s import wait_for


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_pki_identities(tmp_path: Path) -> None:
    keys = pki.generate(tmp_path / "pki")
    ca = _cert(keys.ca.cert)
    server = _cert(keys.apiserver.cert)
    server.verify_directly_issued_by(ca)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address(pki.KUBERNETES_SERVICE_IP) in san.get_values_for_type(x509.IPAddress)
    assert "kubernetes.default.svc" in san.get_values_for_type(x509.DNSName)
    admin = _cert(keys.clients["admin"].cert)
    admin.verify_directly_issued_by(ca)
    orgs = [a.value for a in admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    assert orgs == ["system:masters"]
    eku = admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku
    kcm = _cert(keys.clients["kube-controller-manager"].cert)
    assert (
        kcm.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:kube-controller-manager"
    )
    assert (keys.service_account_key.stat().st_mode & 0o777) == 0o600
    assert b"BEGIN PUBLIC KEY" in keys.service_account_pub.read_bytes()


def test_state_round_trip(tmp_path: Path) -> None:
    state = ClusterState(
        workdir=str(tmp_path),
        kubeconfig=str(tmp_path / "kubeconfig"),
        server="https://127.0.0.1:1",
        k8s_version="1.35.4",
        started_at="now",
        ports={"kube-apiserver": 1},
        components={
            "etcd": ComponentState(pid=1, create_time=1.5, executable="/x/etcd", log="/x/etcd.log", port=2)
        },
    )
    state.save(tmp_path / "state.json")
    loaded = ClusterState.load(tmp_path / "state.json")
    assert loaded == state
    assert ClusterState.load(tmp_path / "missing.json") is None


def test_pid_checks_never_match_a_foreign_process() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        ours = procs.ref(proc.pid, "sleeper")
        assert ours is not None and ours.alive()
        # Right after fork the child's cmdline is empty until it has exec'd the interpreter.
        argv = wait_for("the child's cmdline", ours.cmdline, bool, timeout_s=10, interval_s=0.01)
        assert argv[0] == sys.executable
        # A recorded pid now running another process (another start time) is not ours: not alive, and
        # never signalled.
        foreign = procs.ProcRef(proc.pid, ours.create_time - 1.0, "etcd")
        assert not foreign.alive()
        assert procs.terminate(foreign, grace_s=0.1)
        assert proc.poll() is None
        assert ours.alive()
    finally:
        proc.kill()
        proc.wait()
    assert not ours.alive()


def test_free_ports_are_distinct_and_free() -> None:
    ports = free_ports(6)
    assert len(set(ports)) == 6
    assert all(is_free(p) for p in ports)
