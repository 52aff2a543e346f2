"""The operator's connection to TON: pytoniq over liteservers, with timeouts, bounded retries and
a clear error when no liteserver answers.

`ChainClient.from_config(global_config)` builds a `LiteBalancer` (or one `LiteClient`) from a TON
global config (the ConfigMap's content). A local chain only works at trust level 2 (ton-devnet.md
§2.1); the level is an operator setting. Every method counts its liteserver round trips so metrics
and benches can report them.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field
from pytoniq.liteclient.balancer import BalancerError, LiteBalancer
from pytoniq.liteclient.client import LiteClient, LiteClientError, LiteServerError, RunGetMethodError
from pytoniq_core.boc.address import Address
from pytoniq_core.boc.cell import Cell
from pytoniq_core.tl.block import BlockIdExt
from pytoniq_core.tlb.transaction import Transaction

from cocoon_operator.ton.addresses import raw_address

if TYPE_CHECKING:
    from cocoon_operator.ton.follower import AccountCache

log = logging.getLogger(__name__)

T = TypeVar("T")

AccountStatus = Literal["active", "uninit", "frozen", "nonexist"]


class ChainError(RuntimeError):
    """Base of the chain layer's errors. Messages never carry keys or signatures."""


class ChainUnavailable(ChainError):
    """No liteserver answered within the timeouts and retries."""


class GetMethodFailed(ChainError):
    """A get-method ran and exited with a non-zero code (e.g. the account is not deployed)."""

    def __init__(self, address: str, method: str, exit_code: int) -> None:
        super().__init__(f"Get-method {method} on {address} exited with code {exit_code}")
        self.address, self.method, self.exit_code = address, method, exit_code


class ExternalRejected(ChainError):
    """The liteserver refused an external message (bad seqno, signature, expired, low balance)."""


class ChainDisagreement(ChainError):
    """Two liteservers disagree on a fact money depends on (or one sent transactions that do not
    chain): nothing is decided on it; the next reconcile reads again."""


class ChainSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    trust_level: int = Field(default=2, ge=0, le=2)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    call_timeout_s: float = Field(default=10.0, gt=0)
    retries: int = Field(default=3, ge=1, le=10)
    retry_delay_s: float = Field(default=0.5, ge=0)
    use_balancer: bool = True
    max_transaction_pages: int = Field(default=16, ge=1)  # 16 transactions per page
    # Money reads (balances, seqnos, "was it sent") must agree on two liteservers whose clocks differ by
    # at most this much; with one liteserver in the config they cannot be cross-checked.
    clock_tolerance_s: int = Field(default=30, ge=0)
    # Follow new blocks and read an account again only after it had a transaction (ton/follower.py).
    follow_blocks: bool = True
    follow_interval_s: float = Field(default=1.0, gt=0)  # a step without a new block costs nothing


@dataclass(frozen=True)
class AccountState:
    address: str  # raw form
    status: AccountStatus
    balance: int
    last_tx_lt: int = 0
    last_tx_hash: bytes = b"\x00" * 32
    code: Cell | None = None
    data: Cell | None = None

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def exists(self) -> bool:
        return self.status != "nonexist"


@dataclass(frozen=True)
class MessageView:
    """The parts of a message the operator reads. Addresses in raw form; None for externals."""

    src: str | None
    dest: str | None
    value: int
    bounced: bool
    body: Cell | None
    external: bool


@dataclass(frozen=True)
class TxView:
    account: str
    lt: int
    hash: str  # hex of the transaction cell hash
    utime: int
    in_msg: MessageView | None
    out_msgs: tuple[MessageView, ...]
    aborted: bool
    exit_code: int | None
    prev_lt: int
    prev_hash: bytes


@dataclass(frozen=True)
class TxCursor:
    """A point in an account's transaction chain: a transaction's (lt, hash)."""

    lt: int
    hash: bytes


