"""The claim ledger's inputs: what the chain and the runner showed this time (never persisted), and
whose payouts are whose when several nodes share an owner (`Attribution`).
"""

from __future__ import annotations

from cocoon_operator.api.records import CamelModel


class ObservedPayout(CamelModel):
    """An inbound `payout#c59a7cd3` transaction at the owner wallet."""

    lt: int
    tx_hash: str
    source: str  # the proxy contract that paid
    value_nano: int
    query_id: int
    utime: int
    submitter: str | None = None  # who sent the claim to the worker contract (None: not known)


class Attribution(CamelModel):
    """Whose payout is whose when several CocoonNodes share an owner (and so the worker contracts).

    A payout belongs to the node whose cocoon wallet submitted the claim. One that no sibling submitted
    (a proxy-initiated claim, a worker outside the operator) belongs to exactly one node of the owner:
    the one with `takes_unattributed` (the oldest; docs/money.md). Without an attribution every
    payout from this node's proxy contracts is its own (one node per owner)."""

    own_wallet: str
    sibling_wallets: frozenset[str] = frozenset()
    takes_unattributed: bool = True

    def owns(self, payout: ObservedPayout) -> bool:
        if payout.submitter == self.own_wallet:
            return True
        if payout.submitter in self.sibling_wallets:
            return False
        return self.takes_unattributed


class WorkerFacts(CamelModel):
    """One worker contract of this node, as read from the chain (current and old params versions)."""

    proxy: str
    worker_contract: str
    tokens: int
    state: int = 0
    fee_per_token: int
    active: bool = True


class ChainFacts(CamelModel):
    now: int
    owner_head_lt: int  # the top of this scan: the owner's last transaction lt, or an open gap's top
    payouts: tuple[ObservedPayout, ...] = ()  # owner payouts the scan found (lt > the ledger cursor)
    scan_complete: bool = True  # False when the bounded scan did not reach the cursor
    scan_resume: tuple[int, str] | None = None  # (lt, hex hash) where an incomplete scan goes on
    workers: tuple[WorkerFacts, ...] = ()
    attribution: Attribution | None = None
    # False: read through the block follower's cache (each state real, at most a few blocks old). Such
    # facts may confirm a claim or say "nothing to do"; acting on them needs fresh ones (cycle.py).
    fresh: bool = True

    def owns(self, payout: ObservedPayout) -> bool:
        return self.attribution is None or self.attribution.owns(payout)

    def worker(self, proxy: str) -> WorkerFacts | None:
        return next((w for w in self.workers if w.proxy == proxy), None)


class RunnerProxyFacts(CamelModel):
    proxy: str
    worker_contract: str
    sc_inited: bool
    running_request: bool
    committed_tokens: int
    paid_tokens: int = 0  # cached_out_tokens
    expected_paid_tokens: int = 0  # expected_cached_out_tokens


class RunnerFacts(CamelModel):
    """None of the runner's facts are trusted for confirmation, only for *not* acting."""

    reachable: bool = True
    proxies: tuple[RunnerProxyFacts, ...] = ()

    def proxy(self, proxy: str) -> RunnerProxyFacts | None:
        return next((p for p in self.proxies if p.proxy == proxy), None)
