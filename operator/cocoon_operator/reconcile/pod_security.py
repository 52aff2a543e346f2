"""The Kubernetes "restricted" Pod Security Standard as a pure check of a pod spec.

Why here: the worker pod must be admitted by a namespace labelled
`pod-security.kubernetes.io/enforce=restricted`. A unit test runs this check on the generated pod spec
(fast, names each violation), and an e2e test confirms it against the API server's own PodSecurity
admission. The rules follow the published standard (baseline + restricted, version `latest`); the
Windows-only and deprecated AppArmor-annotation rules are left out because the operator never sets them.
"""

from collections.abc import Iterator, Mapping
from typing import Any, Final

# Restricted: only these volume types.
ALLOWED_VOLUME_TYPES: Final = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
# Restricted: the only capability that may be added back after dropping ALL.
ALLOWED_ADDED_CAPABILITIES: Final = frozenset({"NET_BIND_SERVICE"})
ALLOWED_SECCOMP: Final = frozenset({"RuntimeDefault", "Localhost"})
ALLOWED_SELINUX_TYPES: Final = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
SAFE_SYSCTLS: Final = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)

Obj = Mapping[str, Any]


def _containers(pod_spec: Obj) -> Iterator[tuple[str, Obj]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in pod_spec.get(field) or []:
            yield f"{field}[{container.get('name', '?')}]", container


def _effective(pod_sc: Obj, sc: Obj, key: str) -> Any:
    """A container setting overrides the pod's (as the kubelet applies them)."""
    return sc[key] if sc.get(key) is not None else pod_sc.get(key)


def restricted_violations(pod_spec: Obj) -> list[str]:
    """Every rule of the restricted profile the pod spec breaks, as `where: what` lines (empty = admitted)."""
    out: list[str] = []
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(flag):
            out.append(f"spec.{flag}: must be unset or false")
    for volume in pod_spec.get("volumes") or []:
        kinds = [k for k in volume if k != "name"]
        bad = [k for k in kinds if k not in ALLOWED_VOLUME_TYPES]
        if bad:
            out.append(f"spec.volumes[{volume.get('name')}]: type {', '.join(bad)} is not allowed")
    pod_sc: Obj = pod_spec.get("securityContext") or {}
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            out.append(f"spec.securityContext.sysctls: {sysctl.get('name')} is not a safe sysctl")
    if pod_sc.get("runAsUser") == 0:
        out.append("spec.securityContext.runAsUser: must not be 0")
    out += _selinux("spec.securityContext", pod_sc)
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_seccomp is not None and pod_seccomp not in ALLOWED_SECCOMP:
        out.append(f"spec.securityContext.seccompProfile.type: {pod_seccomp} is not allowed")
    for where, container in _containers(pod_spec):
        sc: Obj = container.get("securityContext") or {}
        if sc.get("privileged"):
            out.append(f"{where}.securityContext.privileged: must be unset or false")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{where}.securityContext.allowPrivilegeEscalation: must be false")
        if _effective(pod_sc, sc, "runAsNonRoot") is not True:
            out.append(f"{where}.securityContext.runAsNonRoot: must be true (here or in the pod)")
        if sc.get("runAsUser") == 0:
            out.append(f"{where}.securityContext.runAsUser: must not be 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type") or pod_seccomp
        if seccomp not in ALLOWED_SECCOMP:
            out.append(f"{where}.securityContext.seccompProfile.type: must be RuntimeDefault or Localhost")
        caps: Obj = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{where}.securityContext.capabilities.drop: must include ALL")
        added = set(caps.get("add") or []) - ALLOWED_ADDED_CAPABILITIES
        if added:
            out.append(f"{where}.securityContext.capabilities.add: {', '.join(sorted(added))} not allowed")
        if sc.get("procMount") not in (None, "Default"):
            out.append(f"{where}.securityContext.procMount: must be Default")
        out += _selinux(f"{where}.securityContext", sc)
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                out.append(
                    f"{where}.ports[{port.get('name', port.get('containerPort'))}].hostPort: must be unset"
                )
        apparmor = (sc.get("appArmorProfile") or {}).get("type")
        if apparmor not in (None, "RuntimeDefault", "Localhost"):
            out.append(f"{where}.securityContext.appArmorProfile.type: {apparmor} is not allowed")
    return out


def _selinux(where: str, sc: Obj) -> list[str]:
    options: Obj = sc.get("seLinuxOptions") or {}
    out = []
    if options.get("type", "") not in ALLOWED_SELINUX_TYPES:
        out.append(f"{where}.seLinuxOptions.type: {options.get('type')} is not allowed")
    for key in ("user", "role"):
        if options.get(key):
            out.append(f"{where}.seLinuxOptions.{key}: must be unset")
    return out
