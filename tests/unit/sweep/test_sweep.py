"""The sweep decision and intent state machine (ton/sweep.py) against a small fake chain that
models the cocoon wallet's seqno/valid_until rules."""

from __future__ import annotations

import os
from typing import Any

import pytest
from pytoniq_core.boc.cell import Cell

from cocoon_operator.money import sweep as sw
from cocoon_operator.money.sweep import Decision, SweepPolicy, SweepRecord, SweepStatus, decide, sweep_surplus
from cocoon_operator.ton.addresses import public_key_from_seed, raw_address
from cocoon_operator.ton.client import AccountState, MessageView, TxPage, TxView
from cocoon_operator.ton.codes import cocoon_wallet_code
from cocoon_operator.ton.identity import cocoon_wallet_of
from cocoon_operator.ton.storage import WalletStorage

TON = 1_000_000_000
OWNER = "0:" + "11" * 32
POLICY = SweepPolicy(sweep_above_nano=8 * TON, keep_nano=5 * TON, interval_s=300)


def _decide(policy: SweepPolicy = POLICY, **kw: Any) -> Decision:
    """`decide` for a deployed, idle wallet holding 12 TON, never swept before; `kw` overrides."""
    args: dict[str, Any] = dict(
        balance_nano=12 * TON,
        deployed=True,
        blocked=False,
        claim_pending=False,
        runner_busy=False,
        last_attempt_at=0,
        now=1000,
    )
    return decide(policy, **(args | kw))


def test_decide_sweeps_the_surplus_above_what_stays() -> None:
    d = _decide()
    assert d.send and d.amount_nano == 12 * TON - 5 * TON - sw.SWEEP_FEE_RESERVE_NANO


@pytest.mark.parametrize(
    ("kw", "status"),
    [
        ({"policy": SweepPolicy(None, 5 * TON, 300)}, SweepStatus.DISABLED),
        ({"balance_nano": 8 * TON}, SweepStatus.BELOW_CEILING),
        ({"deployed": False}, SweepStatus.NOT_DEPLOYED),
        ({"blocked": True}, SweepStatus.WALLET_BLOCKED),
        ({"claim_pending": True}, SweepStatus.CLAIM_PENDING),
        ({"runner_busy": True}, SweepStatus.RUNNER_BUSY),
        ({"last_attempt_at": 800}, SweepStatus.TOO_SOON),
    ],
)
def test_decide_holds_back(kw: dict[str, Any], status: SweepStatus) -> None:
    d = _decide(**kw)
    assert d.status is status and not d.send and d.amount_nano == 0


def test_interval_elapsed_and_runner_minimum() -> None:
    assert _decide(last_attempt_at=700).send
    # A target below the runner's 2.1 TON is raised to it; a ceiling below what stays sweeps nothing.
    low = SweepPolicy(sweep_above_nano=TON, keep_nano=TON, interval_s=0)
    assert _decide(policy=low, balance_nano=2 * TON).status is SweepStatus.BELOW_CEILING
    assert _decide(policy=low, balance_nano=3 * TON).amount_nano == 3 * TON - 2_100_000_000 - 50_000_000
    with pytest.raises(ValueError, match="sweepAbove"):
        SweepPolicy(sweep_above_nano=0, keep_nano=TON, interval_s=0)


class FakeWalletChain:
    """One cocoon wallet: applies an external when its seqno matches and it is still valid."""

    def __init__(self, seed: bytes, balance: int) -> None:
        self.public = public_key_from_seed(seed)
        self.wallet = raw_address(cocoon_wallet_of(self.public, OWNER))
        self.balance, self.seqno, self.now, self.lt = balance, 1, 1000, 10
        self.txs: list[TxView] = []
        self.sent: list[bytes] = []
        self.hold = False  # True: externals queue instead of applying
        self.queue: list[Cell] = []

    async def checked_state(self, address: Any) -> AccountState:
        data = WalletStorage(public_key=self.public, owner_address=_addr(OWNER), seqno=self.seqno).to_cell()
        code = cocoon_wallet_code()
        return AccountState(self.wallet, "active", self.balance, self.lt, b"\x00" * 32, code, data)

    async def checked_time(self) -> int:
        return self.now

    async def transactions(
        self, address: Any, *, to_lt: int = 0, limit: int | None = None, start: Any = None
    ) -> TxPage:
        return TxPage(tuple(t for t in reversed(self.txs) if t.lt > to_lt), True)

    async def send_external(self, boc: bytes) -> None:
        self.sent.append(boc)
        body = Cell.one_from_boc(boc).refs[-1]
        self.queue.append(body)
        if not self.hold:
            self.apply()

    def apply(self) -> None:
        for body in self.queue:
            s = body.begin_parse()
            s.skip_bits(512 + 32)
            valid_until, seqno = s.load_uint(32), s.load_uint(32)
            if seqno != self.seqno or valid_until <= self.now:
                continue
            msg = body.refs[0].begin_parse()
            msg.skip_bits(6)
            dest = raw_address(msg.load_address())
            value = msg.load_coins()
            self._tx(MessageView(None, self.wallet, 0, False, body, True), (dest, value))
        self.queue = []

    def runner_external(self) -> None:
        """The runner uses the current seqno for something else."""
        self._tx(MessageView(None, self.wallet, 0, False, Cell.empty(), True), ("0:" + "22" * 32, 1))

    def _tx(self, in_msg: MessageView, out: tuple[str, int]) -> None:
        self.seqno += 1
        self.lt += 2
        self.balance -= out[1]
        out_msg = MessageView(self.wallet, out[0], out[1], False, None, False)
        self.txs.append(
            TxView(self.wallet, self.lt, os.urandom(32).hex(), self.now, in_msg, (out_msg,), False, 0, 0, b"")
        )

    def to_owner(self) -> list[int]:
        return [o.value for t in self.txs for o in t.out_msgs if o.dest == OWNER]


