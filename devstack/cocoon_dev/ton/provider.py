"""`LocalChain` as a pytoniq provider: the LiteClient methods that wallets and contracts call
(`provider=chain`), answered from the chain's state in process."""

from __future__ import annotations

from typing import Any, Protocol

from pytoniq.liteclient.client import RunGetMethodError
from pytoniq_core.boc.address import Address
from pytoniq_core.tl.block import BlockIdExt
from pytoniq_core.tlb.account import Account, ShardAccount, SimpleAccount
from pytoniq_core.tlb.transaction import Transaction

from cocoon_dev.ton.records import (
    GetMethodResult,
    MessageResult,
    ParsedAccount,
    TxRecord,
    raw_address,
    synthetic_hash,
)


class Chain(Protocol):
    """What the provider methods use of LocalChain."""

    seqno: int

    @property
    def last_mc_block(self) -> BlockIdExt: ...
    def shard_block_id(self, seqno: int | None = None) -> BlockIdExt: ...
    def _parsed_account(self, key: str) -> ParsedAccount | None: ...
    def get_method(
        self, address: Address | str, method: str | int, stack: list[Any] | None = None
    ) -> GetMethodResult: ...
    async def send_message(self, boc: bytes, *, received_at: float | None = None) -> MessageResult: ...
    def transactions(self, address: Address | str, limit: int | None = None) -> list[TxRecord]: ...
    def transactions_from(
        self, address: Address | str, lt: int, tx_hash: bytes, count: int
    ) -> list[TxRecord]: ...
    async def raw_get_account_state(
        self, address: Address | str, block: BlockIdExt | None = None
    ) -> tuple[Account | None, ShardAccount | None]: ...
    async def raw_get_transactions(
        self, address: Address | str, count: int, from_lt: int | None = None, from_hash: bytes | None = None
    ) -> tuple[list[Transaction], list[BlockIdExt]]: ...


class ProviderSurface:
    """Mixed into LocalChain (duck-typed like pytoniq's LiteClient)."""

    async def raw_get_account_state(
        self: Chain, address: Address | str, block: BlockIdExt | None = None
    ) -> tuple[Account | None, ShardAccount | None]:
        """Like `LiteClient.raw_get_account_state`: (None, None) for an account that does not exist."""
        parsed = self._parsed_account(raw_address(address))
        if parsed is None or parsed.shard_account.account is None:
            return None, None
        return parsed.shard_account.account, parsed.shard_account

    async def get_account_state(self: Chain, address: Address | str) -> SimpleAccount:
        addr = Address(address) if isinstance(address, str) else address
        account, _ = await self.raw_get_account_state(addr)
        simple: SimpleAccount = SimpleAccount.from_raw(account, addr)  # type: ignore[arg-type]  # None is handled
        return simple

    async def run_get_method(
        self: Chain,
        address: Address | str,
        method: str | int,
        stack: list[Any],
        block: BlockIdExt | None = None,
    ) -> list[Any]:
        """Like `LiteClient.run_get_method`: the result stack, `RunGetMethodError` on a non-zero exit."""
        result = self.get_method(address, method, stack)
        if result.exit_code != 0:
            raise RunGetMethodError(address=address, method=method, exit_code=result.exit_code)
        return result.stack

    async def raw_send_message(self: Chain, message: bytes) -> int:
        """Like `LiteClient.raw_send_message`: 1 on acceptance, `ExternalNotAccepted` otherwise."""
        await self.send_message(message)
        return 1

    async def raw_get_transactions(
        self: Chain,
        address: Address | str,
        count: int,
        from_lt: int | None = None,
        from_hash: bytes | None = None,
    ) -> tuple[list[Transaction], list[BlockIdExt]]:
        if not from_lt or not from_hash:
            txs = self.transactions(address, count)
        else:
            txs = self.transactions_from(address, from_lt, from_hash, count)
        return [t.transaction for t in txs], [self.shard_block_id(t.seqno) for t in txs]

    async def get_transactions(
        self: Chain,
        address: Address | str,
        count: int,
        from_lt: int | None = None,
        from_hash: bytes | None = None,
        to_lt: int = 0,
    ) -> list[Transaction]:
        """Like `LiteClient.get_transactions`: newest first, down to (excluding) `to_lt`."""
        txs, _ = await self.raw_get_transactions(address, count, from_lt, from_hash)
        return [t for t in txs if t.lt > to_lt]

    async def get_masterchain_info(self: Chain) -> dict[str, Any]:
        return {
            "last": self.last_mc_block.to_dict(),
            "state_root_hash": synthetic_hash("state", self.seqno).hex(),
        }
