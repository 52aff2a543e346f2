"""Desired children of a CocoonVM: the launcher pod that boots the official worker VM (pure).

The shape follows KubeVirt's virt-launcher: one pod per VM, the VM's QEMU process inside it. Here the
pod runs the official `cocoon-launch` from the official worker release with a `worker.conf` the
operator renders, and `cocoon-launch` execs QEMU with a TDX guest, the VFIO GPU and a port forward for
the runner's HTTP API (12000 + 10 x instance in the pod's network namespace; the operator reaches it on
the pod IP, as it reaches a TritonPod's runner).

Pod `<name>-0` of StatefulSet `<name>`:
- init `check-host`: the host's TDX prerequisites (KVM with TDX, IOMMU, iommufd, vhost-vsock, the
  QGS and the seal server running); exits HOST_MISSING_EXIT_CODE naming what is missing;
- init `fetch-release`: downloads the release once per host into a hostPath cache keyed by its
  SHA-256, verifies the archive at every start and refuses a mismatch (RELEASE_MISMATCH_EXIT_CODE,
  both hashes in the message), unpacks it once;
- `launcher` (privileged: /dev/kvm, VFIO, iommufd, vhost-vsock, locked guest memory): renders
  worker.conf from the ConfigMap template, the wallet and Hugging Face Secret files and the device
  plugin's PCI address, then execs the release's `scripts/cocoon-launch`.

Names: ConfigMap `<name>-launcher`, Service/NetworkPolicy/PodDisruptionBudget/StatefulSet `<name>`.
Docs: docs/cocoon-vm.md; the privileges: docs/security.md.
"""

import hashlib
import math
from typing import Any, Final

from cocoon_operator.api import identity
from cocoon_operator.api.spec import CocoonNodeSpec, Release
from cocoon_operator.reconcile import placement, placement_vm, worker_conf
from cocoon_operator.reconcile.children import Build, Owner, one_pod
from cocoon_operator.reconcile.runner_config import TON_CONFIG_DIR, TON_CONFIG_FILE
from cocoon_operator.settings import Settings
from cocoon_operator.worker.runtime import pci_env_var

RUNTIME_LABEL: Final = f"{identity.GROUP}/runtime"
CHECK_HOST_CONTAINER: Final = "check-host"
FETCH_RELEASE_CONTAINER: Final = "fetch-release"
LAUNCHER_CONTAINER: Final = "launcher"
RELEASE_MISMATCH_EXIT_CODE: Final = 3
HOST_MISSING_EXIT_CODE: Final = 4
LAUNCH_FAILED_EXIT_CODE: Final = 5

CACHE_DIR: Final = "/var/cache/cocoon/releases"
STATE_DIR: Final = "/var/lib/cocoon/vm"
TEMPLATE_DIR: Final = "/etc/cocoon/launcher"
WALLET_DIR: Final = "/run/cocoon/wallet"
HF_DIR: Final = "/run/cocoon/hf"
WORK_DIR: Final = "/run/cocoon/vm"
HOST_ROOT: Final = "/host"
# What cocoon-launch gives the VM (-smp 32, 100G of guest memory) plus QEMU's own overhead.
DEFAULT_REQUESTS: Final = {"cpu": "32", "memory": "104Gi"}
# cocoon-launch: host port = guest port + 10 x instance, vsock CID = 6 + 10 x instance.
INSTANCE_STRIDE: Final = 10
GUEST_RUNNER_PORT: Final = 12000


def configmap_name(owner: Owner) -> str:
    return f"{owner.name}-launcher"


def release_of(spec: CocoonNodeSpec, settings: Settings) -> Release | None:
    """The spec's release, else the operator's default (None when neither is set)."""
    vm = spec.runtime.vm
    if vm is not None and vm.release is not None:
        return vm.release
    if settings.vm_release_url and settings.vm_release_sha256:
        # The admin's URL may be any scheme curl reads (a mirror, or file:// for a copy on the host).
        return Release.model_construct(url=settings.vm_release_url, sha256=settings.vm_release_sha256)
    return None


