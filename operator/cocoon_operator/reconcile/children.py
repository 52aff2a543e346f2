"""Desired children of a CocoonNode as plain dicts (pure; unit-tested without a cluster).

Names are deterministic: StatefulSet, Service, PodDisruptionBudget and NetworkPolicy are named after
the CocoonNode, the runner ConfigMap `<name>-runner`, the pod `<name>-0`.

Why a StatefulSet and not a bare Pod: a stable pod name, the controller recreates the pod after an
eviction or node loss (the operator does not have to), template changes (model, image, config) roll
the worker, and `paused` is simply `replicas: 0`.
"""

import base64
import hashlib
import math
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from cocoon_operator.api import identity
from cocoon_operator.api.spec import CocoonNodeSpec
from cocoon_operator.reconcile import placement, runner_config
from cocoon_operator.settings import Settings

CONFIG_HASH_ANNOTATION: Final = f"{identity.GROUP}/config-hash"
RENDER_CONTAINER: Final = "render-config"
WALLET_VOLUME: Final = "wallet"
GENERATED_ANNOTATION: Final = f"{identity.GROUP}/generated-by"
TRITON_MODEL_DIR: Final = "/models"


@dataclass(frozen=True)
class Owner:
    """The CocoonNode the children belong to."""

    name: str
    namespace: str
    uid: str

    def reference(self) -> dict[str, Any]:
        return {
            "apiVersion": identity.API_VERSION,
            "kind": identity.KIND,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def metadata(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "namespace": self.namespace,
            "labels": identity.child_labels(self.name),
            "ownerReferences": [self.reference()],
        }


def statefulset_name(owner: Owner) -> str:
    return owner.name


def pod_name(owner: Owner) -> str:
    return identity.worker_pod_name(owner.name)


def configmap_name(owner: Owner) -> str:
    return f"{owner.name}-runner"


def configmap(owner: Owner, spec: CocoonNodeSpec, settings: Settings) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": owner.metadata(configmap_name(owner)),
        "data": {runner_config.TEMPLATE_FILE: runner_config.render(spec, settings)},
    }


def ports(spec: CocoonNodeSpec, settings: Settings) -> dict[str, int]:
    """A TritonPod's ports the operator reaches: the runner, Triton's HTTP API and its metrics."""
    return {
        "runner": settings.runner_http_port,
        "triton-http": settings.triton_http_port,
        "triton-metrics": settings.triton_metrics_port,
    }


def service(owner: Owner, ports: Mapping[str, int]) -> dict[str, Any]:
    """Headless Service: the StatefulSet's governing service and a stable DNS name for the worker."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": owner.metadata(owner.name),
        "spec": {
            "clusterIP": "None",
            "selector": identity.selector_labels(owner.name),
            "ports": [{"name": name, "port": port, "protocol": "TCP"} for name, port in ports.items()],
        },
    }


def pod_disruption_budget(owner: Owner, max_unavailable: int = 1) -> dict[str, Any]:
    """Drains may evict the worker (default 1): a node kept hostage costs more than a short outage.

    A later step can lower `max_unavailable` to 0 while a claim awaits confirmation on chain.
    """
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": owner.metadata(owner.name),
        "spec": {
            "maxUnavailable": max_unavailable,
            "selector": {"matchLabels": identity.selector_labels(owner.name)},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def network_policy(owner: Owner, settings: Settings, ports: Mapping[str, int]) -> dict[str, Any]:
    """Only the operator may reach the worker's ports (the runner's control endpoints have no
    authentication)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": owner.metadata(owner.name),
        "spec": {
            "podSelector": {"matchLabels": identity.selector_labels(owner.name)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": settings.operator_namespace}
                            },
                            "podSelector": {"matchLabels": dict(settings.operator_pod_labels)},
                        }
                    ],
                    "ports": [{"port": port, "protocol": "TCP"} for port in ports.values()],
                }
            ],
        },
    }


