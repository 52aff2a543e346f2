"""Build the ledger's inputs from the chain layer and the runner client.

Addresses are normalised to raw form here, once, so the pure ledger can compare strings. Read order
matters: owner payouts first, then worker `tokens`, so the tokens are never older than the payouts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from cocoon_operator.rewards import ledger as lg
from cocoon_operator.ton.addresses import raw_address
from cocoon_operator.ton.client import ChainClient, TxCursor, fresh_reads
from cocoon_operator.ton.payouts import PayoutTx, claim_submitters, scan_owner_payouts
from cocoon_operator.ton.worker_contracts import ContractUnreadable, read_worker_contract
from cocoon_operator.worker.runner_client import PayoutAnswer, RunnerClient, RunnerStats, RunnerUnavailable


@dataclass(frozen=True)
class KnownContract:
    """One of this node's worker contracts and the proxy contract it is bound to (raw addresses)."""

    proxy: str
    worker_contract: str


def contracts_from_runner(
    stats: RunnerStats | None, previous: Iterable[KnownContract] = ()
) -> list[KnownContract]:
    """The runner's current `proxies[]` plus contracts seen before (old params versions disappear
    from `/jsonstats` once closed, but their last payout must still be recognised)."""
    seen: dict[str, KnownContract] = {c.proxy: c for c in previous}
    for proxy in stats.proxies if stats is not None else ():
        if proxy.sc_address:
            key = raw_address(proxy.proxy_sc_address)
            seen[key] = KnownContract(proxy=key, worker_contract=raw_address(proxy.sc_address))
    return list(seen.values())


async def gather_chain_facts(
    client: ChainClient,
    *,
    owner: str,
    contracts: Sequence[KnownContract],
    cursor_lt: int | None,
    gap: lg.ScanGap | None = None,
    now: int | None = None,
    scan_limit: int | None = None,
    attribution: lg.Attribution | None = None,
    fresh_workers: bool = False,
) -> lg.ChainFacts:
    """Owner payouts above the cursor (or, while a scan gap is open, the next part of the gap), with
    who submitted each claim when several nodes share the owner, then the worker contracts' states
    (`fresh_workers`: from a liteserver, never the block follower's cache)."""
    resume: tuple[int, str] | None = None
    if cursor_lt is None:
        head = (await client.account_state(owner)).last_tx_lt
        payouts: tuple[lg.ObservedPayout, ...] = ()
        complete = True
    else:
        start = TxCursor(gap.resume_lt, bytes.fromhex(gap.resume_hash)) if gap is not None else None
        scan = await scan_owner_payouts(
            client,
            owner,
            after_lt=cursor_lt,
            sources=[c.proxy for c in contracts],
            limit=scan_limit,
            start=start,
        )
        head = gap.top_lt if gap is not None else scan.head_lt
        complete = scan.complete
        resume = (scan.resume.lt, scan.resume.hash.hex()) if scan.resume is not None else None
        payouts = tuple(
            lg.ObservedPayout(
                lt=p.lt,
                tx_hash=p.tx_hash,
                source=p.source,
                value_nano=p.value,
                query_id=p.query_id,
                utime=p.utime,
            )
            for p in scan.payouts
        )
        if attribution is not None and payouts:
            payouts = await _with_submitters(client, owner, payouts, scan.payouts, contracts)
    workers = []
    for contract in contracts:
        try:
            with fresh_reads(fresh_workers):
                state = await read_worker_contract(client, contract.worker_contract)
        except ContractUnreadable:
            continue  # not deployed yet: nothing to claim or confirm there
        workers.append(
            lg.WorkerFacts(
                proxy=contract.proxy,
                worker_contract=contract.worker_contract,
                tokens=state.data.tokens,
                state=state.data.state,
                fee_per_token=state.fee_per_token,
                active=state.active,
            )
        )
    return lg.ChainFacts(
        now=await client.chain_time() if now is None else now,
        owner_head_lt=head,
        payouts=payouts,
        scan_complete=complete,
        scan_resume=resume,
        workers=tuple(workers),
        attribution=attribution,
    )


async def _with_submitters(
    client: ChainClient,
    owner: str,
    payouts: tuple[lg.ObservedPayout, ...],
    raw: Sequence[PayoutTx],
    contracts: Sequence[KnownContract],
) -> tuple[lg.ObservedPayout, ...]:
    """Each payout with the sender of its claim, read from the worker contract of the paying proxy."""
    by_proxy: dict[str, list[PayoutTx]] = {}
    for p in raw:
        by_proxy.setdefault(p.source, []).append(p)
    submitters: dict[str, str | None] = {}
    for contract in contracts:
        found = by_proxy.get(contract.proxy)
        if found:
            submitters.update(await claim_submitters(client, contract.worker_contract, found, owner=owner))
    return tuple(
        p.model_copy(update={"submitter": raw_address(s) if (s := submitters.get(p.tx_hash)) else None})
        for p in payouts
    )


