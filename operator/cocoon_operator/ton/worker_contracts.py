"""Worker and proxy contracts as the operator reads them: expected addresses, the worker getter,
registration checks and params_version rollovers (cocoon-protocol.md §7, §9, §16).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

from pytoniq_core.boc.address import Address
from pytoniq_core.boc.cell import Cell
from pytoniq_core.boc.slice import Slice

from cocoon_operator.ton.addresses import raw_address, worker_contract_address
from cocoon_operator.ton.cells import LayoutError
from cocoon_operator.ton.client import AccountState, ChainClient, ChainError, GetMethodFailed
from cocoon_operator.ton.codes import official_contract
from cocoon_operator.ton.ops import WorkerState
from cocoon_operator.ton.storage import Params, ParamsView, ProxyStorage, WorkerStorage

T = TypeVar("T")


class ContractUnreadable(ChainError):
    """A contract is missing or its data does not match the COCOON layout."""


@dataclass(frozen=True)
class ProxyContractInfo(ParamsView):
    address: str  # raw
    owner_address: str
    proxy_public_key: bytes
    root_address: str
    state: int  # 0 normal, 1 closing, 2 closed
    balance: int
    stake: int
    unlock_ts: int
    params: Params  # carries worker_sc_code: the code the proxy authenticates workers with


@dataclass(frozen=True)
class WorkerContractData:
    """`get_cocoon_worker_data()` → (owner, proxy, proxy_public_key, state, tokens) (§7.3)."""

    address: str
    owner_address: str
    proxy_address: str
    proxy_public_key: bytes
    state: int
    tokens: int


@dataclass(frozen=True)
class WorkerContractState(ParamsView):
    """Getter plus the params stored in the worker's data (its params_version and fee)."""

    data: WorkerContractData
    params: Params
    active: bool
    balance: int

    @property
    def fee_per_token(self) -> int:
        return self.worker_fee_per_token


async def _stored(
    client: ChainClient, address: Address | str, what: str, parse: Callable[[Cell], T]
) -> tuple[AccountState, T]:
    """The account and its parsed data; ContractUnreadable when it is not deployed or does not parse."""
    state = await client.account_state(address)
    if not state.is_active or state.data is None:
        raise ContractUnreadable(f"{what} {state.address} is not deployed (account is {state.status})")
    try:
        return state, parse(state.data)
    except (LayoutError, ValueError) as exc:
        raise ContractUnreadable(f"{what} {state.address} data does not parse: {exc}") from exc


async def read_proxy_contract(client: ChainClient, proxy_contract: Address | str) -> ProxyContractInfo:
    return _proxy_info(*await _stored(client, proxy_contract, "Proxy contract", ProxyStorage.from_cell))


def _proxy_info(state: AccountState, storage: ProxyStorage) -> ProxyContractInfo:
    return ProxyContractInfo(
        address=state.address,
        owner_address=raw_address(storage.owner_address),
        proxy_public_key=storage.proxy_public_key,
        root_address=raw_address(storage.root_address),
        state=storage.state,
        balance=storage.balance,
        stake=storage.stake,
        unlock_ts=storage.unlock_ts,
        params=storage.params,
    )


def expected_worker_contract(owner: Address | str, proxy: ProxyContractInfo) -> str:
    """The worker contract of (owner, proxy contract), exactly as the proxy recomputes it (§7.2, §9.3):
    the proxy's own params and its stored worker code."""
    owner_addr = owner if isinstance(owner, Address) else Address(owner)
    address = worker_contract_address(
        owner_addr,
        Address(proxy.address),
        proxy.proxy_public_key,
        proxy.params,
        worker_code=proxy.params.worker_sc_code,
    )
    return raw_address(address)


def _stack_address(item: Any, what: str) -> str:
    if isinstance(item, Slice):
        addr = item.load_address()
        if isinstance(addr, Address):
            return raw_address(addr)
    raise ContractUnreadable(f"get_cocoon_worker_data: {what} is not an address")


async def read_worker_data(client: ChainClient, worker_contract: Address | str) -> WorkerContractData:
    """Run `get_cocoon_worker_data`. Raises ContractUnreadable when the contract is not deployed."""
    raw = raw_address(worker_contract)
    try:
        stack = await client.run_get_method(worker_contract, "get_cocoon_worker_data")
    except GetMethodFailed as exc:
        raise ContractUnreadable(
            f"Worker contract {raw} has no readable state (exit {exc.exit_code})"
        ) from exc
    if len(stack) != 5:
        raise ContractUnreadable(f"get_cocoon_worker_data on {raw} returned {len(stack)} values, expected 5")
    owner, proxy, key, state, tokens = stack
    return WorkerContractData(
        address=raw,
        owner_address=_stack_address(owner, "owner_address"),
        proxy_address=_stack_address(proxy, "proxy_address"),
        proxy_public_key=int(key).to_bytes(32, "big"),
        state=int(state),
        tokens=int(tokens),
    )


def worker_data_of(address: str, storage: WorkerStorage) -> WorkerContractData:
    """What `get_cocoon_worker_data` answers, from the stored data: the official getter returns the
    first five fields of `load_data()` as they are (cocoon_worker.fc), so the parse and the getter
    agree by construction (`tests/chain` runs both on the official code and compares)."""
    return WorkerContractData(
        address=raw_address(address),
        owner_address=raw_address(storage.owner_address),
        proxy_address=raw_address(storage.proxy_address),
        proxy_public_key=storage.proxy_public_key,
        state=storage.state,
        tokens=storage.tokens,
    )