@dataclass(frozen=True)
class Build:
    """What a runtime kind builds: its ConfigMap, its StatefulSet from that ConfigMap (the template
    stamped with a digest of it and of whatever else must roll the pod), and the ports the operator
    reaches on the pod."""

    configmap: Callable[[Owner, CocoonNodeSpec, Settings], dict[str, Any]]
    workload: Callable[[Owner, CocoonNodeSpec, Settings, dict[str, Any]], dict[str, Any]]
    ports: Callable[[CocoonNodeSpec, Settings], dict[str, int]]

    def children(
        self,
        owner: Owner,
        spec: CocoonNodeSpec,
        settings: Settings,
        *,
        with_workload: bool = True,
        pdb_max_unavailable: int | None = 1,
    ) -> list[dict[str, Any]]:
        """All owned children, in apply order (the ConfigMap before the workload that mounts it); no
        PDB when `pdb_max_unavailable` is None."""
        config_map = self.configmap(owner, spec, settings)
        ports = self.ports(spec, settings)
        objects = [config_map, service(owner, ports), network_policy(owner, settings, ports)]
        if pdb_max_unavailable is not None:
            objects.insert(2, pod_disruption_budget(owner, pdb_max_unavailable))
        if with_workload:
            objects.append(self.workload(owner, spec, settings, config_map))
        return objects

    def statefulset(self, owner: Owner, spec: CocoonNodeSpec, settings: Settings) -> dict[str, Any]:
        """The StatefulSet alone (what the reconcile scales to zero to stop the worker)."""
        return self.workload(owner, spec, settings, self.configmap(owner, spec, settings))


def new_wallet_secret(owner: Owner, secret_name: str) -> dict[str, Any]:
    """A fresh node wallet key: 32 random bytes, base64 (created once, never replaced, never logged).

    No ownerReference on purpose: the key controls the wallet's funds and must outlive the CocoonNode.
    Bound to the CocoonNode's UID instead (`wallet_binding_problem`), so no other CocoonNode can use it.
    """
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": secret_name,
            "namespace": owner.namespace,
            "labels": {
                identity.LABEL_MANAGED_BY: identity.MANAGED_BY,
                identity.LABEL_NODE: owner.name,
            },
            "annotations": {
                GENERATED_ANNOTATION: f"{identity.MANAGED_BY} for {identity.KIND} {owner.name}",
                identity.ANNOTATION_BOUND_UID: owner.uid,
            },
        },
        "data": {identity.WALLET_SECRET_KEY: base64.b64encode(key.encode()).decode()},
    }


def wallet_binding_problem(secret: dict[str, Any], owner: Owner) -> str | None:
    """None when this CocoonNode may use the wallet Secret: the operator made it for this CocoonNode
    (its UID), or a cluster admin adopted it for this CocoonNode's name. Otherwise why not, without
    anything about the key (the Secret is not this CocoonNode's business)."""
    meta = secret.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    bound = annotations.get(identity.ANNOTATION_BOUND_UID)
    if bound == owner.uid or annotations.get(identity.ANNOTATION_ADOPT_FOR) == owner.name:
        return None
    name = meta.get("name")
    mark = f"{identity.ANNOTATION_ADOPT_FOR}={owner.name}"
    adopt = f"kubectl -n {owner.namespace} annotate secret {name} {mark}"
    if bound:
        why = f"holds the wallet key of another CocoonNode (UID {bound})"
    else:
        why = "was not created by the operator for this CocoonNode"
    return (
        f"Secret {name} {why}; a CocoonNode uses only a wallet Secret made for it, so nothing mounts "
        f"or funds it. A cluster admin who means to hand this key to {owner.name} adopts it: {adopt}"
    )


def wallet_key_problem(secret: dict[str, Any]) -> str | None:
    """None when the Secret holds a usable key; the message never contains key material."""
    raw = (secret.get("data") or {}).get(identity.WALLET_SECRET_KEY)
    if raw is None:
        return f"Secret {secret['metadata']['name']} has no key {identity.WALLET_SECRET_KEY!r}"
    try:
        text = base64.b64decode(raw, validate=True).decode().strip()
        seed = base64.b64decode(text, validate=True)
    except (ValueError, UnicodeDecodeError):
        return f"Secret {secret['metadata']['name']} key {identity.WALLET_SECRET_KEY!r} is not base64 text"
    if len(seed) != 32:
        return (
            f"Secret {secret['metadata']['name']} key {identity.WALLET_SECRET_KEY!r} "
            f"must decode to 32 bytes, not {len(seed)}"
        )
    return None