@dataclass(frozen=True)
class TxPage:
    """Transactions newest first; `complete` when the scan reached `to_lt` or the account's first
    transaction. An incomplete scan says where to go on (`resume`: the next older transaction), so a
    caller can continue it later instead of treating what it did not see as absent."""

    transactions: tuple[TxView, ...]
    complete: bool
    resume: TxCursor | None = None


@dataclass
class RoundTrips:
    """Counters for metrics and benches."""

    calls: int = 0
    failures: int = 0
    retries: int = 0
    by_method: dict[str, int] = field(default_factory=dict)


def _message_view(msg: Any) -> MessageView:
    info = msg.info
    external = bool(msg.is_external)
    src = getattr(info, "src", None)
    dest = getattr(info, "dest", None)
    value = int(info.value.grams) if getattr(info, "value", None) is not None else 0
    return MessageView(
        src=raw_address(src) if isinstance(src, Address) else None,
        dest=raw_address(dest) if isinstance(dest, Address) else None,
        value=value,
        bounced=bool(getattr(info, "bounced", False)),
        body=msg.body,
        external=external,
    )


def tx_view(tx: Transaction) -> TxView:
    descr = tx.description
    compute = getattr(descr, "compute_ph", None)
    exit_code = getattr(compute, "exit_code", None) if getattr(compute, "type_", "") == "vm" else None
    wc = 0
    return TxView(
        account=f"{wc}:{tx.account_addr_hex}",
        lt=int(tx.lt),
        hash=tx.cell.hash.hex(),
        utime=int(tx.now),
        in_msg=_message_view(tx.in_msg) if tx.in_msg is not None else None,
        out_msgs=tuple(_message_view(m) for m in tx.out_msgs),
        aborted=bool(getattr(descr, "aborted", False)),
        exit_code=int(exit_code) if exit_code is not None else None,
        prev_lt=int(tx.prev_trans_lt),
        prev_hash=bytes(tx.prev_trans_hash),
    )


# Reads in this context skip the block follower's cache (a claim cycle with money in play).
_FRESH: contextvars.ContextVar[bool] = contextvars.ContextVar("cocoon_fresh_reads", default=False)


@contextlib.contextmanager
def fresh_reads(on: bool = True) -> Iterator[None]:
    """Within this block every read of the current task goes to a liteserver."""
    token = _FRESH.set(on or _FRESH.get())
    try:
        yield
    finally:
        _FRESH.reset(token)


BLOCK_LIST_PAGE = 256  # what a node answers at most per listBlockTransactions

# Outages (retry, then ChainUnavailable); liteserver *answers* (errors included) are not retried.
_OUTAGE: tuple[type[BaseException], ...] = (TimeoutError, OSError, BalancerError, LiteClientError)


