"""What the chain and rewards providers share: one `ChainClient` per distinct TON global config,
the node's public identity (never its key), timed chain operations, and durable status writes.

Durable writes: the reconcile writes its status after the steps return, which is too late for
write-ahead records (a funding intent, a claim intent): those go through `money.records.GuardedStatus`
at once, guarded by the object's resourceVersion, so a record is on the API server before the action
it announces (and never rolled back by the end-of-reconcile patch).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, TypeVar

from cocoon_operator import metrics as mx
from cocoon_operator.api import identity
from cocoon_operator.conditions import Reason
from cocoon_operator.money.records import GuardedStatus, StaleStatus, StatusPatcher
from cocoon_operator.status import Cond
from cocoon_operator.steps.contract import Context
from cocoon_operator.ton.addresses import public_key_from_seed, raw_address
from cocoon_operator.ton.client import ChainClient, ChainSettings, ChainUnavailable
from cocoon_operator.ton.follower import BlockFollower
from cocoon_operator.ton.identity import cocoon_wallet_of
from cocoon_operator.ton.root import RootConfig, read_root
from cocoon_operator.worker.runner_client import RunnerStats

log = logging.getLogger(__name__)
T = TypeVar("T")

CHAIN_UNAVAILABLE: Final = Reason.CHAIN_UNAVAILABLE
ROOT_TTL_S = 5.0


@contextlib.contextmanager
def step_timer(metrics: mx.MoneyMetrics | None, step: str) -> Iterator[None]:
    """Observe how long a provider's `observe` took (`cocoon_reconcile_duration_seconds{step}`),
    failures included."""
    started = time.monotonic()
    try:
        yield
    finally:
        if metrics is not None:
            metrics.reconcile_duration.labels(step).observe(time.monotonic() - started)


@dataclass(frozen=True)
class NodeIdentity:
    """The node's public side: its cocoon wallet address (raw) and the owner (raw)."""

    public_key: bytes
    owner: str
    wallet: str