def config_hash(config_map: dict[str, Any]) -> str:
    data = config_map["data"][runner_config.TEMPLATE_FILE]
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def _triton_container(spec: CocoonNodeSpec, settings: Settings) -> dict[str, Any]:
    inference = spec.inference
    gpus = str(spec.placement.gpu_count)
    requests: dict[str, Any] = {k: str(v) for k, v in inference.resources.requests.items()}
    limits: dict[str, Any] = {k: str(v) for k, v in inference.resources.limits.items()}
    # Extended resources cannot be overcommitted: requests must equal limits.
    resource = placement.resource_name(spec.placement, settings)
    requests[resource] = gpus
    limits[resource] = gpus
    startup_period = 10
    return {
        "name": "triton",
        "image": inference.image,
        "command": ["tritonserver"],
        "args": [
            f"--model-repository={TRITON_MODEL_DIR}",
            "--model-control-mode=none",
            "--strict-readiness=true",
            "--exit-on-error=true",
            f"--exit-timeout-secs={settings.triton_exit_timeout_seconds}",
            f"--http-port={settings.triton_http_port}",
            f"--grpc-port={settings.triton_grpc_port}",
            f"--metrics-port={settings.triton_metrics_port}",
        ],
        "ports": [
            {"name": "http", "containerPort": settings.triton_http_port, "protocol": "TCP"},
            {"name": "grpc", "containerPort": settings.triton_grpc_port, "protocol": "TCP"},
            {"name": "metrics", "containerPort": settings.triton_metrics_port, "protocol": "TCP"},
        ],
        "resources": {"requests": requests, "limits": limits},
        "startupProbe": {
            "httpGet": {"path": "/v2/health/ready", "port": "http"},
            "periodSeconds": startup_period,
            "failureThreshold": max(3, math.ceil(inference.startup_timeout / startup_period)),
        },
        "livenessProbe": {
            "httpGet": {"path": "/v2/health/live", "port": "http"},
            "periodSeconds": 10,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            "httpGet": {"path": "/v2/health/ready", "port": "http"},
            "periodSeconds": 5,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        # Triton refuses new connections at SIGTERM: let endpoints and proxies drop the pod first.
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(settings.prestop_sleep_seconds)]}}},
        "securityContext": _container_security(),
        "volumeMounts": [
            _model_mount(spec),
            {"name": "dshm", "mountPath": "/dev/shm"},  # noqa: S108 - a memory emptyDir
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir, not the host's /tmp
        ],
    }


def _runner_container(spec: CocoonNodeSpec, settings: Settings) -> dict[str, Any]:
    return {
        "name": "runner",
        "image": spec.worker.image,
        "args": ["-c", f"{runner_config.CONFIG_DIR}/{runner_config.CONFIG_FILE}"],
        "ports": [{"name": "runner", "containerPort": settings.runner_http_port, "protocol": "TCP"}],
        "securityContext": _container_security(),
        "volumeMounts": [
            {"name": "runner-config", "mountPath": runner_config.CONFIG_DIR, "readOnly": True},
            {"name": "ton-config", "mountPath": runner_config.TON_CONFIG_DIR, "readOnly": True},
        ],
    }


def _router_container(spec: CocoonNodeSpec, settings: Settings) -> dict[str, Any]:
    """The worker's RA-TLS router (SOCKS5 on 127.0.0.1:router_port, `connect_to_proxy_via`), from the
    runner image, as the official worker image runs it (`router -S 8116@tdx`): the proxies must prove
    TDX. Test workers accept any proxy (`@any`, the official local test setup), for test networks whose
    proxies do not run in TDX."""
    policy = "any" if spec.worker.mode == "Test" else "tdx"
    return {
        "name": "router",
        "image": spec.worker.image,
        "command": ["router"],
        "args": ["-S", f"{settings.router_port}@{policy}", "--serialize-info"],
        "securityContext": _container_security(),
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
    }


def _openai_container(spec: CocoonNodeSpec, settings: Settings) -> dict[str, Any]:
    """The runner's OpenAI upstream (`forward_requests_to`): a thin adapter in front of Triton's KServe
    v2 API that answers for the model's Hugging Face name (cocoon_operator.worker.openai_adapter)."""
    return {
        "name": "openai",
        "image": settings.openai_adapter_image,
        "command": ["python", "-m", "cocoon_operator.worker.openai_adapter"],
        "args": [
            "--served-model-name",
            spec.model.name,
            "--listen",
            f"127.0.0.1:{settings.triton_openai_port}",
            "--triton",
            f"http://127.0.0.1:{settings.triton_http_port}",
        ],
        "securityContext": _container_security(),
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
    }


def _render_container(settings: Settings) -> dict[str, Any]:
    """The one container that mounts the wallet key. Its image is the admin's (`COCOON_RENDER_IMAGE`),
    never one from the spec: an author who may change `spec.worker.image` must not choose the code that
    reads the key file."""
    return {
        "name": RENDER_CONTAINER,
        "image": settings.render_image,
        "command": ["/bin/sh", "-c", runner_config.RENDER_SCRIPT],
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": _container_security(),
        "volumeMounts": [
            {"name": "runner-template", "mountPath": runner_config.TEMPLATE_DIR, "readOnly": True},
            {"name": WALLET_VOLUME, "mountPath": runner_config.WALLET_DIR, "readOnly": True},
            {"name": "runner-config", "mountPath": runner_config.CONFIG_DIR},
        ],
    }


