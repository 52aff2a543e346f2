"""The operator's worker pod under the API server's own PodSecurity admission (restricted, enforced).

PodSecurity is built into kube-apiserver: a namespace labelled
`pod-security.kubernetes.io/enforce=restricted` rejects every pod that breaks the restricted profile.
The generated pod template is created there (server-side dry run, which runs admission in full), a
deliberately broken copy proves enforcement is on, and the real StatefulSet gets its pod admitted.
"""

import copy
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from cocoon_operator.api.spec import parse_spec
from cocoon_operator.reconcile import children
from cocoon_operator.settings import Settings
from tests.helpers.k8s import wait_for
from tests.unit.builders import minimal_spec

pytestmark = [pytest.mark.cluster, pytest.mark.e2e, pytest.mark.timeout(180)]

HASH = "cd" * 32
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "url-model": {"inference": {"modelSource": {"url": "https://models.invalid/m.tar"}, "modelSha256": HASH}},
    "pvc-model": {
        "inference": {"modelSource": {"pvc": {"claimName": "models", "subPath": "v1"}}, "modelSha256": HASH},
        "placement": {"gpuCount": 2},
    },
}


@pytest.fixture
def restricted_namespace(namespace: str, core_v1: client.CoreV1Api) -> str:
    core_v1.patch_namespace(
        namespace,
        {
            "metadata": {
                "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                }
            }
        },
    )
    return namespace


def _statefulset(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    owner = children.Owner(name=name, namespace=namespace, uid="00000000-0000-0000-0000-000000000000")
    parsed = parse_spec(minimal_spec(**spec))
    settings = Settings()
    sts = children.statefulset(
        owner, parsed, settings, children.config_hash(children.configmap(owner, parsed, settings))
    )
    # No owner here: the garbage collector would delete a child whose CocoonNode does not exist.
    sts["metadata"].pop("ownerReferences")
    return sts


def _pod(sts: dict[str, Any]) -> dict[str, Any]:
    template = copy.deepcopy(sts["spec"]["template"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{sts['metadata']['name']}-0", **template["metadata"]},
        "spec": template["spec"],
    }


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_worker_pod_is_admitted_under_enforced_restricted(
    restricted_namespace: str, core_v1: client.CoreV1Api, variant: str
) -> None:
    pod = _pod(_statefulset(f"pss-{variant}", restricted_namespace, **VARIANTS[variant]))
    created = core_v1.create_namespaced_pod(restricted_namespace, pod, dry_run="All")
    assert created.metadata.name == pod["metadata"]["name"]


def test_enforcement_is_on_a_broken_copy_is_rejected(
    restricted_namespace: str, core_v1: client.CoreV1Api
) -> None:
    pod = _pod(_statefulset("pss-broken", restricted_namespace))
    pod["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    with pytest.raises(ApiException) as info:
        core_v1.create_namespaced_pod(restricted_namespace, pod, dry_run="All")
    assert info.value.status == 403
    assert "violates PodSecurity" in str(info.value.body) and "allowPrivilegeEscalation" in str(
        info.value.body
    )


def test_statefulset_pod_is_created_in_restricted_namespace(
    restricted_namespace: str, k8s_api: client.ApiClient, core_v1: client.CoreV1Api
) -> None:
    sts = _statefulset("pss-sts", restricted_namespace)
    client.AppsV1Api(k8s_api).create_namespaced_stateful_set(restricted_namespace, sts)
    # The StatefulSet controller creates the pod through admission: a rejection would leave no pod
    # (only a FailedCreate event), so the pod existing is the proof.
    pod = wait_for(
        "pod pss-sts-0 admitted",
        lambda: core_v1.read_namespaced_pod("pss-sts-0", restricted_namespace),
        lambda p: p is not None,
        timeout_s=60,
    )
    assert pod.spec.security_context.run_as_non_root is True
