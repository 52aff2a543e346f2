"""Money records in the CocoonNode status, written only by guarded writes.

A money record is what must be on the API server before the action it announces: a funding intent
(`status.funding.intent` and the funding bookkeeping beside it), a sweep record (`status.sweep`), the
claim ledger (`status.claims`). Each is read fresh and written at once with the object's
resourceVersion as a precondition, so two writers (two operator processes during a handover, or a
reconcile racing a stale one) cannot both act on the same money:

- a 409 means someone else wrote since our read: the record is re-read (so the next decision sees the
  other writer's intent) and `RecordConflict` is raised; the caller stops before its action and the
  next reconcile decides afresh. A write is never retried with the stale resourceVersion.
- the end-of-reconcile status patch never carries these paths (`without_records`), so an older
  snapshot can never roll a newer record back.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final, Protocol, TypeVar

from cocoon_operator.api import identity
from cocoon_operator.api.records import CamelModel
from cocoon_operator.k8s.api import ObjectPatcher, ObjectReader
from cocoon_operator.k8s.errors import ApiError

# Status paths that are money records (written only through `GuardedStatus`).
RECORD_PATHS: Final[tuple[tuple[str, ...], ...]] = (
    ("claims",),
    ("sweep",),
    ("funding", "intent"),
    ("funding", "lastTopUpAt"),
    ("funding", "lastTopUpTargetNano"),
)


class MoneyRecord(CamelModel):
    """A money record as its status field holds it (camelCase JSON)."""

    def to_status(self) -> dict[str, Any]:
        """A merge patch of the record's status field (None deletes the key)."""
        return self.model_dump(mode="json", by_alias=True)


R = TypeVar("R", bound=MoneyRecord)


class RecordStore(Protocol[R]):
    """Where one money record is kept: `load` reads it fresh; `save` writes it, before the action it
    announces (write-ahead)."""

    async def load(self) -> R: ...

    async def save(self, record: R) -> None: ...


class StatusPatcher(ObjectReader, ObjectPatcher, Protocol):
    """The part of `k8s.KubeClient` used for guarded status writes."""


class StaleStatus(RuntimeError):
    """The object changed under a money write, or is gone: nothing was written."""


class RecordConflict(StaleStatus):
    """Another writer changed the object since our read (HTTP 409). The record was re-read; nothing
    was written; do not act on the old decision."""


class GuardedStatus:
    """Reads a CocoonNode's status fresh and writes money records at once, guarded by resourceVersion."""

    def __init__(self, kube: StatusPatcher, namespace: str, name: str) -> None:
        self._kube, self.namespace, self.name = kube, namespace, name
        self._rv: str | None = None
        self.status: dict[str, Any] = {}

    async def read(self) -> dict[str, Any]:
        body = await self._kube.get(identity.API_VERSION, identity.KIND, self.namespace, self.name)
        if body is None:
            raise StaleStatus(f"CocoonNode {self.namespace}/{self.name} is gone")
        self._rv = str(body["metadata"].get("resourceVersion") or "") or None
        self.status = dict(body.get("status") or {})
        return self.status

    async def write(self, fields: Mapping[str, Any]) -> None:
        if self._rv is None:
            await self.read()
        patch: dict[str, Any] = {"status": dict(fields), "metadata": {"resourceVersion": self._rv}}
        try:
            body = await self._kube.patch(
                identity.API_VERSION, identity.KIND, self.namespace, self.name, patch, subresource="status"
            )
        except ApiError as exc:
            if exc.conflict:
                await self.read()
                raise RecordConflict(
                    f"CocoonNode {self.namespace}/{self.name} changed under a money record write; "
                    "nothing was written"
                ) from exc
            raise
        self._rv = str(body.get("metadata", {}).get("resourceVersion") or "") or None
        self.status = dict(body.get("status") or {})


def without_records(status: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `status` without the money record paths (what a plain status patch may carry)."""
    out = copy.deepcopy(dict(status))
    for path in RECORD_PATHS:
        parent: Any = out
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    for key in {p[0] for p in RECORD_PATHS if len(p) > 1}:
        if out.get(key) == {}:
            out.pop(key)
    return out
