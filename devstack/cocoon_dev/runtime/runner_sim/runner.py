"""The simulated worker runner: its state, its periodic loops, and the simulated proxy side.

Loops (cadences from cocoon-protocol.md §2.4, shortened where a setting says so):
- uplink: `GET /v1/models` on `forward_requests_to` every 2 s (10 s timeout);
- root: re-read every `root_refresh_s`, adopted only if `version` grew;
- wallet + worker contracts: refreshed every `refresh_s`;
- connect: once the root is read and the cocoon wallet holds ≥ 2.1 TON, connect to proxies
  (`proxy_connections`) and deploy the worker contract on first contact;
- traffic (the proxy's role): real chat completions at `request_rate` per second while enabled;
- commit (the proxy's role): every `commit_interval_s` the proxy saves to its DB, commits, and
  signs a cumulative voucher for `earned_tokens_committed_to_blockchain`;
- payouts: `/request/payout` and the self-claim rule (§8.4) submit the voucher; `running_request`
  clears when the chain shows the worker-contract transaction with the claim's query_id.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

import aiohttp
from tenacity import AsyncRetrying, RetryCallState, wait_fixed

from cocoon_dev.runtime.runner_sim.accounting import Usage, adjust, claimable_tokens
from cocoon_dev.runtime.runner_sim.chain import (
    TON,
    ChainBackend,
    ProxyIdentity,
    SimRootConfig,
    Voucher,
    WalletInfo,
    same_address,
)
from cocoon_dev.runtime.runner_sim.config import WorkerConfig
from cocoon_dev.runtime.runner_sim.counters import RunnerCounters
from cocoon_dev.runtime.runner_sim.proxy_db import ProxyDb

log = logging.getLogger("cocoon_dev.runner_sim")

MIN_WALLET_BALANCE = 2_100_000_000  # 2.1 TON (runners/BaseRunner.hpp)
WARNING_WALLET_BALANCE = 5 * TON
MIN_WORKER_PAYOUT_ON_IDLE = 200_000_000  # to_nano(0.2), compared with TOKENS (§8.4 quirk)
SYSTEM_PROMPT = "You are the cocoon-dev stand-in model answering simulated COCOON traffic, be brief."


@dataclass
class RunnerSettings:
    request_rate: float = 0.5  # simulated proxy traffic, requests per second (0 = none)
    max_tokens: int = 16
    commit_interval_s: float = 30.0
    root_refresh_s: float = 30.0
    refresh_s: float = 5.0
    uplink_interval_s: float = 2.0
    self_claim: bool = True


@dataclass
class ProxyEntry:
    identity: ProxyIdentity
    sc_inited: bool = False
    deploy_sent: bool = False
    closed: bool = False
    committed_to_blockchain: int = 0
    committed_to_db: int = 0
    max_known: int = 0
    cached_out: int = 0
    expected_cached_out: int = 0
    running_request: bool = False
    running_query_id: int | None = None
    voucher: Voucher | None = None

    @property
    def to_payout(self) -> int:
        return claimable_tokens(self.committed_to_blockchain, self.expected_cached_out)


@dataclass
class RunnerState:
    initialized: bool = False
    force_disabled: bool = False
    uplink_ok: bool = False
    root: SimRootConfig | None = None
    wallet: WalletInfo | None = None
    proxies: dict[str, ProxyEntry] = field(default_factory=dict)
    active_requests: int = 0
    last_error: str = ""


class Runner:
    def __init__(
        self,
        config: WorkerConfig,
        chain: ChainBackend,
        settings: RunnerSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        proxy_db: ProxyDb | None = None,
    ) -> None:
        self.config = config
        self.chain = chain
        self.proxy_db = proxy_db or ProxyDb()
        self.settings = settings or RunnerSettings()
        self.coefficient = config.coefficient
        self.state = RunnerState()
        self.stats = RunnerCounters(clock)
        self.started_at = time.time()
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._counter = 0
        self._wake_commit = asyncio.Event()

    # ----- derived state -------------------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        """Effective state: force-disabled OR uplink down means disabled."""
        return not self.state.force_disabled and self.state.uplink_ok

    @property
    def model_hash(self) -> bytes:
        return hashlib.sha256(self.config.model_name.encode()).digest()

    @property
    def image_hash(self) -> bytes:
        return self.config.image_hash

    def actual_image_hash(self) -> bool:
        root = self.state.root
        if not self.config.checks_enabled:
            return True
        return root is not None and root.has_worker_hash(self.image_hash)

    def actual_model(self) -> bool:
        root = self.state.root
        if not self.config.checks_enabled:
            return True
        return root is not None and root.has_model_hash(self.model_hash)

    @property
    def forward_url(self) -> str:
        target = self.config.forward_requests_to
        return target if "://" in target else f"http://{target}"

    def find_proxy(self, address: str) -> ProxyEntry | None:
        for key, entry in self.state.proxies.items():
            if same_address(key, address):
                return entry
        return None

    # ----- control (HTTP handlers call these) ----------------------------------------------------

    def request_payout(self, proxy_address: str) -> str:
        """The official answer order (§4.4)."""
        entry = self.find_proxy(proxy_address)
        if entry is None:
            return "proxy not found"
        if entry.running_request:
            return "request is already running"
        if not entry.sc_inited:
            return "proxy is not inited"
        if entry.closed:
            return "proxy is closed"
        self._start_payout(entry)
        return "request sent"

    def set_coefficient(self, coefficient: int) -> None:
        self.coefficient = coefficient

    # ----- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(headers={"User-Agent": "cocoon-dev-simulator"})
        self._spawn(self._uplink_loop(), "uplink")
        self._spawn(self._main_loop(), "main")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
        await self.chain.close()

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a loop must not die silently
                self.state.last_error = f"{name}: {exc}"
                log.exception("Loop %s failed", name)

        self._tasks.append(asyncio.create_task(guarded(), name=f"runner-{name}"))

    async def sync_chain(self) -> None:
        """One pass of the main loop's chain work, without traffic: read the root, the wallet, connect
        the proxies (when funded) and refresh their contracts (the light runtime's idle runners)."""
        await self._read_root()
        await self._refresh_wallet()
        wallet = self.state.wallet
        if wallet is not None and wallet.balance >= MIN_WALLET_BALANCE:
            await self._connect_proxies()
        await self._refresh_contracts()

    # ----- loops ---------------------------------------------------------------------------------

    async def _uplink_loop(self) -> None:
        assert self._session is not None
        while True:
            ok = False
            try:
                async with self._session.get(
                    f"{self.forward_url}/v1/models", timeout=aiohttp.ClientTimeout(total=10)
                ) as resp:
                    await resp.read()
                    ok = resp.status == 200
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            if ok != self.state.uplink_ok:
                log.info("Model connection %s", "connected" if ok else "disconnected")
            self.state.uplink_ok = ok
            await asyncio.sleep(self.settings.uplink_interval_s)

    async def _read_root(self) -> None:
        root = await self.chain.read_root()
        current = self.state.root
        if current is None or root.version > current.version:
            if current is not None and root.params_version > current.params_version:
                log.info("Root params_version %d -> %d", current.params_version, root.params_version)
            self.state.root = root
        else:
            self.state.root = replace(current, sync_utime=root.sync_utime)

    async def _main_loop(self) -> None:
        # Step 3: read the root until it works (HTTP custom handlers answer "not found" until then),
        # every 2 s like the official runner.
        def failed(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            self.state.last_error = f"root: {exc}"
            log.warning("Cannot read the root contract: %s", exc)

        async for attempt in AsyncRetrying(wait=wait_fixed(2), before_sleep=failed):
            with attempt:
                await self._read_root()
        root = self.state.root
        assert root is not None  # _read_root sets it or raises
        if root.is_test != self.config.is_test:
            log.error(
                "root is_test=%s but worker is_test=%s: the official runner aborts here",
                root.is_test,
                self.config.is_test,
            )
        # Step 4: custom_initialize, then wait for the wallet balance.
        await self._refresh_wallet()
        self.state.initialized = True
        self._spawn(self._traffic_loop(), "traffic")
        self._spawn(self._commit_loop(), "commit")
        last_root = time.monotonic()
        while True:
            if time.monotonic() - last_root >= self.settings.root_refresh_s:
                try:
                    await self._read_root()
                except Exception as exc:
                    self.state.last_error = f"root: {exc}"
                last_root = time.monotonic()
            await self._refresh_wallet()
            wallet = self.state.wallet
            if wallet is None or wallet.balance < MIN_WALLET_BALANCE:
                log.warning(
                    "ACTION REQUIRED: BALANCE ON CONTRACT %s IS TOO LOW: MINIMUM %d CURRENT %d",
                    wallet.address if wallet else "?",
                    MIN_WALLET_BALANCE,
                    wallet.balance if wallet else 0,
                )
            else:
                await self._connect_proxies()
            await self._refresh_contracts()
            await asyncio.sleep(self.settings.refresh_s)

    async def _refresh_wallet(self) -> None:
        try:
            self.state.wallet = await self.chain.wallet()
        except Exception as exc:
            self.state.last_error = f"wallet: {exc}"

    async def _connect_proxies(self) -> None:
        root = self.state.root
        if root is None:
            return
        current = [p for p in self.state.proxies.values() if p.identity.params_version == root.params_version]
        for proxy in root.registered_proxies:
            if len(current) >= self.config.proxy_connections:
                break
            identity = await self.chain.connect_proxy(root, proxy)
            if self.find_proxy(identity.proxy_sc_address) is not None:
                continue
            entry = ProxyEntry(identity=identity)
            self.state.proxies[identity.proxy_sc_address] = entry
            current.append(entry)
            log.info(
                "Connected to proxy %s; deploying worker contract %s",
                identity.proxy_sc_address,
                identity.worker_sc_address,
            )
            await self.chain.deploy_worker_contract(root, identity)
            entry.deploy_sent = True

    async def _refresh_contracts(self) -> None:
        for entry in list(self.state.proxies.values()):
            try:
                sc = await self.chain.worker_contract(entry.identity)
            except Exception as exc:
                self.state.last_error = f"worker contract: {exc}"
                continue
            entry.sc_inited = sc.active
            entry.closed = sc.state == 2
            entry.cached_out = max(entry.cached_out, sc.tokens)
            entry.expected_cached_out = max(entry.expected_cached_out, entry.cached_out)
            if entry.running_request and entry.running_query_id is not None:
                with contextlib.suppress(Exception):
                    if await self.chain.payout_seen(entry.identity, entry.running_query_id):
                        entry.running_request = False
                        entry.running_query_id = None
            self._maybe_self_claim(entry)

    def _maybe_self_claim(self, entry: ProxyEntry) -> None:
        # WorkerProxyInfo::check(): the nano constant is compared with a token count (quirk).
        if (
            self.settings.self_claim
            and entry.sc_inited
            and not entry.running_request
            and not entry.closed
            and entry.voucher is not None
            and entry.to_payout >= MIN_WORKER_PAYOUT_ON_IDLE
        ):
            log.info("Self-claim on %s: %d tokens", entry.identity.proxy_sc_address, entry.to_payout)
            self._start_payout(entry)

    def _start_payout(self, entry: ProxyEntry) -> None:
        voucher = entry.voucher
        entry.running_request = True
        if voucher is None:
            # The official runner has nothing to repack here and (inferred) aborts; we only log.
            log.warning("Payout requested on %s without a signed voucher", entry.identity.proxy_sc_address)
            entry.running_request = False
            return
        entry.running_query_id = voucher.query_id
        entry.expected_cached_out = max(entry.expected_cached_out, voucher.new_tokens)

        async def submit() -> None:
            try:
                await self.chain.submit_payout(entry.identity, voucher)
            except Exception as exc:
                self.state.last_error = f"payout: {exc}"
                log.warning("Payout submission failed: %s", exc)

        self._spawn(submit(), "payout")

    async def _traffic_loop(self) -> None:
        while True:
            rate = self.settings.request_rate
            if rate <= 0:
                await asyncio.sleep(1)
                continue
            started = time.monotonic()
            entry = next((p for p in self.state.proxies.values() if not p.closed), None)
            if entry is not None and self.enabled:
                await self.run_one_request(entry)
            await asyncio.sleep(max(0.05, 1.0 / rate - (time.monotonic() - started)))

    async def run_one_request(self, entry: ProxyEntry) -> bool:
        """One query from the (simulated) proxy, answered through the real inference server."""
        assert self._session is not None
        root = self.state.root
        if root is None:
            return False
        self._counter += 1
        body = {
            "model": self.config.model_name.split("@", 1)[0],
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": f"simulated request {self._counter} from the cocoon-dev proxy"},
            ],
            "max_tokens": self.settings.max_tokens,
            "reasoning_effort": "low",
        }
        raw = json.dumps(body).encode()
        self.stats.add("queries", 1)
        self.stats.add("bytes_received", len(raw))
        self.state.active_requests += 1
        started = time.monotonic()
        try:
            async with self._session.post(
                f"{self.forward_url}/v1/chat/completions",
                data=raw,
                headers={"Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=60),
            ) as resp:
                answer = await resp.read()
                if resp.status != 200:
                    raise ValueError(f"HTTP {resp.status}")
                usage = Usage.from_openai(json.loads(answer).get("usage") or {})
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self.stats.add("failed", 1)
            self.stats.add("time", time.monotonic() - started)
            self.state.last_error = f"request: {exc}"
            return False
        finally:
            self.state.active_requests -= 1
        used = adjust(usage, root.multipliers, self.coefficient)
        self.stats.add("success", 1)
        self.stats.add("bytes_sent", len(answer))
        self.stats.add("time", time.monotonic() - started)
        self.stats.add("total_adjusted_tokens_used", used.total)
        self.stats.add("prompt_adjusted_tokens_used", used.prompt)
        self.stats.add("cached_adjusted_tokens_used", used.cached)
        self.stats.add("completion_adjusted_tokens_used", used.completion)
        self.stats.add("reasoning_adjusted_tokens_used", used.reasoning)
        # The proxy credits the owner with the total (§8.1), shared by the owner's instances (§2.4).
        entry.max_known = self.proxy_db.credit(
            entry.identity.proxy_sc_address, self.config.owner_address, used.total
        )
        return True

    async def _commit_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_commit.wait(), self.settings.commit_interval_s)
            self._wake_commit.clear()
            await self.commit_now()

    async def commit_now(self) -> None:
        """The proxy saves to its DB, commits on chain and pushes a cumulative voucher (§8.1, §8.2)."""
        for entry in list(self.state.proxies.values()):
            if entry.closed:
                continue
            entry.max_known = self.proxy_db.total(entry.identity.proxy_sc_address, self.config.owner_address)
            entry.committed_to_db = entry.max_known
            tokens = entry.committed_to_db
            if tokens > entry.committed_to_blockchain or (entry.voucher is None and tokens > 0):
                try:
                    voucher = await self.chain.sign_voucher(entry.identity, tokens)
                except Exception as exc:
                    self.state.last_error = f"voucher: {exc}"
                    continue
                entry.voucher = voucher
                entry.committed_to_blockchain = tokens