def runner_facts(stats: RunnerStats | None) -> lg.RunnerFacts:
    """`None` (the runner did not answer) becomes an unreachable runner: the ledger then never
    triggers, and confirmations rely on the chain alone."""
    if stats is None:
        return lg.RunnerFacts(reachable=False)
    return lg.RunnerFacts(
        reachable=True,
        proxies=tuple(
            lg.RunnerProxyFacts(
                proxy=raw_address(p.proxy_sc_address),
                worker_contract=raw_address(p.sc_address) if p.sc_address else "",
                sc_inited=p.sc_inited,
                running_request=p.running_request,
                committed_tokens=p.earned_tokens_committed_to_blockchain,
                paid_tokens=p.cached_out_tokens,
                expected_paid_tokens=p.expected_cached_out_tokens,
            )
            for p in stats.proxies
        ),
    )


class LiveFacts:
    """`FactsSource` for `run_claim_cycle` over a real chain client and runner client.

    Reads `/jsonstats` once per cycle (kept in `.stats` for status and metrics), then the chain for
    the worker contracts the runner reports plus `previous` ones (older params versions).
    """

    def __init__(
        self,
        client: ChainClient,
        runner: RunnerClient | None,
        *,
        owner: str,
        previous: Iterable[KnownContract] = (),
        now: int | None = None,
        scan_limit: int | None = None,
        attribution: lg.Attribution | None = None,
        fresh: bool = False,
        refresh_attribution: Callable[[], Awaitable[lg.Attribution | None]] | None = None,
    ) -> None:
        self._client, self._runner = client, runner
        self._fresh = fresh
        self._attribution = attribution
        self._refresh_attribution = refresh_attribution
        self._owner = raw_address(owner)
        self._previous = list(previous)
        self._now, self._scan_limit = now, scan_limit
        self.stats: RunnerStats | None = None
        self.contracts: list[KnownContract] = list(self._previous)

    async def runner_facts(self) -> lg.RunnerFacts | None:
        self.stats = None
        if self._runner is not None:
            try:
                self.stats = await self._runner.jsonstats()
            except (RunnerUnavailable, ValueError):
                self.stats = None
        self.contracts = contracts_from_runner(self.stats, self._previous)
        return runner_facts(self.stats)

    async def chain_facts(
        self, cursor_lt: int | None, gap: lg.ScanGap | None = None, *, fresh: bool = False
    ) -> lg.ChainFacts:
        """The chain's facts for one look. Unchanged accounts come from the block follower's cache
        (the facts then say `fresh=False`, and the cycle reads again before it acts on them). `fresh`
        reads the worker contracts from a liteserver, the facts an action turns on (tokens paid,
        state); the owner's payouts still come through the follower, at most a step behind, which is
        the older side the read order allows (tokens never older than payouts). A reason of this
        cycle's own (asked for, the last claim, a scan gap, no follower) reads every account."""
        everything = self._fresh or gap is not None or self._client.cache is None
        with fresh_reads(everything):
            facts = await gather_chain_facts(
                self._client,
                owner=self._owner,
                contracts=self.contracts,
                cursor_lt=cursor_lt,
                gap=gap,
                now=self._now,
                scan_limit=self._scan_limit,
                attribution=self._attribution,
                fresh_workers=fresh,
            )
        fresh = fresh or everything
        if self._refresh_attribution is not None and unexplained_submitters(facts):
            # A claim sent by a wallet this node does not know, which it would record as nobody's: the
            # sibling list it decided on may predate a new sibling. Decide on the namespace as it is now.
            self._attribution = await self._refresh_attribution()
            facts = facts.model_copy(update={"attribution": self._attribution})
        return facts if fresh else facts.model_copy(update={"fresh": False})


def unexplained_submitters(facts: lg.ChainFacts) -> set[str]:
    """Submitters of payouts this node would record only because nobody it knows sent them."""
    a = facts.attribution
    if a is None or not a.takes_unattributed:
        return set()
    return {
        p.submitter
        for p in facts.payouts
        if p.submitter and p.submitter != a.own_wallet and p.submitter not in a.sibling_wallets
    }


def runner_trigger(
    runner: RunnerClient, facts: LiveFacts | None = None
) -> Callable[[str], Awaitable[lg.TriggerAnswer]]:
    """`Trigger` for `run_claim_cycle`: `/request/payout` for a proxy. The ledger keeps raw addresses;
    the runner is given the address verbatim as its own `/jsonstats` spelled it (from `facts`)."""

    async def trigger(proxy: str) -> lg.TriggerAnswer:
        verbatim = proxy
        stats = facts.stats if facts is not None else None
        for entry in stats.proxies if stats is not None else ():
            if raw_address(entry.proxy_sc_address) == proxy:
                verbatim = entry.proxy_sc_address
                break
        answer = await runner.request_payout(verbatim)
        if answer is PayoutAnswer.UNKNOWN:
            return lg.TriggerAnswer.UNKNOWN
        return lg.TriggerAnswer(answer.value)

    return trigger
