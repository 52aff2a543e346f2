"""What the operator knows of its children from its watches, so an idle reconcile needs no GETs.

An idle reconcile used to GET the StatefulSet, pod, Service, NetworkPolicy, PDB and runner ConfigMap
(bench/results, finding 3). The watches already see every change of those objects, so:
- worker pods and StatefulSets are kept (slimmed: no managedFields, no pod template), because the
  reconcile reads their status;
- for every child the reconcile applies, it remembers the digest of the desired object and a
  fingerprint of the live object (everything but status and bookkeeping metadata) at the moment it
  was found (or made) equal to it. While the watch reports that same fingerprint and the desired
  digest is unchanged, the child is known to be up to date and is neither read nor written. A change
  by any other writer changes the fingerprint, the watch reports it, and the next reconcile reads and
  corrects the object; status updates by controllers (a PDB's counts, a StatefulSet's replicas) do not.

Bodies are kept as compact JSON text and decoded on each read: a slim pod decoded from JSON is ~50 kB
of Python objects, its JSON ~9 kB, and the kept pods and StatefulSets were the largest part of the
operator's memory per CocoonNode (docs/performance.md, issue 20). Each read gets a copy of its own.

Not in here: the CocoonNode itself, Secrets and the user's ConfigMaps (read fresh, once per reconcile).
Pure (no kopf, no I/O): the handlers feed it from watch events.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Ref = tuple[str, str, str]  # (kind, namespace, name)
KEPT_KINDS = frozenset({"Pod", "StatefulSet"})  # bodies kept; other kinds keep only a fingerprint
APPLIED_KINDS = frozenset({"StatefulSet", "Service", "ConfigMap", "PodDisruptionBudget", "NetworkPolicy"})


def digest(obj: Mapping[str, Any]) -> str:
    # repr, not sorted JSON: 30 % cheaper, and stable here (same builders, same server key order; the
    # digests never leave this process).
    return hashlib.blake2b(repr(obj).encode(), digest_size=12).hexdigest()


def slim(kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """Drop what no reconcile reads (managedFields; a StatefulSet's pod template) to keep memory low."""
    out = dict(body)
    meta = dict(out.get("metadata") or {})
    meta.pop("managedFields", None)
    out["metadata"] = meta
    if kind == "StatefulSet" and isinstance(out.get("spec"), Mapping):
        out["spec"] = {k: v for k, v in out["spec"].items() if k != "template"}
    return out


def _rv(body: Mapping[str, Any] | None) -> str | None:
    rv = ((body or {}).get("metadata") or {}).get("resourceVersion")
    return str(rv) if rv else None


# Written by the API server or controllers, not by the operator: not part of a child's fingerprint.
_VOLATILE_META = frozenset({"resourceVersion", "managedFields", "generation", "creationTimestamp", "uid"})


def fingerprint(body: Mapping[str, Any]) -> str:
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k not in _VOLATILE_META}
    return digest({**{k: v for k, v in body.items() if k != "status"}, "metadata": meta})


def _pack(body: Mapping[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"))


def _unpack(packed: str | None) -> dict[str, Any] | None:
    return json.loads(packed) if packed is not None else None


@dataclass
class _Live:
    rv: str | None
    print_: str  # fingerprint()
    # The slim body, packed. KEPT_KINDS: always. Other kinds: only until the operator has compared it
    # with what it wants (after a restart, or after someone else changed it), so that comparison needs
    # no GET.
    body: str | None


class ChildCache:
    def __init__(self) -> None:
        self._live: dict[Ref, _Live] = {}
        self._verified: dict[Ref, tuple[str, str]] = {}  # ref → (desired digest, live fingerprint)

    # -- fed by watch events and by the operator's own writes -------------------------------------

    def observe(self, kind: str, body: Mapping[str, Any], *, deleted: bool = False) -> bool:
        """Record a watch event. Returns True when the owner should be reconciled: the object is gone,
        or it changed in a way the operator did not make itself."""
        meta = body.get("metadata") or {}
        ref = (kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        if deleted:
            self._live.pop(ref, None)
            self._verified.pop(ref, None)
            return True
        rv = _rv(body)
        previous = self._live.get(ref)
        if previous is not None and previous.rv is not None and rv is not None and _older(rv, previous.rv):
            return False  # an event older than what a write response already told us
        print_ = fingerprint(body) if kind in APPLIED_KINDS else ""  # pods are never applied: no need
        verified = self._verified.get(ref)
        unchecked = verified is None or verified[1] != print_
        if kind in KEPT_KINDS:
            kept = slim(kind, body)
            self._live[ref] = _Live(rv, print_, _pack(kept))
            # What the reconcile observes: a pod's state (others make every change to it), a
            # StatefulSet's status (its spec changes are the operator's own writes).
            before = _unpack(previous.body) if previous is not None else None
            if before is None or _observed(kind, before) != _observed(kind, kept):
                return True
            return verified is not None and unchecked  # someone else changed what the operator applied
        self._live[ref] = _Live(rv, print_, _pack(slim(kind, body)) if unchecked else None)
        return unchecked  # first sight (e.g. after a restart), or changed by someone else

    def wrote(self, kind: str, body: Mapping[str, Any] | None, desired_digest: str | None = None) -> None:
        """The response of an apply/create: the live object is now this (and equals `desired`)."""
        if body is None:
            return
        self.observe(kind, body)
        if desired_digest is not None:
            meta = body.get("metadata") or {}
            ref = (kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
            self._verified[ref] = (desired_digest, fingerprint(body))
            live = self._live.get(ref)
            if live is not None and kind not in KEPT_KINDS:
                live.body = None  # checked: the fingerprint is enough from now on

    def verified(self, kind: str, live: Mapping[str, Any], desired_digest: str) -> None:
        """A read found the live object already equal to the desired one."""
        self.wrote(kind, live, desired_digest)

    # -- read by the reconcile ----------------------------------------------------------------------

    def is_current(self, kind: str, namespace: str, name: str, desired_digest: str) -> bool:
        ref = (kind, namespace, name)
        live, verified = self._live.get(ref), self._verified.get(ref)
        return live is not None and verified == (desired_digest, live.print_)

    def seen(self, kind: str, namespace: str, name: str) -> bool:
        """Whether a watch event or a write response has shown this child (it is not known absent:
        the watch may simply not have delivered it yet)."""
        return (kind, namespace, name) in self._live

    def body(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The last seen body (of a kept kind; of another kind only while it is unchecked), or None
        when there is none (then read it)."""
        live = self._live.get((kind, namespace, name))
        return _unpack(live.body) if live is not None else None


def _observed(kind: str, body: Mapping[str, Any]) -> Any:
    meta = body.get("metadata") or {}
    if kind == "StatefulSet":
        return (body.get("status"), meta.get("deletionTimestamp"))
    return ({k: v for k, v in meta.items() if k != "resourceVersion"}, body.get("spec"), body.get("status"))


def _older(rv: str, than: str) -> bool:
    # resourceVersions are opaque; etcd's are integers, and only then is "older" knowable.
    return rv.isdigit() and than.isdigit() and int(rv) < int(than)
