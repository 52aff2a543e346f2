"""CRD structural schemas and CEL validation rules are enforced by the real API server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from tests.helpers.k8s import wait_for, wait_gone

pytestmark = pytest.mark.cluster

RULE_MESSAGE = "minReplicas must not exceed maxReplicas"


@pytest.fixture
def widget_crd(k8s_api: client.ApiClient) -> Iterator[tuple[str, str]]:
    ext = client.ApiextensionsV1Api(k8s_api)
    group = f"t{uuid.uuid4().hex[:8]}.cluster-test.cocoon.tonops.dev"
    name = f"widgets.{group}"
    ext.create_custom_resource_definition(
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "properties": {
                                    "spec": {
                                        "type": "object",
                                        "required": ["minReplicas", "maxReplicas"],
                                        "properties": {
                                            "minReplicas": {"type": "integer"},
                                            "maxReplicas": {"type": "integer"},
                                        },
                                        "x-kubernetes-validations": [
                                            {
                                                "rule": "self.minReplicas <= self.maxReplicas",
                                                "message": RULE_MESSAGE,
                                            }
                                        ],
                                    }
                                },
                            }
                        },
                    }
                ],
            },
        }
    )
    wait_for(
        f"CRD {name} to be Established",
        lambda: ext.read_custom_resource_definition(name).status,
        lambda s: any(c.type == "Established" and c.status == "True" for c in (s.conditions or [])),
    )
    try:
        yield group, "widgets"
    finally:
        ext.delete_custom_resource_definition(name)
        wait_gone(f"CRD {name} deleted", lambda: ext.read_custom_resource_definition(name))


def test_cel_rule_rejects_invalid_object(
    k8s_api: client.ApiClient, namespace: str, widget_crd: tuple[str, str]
) -> None:
    group, plural = widget_crd
    custom = client.CustomObjectsApi(k8s_api)

    def widget(name: str, lo: int, hi: int) -> dict[str, object]:
        return {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": name},
            "spec": {"minReplicas": lo, "maxReplicas": hi, "unknownField": "pruned"},
        }

    # The new CRD's REST endpoint can take a moment to appear after Established.
    created = wait_for(
        "the first Widget to be accepted",
        lambda: custom.create_namespaced_custom_object(group, "v1", namespace, plural, widget("ok", 1, 3)),
        lambda obj: obj is not None,
        timeout_s=30,
    )
    assert "unknownField" not in created["spec"]  # structural schema prunes unknown fields
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(group, "v1", namespace, plural, widget("bad", 5, 1))
    assert err.value.status == 422
    assert RULE_MESSAGE in err.value.body
