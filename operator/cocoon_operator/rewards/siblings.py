"""Several CocoonNodes under one owner: who records which payout.

Worker contracts are per (owner, proxy contract), so all of an owner's workers share them and each
payout comes through the same contract, whichever worker claimed (cocoon-protocol.md §2.4). Each
payout is recorded by exactly one node (`rewards.ledger.Attribution`): the node whose cocoon wallet
submitted the claim; a payout no sibling submitted (proxy-initiated claims, a worker the operator does
not run) by the oldest node of the owner in the namespace. Siblings are CocoonNodes of the same
namespace with the same `spec.ownerAddress`: a namespace is one tenant, so another tenant's objects
never change this node's accounting.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cocoon_operator.rewards.ledger import Attribution
from cocoon_operator.ton.addresses import raw_address


def _raw(address: object) -> str | None:
    if not isinstance(address, str) or not address:
        return None
    try:
        return raw_address(address)
    except Exception:  # a malformed address in another object's spec/status: not a sibling
        return None


def same_owner(node: Mapping[str, Any], owner: str) -> bool:
    """Whether `node`'s spec names `owner` (raw or user-friendly) as its owner."""
    mine = _raw((node.get("spec") or {}).get("ownerAddress"))
    return mine is not None and mine == raw_address(owner)


def wallet_of(node: Mapping[str, Any]) -> str | None:
    """The cocoon wallet `node`'s status shows (raw), if any."""
    return _raw((node.get("status") or {}).get("walletAddress"))


def _age_key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    # RFC 3339 UTC timestamps sort as strings; the name breaks ties deterministically.
    return (str(meta.get("creationTimestamp") or ""), str(meta.get("name") or ""))


def attribution_for(
    me: Mapping[str, Any], own_wallet: str, owner: str, nodes: Iterable[Mapping[str, Any]]
) -> Attribution | None:
    """The attribution for `me` among `nodes` (the CocoonNodes of its namespace, itself included or
    not). None when it is the owner's only node: every payout of its proxy contracts is its own."""
    my_uid = (me.get("metadata") or {}).get("uid")
    siblings = [n for n in nodes if (n.get("metadata") or {}).get("uid") != my_uid and same_owner(n, owner)]
    if not siblings:
        return None
    wallets = {w for n in siblings if (w := wallet_of(n))}
    wallets.discard(raw_address(own_wallet))
    oldest = min([me, *siblings], key=_age_key)
    return Attribution(
        own_wallet=raw_address(own_wallet),
        sibling_wallets=frozenset(wallets),
        takes_unattributed=(oldest.get("metadata") or {}).get("uid") == my_uid,
    )
