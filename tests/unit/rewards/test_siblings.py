"""One owner, many workers: every payout is recorded by exactly one node's ledger (pure logic).

The chain-level proof with the official contracts is tests/chain/test_one_owner_many_workers.py.
"""

from __future__ import annotations

import random
from typing import Any

from cocoon_operator.rewards import ledger as lg
from cocoon_operator.rewards.siblings import attribution_for

OWNER = "0:" + "0" * 63 + "1"
OTHER_OWNER = "0:" + "0" * 63 + "2"
PROXY = "0:" + "a" * 64
WORKER = "0:" + "b" * 64
PROXY_WALLET = "0:" + "e" * 64  # a proxy-initiated claim is sent by the proxy's own cocoon wallet
FEE = 3


def wallet(i: int) -> str:
    return f"0:{i + 1:064x}"


def node(
    i: int, *, owner: str = OWNER, created: str | None = None, wallet_known: bool = True
) -> dict[str, Any]:
    return {
        "metadata": {
            "uid": f"uid-{i}",
            "name": f"n{i}",
            "creationTimestamp": created or f"2026-12-07T0{i}:00:00Z",
        },
        "spec": {"ownerAddress": owner},
        "status": {"walletAddress": wallet(i)} if wallet_known else {},
    }


def facts(
    head: int, payouts: list[lg.ObservedPayout], attribution: lg.Attribution | None, tokens: int
) -> lg.ChainFacts:
    return lg.ChainFacts(
        now=1000 + head,
        owner_head_lt=head,
        payouts=tuple(payouts),
        workers=(lg.WorkerFacts(proxy=PROXY, worker_contract=WORKER, tokens=tokens, fee_per_token=FEE),),
        attribution=attribution,
    )


def test_the_only_node_of_an_owner_takes_everything() -> None:
    nodes = [node(0), node(1, owner=OTHER_OWNER)]
    assert attribution_for(nodes[0], wallet(0), OWNER, nodes) is None


def test_siblings_by_owner_and_the_oldest_takes_the_unattributed() -> None:
    nodes = [node(2), node(0), node(1), node(3, owner=OTHER_OWNER), node(4, wallet_known=False)]
    a0 = attribution_for(nodes[1], wallet(0), OWNER, nodes)
    a1 = attribution_for(nodes[2], wallet(1), OWNER, nodes)
    assert a0 is not None and a1 is not None
    assert a0.takes_unattributed and not a1.takes_unattributed
    assert a0.sibling_wallets == {wallet(1), wallet(2)}  # n3 has another owner, n4 no wallet yet
    # Same creation second: the name decides, the same way for every node.
    tie = [node(5, created="2026-12-07T00:00:00Z"), node(6, created="2026-12-07T00:00:00Z")]
    assert attribution_for(tie[0], wallet(5), OWNER, tie).takes_unattributed  # type: ignore[union-attr]
    assert not attribution_for(tie[1], wallet(6), OWNER, tie).takes_unattributed  # type: ignore[union-attr]
    # A node not listed yet (the LIST is older than it) is the newest.
    newcomer = {"metadata": {"uid": "new", "name": "zz", "creationTimestamp": "~"}}
    assert not attribution_for(newcomer, wallet(9), OWNER, nodes).takes_unattributed  # type: ignore[union-attr]


def test_per_node_ledgers_sum_to_the_owner_payouts_exactly() -> None:
    """Four nodes, payouts submitted by each of them, by the proxy and by an unknown worker, seen by
    every node at different moments (different scan windows): each payout is in one ledger."""
    rng = random.Random(17)
    nodes = [node(i) for i in range(4)]
    attributions = [attribution_for(n, wallet(i), OWNER, nodes) for i, n in enumerate(nodes)]
    submitters = [wallet(i) for i in range(4)] + [PROXY_WALLET, "0:" + "9" * 64, None]
    payouts, tokens = [], 0
    for lt in range(20, 420, 4):
        delta = rng.randint(1, 50)
        tokens += delta
        payouts.append(
            lg.ObservedPayout(
                lt=lt, tx_hash=f"{lt:064x}", source=PROXY, value_nano=delta * FEE, query_id=lt,
                utime=lt, submitter=rng.choice(submitters),
            )
        )  # fmt: skip
    ledgers = [lg.start(lg.ClaimLedger(), 10).ledger for _ in nodes]
    for i, attribution in enumerate(attributions):
        cursor = 10
        while cursor < 420:
            head = min(420, cursor + rng.randint(1, 60))
            window = [p for p in payouts if cursor < p.lt <= head]
            ledgers[i] = lg.observe(ledgers[i], facts(head, window, attribution, tokens), None).ledger
            cursor = head
    per_node = [led.totals.claimed_nano for led in ledgers]
    assert sum(per_node) == sum(p.value_nano for p in payouts)
    assert all(n > 0 for n in per_node)
    # Node 0 (the oldest) holds its own and every payout no sibling submitted.
    mine = {wallet(0), PROXY_WALLET, "0:" + "9" * 64, None}
    assert per_node[0] == sum(p.value_nano for p in payouts if p.submitter in mine)


def test_a_claim_a_sibling_paid_first_is_superseded_not_missing() -> None:
    nodes = [node(0), node(1)]
    me = attribution_for(nodes[1], wallet(1), OWNER, nodes)
    led = lg.begin_claim(
        lg.start(lg.ClaimLedger(), 10).ledger,
        proxy=PROXY, worker_contract=WORKER, expected_tokens=100, tokens_before=0, fee_per_token=FEE,
        now=1000,
    ).ledger  # fmt: skip
    led = lg.mark_triggered(lg.mark_triggering(led, 1000).ledger, lg.TriggerAnswer.SENT, 1000).ledger
    theirs = lg.ObservedPayout(
        lt=30,
        tx_hash="ab" * 32,
        source=PROXY,
        value_nano=120 * FEE,
        query_id=5,
        utime=1010,
        submitter=wallet(0),
    )
    step = lg.observe(led, facts(40, [theirs], me, tokens=120), None)
    assert step.ledger.pending is None and step.ledger.totals.claimed_nano == 0
    assert [e.kind for e in step.events] == [lg.EventKind.CLAIM_SUPERSEDED]
    assert (
        step.ledger.last_outcome is not None
        and "another worker of the same owner" in step.ledger.last_outcome.message
    )