class ChainClient:
    """Liteserver access with per-call timeouts, bounded retries and round-trip counting."""

    def __init__(self, backend: Any, settings: ChainSettings | None = None) -> None:
        self._backend = backend
        self.settings = settings or ChainSettings()
        self.round_trips = RoundTrips()
        self.on_query: Callable[[str], None] | None = None  # e.g. a metric: one call per liteserver query
        self._started = False
        self.cache: AccountCache | None = None  # set while a block follower runs (ton/follower.py)

    @classmethod
    def from_config(cls, global_config: dict[str, Any], settings: ChainSettings | None = None) -> ChainClient:
        """Build from a TON global config dict (`liteservers` + `validator.init_block`)."""
        settings = settings or ChainSettings()
        if not isinstance(global_config, dict) or not global_config.get("liteservers"):
            raise ChainUnavailable("The TON global config lists no liteservers")
        timeout = max(1, int(settings.call_timeout_s))
        backend: Any
        try:
            if settings.use_balancer:
                backend = LiteBalancer.from_config(
                    global_config, trust_level=settings.trust_level, timeout=timeout
                )
                backend.set_max_retries(settings.retries)
            else:
                backend = LiteClient.from_config(
                    global_config, 0, trust_level=settings.trust_level, timeout=timeout
                )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            # pytoniq indexes the dict directly; name what is missing instead of a bare KeyError.
            raise ChainUnavailable(
                f"The TON global config is malformed ({type(exc).__name__}: {exc}); it needs "
                "`liteservers` (ip, port, id.key) and `validator.init_block`"
            ) from exc
        return cls(backend, settings)

    @property
    def backend(self) -> Any:
        return self._backend

    async def start(self) -> None:
        if self._started:
            return
        b = self._backend
        try:
            if isinstance(b, LiteBalancer):
                await asyncio.wait_for(cast(Any, b).start_up(), self.settings.connect_timeout_s + 5)
                if b.alive_peers_num == 0:
                    await self._close_backend()
                    raise ChainUnavailable(f"None of the {b.peers_num} liteservers answered")
            elif isinstance(b, LiteClient):
                await asyncio.wait_for(b.connect(), self.settings.connect_timeout_s)
        except ChainUnavailable:
            raise
        except _OUTAGE as exc:
            await self._close_backend()
            raise ChainUnavailable(f"Could not connect to a liteserver: {type(exc).__name__}: {exc}") from exc
        self._started = True

    async def _close_backend(self) -> None:
        b = self._backend
        try:
            if isinstance(b, LiteBalancer):
                if b._checker is not None:  # close_all() assumes start_up() finished
                    await cast(Any, b).close_all()
                else:
                    for peer in b._peers:
                        if peer.inited:
                            await peer.close()
            elif isinstance(b, LiteClient) and b.inited:
                await b.close()
        except Exception as exc:  # closing must never mask the original error
            log.debug("Ignored error while closing liteserver connections: %s", type(exc).__name__)

    async def close(self) -> None:
        await self._close_backend()
        self._started = False

    async def __aenter__(self) -> ChainClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(self, method: str, fn: Callable[[], Awaitable[T]]) -> T:
        if not self._started:
            await self.start()
        last: BaseException | None = None
        for attempt in range(self.settings.retries):
            if attempt:
                self.round_trips.retries += 1
                await asyncio.sleep(self.settings.retry_delay_s * attempt)
            self.round_trips.calls += 1
            self.round_trips.by_method[method] = self.round_trips.by_method.get(method, 0) + 1
            if self.on_query is not None:
                self.on_query(method)
            try:
                return await asyncio.wait_for(fn(), self.settings.call_timeout_s)
            except (RunGetMethodError, LiteServerError):
                raise  # an answer, not an outage: callers translate it
            except _OUTAGE as exc:
                self.round_trips.failures += 1
                last = exc
                log.debug(
                    "Liteserver call %s failed (attempt %d): %s", method, attempt + 1, type(exc).__name__
                )
        raise ChainUnavailable(
            f"Liteserver call {method} failed after {self.settings.retries} attempts: "
            f"{type(last).__name__}: {last}"
        ) from last

    # --- reads -------------------------------------------------------------------------------------

    async def chain_time(self) -> int:
        """The liteserver's current chain time (`getTime`), or the block follower's at its last step
        (at most a step behind: only ever later decisions). Wallet `valid_until` is judged by
        `checked_time`, never by this."""
        # Even under `fresh_reads`: the time only dates timeouts and claim spacing, and one a step
        # behind only ever makes them later.
        cache = self.cache
        if cache is not None and cache.chain_time() is not None:
            return cast(int, cache.chain_time())
        try:
            answer = await self._call("getTime", lambda: self._backend.get_time())
        except LiteServerError as exc:
            raise ChainUnavailable(f"getTime failed: {exc.message}") from exc
        return _time_of(answer)

    # --- cross-checked money reads ------------------------------------------------------------------

    def money_peers(self) -> list[Any]:
        """The liteservers money reads ask: every alive peer of the balancer (one client: itself)."""
        b = self._backend
        if isinstance(b, LiteBalancer):
            return [b._peers[i] for i in sorted(b._alive_peers)]
        return [b]

    def cross_checked(self) -> bool:
        """Whether money reads are cross-checked (the config lists two or more liteservers)."""
        b = self._backend
        return isinstance(b, LiteBalancer) and b.peers_num >= 2

    def _pair(self, what: str) -> list[Any]:
        if not self.cross_checked():
            return [self._backend]
        peers = self.money_peers()
        if len(peers) < 2:
            raise ChainUnavailable(
                f"{what}: only {len(peers)} liteserver answers; a money read needs two that agree"
            )
        return peers[:2]

    async def checked_time(self) -> int:
        """Chain time from two liteservers that agree within `clock_tolerance_s` (the earlier one:
        an intent is only declared expired when both clocks say so)."""
        times = []
        for peer in self._pair("getTime"):
            try:
                answer = await self._call("getTime", functools.partial(peer.get_time))
            except LiteServerError as exc:
                raise ChainUnavailable(f"getTime failed: {exc.message}") from exc
            times.append(_time_of(answer))
        if max(times) - min(times) > self.settings.clock_tolerance_s:
            raise ChainDisagreement(f"liteservers disagree on chain time: {times}")
        return min(times)

    async def checked_state(self, address: Address | str) -> AccountState:
        """An account's state that two liteservers agree on (balance, last transaction, code and
        data). A lagging or lying peer makes this a ChainDisagreement, never a different answer.
        Always read (never from the follower's cache); the answer refreshes the cache."""
        states = [await self._state_from(peer, address) for peer in self._pair("getAccountState")]
        first = states[0]
        for other in states[1:]:
            if _state_key(other) != _state_key(first):
                raise ChainDisagreement(
                    f"liteservers disagree on account {first.address}: balance {first.balance} at lt "
                    f"{first.last_tx_lt} vs balance {other.balance} at lt {other.last_tx_lt}"
                )
        if self.cache is not None:
            self.cache.store(first)
        return first

    def _cache(self) -> AccountCache | None:
        return None if _FRESH.get() or self.cache is None else self.cache

    async def account_state(self, address: Address | str) -> AccountState:
        """An account's state from one liteserver, or the same state again when the block follower
        vouches that the account has had no transaction since it was read."""
        cache = self._cache()
        cached = cache.state(raw_address(address)) if cache is not None else None
        if cached is not None:
            return cached
        state = await self._state_from(self._backend, address)
        if self.cache is not None:
            self.cache.store(state)
        return state

    def cached_state(self, address: Address | str) -> AccountState | None:
        """The state the follower vouches for, without a query (None: it does not, read it)."""
        cache = self._cache()
        return cache.state(raw_address(address)) if cache is not None else None

    def cached_head(self, address: Address | str) -> TxCursor | None:
        """The account's newest transaction as the follower knows it, without a query (None: read)."""
        cache = self._cache()
        return cache.head(raw_address(address)) if cache is not None else None

    def walked_past(self, address: Address | str, lt: int) -> bool:
        """The follower listed the block of `address`'s transaction at `lt` (False under fresh reads)."""
        cache = self._cache()
        return cache is not None and cache.walked_past(raw_address(address), lt)

    # --- blocks (the block follower) ---------------------------------------------------------------

    def _block_peer(self) -> Any:
        """One liteserver for a whole walk: another could not know a block the first announced."""
        b = self._backend
        if isinstance(b, LiteBalancer):
            peers = self.money_peers()
            if not peers:
                raise ChainUnavailable("No liteserver is alive to follow blocks")
            return peers[0]
        return b

    async def _request(self, name: str, call: Callable[[Any], Awaitable[Any]]) -> Any:
        peer = self._block_peer()
        try:
            return await self._call(name, lambda: call(peer))
        except LiteServerError as exc:
            raise ChainUnavailable(f"{name} failed: {exc.message}") from exc

    def tracked_head(self) -> int | None:
        """The masterchain seqno pytoniq's own updater last saw (no query), if it runs."""
        peers = self.money_peers()
        block = getattr(peers[0], "last_mc_block", None) if peers else None
        return int(block.seqno) if isinstance(block, BlockIdExt) else None

    async def masterchain_head(self) -> tuple[BlockIdExt, int]:
        """The newest masterchain block and the chain time (`getMasterchainInfoExt`)."""
        answer = await self._request("getMasterchainInfoExt", lambda p: p.get_masterchain_info_ext())
        return BlockIdExt.from_dict(answer["last"]), int(answer["now"])

    async def shard_tops(self, block: BlockIdExt) -> list[BlockIdExt]:
        """The newest shard block of every shard as of masterchain `block` (`getAllShardsInfo`)."""
        return list(await self._request("getAllShardsInfo", lambda p: p.get_all_shards_info(block)))

    async def lookup_block(self, workchain: int, shard: int, seqno: int) -> BlockIdExt:
        data = {"mode": 1, "id": {"workchain": workchain, "shard": shard, "seqno": seqno}}
        answer = await self._request("lookupBlock", lambda p: p.liteserver_request("lookupBlock", data))
        return BlockIdExt.from_dict(answer["id"])  # type: ignore[no-any-return]

    async def block_transactions(self, block: BlockIdExt) -> list[tuple[str, int, bytes]]:
        """(raw account, lt, hash) of every transaction in `block` (`listBlockTransactions`, paged)."""
        found: list[tuple[str, int, bytes]] = []
        data: dict[str, Any] = {"id": cast(Any, block).to_dict(), "mode": 0b111, "count": BLOCK_LIST_PAGE}
        while True:
            request = functools.partial(_list_block, data=dict(data))
            answer = await self._request("listBlockTransactions", request)
            ids = answer.get("ids") or []
            for tx in ids:
                account = f"{block.workchain}:{tx['account']}"
                found.append((account, int(tx["lt"]), _hash_bytes(tx.get("hash"))))
            if not answer.get("incomplete") or not ids:
                return found
            last = ids[-1]
            data = {**data, "mode": 0b111 | 1 << 7, "after": {"account": last["account"], "lt": last["lt"]}}

    async def _state_from(self, backend: Any, address: Address | str) -> AccountState:
        addr = address if isinstance(address, Address) else Address(address)
        raw = raw_address(addr)
        account, shard_account = await self._call(
            "getAccountState", lambda: backend.raw_get_account_state(addr)
        )
        if account is None:
            return AccountState(address=raw, status="nonexist", balance=0)
        state = account.storage.state
        kind = getattr(state, "type_", "account_uninit")
        status: AccountStatus = "uninit"
        if kind in ("account_active", "active"):
            status = "active"
        elif kind in ("account_frozen", "frozen"):
            status = "frozen"
        init = getattr(state, "state_init", None)
        return AccountState(
            address=raw,
            status=status,
            balance=int(account.storage.balance.grams),
            last_tx_lt=int(shard_account.last_trans_lt) if shard_account is not None else 0,
            last_tx_hash=bytes(shard_account.last_trans_hash) if shard_account is not None else b"\x00" * 32,
            code=init.code if init is not None else None,
            data=init.data if init is not None else None,
        )

    async def run_get_method(
        self, address: Address | str, method: str, stack: list[Any] | None = None
    ) -> list[Any]:
        addr = address if isinstance(address, Address) else Address(address)
        try:
            return await self._call(
                f"runSmcMethod:{method}",
                lambda: self._backend.run_get_method(addr, method, list(stack or [])),
            )
        except RunGetMethodError as exc:
            raise GetMethodFailed(raw_address(addr), method, int(exc.exit_code)) from exc

    async def send_external(self, boc: bytes) -> None:
        """Send an external message BoC. Duplicates are harmless (liteservers dedupe, seqno guards)."""
        try:
            await self._call("sendMessage", lambda: self._backend.raw_send_message(boc))
        except LiteServerError as exc:
            raise ExternalRejected(f"External message refused: {exc.message}") from exc

    async def transactions(
        self,
        address: Address | str,
        *,
        to_lt: int = 0,
        limit: int | None = None,
        start: TxCursor | None = None,
    ) -> TxPage:
        """Transactions newer than `to_lt`, newest first, at most `limit` (bounded paging), from the
        account's last transaction or from `start` (to go on with an incomplete scan).

        Every transaction is checked to be the one its successor names (hash chain), so a liteserver
        cannot leave one out or change it unnoticed: only the head needs to be trusted (callers that
        decide money pass a head from `checked_state`)."""
        addr = address if isinstance(address, Address) else Address(address)
        limit = limit if limit is not None else self.settings.max_transaction_pages * 16
        if start is None:
            # The block follower knows the head of a watched account without a state read (issue 20).
            head = self.cached_head(addr)
            if head is not None:
                try:
                    return await self._history(addr, head, to_lt, limit)
                except _HeadNotThere:
                    pass  # a liteserver a block behind the follower: ask it for the head itself
            with fresh_reads():  # the cache had no head to give (or one the liteserver lacks)
                state = await self.account_state(addr)
            if state.last_tx_lt == 0:
                return TxPage(transactions=(), complete=True)
            start = TxCursor(state.last_tx_lt, state.last_tx_hash)
        return await self._history(addr, start, to_lt, limit)

    async def _history(self, addr: Address, start: TxCursor, to_lt: int, limit: int) -> TxPage:
        if start.lt <= to_lt:
            return TxPage(transactions=(), complete=True)
        found: list[TxView] = []
        lt, tx_hash = start.lt, start.hash
        while len(found) < limit:
            count = min(16, limit - len(found))
            fetch = functools.partial(self._backend.raw_get_transactions, addr, count, lt, tx_hash)
            batch, _ = await self._call("getTransactions", fetch)
            if not batch:
                error = _HeadNotThere if not found and lt == start.lt else ChainDisagreement
                raise error(f"liteserver has no transaction {lt}:{tx_hash.hex()} of {raw_address(addr)}")
            for tx in batch:
                view = tx_view(tx)
                if view.lt != lt or bytes.fromhex(view.hash) != tx_hash:
                    raise ChainDisagreement(
                        f"liteserver sent transaction {view.lt}:{view.hash} of {raw_address(addr)} where "
                        f"{lt}:{tx_hash.hex()} belongs (the chain of transactions is broken)"
                    )
                if view.lt <= to_lt:
                    return TxPage(transactions=tuple(found), complete=True)
                found.append(view)
                if view.prev_lt == 0:
                    return TxPage(transactions=tuple(found), complete=True)
                lt, tx_hash = view.prev_lt, view.prev_hash
                if lt <= to_lt:
                    return TxPage(transactions=tuple(found), complete=True)
        return TxPage(transactions=tuple(found), complete=False, resume=TxCursor(lt, tx_hash))


class _HeadNotThere(ChainDisagreement):
    """The liteserver does not have the transaction a history read was asked to start from."""


def _hash_bytes(value: Any) -> bytes:
    """A listed transaction's hash as bytes (pytoniq decodes int256 as hex text or bytes)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str) and value:
        return bytes.fromhex(value)
    return b""


async def _list_block(peer: Any, data: dict[str, Any]) -> Any:
    return await peer.liteserver_request("listBlockTransactions", data)


def _time_of(answer: Any) -> int:
    value = answer.get("now") if isinstance(answer, dict) else answer
    if not isinstance(value, int):
        raise ChainUnavailable(f"getTime answered {type(value).__name__}, not a time")
    return value


def _state_key(state: AccountState) -> tuple[Any, ...]:
    return (
        state.status,
        state.balance,
        state.last_tx_lt,
        state.last_tx_hash,
        state.code.hash if state.code is not None else None,
        state.data.hash if state.data is not None else None,
    )