# Exit code of the model init containers when the content does not match spec.inference.modelSha256
# (the health layer turns it into InferenceReady=False/ModelIntegrityFailed with the message).
MODEL_MISMATCH_EXIT_CODE: Final = 3
FETCH_MODEL_CONTAINER: Final = "fetch-model"
VERIFY_MODEL_CONTAINER: Final = "verify-model"
_MODEL_RW_DIR: Final = "/models-rw"

# URL source: the SHA-256 of the archive as published (what `sha256sum model.tar` prints), checked
# before anything is unpacked, so a tampered archive never reaches the model volume.
FETCH_SCRIPT: Final = (
    "set -eu; "
    'echo "fetching model archive $MODEL_URL"; '
    'curl -fsSL --retry 3 --connect-timeout 20 "$MODEL_URL" -o /tmp/model.tar; '
    "actual=\"$(sha256sum /tmp/model.tar | cut -d' ' -f1)\"; "
    'if [ "$actual" != "$MODEL_SHA256" ]; then '
    "rm -f /tmp/model.tar; "
    'echo "model integrity check failed: SHA-256 of the archive at $MODEL_URL is $actual, '
    'spec.inference.modelSha256 is $MODEL_SHA256" >&2; '
    f"exit {MODEL_MISMATCH_EXIT_CODE}; fi; "
    f"cd {_MODEL_RW_DIR}; tar --no-same-owner --no-same-permissions -xf /tmp/model.tar; "
    "rm -f /tmp/model.tar; "
    'echo "model archive verified ($actual) and unpacked"'
)

# PVC source: a manifest digest over the repository as Triton sees it (the mount, subPath applied):
# one `sha256sum` line per regular file (symlinks followed, `lost+found` skipped), paths sorted
# bytewise, then the SHA-256 of that text. docs/worker-pod.md gives the same command to compute it.
MANIFEST_COMMAND: Final = (
    "find -L . -type f ! -path './lost+found/*' -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum"
)
VERIFY_SCRIPT: Final = (
    "set -eu; "
    f"cd {TRITON_MODEL_DIR}; "
    f'manifest="$({MANIFEST_COMMAND})"; '
    'if [ -z "$manifest" ]; then '
    'echo "model integrity check failed: the model repository on the PVC is empty '
    '(check spec.inference.modelSource.pvc.claimName and subPath)" >&2; '
    f"exit {MODEL_MISMATCH_EXIT_CODE}; fi; "
    "actual=\"$(printf '%s\\n' \"$manifest\" | sha256sum | cut -d' ' -f1)\"; "
    "files=\"$(printf '%s\\n' \"$manifest\" | wc -l | tr -d ' ')\"; "
    'if [ "$actual" != "$MODEL_SHA256" ]; then '
    'echo "model integrity check failed: manifest SHA-256 of the model repository on the PVC '
    '($files files) is $actual, spec.inference.modelSha256 is $MODEL_SHA256" >&2; '
    f"exit {MODEL_MISMATCH_EXIT_CODE}; fi; "
    'echo "model repository verified: $files files, manifest SHA-256 $actual"'
)


def _fetch_model_container(spec: CocoonNodeSpec, url: str) -> dict[str, Any]:
    """Downloads the model archive, verifies its SHA-256, then unpacks it; a mismatch fails the pod."""
    return {
        "name": FETCH_MODEL_CONTAINER,
        "image": spec.inference.image,
        "command": ["/bin/sh", "-c", FETCH_SCRIPT],
        "env": [
            {"name": "MODEL_URL", "value": url},
            {"name": "MODEL_SHA256", "value": spec.inference.model_sha256 or ""},
        ],
        # The kubelet copies the log tail into status (lastState.terminated.message), where the
        # operator reads it: the mismatch message reaches the CocoonNode's conditions.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": _container_security(),
        "volumeMounts": [
            {"name": "model", "mountPath": _MODEL_RW_DIR},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir, not the host's /tmp
        ],
    }