def configmap(owner: Owner, spec: CocoonNodeSpec, settings: Settings) -> dict[str, Any]:
    text = worker_conf.render(spec, name=owner.name, namespace=owner.namespace)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": owner.metadata(configmap_name(owner)),
        "data": {worker_conf.TEMPLATE_FILE: text},
    }


def config_hash(config_map: dict[str, Any], release: Release | None) -> str:
    data = config_map["data"][worker_conf.TEMPLATE_FILE] + (release.sha256 if release else "")
    return hashlib.sha256(data.encode()).hexdigest()[:16]


# ----- scripts (POSIX sh; every path a container mount, so they read the same in the local runtime)


def check_host_script(check_seal_server: bool) -> str:
    seal = (
        'running seal-server || need "seal-server: no seal-server process runs on the host (start it '
        "from the worker release with its signed enclave, or enable the chart's sealServer DaemonSet)\"; "
        if check_seal_server
        else ""
    )
    return (
        "set -u; missing=''; "
        'need() { missing="${missing:+$missing; }$1"; }; '
        f'running() {{ grep -qsxF "$1" {HOST_ROOT}/proc/[0-9]*/comm; }}; '
        f'[ -e {HOST_ROOT}/dev/kvm ] || need "kvm: /dev/kvm is missing (KVM not loaded, or virtualisation '
        'is off in the BIOS)"; '
        f'tdx="$(cat {HOST_ROOT}/sys/module/kvm_intel/parameters/tdx 2>/dev/null || true)"; '
        'case "$tdx" in Y|y|1) ;; *) need "tdx: KVM has TDX off (/sys/module/kvm_intel/parameters/tdx '
        "is '${tdx:-absent}'; a TDX host kernel, TDX enabled in the BIOS and kvm_intel tdx=1 are "
        'needed)";; esac; '
        f'[ -n "$(ls -A {HOST_ROOT}/sys/kernel/iommu_groups 2>/dev/null)" ] || need "iommu: the host has no '
        'IOMMU groups (enable VT-d in the BIOS and intel_iommu=on on the kernel command line)"; '
        f'[ -e {HOST_ROOT}/dev/iommu ] || need "iommufd: /dev/iommu is missing (the launcher passes the GPU '
        'through with iommufd; a kernel with CONFIG_IOMMUFD)"; '
        f'[ -e {HOST_ROOT}/dev/vhost-vsock ] || need "vsock: /dev/vhost-vsock is missing (modprobe '
        'vhost_vsock)"; '
        'running qgs || need "qgs: no Quote Generation Service (qgs) runs on the host (Intel DCAP '
        'tdx-qgs, listening on vsock port 4050)"; '
        f"{seal}"
        f'kernel="$(cat {HOST_ROOT}/proc/sys/kernel/osrelease 2>/dev/null || echo unknown)"; '
        'if [ -n "$missing" ]; then '
        'echo "host prerequisites missing: $missing" >&2; '
        f"exit {HOST_MISSING_EXIT_CODE}; fi; "
        'echo "host prerequisites met (kernel $kernel)"'
    )


FETCH_RELEASE_SCRIPT: Final = (
    "set -eu; umask 022; "
    f'dir="{CACHE_DIR}/$RELEASE_SHA256"; mkdir -p "$dir"; '
    # One download per host: launchers of the same release wait for each other.
    'exec 9>"$dir/.lock"; flock 9; '
    'if [ ! -f "$dir/release.archive" ]; then '
    'echo "downloading the worker release $RELEASE_URL"; '
    'curl -fsSL --retry 3 --connect-timeout 20 "$RELEASE_URL" -o "$dir/release.archive.part"; '
    'mv "$dir/release.archive.part" "$dir/release.archive"; fi; '
    # Verified at every start, cached or not: the cache is a host directory.
    'actual="$(sha256sum "$dir/release.archive" | cut -d\' \' -f1)"; '
    'if [ "$actual" != "$RELEASE_SHA256" ]; then '
    'rm -f "$dir/release.archive"; rm -rf "$dir/release" "$dir/unpacked"; '
    'echo "release integrity check failed: SHA-256 of the archive at $RELEASE_URL is $actual, '
    'the CocoonNode expects $RELEASE_SHA256" >&2; '
    f"exit {RELEASE_MISMATCH_EXIT_CODE}; fi; "
    'if [ ! -f "$dir/unpacked" ]; then '
    'rm -rf "$dir/release.tmp" "$dir/release"; mkdir "$dir/release.tmp"; '
    'tar --no-same-owner -xf "$dir/release.archive" -C "$dir/release.tmp"; '
    'root="$dir/release.tmp"; '
    # Official archives hold one directory, release-<commit>/.
    'for d in "$dir"/release.tmp/*; do [ -f "$d/scripts/cocoon-launch" ] && root="$d"; done; '
    'if [ ! -f "$root/scripts/cocoon-launch" ]; then '
    'echo "the release at $RELEASE_URL has no scripts/cocoon-launch" >&2; '
    f"exit {RELEASE_MISMATCH_EXIT_CODE}; fi; "
    'mv "$root" "$dir/release"; rm -rf "$dir/release.tmp"; touch "$dir/unpacked"; fi; '
    'echo "worker release $RELEASE_SHA256 verified"'
)


