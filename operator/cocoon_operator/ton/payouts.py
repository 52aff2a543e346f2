"""Reward payouts as the chain shows them (cocoon-protocol.md §8.3, §16 "Confirm a claim on chain").

A claim ends with the proxy contract sending `payout#c59a7cd3 query_id` to the worker's owner
wallet, value = delta-tokens * worker_fee_per_token. The owner wallet's inbound transactions are the
ledger's source of truth; provenance is the paying proxy contract, which maps 1:1 to this owner's
worker contract for that proxy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pytoniq_core.boc.address import Address

from cocoon_operator.ton.addresses import raw_address
from cocoon_operator.ton.cells import LayoutError
from cocoon_operator.ton.client import ChainClient, MessageView, TxCursor, TxView, fresh_reads
from cocoon_operator.ton.messages import ParsedBody, Payout, PayoutRequest, parse_body
from cocoon_operator.ton.ops import Op


@dataclass(frozen=True)
class PayoutTx:
    lt: int
    tx_hash: str
    utime: int
    source: str  # raw address of the paying proxy contract
    value: int  # nanoTON received
    query_id: int


@dataclass(frozen=True)
class PayoutScan:
    payouts: tuple[PayoutTx, ...]  # oldest first
    head_lt: int  # the newest transaction lt this scan started from (the next cursor, once complete)
    complete: bool  # False: the bounded scan stopped before reaching `after_lt`
    resume: TxCursor | None = None  # where an incomplete scan goes on (older transactions)


def payout_of(tx: TxView) -> PayoutTx | None:
    """The payout this transaction received, if it is one (internal, not bounced, op c59a7cd3)."""
    received = _received(tx)
    if received is None:
        return None
    msg, source, body = received
    if not isinstance(body, Payout):
        return None
    return PayoutTx(
        lt=tx.lt, tx_hash=tx.hash, utime=tx.utime, source=source, value=msg.value, query_id=body.query_id
    )


def _received(tx: TxView) -> tuple[MessageView, str, ParsedBody | None] | None:
    """A transaction's inbound message, its sender and its decoded body when it is internal, not
    bounced and has a body; None otherwise, a body that does not decode included."""
    msg = tx.in_msg
    if msg is None or msg.external or msg.bounced or msg.src is None or msg.body is None:
        return None
    try:
        return msg, msg.src, parse_body(msg.body)
    except (LayoutError, ValueError):
        return None


async def scan_owner_payouts(
    client: ChainClient,
    owner: Address | str,
    *,
    after_lt: int,
    sources: Iterable[str] | None = None,
    limit: int | None = None,
    start: TxCursor | None = None,
) -> PayoutScan:
    """Payouts to the owner with lt > `after_lt`, optionally only from the given proxy contracts,
    from the owner's newest transaction or from `start` (to go on with an incomplete scan)."""
    page = await client.transactions(owner, to_lt=after_lt, limit=limit, start=start)
    allowed = {raw_address(s) for s in sources} if sources is not None else None
    found = []
    for tx in reversed(page.transactions):
        payout = payout_of(tx)
        if payout is not None and (allowed is None or payout.source in allowed):
            found.append(payout)
    head = page.transactions[0].lt if page.transactions else after_lt
    return PayoutScan(
        payouts=tuple(found), head_lt=max(head, after_lt), complete=page.complete, resume=page.resume
    )


def match_payout(
    payouts: Iterable[PayoutTx],
    *,
    proxy_contract: str,
    query_id: int | None = None,
    tokens: int | None = None,
    fee_per_token: int | None = None,
    after_lt: int = 0,
) -> PayoutTx | None:
    """A payout for one claim: from that proxy contract, after `after_lt`, matched by query_id when
    known, otherwise by value = tokens * fee."""
    proxy = raw_address(proxy_contract)
    for payout in payouts:
        if payout.source != proxy or payout.lt <= after_lt:
            continue
        if query_id is not None:
            if payout.query_id == query_id:
                return payout
            continue
        if tokens is not None and fee_per_token is not None:
            if payout.value == tokens * fee_per_token:
                return payout
            continue
        return payout
    return None


@dataclass(frozen=True)
class ClaimSubmission:
    """A payout request the worker contract processed (§8.3 step 2)."""

    lt: int
    tx_hash: str
    sender: str
    query_id: int
    new_tokens: int
    success: bool
    exit_code: int | None


async def worker_claim_submissions(
    client: ChainClient, worker_contract: Address | str, *, after_lt: int = 0, limit: int = 64
) -> tuple[ClaimSubmission, ...]:
    """Signed payout requests received by a worker contract (who submitted which voucher, and
    whether it went through), newest first."""
    page = await client.transactions(worker_contract, to_lt=after_lt, limit=limit)
    return tuple(s for s in map(_submission_of, page.transactions) if s is not None)


class SubmitterUnknown(Exception):
    """The worker contract's history was not read far enough back to say who submitted a claim."""


async def claim_submitters(
    client: ChainClient,
    worker_contract: Address | str,
    payouts: Iterable[PayoutTx],
    *,
    owner: Address | str | None = None,
    page: int = 64,
    max_pages: int = 64,
) -> dict[str, str | None]:
    """Who submitted the claim behind each payout (tx hash → sender of the voucher), from the worker
    contract's own history: the newest successful signed payout request with the payout's query_id
    below the payout's lt. None: the contract's history has no such request (nothing to attribute it
    to). Raises `SubmitterUnknown` rather than guess when `max_pages` pages did not reach far enough,
    so two readers never attribute the same payout differently.

    "No such request" hands the payout to the oldest sibling, so it must never be concluded from a
    head older than the owner's payout. With the follower a block behind, an owner that just changed
    is read from the liteserver while the worker contract's cached head can predate the claim. So
    the contract's head comes from the block follower only when the follower itself listed every one
    of these payouts on the `owner`'s account: the claim behind each lies in a block it walked before
    (a claim causes its payout), and the head it knows includes it. Otherwise it is read fresh."""
    wanted = {p.tx_hash: p for p in payouts}
    found: dict[str, str | None] = {}
    if not wanted:
        return found
    newest = max(p.lt for p in wanted.values())
    walked = owner is not None and client.walked_past(owner, newest)
    start: TxCursor | None = None
    for _ in range(max_pages):
        with fresh_reads(not walked):
            txs = await client.transactions(worker_contract, limit=page, start=start)
        for tx in txs.transactions:  # newest first
            submission = _submission_of(tx)
            if submission is None or not submission.success:
                continue
            for key, payout in wanted.items():
                if key not in found and submission.query_id == payout.query_id and tx.lt < payout.lt:
                    found[key] = submission.sender
        pending = [p for k, p in wanted.items() if k not in found]
        if not pending or txs.complete or txs.resume is None:  # found, or the history's start
            return {**found, **{p.tx_hash: None for p in pending}}
        start = txs.resume
    raise SubmitterUnknown(
        f"worker contract {raw_address(worker_contract)}: the claims behind "
        f"{len(wanted) - len(found)} payout(s) lie more than {page * max_pages} transactions back"
    )


def _submission_of(tx: TxView) -> ClaimSubmission | None:
    received = _received(tx)
    if received is None:
        return None
    _, sender, body = received
    if not isinstance(body, PayoutRequest) or body.op != Op.EXT_WORKER_PAYOUT_REQUEST_SIGNED:
        return None
    return ClaimSubmission(
        lt=tx.lt,
        tx_hash=tx.hash,
        sender=sender,
        query_id=body.query_id,
        new_tokens=body.payout.new_tokens,
        success=not tx.aborted and tx.exit_code in (0, 1),
        exit_code=tx.exit_code,
    )
