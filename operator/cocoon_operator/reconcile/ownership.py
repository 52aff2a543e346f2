"""Who owns an object, and applying a child so that nothing the CocoonNode does not own is written.

Children have names derived from the CocoonNode's (`<name>`, `<name>-runner`), so an author can pick
a CocoonNode name that equals an existing object's. Applying over it would rewrite that object and
add an ownerReference, and deleting the CocoonNode would then garbage-collect it (issue 16). So an
existing object is written only when its ownerReferences carry this CocoonNode's UID, and every apply
carries a precondition the API server checks:

- an object read and found ours is applied with its `metadata.uid`: if it was replaced meanwhile, the
  server refuses (409 "uid mismatch" or 422 "uid is immutable") instead of writing the newcomer;
- an object believed absent (a first reconcile does not look, see reads.py) is applied with a
  `metadata.resourceVersion` no stored object can have: the server ignores it when it creates the
  object, and refuses (409) when one of that name exists. Then it is read and checked like above.

Pure except `apply_child`, which writes through the reconcile's view of the API.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from cocoon_operator.k8s.errors import ApiError
from cocoon_operator.reconcile.reads import ReconcileReads

Obj = Mapping[str, Any]
# The largest etcd revision (int64): no object ever has it, so as an apply precondition it means
# "only if absent". (A resourceVersion is opaque to clients; this one is only ever sent, never compared.)
ABSENT_ONLY: Final = "9223372036854775807"


class NameConflict(Exception):
    """An object with a child's name exists and is not this CocoonNode's; it is left as it is."""

    def __init__(self, kind: str, name: str, existing: Obj) -> None:
        self.kind, self.name = kind, name
        super().__init__(
            f"{kind} {name} already exists and is not owned by this CocoonNode ({owners(existing)}); "
            "the operator leaves it exactly as it is. Delete or rename that object, or give the "
            "CocoonNode another name"
        )


def owned_by(obj: Obj, uid: str) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(isinstance(ref, Mapping) and ref.get("uid") == uid for ref in refs)


def owners(obj: Obj) -> str:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    named = [f"{r.get('kind')} {r.get('name')}" for r in refs if isinstance(r, Mapping)]
    return "owned by " + ", ".join(named) if named else "it has no owner"


def pinned(obj: Obj, uid: str) -> dict[str, Any]:
    """`obj` to apply over the live object with this UID, and no other."""
    out = copy.deepcopy(dict(obj))
    out["metadata"]["uid"] = uid
    return out


def only_if_absent(obj: Obj) -> dict[str, Any]:
    out = copy.deepcopy(dict(obj))
    out["metadata"]["resourceVersion"] = ABSENT_ONLY
    return out


def _identity_changed(exc: ApiError) -> bool:
    return exc.status == 409 or (exc.status == 422 and "uid" in exc.message)


async def apply_child(kube: ReconcileReads, obj: Obj, existing: Obj | None, uid: str) -> dict[str, Any]:
    """Server-side apply `obj` (a child of the CocoonNode with `uid`), never over an object it does
    not own. `existing` is the live object as last seen, None when believed absent. Raises
    `NameConflict` (nothing written) or `ApiError`."""
    meta = obj["metadata"]
    if existing is None:
        try:
            return await kube.apply(only_if_absent(obj))
        except ApiError as exc:
            if exc.status != 409:
                raise
        existing = await kube.fresh(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
        if existing is None:  # gone again: the next reconcile creates it
            raise ApiError(409, "Conflict", f"{obj['kind']} {meta['name']} changed while being applied")
    if not owned_by(existing, uid):
        raise NameConflict(obj["kind"], meta["name"], existing)
    try:
        return await kube.apply(pinned(obj, str(existing["metadata"]["uid"])))
    except ApiError as exc:
        if _identity_changed(exc):  # replaced since it was read: look again on the next reconcile
            what = f"{obj['kind']} {meta['name']} was replaced while being applied"
            raise ApiError(409, "Conflict", what) from None
        raise