def launch_script(spec: CocoonNodeSpec, settings: Settings) -> str:
    resource = placement_vm.gpu_resource(spec, settings)
    var = pci_env_var(resource)
    ton = f"{TON_CONFIG_DIR}/{TON_CONFIG_FILE}"
    return (
        "set -eu; umask 077; "
        f'release="{CACHE_DIR}/$RELEASE_SHA256/release"; '
        f'addr="${{{var}:-}}"; '
        'case "$addr" in '
        f'"") echo "no VFIO GPU was allocated: the device plugin set no {var} (does the node advertise '
        f'{resource}?)" >&2; exit {LAUNCH_FAILED_EXIT_CODE};; '
        f'*,*) echo "more than one GPU was allocated ($addr); a worker VM takes one" >&2; '
        f"exit {LAUNCH_FAILED_EXIT_CODE};; "
        f'*[!0-9a-fA-F:.]*) echo "the device plugin gave an unexpected PCI address: $addr" >&2; '
        f"exit {LAUNCH_FAILED_EXIT_CODE};; esac; "
        f'key="$(cat {WALLET_DIR}/{identity.WALLET_SECRET_KEY})"; '
        'case "$key" in ""|*[!A-Za-z0-9+/=]*) echo "the node wallet key is not base64" >&2; '
        f"exit {LAUNCH_FAILED_EXIT_CODE};; esac; "
        f'hf=""; if [ -f {HF_DIR}/token ]; then hf="$(cat {HF_DIR}/token)"; fi; '
        'case "$hf" in *[!A-Za-z0-9_-]*) echo "the Hugging Face token has characters no token has" >&2; '
        f"exit {LAUNCH_FAILED_EXIT_CODE};; esac; "
        f'conf="{WORK_DIR}/worker.conf"; : > "$conf"; '
        # Whole-line substitution with built-ins only: no secret on any command line.
        'while IFS= read -r line || [ -n "$line" ]; do case "$line" in '
        f"'{worker_conf.KEY_LINE}') printf 'node_wallet_key = %s\\n' \"$key\";; "
        f"'{worker_conf.HF_LINE}') if [ -n \"$hf\" ]; then printf 'hf_token = %s\\n' \"$hf\"; fi;; "
        f"'{worker_conf.GPU_LINE}') printf 'gpu = %s\\n' \"$addr\";; "
        f"'{worker_conf.TON_LINE}') printf 'ton_config = %s\\n' '{ton}';; "
        "*) printf '%s\\n' \"$line\";; esac; "
        f'done < {TEMPLATE_DIR}/{worker_conf.TEMPLATE_FILE} >> "$conf"; '
        f"mkdir -p {WORK_DIR}/tmp; export TMPDIR={WORK_DIR}/tmp; "  # noqa: S108 - a memory emptyDir
        f"cd {STATE_DIR}; "
        'echo "starting the worker VM: GPU $addr, release $RELEASE_SHA256"; '
        'exec python3 "$release/scripts/cocoon-launch" "$conf"'
    )


# ----- the pod ---------------------------------------------------------------------------------


def _host_path(name: str, path: str, kind: str = "DirectoryOrCreate") -> dict[str, Any]:
    return {"name": name, "hostPath": {"path": path, "type": kind}}


