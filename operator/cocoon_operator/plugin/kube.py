"""The Kubernetes side of the plugin: any kubeconfig (or in-cluster credentials) through the official
client. CocoonNodes, their TON global config ConfigMaps and the operator's metrics Service; never a
Secret."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from cocoon_operator.api import identity

METRICS_SELECTOR = "app.kubernetes.io/part-of=cocoon-operator,app.kubernetes.io/component=metrics"


class KubeError(RuntimeError):
    """The API refused or could not be reached; the message is for the user."""


@dataclass
class Kube:
    api: client.ApiClient
    namespace: str  # the kubeconfig context's namespace (or "default")

    @classmethod
    def connect(cls, kubeconfig: str | None = None, context: str | None = None) -> Kube:
        try:
            api = config.new_client_from_config(config_file=kubeconfig, context=context)  # type: ignore[no-untyped-call]
            namespace = "default"
            contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]
            chosen = next((c for c in contexts if c["name"] == context), active) if context else active
            namespace = str((chosen or {}).get("context", {}).get("namespace") or "default")
        except (ConfigException, FileNotFoundError, TypeError) as exc:
            try:
                config.load_incluster_config()  # type: ignore[no-untyped-call]
            except ConfigException:
                raise KubeError(f"no usable kubeconfig: {exc}") from exc
            api = client.ApiClient()
            namespace = "default"
        return cls(api, namespace)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def cocoonnodes(self, namespace: str | None) -> list[dict[str, Any]]:
        """All CocoonNodes of a namespace, or of all namespaces (None), sorted by namespace and name."""
        try:
            if namespace is None:
                listing = self.custom.list_cluster_custom_object(
                    identity.GROUP, identity.VERSION, identity.PLURAL, _request_timeout=30
                )
            else:
                listing = self.custom.list_namespaced_custom_object(
                    identity.GROUP, identity.VERSION, namespace, identity.PLURAL, _request_timeout=30
                )
        except ApiException as exc:
            raise KubeError(_why(exc, "list CocoonNodes")) from exc
        items = cast(list[dict[str, Any]], cast(dict[str, Any], listing).get("items") or [])
        return sorted(items, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))

    def cocoonnode(self, namespace: str, name: str) -> dict[str, Any]:
        try:
            obj = self.custom.get_namespaced_custom_object(
                identity.GROUP, identity.VERSION, namespace, identity.PLURAL, name, _request_timeout=30
            )
        except ApiException as exc:
            raise KubeError(_why(exc, f"get CocoonNode {namespace}/{name}")) from exc
        return cast(dict[str, Any], obj)

    def patch(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch of a CocoonNode (spec or metadata; never status)."""
        try:
            obj = self.custom.patch_namespaced_custom_object(
                identity.GROUP, identity.VERSION, namespace, identity.PLURAL, name, patch, _request_timeout=30
            )
        except ApiException as exc:
            raise KubeError(_why(exc, f"patch CocoonNode {namespace}/{name}")) from exc
        return cast(dict[str, Any], obj)

    def config_map_value(self, namespace: str, name: str, key: str) -> str | None:
        try:
            cm = client.CoreV1Api(self.api).read_namespaced_config_map(name, namespace, _request_timeout=30)
        except ApiException:
            return None
        data = cm.data or {}
        value = data.get(key)
        return str(value) if value is not None else None

    def operator_metrics(self) -> str | None:
        """The operator's /metrics through the API server's service proxy (needs `services/proxy`);
        None when no operator Service answers (e.g. the operator runs outside the cluster)."""
        core = client.CoreV1Api(self.api)
        try:
            services = core.list_service_for_all_namespaces(
                label_selector=METRICS_SELECTOR, _request_timeout=15
            ).items
        except ApiException:
            return None
        for svc in services:
            meta = svc.metadata
            if meta is None or not meta.name or not meta.namespace:
                continue
            try:
                text = core.connect_get_namespaced_service_proxy_with_path(
                    f"{meta.name}:metrics", str(meta.namespace), "metrics", _request_timeout=15
                )
            except ApiException:
                continue
            if isinstance(text, str) and "cocoon_" in text:
                return text
        return None

    def close(self) -> None:
        self.api.close()  # type: ignore[no-untyped-call]


def _why(exc: ApiException, what: str) -> str:
    if exc.status == 404:
        return f"cannot {what}: not found (is the CocoonNode CRD installed, and the name right?)"
    if exc.status == 403:
        return f"cannot {what}: forbidden for this kubeconfig's user"
    return f"cannot {what}: HTTP {exc.status} {exc.reason}"
