"""`LocalChain`: an in-memory TON chain where every transaction runs on the real emulator and TVM.

What is real: the C++ transaction emulator from pytvm's libemulator (signature checks, seqno replay
protection, compute/action/bounce phases, fees from the committed mainnet config) and the TVM for
get-methods (full c7 with the same config). What is simulated: block production, proofs, consensus.

Usage, in process (async; one asyncio lock serialises every state change)::

    chain = LocalChain()                                   # mainnet config, wall-clock time
    await chain.faucet(addr, 10 * TON)                     # internal msg from -1:ff..ff, bounce=false
    wallet = await WalletV4R2.from_private_key(provider=chain, private_key=key)   # chain IS a provider
    await wallet.send_init_external()                      # runs the cascade, seals a block
    await chain.run_get_method(wallet.address, "seqno", [])  # -> [1]
    result = await chain.send_internal(dest, value, body=..., src=owner)   # forge a sender (tests)
    result.transactions[0].exit_code, result.transactions[0].aborted
    snap = chain.snapshot(); ...; chain.restore(snap)      # also chain.save(path) / LocalChain.load(path)

Model:
- Accounts: raw address "wc:hex" -> ShardAccount BoC (base64, as the emulator takes and returns).
- Messages: an external (or injected internal) message starts a cascade; out internal messages are
  delivered breadth-first, each one a real emulated transaction, bounces included. The whole cascade
  commits at once; a refused external raises `ExternalNotAccepted` (a pytoniq `LiteServerError`) and
  changes nothing.
- Blocks: one masterchain seqno per committed cascade (instant mode, default), or - with
  `block_interval_ms` > 0 - externals are checked, queued and executed when a block is sealed every
  N ms (`start()` runs the sealer). `wait_seqno()` wakes per block.
- Time: `now` follows the wall clock plus an offset moved by `advance()`, or a manual clock when
  `now=` is given. Never goes backwards.
- Duplicate externals: a copy of a message that arrives before the original was committed (pending,
  or in flight, as LiteBalancer's 4 parallel copies are) is answered as accepted and not executed; a
  replay that arrives after the commit is checked against the new state like on a real node (so a
  wallet replay is refused).

Provider surface (duck-typed like pytoniq's LiteClient, so WalletV4R2/WalletV5R1/Contract accept
`provider=chain`): raw_get_account_state, get_account_state, run_get_method, raw_send_message,
get_transactions, raw_get_transactions, get_masterchain_info, last_mc_block.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import time
from collections import deque
from functools import cached_property
from typing import Any

from pytoniq_core.boc.address import Address
from pytoniq_core.boc.builder import Builder
from pytoniq_core.boc.cell import Cell
from pytoniq_core.tl.block import BlockIdExt
from pytoniq_core.tlb.account import Account, ShardAccount, StateInit
from pytoniq_core.tlb.transaction import MessageAny
from pytoniq_core.tlb.vm_stack import VmStack

from cocoon_dev.ton import engine
from cocoon_dev.ton.boc import b64_to_cell, cell_to_b64
from cocoon_dev.ton.delivery import DeliveryControls
from cocoon_dev.ton.provider import ProviderSurface
from cocoon_dev.ton.records import (  # re-exported: the chain's public types
    Cascade,
    ExternalNotAccepted,
    FrozenView,
    GetMethodResult,
    LocalChainError,
    MessageResult,
    ParsedAccount,
    Pending,
    TxRecord,
    internal_destination,
    internal_message,
    method_id,
    raw_address,
    set_result_safe,
    shard_account_balance,
    synthetic_hash,
    tx_lt_and_out_msgs,
)
from cocoon_dev.ton.snapshots import SnapshotFiles

log = logging.getLogger(__name__)

__all__ = [  # what other modules import from here (the records live in records.py)
    "TON",
    "ExternalNotAccepted",
    "FrozenView",
    "GetMethodResult",
    "LocalChain",
    "LocalChainError",
    "MessageResult",
    "TxRecord",
    "method_id",
    "raw_address",
]

TON = 1_000_000_000
MC_SHARD = -(2**63)
# The faucet: a fake masterchain address that needs no contract. Messages sent to it are dropped.
FAUCET_ADDRESS = Address("-1:" + "ff" * 32)
MAX_CASCADE_TRANSACTIONS = 10_000  # stops message loops between contracts
SNAPSHOT_VERSION = 1

_EMPTY_SHARD_ACCOUNT_B64 = cell_to_b64(
    Builder()
    .store_ref(Builder().store_bit(0).end_cell())
    .store_bytes(b"\x00" * 32)
    .store_uint(0, 64)
    .end_cell()
)


class LocalChain(ProviderSurface, SnapshotFiles, DeliveryControls):
    """An in-memory TON chain on the real emulator. See the module docstring for the model."""

    def __init__(
        self,
        config_b64: str | None = None,
        *,
        now: int | None = None,
        block_interval_ms: int = 0,
        global_id: int = -239,
    ) -> None:
        self.config_b64 = config_b64 or engine.load_mainnet_config_b64()
        self.global_id = global_id
        self._emulator = engine.TransactionEmulator(self.config_b64)
        self._accounts: dict[str, str] = {}
        self._txs: dict[str, list[TxRecord]] = {}  # oldest first; read newest first
        self._traced: dict[str, list[tuple[int, int]]] = {}  # address -> (lt, balance after), chaos tests
        self._parsed: dict[str, ParsedAccount] = {}
        self.lt = 1_000_000
        self.seqno = 1
        self._manual_now = now
        self._time_offset = 0
        self._last_now = 0
        self.block_interval_ms = block_interval_ms
        self._pending: list[Pending] = []
        self._accepted: dict[bytes, float | None] = {}  # ext msg hash -> commit time (None: pending)
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._sealer: asyncio.Task[None] | None = None
        self.total_transactions = 0
        # Held-back delivery: internal messages to these accounts arrive this many blocks later (as on a
        # real network, where a message to another shard lands a block or more after it was sent).
        self._holds: dict[str, int] = {}
        self._in_flight: list[tuple[int, str, str]] = []  # (deliver at seqno, dest, message b64)

    # ------------------------------------------------------------------ clock, blocks
    @property
    def now(self) -> int:
        """Chain time (unix seconds): wall clock + offset, or the manual clock. Never decreases."""
        base = self._manual_now if self._manual_now is not None else int(time.time())
        self._last_now = max(self._last_now, base + self._time_offset)
        return self._last_now

    def mc_block_id(self, seqno: int | None = None) -> BlockIdExt:
        """Synthetic masterchain block id for `seqno` (default: the latest); stable per seqno."""
        s = self.seqno if seqno is None else seqno
        root = synthetic_hash("mc", self.global_id, s)
        return BlockIdExt(
            workchain=-1, shard=MC_SHARD, seqno=s, root_hash=root, file_hash=synthetic_hash(root)
        )

    def shard_block_id(self, seqno: int | None = None) -> BlockIdExt:
        s = self.seqno if seqno is None else seqno
        root = synthetic_hash("wc0", self.global_id, s)
        return BlockIdExt(
            workchain=0, shard=MC_SHARD, seqno=s, root_hash=root, file_hash=synthetic_hash(root)
        )

    @cached_property
    def config_cell(self) -> Cell:
        """The blockchain config dictionary as a cell (parsed on first use: ~0.3 s)."""
        return b64_to_cell(self.config_b64)

    @property
    def last_mc_block(self) -> BlockIdExt:
        return self.mc_block_id()

    def _seal(self) -> None:
        self.seqno += 1
        self._wake_waiters()

    async def _seal_locked(self) -> None:
        """Seal a block, then deliver the held-back messages that are due in it (caller holds the lock)."""
        self._seal()
        due = [m for m in self._in_flight if m[0] <= self.seqno]
        if not due:
            return
        self._in_flight = [m for m in self._in_flight if m[0] > self.seqno]
        for _, _dest, msg_b64 in due:
            cascade = await asyncio.to_thread(self._cascade, b64_to_cell(msg_b64), self.seqno)
            self._commit(cascade)

    def _wake_waiters(self) -> None:
        keep: list[tuple[int, asyncio.Future[None]]] = []
        for target, fut in self._waiters:
            if fut.done():
                continue
            if self.seqno >= target:
                fut.get_loop().call_soon_threadsafe(set_result_safe, fut)
            else:
                keep.append((target, fut))
        self._waiters = keep

    async def wait_seqno(self, seqno: int, timeout: float | None = None) -> bool:
        """Wait until block `seqno` exists. True when it does, False on timeout."""
        if self.seqno >= seqno:
            return True
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((seqno, fut))
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            return False
        finally:
            self._waiters = [(t, f) for t, f in self._waiters if f is not fut]
        return True

    def _async_lock(self) -> asyncio.Lock:
        # Bound to the running loop; recreated if the chain outlives a loop (session fixtures).
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    async def advance(self, seconds: int) -> int:
        """Move chain time forward by `seconds` and seal a block. Returns the new `now`.

        Note: pytoniq wallets sign `valid_until = time.time() + 60` by default; advancing more than
        ~60 s past the wall clock makes them refuse their own externals (pass `valid_until`)."""
        if seconds < 0:
            raise LocalChainError(f"advance: seconds must be >= 0, got {seconds}")
        async with self._async_lock():
            self._time_offset += seconds
            await self._seal_locked()
            return self.now

    async def seal_block(self) -> int:
        """Execute queued externals (block-interval mode) and seal a block. Returns the new seqno."""
        async with self._async_lock():
            await self._seal_pending_locked()
            return self.seqno

    async def set_block_interval(self, block_interval_ms: int) -> None:
        """Switch between instant mode (0) and sealing a block every N ms. Flushes queued externals."""
        if block_interval_ms < 0:
            raise LocalChainError(f"block_interval_ms must be >= 0, got {block_interval_ms}")
        self.block_interval_ms = block_interval_ms
        if block_interval_ms == 0:
            await self.seal_block()
        else:
            await self.start()

    async def start(self) -> None:
        """Start the block sealer (only does something in block-interval mode)."""
        if self.block_interval_ms > 0 and (self._sealer is None or self._sealer.done()):
            self._sealer = asyncio.create_task(self._sealer_loop(), name="local-chain-sealer")

    async def stop(self) -> None:
        """Stop the block sealer; queued externals stay queued (`seal_block()` runs them)."""
        if self._sealer is not None:
            self._sealer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sealer
            self._sealer = None

    async def _sealer_loop(self) -> None:
        while self.block_interval_ms > 0:
            await asyncio.sleep(self.block_interval_ms / 1000)
            try:
                await self.seal_block()
            except Exception:  # keep producing blocks; one bad batch must not stop the chain
                log.exception("sealing a block failed")

    async def _seal_pending_locked(self) -> None:
        pending, self._pending = self._pending, []
        for item in pending:
            try:
                result = await asyncio.to_thread(self._cascade, item.boc, self.seqno + 1)
            except ExternalNotAccepted as exc:  # state changed since it was checked: a node drops it
                log.info("queued external dropped at seal time: %s", exc.message)
                self._accepted.pop(item.msg_hash, None)
                continue
            self._commit(result)
            self._accepted[item.msg_hash] = time.monotonic()
        await self._seal_locked()

    # ------------------------------------------------------------------ execution core
    def _shard_account_b64(self, key: str, overlay: dict[str, str] | None = None) -> str:
        if overlay is not None and key in overlay:
            return overlay[key]
        return self._accounts.get(key, _EMPTY_SHARD_ACCOUNT_B64)

    def _cascade(self, first_message: bytes | Cell, seqno: int, *, dry_run: bool = False) -> Cascade:
        """Run a message and everything it causes, breadth-first, on a private overlay of the state.

        Raises `ExternalNotAccepted` when the first message is an external that is not accepted."""
        msg_cell = first_message if isinstance(first_message, Cell) else Cell.one_from_boc(first_message)
        msg = MessageAny.deserialize(msg_cell.begin_parse())
        if msg.is_external and msg.info.dest is None:  # ext_out: nothing to deliver
            raise LocalChainError("message: an outbound external message cannot be sent to the chain")
        first_is_external = bool(msg.is_external)
        overlay: dict[str, str] = {}
        records: list[TxRecord] = []
        deferred: list[tuple[int, str, str]] = []
        traced: list[tuple[str, int, int]] = []
        lt = self.lt
        now = self.now
        queue: deque[tuple[str, str]] = deque([(raw_address(msg.info.dest), cell_to_b64(msg_cell))])
        while queue:
            if len(records) >= MAX_CASCADE_TRANSACTIONS:
                log.warning("cascade stopped after %d transactions (message loop?)", len(records))
                break
            dest, msg_b64 = queue.popleft()
            seed = synthetic_hash("seed", seqno, lt)
            res = self._emulator.emulate(
                self._shard_account_b64(dest, overlay), msg_b64, now=now, lt=lt, rand_seed=seed
            )
            if not res.get("success"):
                if first_is_external and not records:
                    raise ExternalNotAccepted(
                        dest, res.get("vm_exit_code"), str(res.get("error", "")).strip()
                    )
                log.warning("internal message to %s could not be executed: %s", dest, res.get("error"))
                continue
            tx_cell = b64_to_cell(res["transaction"])
            tx_lt, out_msgs = tx_lt_and_out_msgs(tx_cell)
            lt = max(lt, tx_lt + len(out_msgs) + 1)
            overlay[dest] = res["shard_account"]
            records.append(TxRecord(dest, tx_lt, tx_cell.hash, seqno, res["transaction"]))
            if dest in self._traced:
                traced.append((dest, tx_lt, shard_account_balance(res["shard_account"])))
            if dry_run:
                break
            for out in out_msgs:
                out_dest = internal_destination(out)
                if out_dest is None or out_dest == _FAUCET_KEY:
                    continue
                if out_dest in self._holds:
                    deferred.append((seqno + self._holds[out_dest], out_dest, cell_to_b64(out)))
                else:
                    queue.append((out_dest, cell_to_b64(out)))
        return Cascade(overlay, records, lt, deferred, traced)

    def _commit(self, cascade: Cascade) -> None:
        self._in_flight.extend(cascade.deferred)
        for address, lt, balance in cascade.traced:
            self._traced[address].append((lt, balance))
        self._accounts.update(cascade.accounts)
        for rec in cascade.records:
            self._txs.setdefault(rec.address, []).append(rec)
        self.lt = max(self.lt, cascade.lt)
        self.total_transactions += len(cascade.records)

    def _is_duplicate(self, msg_hash: bytes, received_at: float) -> bool:
        committed_at = self._accepted.get(msg_hash, -1.0)
        if committed_at is None:
            return True  # still queued
        return received_at <= committed_at  # a copy sent before the original was included

    def _remember(self, msg_hash: bytes, committed_at: float | None) -> None:
        self._accepted[msg_hash] = committed_at
        if len(self._accepted) > 100_000:  # bounded: drop the oldest half
            for key in list(self._accepted)[:50_000]:
                del self._accepted[key]

    # ------------------------------------------------------------------ sending
    async def send_message(self, boc: bytes, *, received_at: float | None = None) -> MessageResult:
        """Send an external inbound message (a BoC), as `sendMessage` does.

        Instant mode: executes the cascade and seals a block. Block-interval mode: checks the message
        against the current state (a refusal raises at once), queues it and returns `pending=True`.
        Raises `ExternalNotAccepted` (nothing changes) or `LocalChainError` for a malformed message."""
        received = time.monotonic() if received_at is None else received_at
        try:
            cell = Cell.one_from_boc(boc)
        except Exception as exc:
            raise LocalChainError(f"message: not a valid single-root BoC ({exc})") from exc
        if cell.begin_parse().preload_bits(2).to01() != "10":
            raise LocalChainError("message: not an inbound external message (ext_in_msg_info$10)")
        async with self._async_lock():
            if self._is_duplicate(cell.hash, received):
                return MessageResult(seqno=self.seqno, duplicate=True)
            if self.block_interval_ms > 0:
                await asyncio.to_thread(self._cascade, cell, self.seqno + 1, dry_run=True)
                self._pending.append(Pending(boc, cell.hash))
                self._remember(cell.hash, None)
                await self.start()
                return MessageResult(seqno=self.seqno, pending=True)
            cascade = await asyncio.to_thread(self._cascade, cell, self.seqno + 1)
            self._commit(cascade)
            await self._seal_locked()
            self._remember(cell.hash, time.monotonic())
            return MessageResult(cascade.records, self.seqno)

    async def send_internal(
        self,
        dest: Address | str,
        value: int,
        *,
        body: Cell | None = None,
        state_init: StateInit | None = None,
        src: Address | str | None = None,
        bounce: bool | None = None,
    ) -> MessageResult:
        """Inject an internal message (from `src`, default the faucet) and run its cascade now.

        The sender's balance is not debited: this forges a sender, which is what contract tests
        need (owner-only ops, wrong-sender errors). `bounce` defaults to the destination's flag,
        and to False when the destination does not exist yet."""
        if value < 0:
            raise LocalChainError(f"value must be >= 0 nanoTON, got {value}")
        dest_addr = Address(dest) if isinstance(dest, str) else dest
        src_addr = FAUCET_ADDRESS if src is None else (Address(src) if isinstance(src, str) else src)
        if bounce is None:
            bounce = dest_addr.is_bounceable and raw_address(dest_addr) in self._accounts
        async with self._async_lock():
            msg = internal_message(src_addr, dest_addr, value, body, state_init, bounce, self.lt, self.now)
            cascade = await asyncio.to_thread(self._cascade, msg, self.seqno + 1)
            self._commit(cascade)
            await self._seal_locked()
            return MessageResult(cascade.records, self.seqno)

    async def faucet(self, address: Address | str, amount: int) -> MessageResult:
        """Credit `amount` nanoTON to `address` (internal message from -1:ff..ff, bounce=false)."""
        if amount <= 0:
            raise LocalChainError(f"faucet: amount must be > 0 nanoTON, got {amount}")
        return await self.send_internal(address, amount, bounce=False)

    async def deploy(
        self, state_init: StateInit, value: int, *, body: Cell | None = None, workchain: int = 0
    ) -> tuple[Address, MessageResult]:
        """Deploy a contract: internal message with `state_init` and `value` from the faucet
        (bounce=false). Returns the contract address and the message result."""
        address = Address((workchain, state_init.serialize().hash))
        result = await self.send_internal(address, value, body=body, state_init=state_init, bounce=False)
        return address, result

    # ------------------------------------------------------------------ reads
    def _parsed_account(self, key: str) -> ParsedAccount | None:
        boc = self._accounts.get(key)
        if boc is None:
            return None
        cached = self._parsed.get(key)
        if cached is not None and cached.boc_b64 is boc:
            return cached
        cell = b64_to_cell(boc)
        parsed = ParsedAccount(boc, cell, ShardAccount.deserialize(cell.begin_parse()))
        self._parsed[key] = parsed
        return parsed

    def frozen(self) -> FrozenView:
        """The account states as they are now, kept as they are (a lagging liteserver serves these)."""
        return FrozenView(dict(self._accounts), self.seqno, self.lt, self.now)

    def shard_account_cell(self, address: Address | str) -> Cell | None:
        """The account's ShardAccount cell, or None if the chain never saw it."""
        parsed = self._parsed_account(raw_address(address))
        return parsed.cell if parsed else None

    def account(self, address: Address | str) -> Account | None:
        """The parsed pytoniq `Account`, or None when it does not exist."""
        parsed = self._parsed_account(raw_address(address))
        return parsed.shard_account.account if parsed else None

    def balance(self, address: Address | str) -> int:
        """Balance in nanoTON (0 for an unknown account)."""
        account = self.account(address)
        return int(account.storage.balance.grams) if account is not None else 0

    def status(self, address: Address | str) -> str:
        """'active', 'uninit', 'frozen' or 'nonexist'."""
        account = self.account(address)
        if account is None:
            return "nonexist"
        return {"account_active": "active", "account_uninit": "uninit", "account_frozen": "frozen"}.get(
            account.storage.state.type_, "nonexist"
        )

    def transactions(self, address: Address | str, limit: int | None = None) -> list[TxRecord]:
        """The account's transactions, newest first."""
        txs = self._txs.get(raw_address(address), [])
        newest = list(reversed(txs))
        return newest if limit is None else newest[:limit]

    def transactions_from(
        self, address: Address | str, lt: int, tx_hash: bytes, count: int
    ) -> list[TxRecord]:
        """Up to `count` transactions starting at (lt, hash) and going back in time."""
        txs = self._txs.get(raw_address(address), [])
        for i in range(len(txs) - 1, -1, -1):
            if txs[i].lt == lt:
                if txs[i].hash != tx_hash:
                    raise LocalChainError(f"hash: transaction lt={lt} has another hash")
                return [txs[j] for j in range(i, max(i - count, -1), -1)]
        raise LocalChainError(f"lt: no transaction with lt={lt} for {raw_address(address)}")

    @property
    def pending_count(self) -> int:
        """Externals queued for the next block (block-interval mode)."""
        return len(self._pending)

    @property
    def accounts_count(self) -> int:
        return len(self._accounts)

    def addresses(self) -> list[str]:
        return list(self._accounts)

    def get_method(
        self,
        address: Address | str,
        method: str | int,
        stack: list[Any] | None = None,
        *,
        stack_b64: str | None = None,
    ) -> GetMethodResult:
        """Run a get-method on the real TVM against the current state; never raises for a VM exit code.

        An account that is not active gives exit code -256 (what pytoniq uses for that case)."""
        key = raw_address(address)
        parsed = self._parsed_account(key)
        code_data = parsed.code_data_b64 if parsed else None
        if parsed is None or code_data is None:
            return GetMethodResult(-256, "", 0)
        if stack_b64 is None:
            stack_b64 = base64.b64encode(VmStack.serialize(stack or []).to_boc()).decode()
        account = parsed.shard_account.account
        assert account is not None  # active, per code_data_b64
        res = engine.run_get_method(
            code_b64=code_data[0],
            data_b64=code_data[1],
            address=key,
            now=self.now,
            balance=int(account.storage.balance.grams),
            method_id=method_id(method),
            stack_b64=stack_b64,
            config_b64=self.config_b64,
            rand_seed=synthetic_hash("get", self.seqno, key),
        )
        if not res.get("success"):
            raise LocalChainError(f"get-method {method!r} on {key} failed: {res.get('error')}")
        return GetMethodResult(int(res["vm_exit_code"]), res["stack"], int(res.get("gas_used", 0)))

    # ------------------------------------------------------------------ snapshots
    def snapshot(self) -> dict[str, Any]:
        """The whole chain state as a JSON-serialisable dict (accounts, transactions, lt, clock)."""
        return {
            "version": SNAPSHOT_VERSION,
            "lt": self.lt,
            "seqno": self.seqno,
            "manual_now": self._manual_now,
            "time_offset": self._time_offset,
            "last_now": self._last_now,
            "accounts": dict(self._accounts),
            "transactions": {
                addr: [[t.lt, t.hash.hex(), t.seqno, t.boc_b64] for t in txs]
                for addr, txs in self._txs.items()
            },
            "in_flight": [list(m) for m in self._in_flight],
            "holds": dict(self._holds),
        }

    def restore(self, snap: dict[str, Any]) -> None:
        """Replace the state with a snapshot. The block height keeps moving forward (connected
        clients wait for the next seqno), and so does lt; queued externals are dropped."""
        if snap.get("version") != SNAPSHOT_VERSION:
            raise LocalChainError(f"version: unsupported snapshot version {snap.get('version')!r}")
        self._accounts = dict(snap["accounts"])
        self._txs = {
            addr: [TxRecord(addr, lt, bytes.fromhex(h), s, boc) for lt, h, s, boc in txs]
            for addr, txs in snap["transactions"].items()
        }
        self._parsed.clear()
        self._pending.clear()
        self._accepted.clear()
        self._in_flight = [(int(at), str(dest), str(msg)) for at, dest, msg in snap.get("in_flight", [])]
        self._holds = {str(k): int(v) for k, v in (snap.get("holds") or {}).items()}
        self.lt = max(self.lt, int(snap["lt"]))
        self._manual_now = snap["manual_now"]
        self._time_offset = int(snap["time_offset"])
        self._last_now = max(self._last_now, int(snap["last_now"]))
        self.seqno = max(self.seqno, int(snap["seqno"]))
        self._seal()

    @classmethod
    def load(cls, path: str | os.PathLike[str], **kwargs: Any) -> LocalChain:
        chain = cls(**kwargs)
        chain.load_file(path)
        return chain


_FAUCET_KEY = raw_address(FAUCET_ADDRESS)