def volumes(owner: Owner, spec: CocoonNodeSpec, settings: Settings) -> list[dict[str, Any]]:
    ref = spec.network.global_config_ref
    vols: list[dict[str, Any]] = [
        _host_path("release-cache", settings.vm_release_cache_dir),
        _host_path("state", f"{settings.vm_state_dir.rstrip('/')}/{owner.namespace}_{owner.name}"),
        {"name": "launcher-template", "configMap": {"name": configmap_name(owner)}},
        {
            "name": "wallet",
            "secret": {
                "secretName": spec.wallet.secret_ref.name,
                "items": [{"key": identity.WALLET_SECRET_KEY, "path": identity.WALLET_SECRET_KEY}],
                "defaultMode": 0o400,
            },
        },
        {
            "name": "ton-config",
            "configMap": {"name": ref.name, "items": [{"key": ref.key, "path": TON_CONFIG_FILE}]},
        },
        {"name": "work", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
        # Asked for by name, not only reachable through `privileged`: a host without them fails the
        # pod at mount time, before anything runs.
        _host_path("kvm", "/dev/kvm", "CharDevice"),
        _host_path("vhost-vsock", "/dev/vhost-vsock", "CharDevice"),
        _host_path("host-dev", "/dev", "Directory"),
        _host_path("host-sys", "/sys", "Directory"),
        _host_path("host-proc", "/proc", "Directory"),
    ]
    vm = spec.runtime.vm
    if vm is not None and vm.hf_token_secret_ref is not None:
        hf = vm.hf_token_secret_ref
        vols.append(
            {
                "name": "hf-token",
                "secret": {
                    "secretName": hf.name,
                    "items": [{"key": hf.key, "path": "token"}],
                    "defaultMode": 0o400,
                },
            }
        )
    return vols


def _unprivileged_root() -> dict[str, Any]:
    """Init containers: root (the host cache is root's), no capabilities, no escalation."""
    return {
        "runAsUser": 0,
        "runAsNonRoot": False,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
    }


def _release_env(spec: CocoonNodeSpec, settings: Settings) -> list[dict[str, str]]:
    release = release_of(spec, settings)
    return [
        {"name": "RELEASE_URL", "value": release.url if release else ""},
        {"name": "RELEASE_SHA256", "value": release.sha256 if release else ""},
    ]


def init_containers(spec: CocoonNodeSpec, settings: Settings) -> list[dict[str, Any]]:
    image = settings.launcher_image
    return [
        {
            "name": CHECK_HOST_CONTAINER,
            "image": image,
            "command": ["/bin/sh", "-c", check_host_script(settings.vm_check_seal_server)],
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "securityContext": _unprivileged_root(),
            "volumeMounts": [
                {"name": "host-dev", "mountPath": f"{HOST_ROOT}/dev", "readOnly": True},
                {"name": "host-sys", "mountPath": f"{HOST_ROOT}/sys", "readOnly": True},
                {"name": "host-proc", "mountPath": f"{HOST_ROOT}/proc", "readOnly": True},
            ],
        },
        {
            "name": FETCH_RELEASE_CONTAINER,
            "image": image,
            "command": ["/bin/sh", "-c", FETCH_RELEASE_SCRIPT],
            "env": _release_env(spec, settings),
            "terminationMessagePolicy": "FallbackToLogsOnError",
            "securityContext": _unprivileged_root(),
            "volumeMounts": [
                {"name": "release-cache", "mountPath": CACHE_DIR},
                {"name": "work", "mountPath": "/tmp"},  # noqa: S108 - a memory emptyDir
            ],
        },
    ]


def launcher_container(spec: CocoonNodeSpec, settings: Settings) -> dict[str, Any]:
    vm = spec.runtime.vm
    resource = placement_vm.gpu_resource(spec, settings)
    port = runner_port(spec, settings)
    given = vm.resources if vm is not None else None
    requests: dict[str, Any] = {k: str(v) for k, v in (given.requests if given else {}).items()} or dict(
        DEFAULT_REQUESTS
    )
    limits: dict[str, Any] = {k: str(v) for k, v in (given.limits if given else {}).items()}
    requests[resource] = "1"
    limits[resource] = "1"  # extended resources: requests == limits
    startup_timeout = vm.startup_timeout if vm is not None else 7200
    period = 10
    mounts = [
        {"name": "release-cache", "mountPath": CACHE_DIR},
        {"name": "state", "mountPath": STATE_DIR},
        {"name": "launcher-template", "mountPath": TEMPLATE_DIR, "readOnly": True},
        {"name": "wallet", "mountPath": WALLET_DIR, "readOnly": True},
        {"name": "ton-config", "mountPath": TON_CONFIG_DIR, "readOnly": True},
        {"name": "work", "mountPath": WORK_DIR},
        {"name": "kvm", "mountPath": "/dev/kvm"},
        {"name": "vhost-vsock", "mountPath": "/dev/vhost-vsock"},
    ]
    if vm is not None and vm.hf_token_secret_ref is not None:
        mounts.append({"name": "hf-token", "mountPath": HF_DIR, "readOnly": True})
    return {
        "name": LAUNCHER_CONTAINER,
        "image": settings.launcher_image,
        "command": ["/bin/sh", "-c", launch_script(spec, settings)],
        "env": _release_env(spec, settings)[1:],
        "ports": [{"name": "runner", "containerPort": port, "protocol": "TCP"}],
        "resources": {"requests": requests, "limits": limits},
        "terminationMessagePolicy": "FallbackToLogsOnError",
        # /dev/kvm, the VFIO group and iommufd, vhost-vsock, and the guest's 100G of locked memory.
        "securityContext": {"privileged": True, "runAsUser": 0, "runAsNonRoot": False},
        "startupProbe": {
            "httpGet": {"path": "/jsonstats", "port": "runner"},
            "periodSeconds": period,
            "timeoutSeconds": 3,
            "failureThreshold": max(3, math.ceil(startup_timeout / period)),
        },
        "readinessProbe": {
            "httpGet": {"path": "/jsonstats", "port": "runner"},
            "periodSeconds": 10,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        "volumeMounts": mounts,
    }


def statefulset(owner: Owner, spec: CocoonNodeSpec, settings: Settings, digest: str) -> dict[str, Any]:
    labels = {
        **identity.child_labels(owner.name),
        **placement_vm.instance_labels(spec),
        RUNTIME_LABEL: "CocoonVM",
    }
    pod_spec: dict[str, Any] = {
        "serviceAccountName": settings.launcher_service_account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "affinity": placement_vm.affinity(spec, settings),
        "tolerations": placement.tolerations(spec.placement, settings),
        "terminationGracePeriodSeconds": 60,
        "initContainers": init_containers(spec, settings),
        "containers": [launcher_container(spec, settings)],
        "volumes": volumes(owner, spec, settings),
    }
    if spec.placement.node_selector:
        pod_spec["nodeSelector"] = dict(spec.placement.node_selector)
    return one_pod(owner, spec, pod_spec, labels, digest)


def ports(spec: CocoonNodeSpec, settings: Settings) -> dict[str, int]:
    """The launcher pod's one port the operator reaches: the runner's, forwarded from the guest."""
    return {"runner": runner_port(spec, settings)}


def runner_port(spec: CocoonNodeSpec, settings: Settings) -> int:
    """Where the operator reaches the runner's HTTP API on the launcher pod's IP: cocoon-launch forwards
    the guest's port there, host port = guest port + 10 x instance (as its vsock CID is 6 + 10 x instance)."""
    vm = spec.runtime.vm
    if vm is None:  # (the spec's rules require it)
        return settings.runner_http_port
    return GUEST_RUNNER_PORT + INSTANCE_STRIDE * vm.instance


def workload(
    owner: Owner, spec: CocoonNodeSpec, settings: Settings, config_map: dict[str, Any]
) -> dict[str, Any]:
    """The StatefulSet, its template stamped with the digest of worker.conf and of the release."""
    return statefulset(owner, spec, settings, config_hash(config_map, release_of(spec, settings)))


BUILD: Final = Build(configmap, workload, ports)


def desired(owner: Owner, spec: CocoonNodeSpec, settings: Settings) -> list[dict[str, Any]]:
    """A CocoonVM's children with the default PDB, in apply order (the tests)."""
    return BUILD.children(owner, spec, settings)