def node_seed(secret: Mapping[str, Any] | None) -> bytes | None:
    """The node wallet key seed from the wallet Secret; only for signing (the sweep), never kept."""
    raw = ((secret or {}).get("data") or {}).get(identity.WALLET_SECRET_KEY)
    if not raw:
        return None
    try:
        seed = base64.b64decode(base64.b64decode(raw, validate=True).strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return seed if len(seed) == 32 else None


def node_identity(secret: Mapping[str, Any] | None, owner_address: str) -> NodeIdentity | None:
    """From the wallet Secret: the seed is decoded only to derive the public key, then dropped."""
    seed = node_seed(secret)
    if seed is None:
        return None
    public = public_key_from_seed(seed)
    del seed
    return NodeIdentity(
        public_key=public, owner=raw_address(owner_address), wallet=_wallet(public, owner_address)
    )


@functools.lru_cache(maxsize=8192)
def _wallet(public_key: bytes, owner_address: str) -> str:
    # Building the wallet's StateInit cell and hashing it costs ~1 ms; every reconcile needs it.
    return raw_address(cocoon_wallet_of(public_key, owner_address))


class WalletCheck(Enum):
    """Does the worker runner use the cocoon wallet the operator derived (and funds)?"""

    VERIFIED = "verified"  # the runner reports the derived address
    MISMATCH = "mismatch"  # it reports another one: money must not move
    UNKNOWN = "unknown"  # it has not answered (yet)


def wallet_check(stats: RunnerStats | None, ident: NodeIdentity) -> tuple[WalletCheck, str | None]:
    """Compare the wallet address in the runner's /jsonstats with the derived one (by workchain and
    hash, never as strings). Returns the verdict and the reported address as the runner wrote it."""
    reported = stats.wallet.address if stats is not None and stats.wallet is not None else None
    if not reported:
        return WalletCheck.UNKNOWN, None
    try:
        same = raw_address(reported) == ident.wallet
    except Exception:  # not an address at all
        same = False
    return (WalletCheck.VERIFIED if same else WalletCheck.MISMATCH), reported[:100]


CONNECT_BACKOFF_S = (5.0, 60.0)  # first wait after a failed connect, and the longest


class ChainHub:
    """One shared `ChainClient` per distinct global config, bounded timeouts, root cache, metrics.

    A client that failed with `ChainUnavailable` is dropped, so the next reconcile reconnects: a
    liteserver that comes back is picked up without a restart. A failed connect is not retried for a
    while (5 s, doubling to 60 s): otherwise every reconcile of every CocoonNode would queue behind
    the connect lock for a multi-second attempt while the liteservers are down.
    """

    def __init__(
        self,
        *,
        trust_level: int = 2,
        chain_settings: ChainSettings | None = None,
        metrics: mx.MoneyMetrics | None = None,
    ) -> None:
        self.settings = chain_settings or ChainSettings(
            trust_level=trust_level, connect_timeout_s=4.0, call_timeout_s=4.0, retries=2, retry_delay_s=0.3
        )
        self.metrics = metrics
        self._clients: dict[str, ChainClient] = {}
        self.followers: dict[str, BlockFollower] = {}  # one per network: which accounts changed
        self._locks: dict[str, asyncio.Lock] = {}
        self._down: dict[str, tuple[float, float, str]] = {}  # key → (retry after, next backoff, why)
        self.clock = time.monotonic
        self._roots: dict[tuple[str, str], tuple[float, RootConfig]] = {}
        self._wallet_balances: dict[tuple[str, str], int] = {}
        self._treasury_locks: dict[str, asyncio.Lock] = {}

    def treasury_lock(self, treasury: str) -> asyncio.Lock:
        return self._treasury_locks.setdefault(treasury, asyncio.Lock())

    @staticmethod
    def config_key(text: str) -> str:
        try:
            canonical = json.dumps(json.loads(text), sort_keys=True)
        except ValueError:
            canonical = text
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    async def global_config(self, ctx: Context) -> tuple[str, dict[str, Any]]:
        ref = ctx.spec.network.global_config_ref
        cm = await ctx.kube.get("v1", "ConfigMap", ctx.namespace, ref.name)
        text = str(((cm or {}).get("data") or {}).get(ref.key) or "")
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ChainUnavailable(
                f"ConfigMap {ref.name} key {ref.key} is not a TON global config (JSON)"
            ) from exc
        if not isinstance(data, dict):
            raise ChainUnavailable(f"ConfigMap {ref.name} key {ref.key} is not a TON global config")
        return self.config_key(text), data

    async def client(self, ctx: Context) -> tuple[str, ChainClient]:
        key, config = await self.global_config(ctx)
        self._fail_fast(key)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            client = self._clients.get(key)
            if client is None:
                self._fail_fast(key)  # another reconcile just failed while this one waited
                client = ChainClient.from_config(config, self.settings)
                if self.metrics is not None:
                    queries = self.metrics.liteserver_queries
                    client.on_query = lambda method: queries.labels(method).inc()
                try:
                    await self.timed("connect", client.start())
                except ChainUnavailable as exc:
                    await client.close()
                    backoff = self._down.get(key, (0.0, CONNECT_BACKOFF_S[0], ""))[1]
                    self._down[key] = (
                        self.clock() + backoff,
                        min(backoff * 2, CONNECT_BACKOFF_S[1]),
                        str(exc),
                    )
                    raise
                self._down.pop(key, None)
                self._clients[key] = client
                self.follow(key, client)
        return key, client

    def follow(self, key: str, client: ChainClient) -> None:
        """Start the network's block follower (the client's reads of unchanged accounts then cost
        nothing); `settings.follow_blocks=False` keeps every read a query, as before issue 20."""
        if not self.settings.follow_blocks or key in self.followers:
            return
        follower = BlockFollower(client, interval_s=self.settings.follow_interval_s)
        client.cache = follower.cache
        self.followers[key] = follower
        follower.start()

    def _fail_fast(self, key: str) -> None:
        down = self._down.get(key)
        if down is not None and self.clock() < down[0]:
            raise ChainUnavailable(down[2])  # the same words as the failure: the condition stays as it is

    async def drop(self, key: str) -> None:
        follower = self.followers.pop(key, None)
        if follower is not None:
            await follower.stop()
        client = self._clients.pop(key, None)
        self._roots = {k: v for k, v in self._roots.items() if k[0] != key}
        if client is not None:
            await client.close()

    async def timed(self, operation: str, step: Awaitable[T]) -> T:
        started = time.monotonic()
        m = self.metrics
        if m is not None:
            m.ton_requests.labels(operation).inc()
        try:
            return await step
        except ChainUnavailable:
            if m is not None:
                m.ton_failures.labels(operation).inc()
            raise
        finally:
            if m is not None:
                m.ton_latency.labels(operation).observe(time.monotonic() - started)

    async def root(self, key: str, client: ChainClient, address: str) -> RootConfig:
        cache_key = (key, raw_address(address))
        hit = self._roots.get(cache_key)
        if hit is not None and time.monotonic() - hit[0] < ROOT_TTL_S:
            return hit[1]
        root = await self.timed("readRoot", read_root(client, address))
        self._roots[cache_key] = (time.monotonic(), root)
        if self.metrics is not None:
            self.metrics.observe_root(
                root.address,
                params_version=root.params_version,
                price_per_token=root.price_per_token,
                worker_fee_per_token=root.worker_fee_per_token,
                proxies=len(root.registered_proxies),
            )
        return root

    def remember_balance(self, ctx: Context, balance: int) -> None:
        self._wallet_balances[(ctx.namespace, ctx.name)] = balance
        if self.metrics is not None:
            self.metrics.wallet_balance.labels(ctx.namespace, ctx.name).set(balance)

    def known_balance(self, ctx: Context) -> int | None:
        return self._wallet_balances.get((ctx.namespace, ctx.name))

    async def close(self) -> None:
        for key in list(self._clients):
            await self.drop(key)


def pod_ip(pod: Mapping[str, Any] | None) -> str | None:
    ip = (pod or {}).get("status", {}).get("podIP")
    return str(ip) if ip else None


def condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any]:
    for cond in status.get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}


def strip_none(value: Any) -> Any:
    """Drop None values recursively: status fields written by the reconcile compare equal to what the
    API server stores (a merge patch deletes None keys), so an unchanged status costs no write."""
    if isinstance(value, Mapping):
        return {k: strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [strip_none(v) for v in value]
    return value


__all__ = ["GuardedStatus", "StaleStatus", "StatusPatcher"]


def cond_changed(ctx: Context, cond: Cond) -> bool:
    """Whether `cond` differs from the condition of its type as last written (status or reason)."""
    old = condition(ctx.status, cond.type)
    return old.get("status") != cond.status or old.get("reason") != cond.reason