def _verify_model_container(spec: CocoonNodeSpec, sha256: str) -> dict[str, Any]:
    """Checks a PVC model repository against the manifest digest before Triton may start."""
    return {
        "name": VERIFY_MODEL_CONTAINER,
        "image": spec.inference.image,
        "command": ["/bin/sh", "-c", VERIFY_SCRIPT],
        "env": [{"name": "MODEL_SHA256", "value": sha256}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": _container_security(),
        "volumeMounts": [_model_mount(spec)],
    }


def _model_mount(spec: CocoonNodeSpec) -> dict[str, Any]:
    """The model repository as Triton (and the verifier) see it: read-only, the PVC's subPath applied."""
    mount: dict[str, Any] = {"name": "model", "mountPath": TRITON_MODEL_DIR, "readOnly": True}
    source = spec.inference.model_source
    if source is not None and source.pvc is not None and source.pvc.sub_path:
        mount["subPath"] = source.pvc.sub_path
    return mount


def model_init_containers(spec: CocoonNodeSpec) -> list[dict[str, Any]]:
    """URL: fetch + verify + unpack; PVC with a hash: verify in place; no source: none."""
    source = spec.inference.model_source
    if source is None:
        return []
    if source.url:
        return [_fetch_model_container(spec, source.url)]
    if source.pvc is not None and spec.inference.model_sha256:
        return [_verify_model_container(spec, spec.inference.model_sha256)]
    return []


def _container_security() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def _volumes(owner: Owner, spec: CocoonNodeSpec) -> list[dict[str, Any]]:
    source = spec.inference.model_source
    model: dict[str, Any]
    if source is not None and source.pvc is not None:
        model = {
            "name": "model",
            "persistentVolumeClaim": {"claimName": source.pvc.claim_name, "readOnly": True},
        }
    else:
        model = {"name": "model", "emptyDir": {}}
    ref = spec.network.global_config_ref
    return [
        model,
        {"name": "runner-template", "configMap": {"name": configmap_name(owner)}},
        {"name": "runner-config", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
        {
            "name": WALLET_VOLUME,
            "secret": {
                "secretName": spec.wallet.secret_ref.name,
                "items": [{"key": identity.WALLET_SECRET_KEY, "path": identity.WALLET_SECRET_KEY}],
                "defaultMode": 0o440,
            },
        },
        {
            "name": "ton-config",
            "configMap": {
                "name": ref.name,
                "items": [{"key": ref.key, "path": runner_config.TON_CONFIG_FILE}],
            },
        },
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
        {"name": "tmp", "emptyDir": {}},
    ]


def statefulset(owner: Owner, spec: CocoonNodeSpec, settings: Settings, config_digest: str) -> dict[str, Any]:
    grace = (
        settings.prestop_sleep_seconds
        + settings.triton_exit_timeout_seconds
        + settings.unload_allowance_seconds
    )
    # Model first: a bad model fails fast and visibly, before anything else is prepared.
    init_containers = [*model_init_containers(spec), _render_container(settings)]
    pod_spec: dict[str, Any] = {
        "affinity": placement.node_affinity(spec.placement, settings),
        "tolerations": placement.tolerations(spec.placement, settings),
        "terminationGracePeriodSeconds": grace,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": settings.run_as_user,
            "runAsGroup": settings.run_as_user,
            "fsGroup": settings.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "initContainers": init_containers,
        "containers": [
            _triton_container(spec, settings),
            _runner_container(spec, settings),
            _router_container(spec, settings),
            _openai_container(spec, settings),
        ],
        "volumes": _volumes(owner, spec),
    }
    if spec.placement.node_selector:
        pod_spec["nodeSelector"] = dict(spec.placement.node_selector)
    if spec.placement.runtime_class_name:
        pod_spec["runtimeClassName"] = spec.placement.runtime_class_name
    return one_pod(owner, spec, pod_spec, identity.child_labels(owner.name), config_digest)


def one_pod(
    owner: Owner, spec: CocoonNodeSpec, pod_spec: dict[str, Any], labels: dict[str, str], config_digest: str
) -> dict[str, Any]:
    """The one-replica StatefulSet around either kind's pod (`paused` is zero replicas); a new config
    digest in the template rolls the pod."""
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": owner.metadata(statefulset_name(owner)),
        "spec": {
            "replicas": 0 if spec.paused else 1,
            "serviceName": owner.name,
            "selector": {"matchLabels": identity.selector_labels(owner.name)},
            "template": {
                "metadata": {"labels": labels, "annotations": {CONFIG_HASH_ANNOTATION: config_digest}},
                "spec": pod_spec,
            },
        },
    }


def workload(
    owner: Owner, spec: CocoonNodeSpec, settings: Settings, config_map: dict[str, Any]
) -> dict[str, Any]:
    """The StatefulSet, its template stamped with the digest of the runner ConfigMap."""
    return statefulset(owner, spec, settings, config_hash(config_map))


BUILD: Final = Build(configmap, workload, ports)


def desired(owner: Owner, spec: CocoonNodeSpec, settings: Settings) -> list[dict[str, Any]]:
    """A TritonPod's children with the default PDB, in apply order (the bench and the tests)."""
    return BUILD.children(owner, spec, settings)
