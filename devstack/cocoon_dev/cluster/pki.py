"""A throw-away PKI for one local cluster: CA, API server serving cert, client certs, SA signing key.

Everything is generated fresh on every cold start and lives only in the cluster's work dir.
ECDSA P-256 keeps generation instant; the service-account key is RSA as Kubernetes docs assume.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVICE_CIDR = "10.96.0.0/16"
# The in-cluster `kubernetes` Service gets the first address of the service range.
KUBERNETES_SERVICE_IP = str(next(ipaddress.ip_network(SERVICE_CIDR).hosts()))
APISERVER_DNS_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
APISERVER_IPS = ("127.0.0.1", "::1", KUBERNETES_SERVICE_IP)
VALIDITY = dt.timedelta(days=365)
FRONT_PROXY_CLIENT = "front-proxy-client"

# Client identities. The controller-manager and scheduler users are bound by the bootstrap RBAC
# policy; the admin and KWOK (which writes the status of every fake node and pod) are cluster admins.
CLIENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "admin": ("cocoon-dev-admin", ("system:masters",)),
    "kube-controller-manager": ("system:kube-controller-manager", ()),
    "kube-scheduler": ("system:kube-scheduler", ()),
    "kwok": ("kwok-controller", ("system:masters",)),
}


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    ca: CertPair
    apiserver: CertPair
    clients: dict[str, CertPair]
    service_account_key: Path
    service_account_pub: Path
    front_proxy_ca: CertPair
    front_proxy_client: CertPair


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(common_name: str, orgs: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in orgs]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + VALIDITY)
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    """Every certificate signs (TLS, client auth); only a CA also signs certificates and CRLs."""
    return x509.KeyUsage(
        digital_signature=True,
        key_encipherment=False,
        content_commitment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    san: x509.SubjectAlternativeName | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _builder(subject, ca_cert.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _pair(directory: Path, stem: str) -> CertPair:
    """Where `generate` writes a certificate and its key, and `load` finds them."""
    return CertPair(directory / f"{stem}.crt", directory / f"{stem}.key")


def _save(directory: Path, stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> CertPair:
    pair = _pair(directory, stem)
    _write_cert(pair.cert, cert)
    _write_key(pair.key, key)
    return pair


def generate(directory: Path) -> Pki:
    """Write a complete fresh PKI into `directory` (created, mode 0700) and return its file paths."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)

    ca_cert, ca_key = _ca("cocoon-dev-ca")
    ca = _save(directory, "ca", ca_cert, ca_key)

    san = x509.SubjectAlternativeName(
        [x509.DNSName(n) for n in APISERVER_DNS_NAMES]
        + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in APISERVER_IPS]
    )
    cert, key = _leaf(ca_cert, ca_key, _name("kube-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH, san)
    apiserver = _save(directory, "apiserver", cert, key)

    clients: dict[str, CertPair] = {}
    for name, (cn, orgs) in CLIENTS.items():
        cert, key = _leaf(ca_cert, ca_key, _name(cn, orgs), ExtendedKeyUsageOID.CLIENT_AUTH)
        clients[name] = _save(directory, name, cert, key)

    # Separate CA for the aggregation layer's request-header authentication (as kubeadm sets it up);
    # without it controller-manager and scheduler log errors about a missing requestheader CA.
    fp_cert, fp_key = _ca("cocoon-dev-front-proxy-ca")
    front_proxy_ca = _save(directory, "front-proxy-ca", fp_cert, fp_key)
    cert, key = _leaf(fp_cert, fp_key, _name(FRONT_PROXY_CLIENT), ExtendedKeyUsageOID.CLIENT_AUTH)
    front_proxy_client = _save(directory, "front-proxy-client", cert, key)

    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa_priv, sa_pub = directory / "sa.key", directory / "sa.pub"
    _write_key(sa_priv, sa_key)
    sa_pub.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return Pki(
        ca=ca,
        apiserver=apiserver,
        clients=clients,
        service_account_key=sa_priv,
        service_account_pub=sa_pub,
        front_proxy_ca=front_proxy_ca,
        front_proxy_client=front_proxy_client,
    )


def load(directory: Path) -> Pki:
    """The file layout `generate` wrote (no checks; used to reach a running cluster's files)."""
    return Pki(
        ca=_pair(directory, "ca"),
        apiserver=_pair(directory, "apiserver"),
        clients={n: _pair(directory, n) for n in CLIENTS},
        service_account_key=directory / "sa.key",
        service_account_pub=directory / "sa.pub",
        front_proxy_ca=_pair(directory, "front-proxy-ca"),
        front_proxy_client=_pair(directory, "front-proxy-client"),
    )
