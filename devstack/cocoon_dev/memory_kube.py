"""An in-memory stand-in for the KubeApi: pure-logic tests and the chain benchmark reconcile against it
(cluster tests use the real API server)."""

import copy
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from cocoon_operator.k8s.errors import ApiError
from cocoon_operator.steps.contract import StepReport

Key = tuple[str, str | None, str]


class FakeKube:
    def __init__(self, objects: list[dict[str, Any]] | None = None) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.writes: list[tuple[str, str, str]] = []
        self.reads: list[tuple[str, str]] = []  # (kind, name) of every get
        self._revision = 0
        for obj in objects or []:
            self.put(obj)

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", str(uuid.uuid4()))
        self._revision += 1
        meta["resourceVersion"] = str(self._revision)
        self.objects[(obj["kind"], meta.get("namespace"), meta["name"])] = obj
        return obj

    def find(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.objects.get((kind, namespace, name))

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for (k, _, _), o in self.objects.items() if k == kind]

    async def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        self.reads.append((kind, name))
        found = self.find(kind, namespace, name)
        return copy.deepcopy(found) if found is not None else None

    async def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        keep: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        return [
            keep(copy.deepcopy(o)) if keep is not None else copy.deepcopy(o)
            for (k, ns, _), o in self.objects.items()
            if k == kind and (namespace is None or ns == namespace)
        ]

    async def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        old = self.find(obj["kind"], meta.get("namespace"), meta["name"])
        # The API server's apply preconditions (see tests/cluster/test_apply_preconditions.py)
        rv = meta.get("resourceVersion")
        if rv and old is not None and old["metadata"]["resourceVersion"] != rv:
            raise ApiError(409, "Conflict", "the object has been modified")
        if meta.get("uid"):
            if old is None:
                raise ApiError(409, "Conflict", "uid mismatch: no existing object was found")
            if old["metadata"]["uid"] != meta["uid"]:
                raise ApiError(422, "Invalid", "metadata.uid: Invalid value: field is immutable")
        self.writes.append(("apply", obj["kind"], meta["name"]))
        stored = copy.deepcopy(dict(obj))
        stored["metadata"].pop("resourceVersion", None)
        _server_defaults(stored)
        if old is not None:
            stored["metadata"]["uid"] = old["metadata"]["uid"]
            if "status" in old:
                stored["status"] = old["status"]
        return self.put(stored)

    async def create(self, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        self.writes.append(("create", obj["kind"], obj["metadata"]["name"]))
        if self.find(obj["kind"], obj["metadata"].get("namespace"), obj["metadata"]["name"]) is not None:
            return None
        return self.put(dict(obj))

    async def patch_status(
        self, api_version: str, kind: str, namespace: str | None, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        self.writes.append(("patch/status", kind, name))
        obj = self.find(kind, namespace, name)
        if obj is None:
            raise ApiError(404, "NotFound", f"{kind} {name} not found")
        status = obj.setdefault("status", {})
        for key, value in patch.items():
            if value is None:
                status.pop(key, None)
            else:
                status[key] = copy.deepcopy(value)
        self._revision += 1
        obj["metadata"]["resourceVersion"] = str(self._revision)
        return copy.deepcopy(obj)

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        self.writes.append(("delete", kind, name))
        return self.objects.pop((kind, namespace, name), None) is not None


class VersionedKube(FakeKube):
    """FakeKube plus `patch` (merge patch on status, resourceVersion checked like the API server)."""

    def __init__(self, objects: list[dict[str, Any]] | None = None) -> None:
        super().__init__(objects)
        self.patches: list[dict[str, Any]] = []

    async def patch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        patch: Mapping[str, Any],
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        obj = self.find(kind, namespace, name)
        if obj is None:
            raise ApiError(404, "NotFound", name)
        meta = obj.setdefault("metadata", {})
        want = (patch.get("metadata") or {}).get("resourceVersion")
        if want is not None and want != meta.get("resourceVersion", "1"):
            raise ApiError(409, "Conflict", "the object has been modified")
        self.patches.append(copy.deepcopy(dict(patch)))
        merge_patch(obj.setdefault("status", {}), patch.get("status") or {})
        meta["resourceVersion"] = str(int(meta.get("resourceVersion", "1")) + 1)
        return copy.deepcopy(obj)


def merge_patch(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    """JSON merge patch (RFC 7386) into `target`: None deletes a key, mappings merge recursively."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(target.get(key), dict):
            merge_patch(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def settle(status: dict[str, Any], report: StepReport) -> None:
    """What the end-of-reconcile status write does with a step's findings (fields, conditions)."""
    merge_patch(status, copy.deepcopy(dict(report.status)))
    conds = {c["type"]: c for c in status.get("conditions") or []}
    for c in report.conditions:
        conds[c.type] = {"type": c.type, "status": c.status, "reason": c.reason, "message": c.message}
    status["conditions"] = list(conds.values())


def _server_defaults(obj: dict[str, Any]) -> None:
    """A few of the defaults the real API server adds, so "compare before apply" is tested against them."""
    if obj["kind"] == "StatefulSet":
        spec = obj["spec"]
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("revisionHistoryLimit", 10)
        for container in spec["template"]["spec"]["containers"]:
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("imagePullPolicy", "IfNotPresent")
            for key in ("requests", "limits"):
                res = container.get("resources", {}).get(key, {})
                if res.get("memory") == "64Gi":
                    res["memory"] = "65536Mi"  # the server may canonicalise quantities
    if obj["kind"] == "Service":
        obj["spec"].setdefault("sessionAffinity", "None")
        for port in obj["spec"]["ports"]:
            port.setdefault("targetPort", port["port"])
