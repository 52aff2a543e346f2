"""URL paths of the kinds the operator touches (no discovery round-trips: the set is small and fixed)."""

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Resource:
    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    def base(self) -> str:
        return f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        parts = [self.base()]
        if self.namespaced and namespace:
            parts.append(f"namespaces/{quote(namespace, safe='')}")
        parts.append(self.plural)
        if name:
            parts.append(quote(name, safe=""))
            if subresource:
                parts.append(subresource)
        return "/".join(parts)


_KNOWN = [
    Resource("v1", "ConfigMap", "configmaps"),
    Resource("v1", "Secret", "secrets"),
    Resource("v1", "Service", "services"),
    Resource("v1", "Pod", "pods"),
    Resource("v1", "Event", "events"),
    Resource("v1", "Node", "nodes", namespaced=False),
    Resource("v1", "Namespace", "namespaces", namespaced=False),
    Resource("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    Resource("v1", "PersistentVolume", "persistentvolumes", namespaced=False),
    Resource("apps/v1", "StatefulSet", "statefulsets"),
    Resource("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
    Resource("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
    Resource("coordination.k8s.io/v1", "Lease", "leases"),
    Resource("cocoon.tonops.dev/v1alpha1", "CocoonNode", "cocoonnodes"),
]
_BY_KIND = {(r.api_version, r.kind): r for r in _KNOWN}


def resource(api_version: str, kind: str) -> Resource:
    try:
        return _BY_KIND[(api_version, kind)]
    except KeyError:
        raise KeyError(f"the operator has no path for {kind} {api_version}") from None


def of(obj: dict[str, object]) -> Resource:
    return resource(str(obj["apiVersion"]), str(obj["kind"]))
