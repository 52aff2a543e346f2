"""What tests do to a `LocalChain`'s message delivery: hold internal messages to an address back for
blocks (a top-up or payout in flight, another shard, a slow validator), and trace an account's balance
after each of its transactions (the chaos test judges every top-up by the balance it arrived at)."""

from __future__ import annotations

from pytoniq_core.boc.address import Address

from cocoon_dev.ton.records import LocalChainError, raw_address


class DeliveryControls:
    """Mixed into `LocalChain`, which owns the state below and applies it when it runs messages."""

    _holds: dict[str, int]  # address -> blocks its internal messages are held back
    _traced: dict[str, list[tuple[int, int]]]  # address -> (lt, balance after) per transaction
    _in_flight: list[tuple[int, str, str]]  # (due seqno, destination, message) held back

    def hold(self, address: Address | str, blocks: int) -> None:
        """Deliver internal messages to `address` `blocks` blocks after they were sent (0: at once)."""
        if blocks < 0:
            raise LocalChainError(f"hold: blocks must be >= 0, got {blocks}")
        key = raw_address(address)
        if blocks:
            self._holds[key] = blocks
        else:
            self._holds.pop(key, None)

    def trace_balances(self, address: Address | str) -> None:
        """Record the account's balance after each of its transactions from now on (the chaos test
        judges every top-up by the balance it arrived at)."""
        self._traced.setdefault(raw_address(address), [])

    def balance_trace(self, address: Address | str) -> list[tuple[int, int]]:
        """(lt, balance after) of each transaction since `trace_balances`, oldest first."""
        return list(self._traced.get(raw_address(address), []))

    @property
    def in_flight(self) -> int:
        """Internal messages sent but not delivered yet (held back)."""
        return len(self._in_flight)