async def read_worker_contract(client: ChainClient, worker_contract: Address | str) -> WorkerContractState:
    """The worker contract's data (the getter's fields and the stored params: fee and params_version)
    from one account-state read; running the getter as well would cost a second query for the same
    fields (issue 20: a claim cycle reads this contract on every fresh look)."""
    account, storage = await _stored(client, worker_contract, "Worker contract", WorkerStorage.from_cell)
    data = worker_data_of(account.address, storage)
    return WorkerContractState(data=data, params=storage.params, active=True, balance=account.balance)


# --------------------------------------------------------------------------------------------------
# Registration


class RegistrationReason(StrEnum):
    REGISTERED = "Registered"
    ADDRESS_MISMATCH = "WorkerContractAddressMismatch"
    NOT_DEPLOYED = "WorkerContractNotDeployed"
    OWNER_MISMATCH = "WorkerContractOwnerMismatch"
    PROXY_MISMATCH = "WorkerContractProxyMismatch"
    CLOSED = "WorkerContractClosed"
    PROXY_UNREADABLE = "ProxyContractUnreadable"


@dataclass(frozen=True)
class RegistrationCheck:
    proxy_contract: str
    expected_worker_contract: str | None
    reported_worker_contract: str | None
    reason: RegistrationReason
    message: str
    worker: WorkerContractState | None = None
    problems: tuple[RegistrationReason, ...] = field(default=())

    @property
    def registered(self) -> bool:
        return self.reason is RegistrationReason.REGISTERED


# (owner, proxy contract) -> the worker contract the proxy computes for that owner. It depends only
# on the proxy's owner, key, root and params, which the official proxy code writes back as it loaded
# them (and it has no set_code): what every claim changes in a proxy (balance) is not among them. So
# an official proxy is read once per owner, not after each of its claims (issue 20); a proxy running
# other code could rewrite them and is read every time. Bounded; oldest first out.
_EXPECTED: dict[tuple[str, str], str] = {}
_EXPECTED_MAX = 4096


async def _expected_for(client: ChainClient, owner: Address | str, proxy_contract: Address | str) -> str:
    key = (raw_address(owner), raw_address(proxy_contract))
    known = _EXPECTED.get(key)
    if known is not None:
        return known
    state, storage = await _stored(client, proxy_contract, "Proxy contract", ProxyStorage.from_cell)
    known = expected_worker_contract(owner, _proxy_info(state, storage))
    if state.code is not None and official_contract(state.code.hash) == "cocoon_proxy":
        if len(_EXPECTED) >= _EXPECTED_MAX:
            del _EXPECTED[next(iter(_EXPECTED))]
        _EXPECTED[key] = known
    return known


async def check_registration(
    client: ChainClient,
    *,
    owner: Address | str,
    proxy_contract: Address | str,
    reported_worker_contract: Address | str | None,
) -> RegistrationCheck:
    """The runner's worker contract for a proxy is ours and live: the address the runner reports
    equals the computed one, the contract is active, its owner and proxy match, and state is 0."""
    proxy_raw = raw_address(proxy_contract)
    owner_raw = raw_address(owner)
    reported = raw_address(reported_worker_contract) if reported_worker_contract is not None else None
    try:
        expected = await _expected_for(client, owner, proxy_contract)
    except ContractUnreadable as exc:
        return RegistrationCheck(proxy_raw, None, reported, RegistrationReason.PROXY_UNREADABLE, str(exc))

    def result(
        reason: RegistrationReason, message: str, worker: WorkerContractState | None = None
    ) -> RegistrationCheck:
        return RegistrationCheck(proxy_raw, expected, reported, reason, message, worker, (reason,))

    if reported is not None and reported != expected:
        return result(
            RegistrationReason.ADDRESS_MISMATCH,
            f"Runner reports worker contract {reported} for proxy {proxy_raw}, expected {expected}",
        )
    try:
        worker = await read_worker_contract(client, expected)
    except ContractUnreadable as exc:
        return result(RegistrationReason.NOT_DEPLOYED, str(exc))
    if worker.data.owner_address != owner_raw:
        return result(
            RegistrationReason.OWNER_MISMATCH,
            f"Worker contract {expected} belongs to {worker.data.owner_address}, not {owner_raw}",
            worker,
        )
    if worker.data.proxy_address != proxy_raw:
        return result(
            RegistrationReason.PROXY_MISMATCH,
            f"Worker contract {expected} is bound to proxy {worker.data.proxy_address}, not {proxy_raw}",
            worker,
        )
    if worker.data.state != WorkerState.NORMAL:
        return result(
            RegistrationReason.CLOSED,
            f"Worker contract {expected} is closed (state {worker.data.state})",
            worker,
        )
    return result(
        RegistrationReason.REGISTERED,
        f"Worker contract {expected} is active for proxy {proxy_raw} "
        f"(params version {worker.params_version})",
        worker,
    )


def is_outdated(root_params_version: int, contract_params_version: int) -> bool:
    """A contract created under older root params is being closed (§8.5)."""
    return contract_params_version < root_params_version
