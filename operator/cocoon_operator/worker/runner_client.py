"""HTTP client for the COCOON worker runner's API (cocoon-protocol.md §4): `/jsonstats` and
`/request/payout`.

The runner's JSON has quirks the parser tolerates: a key emitted twice
(`cached_tokens_price_multiplier`), strings written without JSON escaping, and fields that are
absent until the runner has initialised them. Query strings are not percent-decoded by the runner,
so values are passed verbatim.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any, Final

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from yarl import URL

from cocoon_operator.worker.session import IDENTITY, PodSession, ResponseTooLarge, read_text

# The most `proxies[]` entries the operator takes from one runner: every entry costs chain reads (its
# worker contract, payouts) and status space (status.workerContracts holds 64). A root lists a handful
# of proxies; a runner reporting more is broken or hostile.
MAX_RUNNER_PROXIES: Final = 32


class RunnerUnavailable(ConnectionError):
    """The runner did not answer (connection refused, timeout, non-200)."""


class RunnerProtocolError(ValueError):
    """The runner answered something this client cannot parse."""


class RunnerResponseTooLarge(RunnerProtocolError):
    """The runner answered more than the operator reads: a body over the cap, or too many proxies."""


class _Lenient(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class RunnerStatusBlock(_Lenient):
    wallet_balance: int | None = None  # absent until the wallet object exists
    actual_image_hash: bool | None = None
    actual_model: bool | None = None
    ton_last_synced_at: int | None = None
    enabled: bool | None = None  # quirk: always true; the real state is only in the HTML
    git_commit: str | None = None
    git_commit_data: str | None = None


class RunnerWallet(_Lenient):
    address: str
    balance: int
    seqno: int
    pending_transactions_cnt: int = 0
    active_transactions_cnt: int = 0


class RunnerLocalConfig(_Lenient):
    root_address: str | None = None
    owner_address: str | None = None
    model: str | None = None
    coefficient: int | None = None
    check_proxy_hash: bool | None = None


class RunnerRegisteredProxy(_Lenient):
    seqno: int
    address_for_clients: str | None = None
    address_for_workers: str | None = None


class RunnerRootConfig(_Lenient):
    owner_address: str | None = None
    proxy_hashes: tuple[str, ...] = ()
    registered_proxies: tuple[RunnerRegisteredProxy, ...] = ()
    last_proxy_seqno: int | None = None
    worker_hashes: tuple[str, ...] = ()
    model_hashes: tuple[str, ...] = ()
    version: int | None = None
    struct_version: int | None = None
    params_version: int | None = None
    unique_id: int | None = None
    is_test: bool | None = None
    price_per_token: int | None = None
    worker_fee_per_token: int | None = None
    prompt_tokens_price_multiplier: int | None = None
    cached_tokens_price_multiplier: int | None = None
    completion_tokens_price_multiplier: int | None = None
    reasoning_tokens_price_multiplier: int | None = None
    proxy_delay_before_close: int | None = None
    client_delay_before_close: int | None = None
    proxy_min_stake: int | None = None
    client_min_stake: int | None = None
    proxy_code_hash: str | None = None
    worker_code_hash: str | None = None
    client_code_hash: str | None = None


class RunnerProxy(_Lenient):
    """One `proxies[]` entry: this worker's standing with one proxy contract."""

    sc_inited: bool = False
    proxy_sc_address: str
    proxy_public_key: str | None = None
    sc_address: str | None = None  # this worker's worker contract for that proxy
    earned_tokens_committed_to_blockchain: int = 0
    earned_tokens_committed_to_proxy_db: int = 0
    earned_tokens_max_known: int = 0
    cached_out_tokens: int = 0  # "cached" is the runner's typo for "cashed"
    expected_cached_out_tokens: int = 0
    running_request: bool = False
    params_version: int | None = None

    @property
    def uncommitted_tokens(self) -> int:
        return max(0, self.earned_tokens_max_known - self.earned_tokens_committed_to_blockchain)


class RunnerStats(_Lenient):
    status: RunnerStatusBlock = Field(default_factory=RunnerStatusBlock)
    stats: dict[str, tuple[float, ...]] = Field(default_factory=dict)
    wallet: RunnerWallet | None = None
    localconfig: RunnerLocalConfig = Field(default_factory=RunnerLocalConfig)
    root_contract_config: RunnerRootConfig | None = None
    proxies: tuple[RunnerProxy, ...] = ()

    def rate(self, counter: str, window: int = 5) -> float | None:
        """`stats.<counter>[window]`: 0 total, 1..6 = 1s, 10s, 1m, 10m, 1h, 1d rates."""
        values = self.stats.get(counter)
        return values[window] if values is not None and len(values) > window else None