def _addr(raw: str) -> Any:
    from pytoniq_core.boc.address import Address

    return Address(raw)


class Store:
    def __init__(self) -> None:
        self.record = SweepRecord()
        self.saves: list[SweepRecord] = []

    async def load(self) -> SweepRecord:
        return self.record

    async def save(self, record: SweepRecord) -> None:
        self.record = SweepRecord.from_status(record.to_status())
        self.saves.append(self.record)


async def _sweep(chain: FakeWalletChain, seed: bytes, store: Store, **kw: Any) -> sw.SweepResult:
    return await sweep_surplus(chain, seed, OWNER, policy=POLICY, store=store, **kw)  # type: ignore[arg-type]


async def test_intent_is_written_before_the_send_and_confirmed_once() -> None:
    seed = os.urandom(32)
    chain, store = FakeWalletChain(seed, 12 * TON), Store()
    chain.hold = True
    sent = await _sweep(chain, seed, store)
    assert sent.status is SweepStatus.SENT
    assert store.saves[0].pending is not None and len(chain.sent) == 1  # saved first, then one send
    pending = await _sweep(chain, seed, store)
    assert pending.status is SweepStatus.PENDING and chain.sent[0] == chain.sent[1]  # byte-identical
    chain.apply()
    done = await _sweep(chain, seed, store)
    assert done.status is SweepStatus.CONFIRMED and done.tx_hash == chain.txs[-1].hash
    assert chain.to_owner() == [done.amount_nano] and len(chain.sent) == 2
    assert store.record.pending is None and store.record.sweeps == 1
    assert store.record.swept_nano == done.amount_nano
    assert (await _sweep(chain, seed, store)).status is SweepStatus.BELOW_CEILING


async def test_seqno_used_by_the_runner_drops_the_intent_and_waits_the_interval() -> None:
    seed = os.urandom(32)
    chain, store = FakeWalletChain(seed, 12 * TON), Store()
    chain.hold = True
    await _sweep(chain, seed, store)
    chain.queue = []  # our external never arrives
    chain.runner_external()
    dropped = await _sweep(chain, seed, store)
    assert dropped.status is SweepStatus.DROPPED and store.record.pending is None
    assert chain.to_owner() == [] and len(chain.sent) == 1  # no second external for that intent
    assert (await _sweep(chain, seed, store)).status is SweepStatus.TOO_SOON
    chain.now += POLICY.interval_s
    chain.hold = False
    assert (await _sweep(chain, seed, store)).status is SweepStatus.CONFIRMED
    assert len(chain.to_owner()) == 1


async def test_expired_intent_is_dropped_without_resending() -> None:
    seed = os.urandom(32)
    chain, store = FakeWalletChain(seed, 12 * TON), Store()
    chain.hold = True
    await _sweep(chain, seed, store)
    chain.now += sw.SWEEP_TTL_S + 1
    dropped = await _sweep(chain, seed, store)
    assert dropped.status is SweepStatus.DROPPED and len(chain.sent) == 1
    chain.apply()  # the stale external reaches the wallet late: refused (expired)
    assert chain.to_owner() == []


async def test_claim_pending_or_runner_busy_sends_nothing_and_key_never_shows() -> None:
    seed = os.urandom(32)
    chain, store = FakeWalletChain(seed, 12 * TON), Store()
    for kw in ({"claim_pending": True}, {"runner_busy": True}):
        r = await _sweep(chain, seed, store, **kw)
        assert r.status is not SweepStatus.SENT and chain.sent == [] and store.saves == []
    done = await _sweep(chain, seed, store)
    assert done.status is SweepStatus.CONFIRMED
    for text in (done.message, repr(done), str(store.record.to_status())):
        assert seed.hex() not in text
    with pytest.raises(ValueError, match="32-byte"):
        await _sweep(chain, seed[:16], store)


async def test_an_open_intent_is_still_resolved_after_the_sweep_is_turned_off() -> None:
    seed = os.urandom(32)
    chain, store = FakeWalletChain(seed, 12 * TON), Store()
    chain.hold = True
    await _sweep(chain, seed, store)
    chain.apply()
    off = SweepPolicy(None, 5 * TON, 300)
    done = await sweep_surplus(chain, seed, OWNER, policy=off, store=store)  # type: ignore[arg-type]
    assert done.status is SweepStatus.CONFIRMED and store.record.pending is None
    assert len(chain.sent) == 1 and len(chain.to_owner()) == 1
    again = await sweep_surplus(chain, seed, OWNER, policy=off, store=store)  # type: ignore[arg-type]
    assert again.status is SweepStatus.DISABLED
