"""Command lines of the five control-plane processes (flags checked against k8s 1.35 `--help`)."""

from __future__ import annotations

from dataclasses import dataclass

from .binaries import Binaries
from .layout import Layout
from .pki import FRONT_PROXY_CLIENT, SERVICE_CIDR, Pki

HOST = "127.0.0.1"
# Start order; `down` stops in reverse.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
PORT_NAMES = (
    "etcd-client",
    "etcd-peer",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
)
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node=fake"


@dataclass(frozen=True)
class ClusterOptions:
    """Knobs of one cluster. Pod IPs come from a loopback range so local processes can bind them."""

    extended_resource_toleration: bool = False
    apiserver_port: int | None = None
    pod_cidr: str = "127.100.0.0/16"
    node_ip: str = "127.0.0.1"
    node_lease_seconds: int = 40


def etcd(bins: Binaries, lay: Layout, ports: dict[str, int]) -> list[str]:
    client, peer = f"http://{HOST}:{ports['etcd-client']}", f"http://{HOST}:{ports['etcd-peer']}"
    return [
        str(bins.etcd),
        "--name=cocoon-dev",
        f"--data-dir={lay.etcd_data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=cocoon-dev={peer}",
        "--initial-cluster-state=new",
        # A throw-away cluster: durability is not worth the fsync latency.
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def kube_apiserver(
    bins: Binaries, lay: Layout, pki: Pki, ports: dict[str, int], opts: ClusterOptions
) -> list[str]:
    argv = [
        str(bins.kube_apiserver),
        f"--etcd-servers=http://{HOST}:{ports['etcd-client']}",
        f"--bind-address={HOST}",
        f"--advertise-address={HOST}",
        f"--secure-port={ports['kube-apiserver']}",
        f"--tls-cert-file={pki.apiserver.cert}",
        f"--tls-private-key-file={pki.apiserver.key}",
        f"--client-ca-file={pki.ca.cert}",
        "--authorization-mode=Node,RBAC",
        f"--service-account-issuer={SA_ISSUER}",
        f"--service-account-key-file={pki.service_account_pub}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allow-privileged=true",
        f"--cert-dir={lay.run_dir('kube-apiserver')}",
        # Aggregation layer (request-header authentication), as kubeadm configures it.
        f"--requestheader-client-ca-file={pki.front_proxy_ca.cert}",
        f"--requestheader-allowed-names={FRONT_PROXY_CLIENT}",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={pki.front_proxy_client.cert}",
        f"--proxy-client-key-file={pki.front_proxy_client.key}",
        "--profiling=false",
    ]
    if opts.extended_resource_toleration:
        # Managed clusters often run it: pods asking for nvidia.com/gpu get the GPU toleration added.
        argv.append("--enable-admission-plugins=ExtendedResourceToleration")
    return argv


def _client_flags(lay: Layout, component: str, port: int) -> list[str]:
    kubeconfig = lay.component_kubeconfig(component)
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--bind-address={HOST}",
        f"--secure-port={port}",
        f"--cert-dir={lay.run_dir(component)}",
        "--leader-elect=false",
        "--profiling=false",
    ]


def kube_controller_manager(bins: Binaries, lay: Layout, pki: Pki, ports: dict[str, int]) -> list[str]:
    return [
        str(bins.kube_controller_manager),
        *_client_flags(lay, "kube-controller-manager", ports["kube-controller-manager"]),
        "--controllers=*",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki.service_account_key}",
        f"--root-ca-file={pki.ca.cert}",
        f"--cluster-signing-cert-file={pki.ca.cert}",
        f"--cluster-signing-key-file={pki.ca.key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
    ]


def kube_scheduler(bins: Binaries, lay: Layout, ports: dict[str, int]) -> list[str]:
    return [str(bins.kube_scheduler), *_client_flags(lay, "kube-scheduler", ports["kube-scheduler"])]


def kwok(bins: Binaries, lay: Layout, ports: dict[str, int], opts: ClusterOptions) -> list[str]:
    argv = [
        str(bins.kwok),
        f"--kubeconfig={lay.component_kubeconfig('kwok')}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}",
        f"--cidr={opts.pod_cidr}",
        f"--node-ip={opts.node_ip}",
        f"--node-lease-duration-seconds={opts.node_lease_seconds}",
        f"--server-address={HOST}:{ports['kwok']}",
    ]
    # Without --config kwok would read ~/.kwok/kwok.yaml; give it exactly the shipped stages.
    for stage in bins.stage_files():
        argv.append(f"--config={stage}")
    return argv