class PayoutAnswer(StrEnum):
    """`/request/payout` answers, checked by the runner in this order (§4.4)."""

    SENT = "request sent"
    PROXY_NOT_FOUND = "proxy not found"
    ALREADY_RUNNING = "request is already running"
    NOT_INITED = "proxy is not inited"
    CLOSED = "proxy is closed"
    UNKNOWN = "unknown answer"


# ------------------------------------------------------------------------------------------------
# Parsing


_BAD_ESCAPE = re.compile(r'\\(?!["\\/bfnrtu])')


def _pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
    # Duplicated keys (the runner emits one twice): the first value wins, like a streaming reader.
    result: dict[str, Any] = {}
    for key, value in items:
        result.setdefault(key, value)
    return result


def parse_jsonstats(text: str) -> RunnerStats:
    """Parse `/jsonstats`, tolerating the runner's unescaped strings and duplicated key."""
    try:
        data = json.loads(text, object_pairs_hook=_pairs, strict=False)
    except json.JSONDecodeError:
        # Strings are written raw: a lone backslash becomes an invalid escape; double it and retry.
        try:
            data = json.loads(_BAD_ESCAPE.sub(r"\\\\", text), object_pairs_hook=_pairs, strict=False)
        except json.JSONDecodeError as exc:
            raise RunnerProtocolError(f"/jsonstats is not JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(data, dict):
        raise RunnerProtocolError("/jsonstats is not a JSON object")
    proxies = data.get("proxies")
    if isinstance(proxies, list) and len(proxies) > MAX_RUNNER_PROXIES:
        raise RunnerResponseTooLarge(
            f"{len(proxies)} proxies in /jsonstats (the operator reads at most {MAX_RUNNER_PROXIES})"
        )
    try:
        return RunnerStats.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RunnerProtocolError(f"/jsonstats field {where}: {first['msg']}") from exc


_TAGS = re.compile(r"<[^>]*>")


def parse_control_answer(page: str) -> str:
    """The text of a control page: everything before the first `<br/>`, tags stripped."""
    head = re.split(r"<br\s*/?>", page, maxsplit=1, flags=re.IGNORECASE)[0]
    return _TAGS.sub("", head).strip()


def parse_payout_answer(page: str) -> PayoutAnswer:
    text = parse_control_answer(page)
    try:
        return PayoutAnswer(text)
    except ValueError:
        return PayoutAnswer.UNKNOWN


# ------------------------------------------------------------------------------------------------
# Client


class RunnerClient(PodSession):
    """One runner, at `base_url` such as `http://10.0.0.5:12000` (port 12000 + 10·instance)."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 5.0,
        access_hash: str | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._access_hash = access_hash
        super().__init__(session)

    def _url(self, path: str, args: dict[str, str] | None = None) -> URL:
        items = dict(args or {})
        if self._access_hash:
            items["access_hash"] = self._access_hash
        query = "&".join(f"{k}={v}" for k, v in items.items())
        # encoded=True: the runner does not percent-decode, so the value must reach it verbatim.
        return URL(f"{self._base}{path}" + (f"?{query}" if query else ""), encoded=True)

    async def _get(self, path: str, args: dict[str, str] | None = None) -> str:
        session = self._http()
        url = self._url(path, args)
        try:
            async with session.get(
                url, timeout=self._timeout, headers=IDENTITY, auto_decompress=False
            ) as response:
                body = await read_text(response)
                if response.status != 200:
                    raise RunnerUnavailable(f"Runner {self._base}{path} answered HTTP {response.status}")
                return body
        except ResponseTooLarge as exc:
            raise RunnerResponseTooLarge(f"Runner {self._base}{path} answered {exc}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RunnerUnavailable(
                f"Runner {self._base}{path} is unreachable: {type(exc).__name__}"
            ) from exc

    async def jsonstats(self) -> RunnerStats:
        return parse_jsonstats(await self._get("/jsonstats"))

    async def request_payout(self, proxy_sc_address: str) -> PayoutAnswer:
        """Queue a worker-initiated claim for one proxy contract. Pass the address as `/jsonstats`
        shows it. Callers must check claimable > 0 first: the runner does not (§4.4)."""
        if not proxy_sc_address or any(c in proxy_sc_address for c in "&=?# /"):
            raise ValueError(f"proxy address {proxy_sc_address!r} cannot be passed verbatim in a query")
        return parse_payout_answer(await self._get("/request/payout", {"proxy": proxy_sc_address}))
