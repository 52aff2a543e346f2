"""The treasury's spending policy: what the treasury's owner allows, not what a CocoonNode asks for.

A CocoonNode's author writes `spec.wallet.target`; whoever may edit CocoonNodes must not be able to
decide what the treasury pays. So the limits live on the treasury Secret itself, as annotations only
its owner can set (CocoonNode authors get the chart's `edit` role, which grants no Secrets):

| annotation (`cocoon.tonops.dev/…`) | meaning | default |
|---|---|---|
| `max-top-up` | the most one top-up may send, TON | 10 |
| `max-per-day` | the most the treasury sends in any 24 hours (chain time), TON | 100 |
| `fund-paused` | whether paused CocoonNodes may be topped up | false |
| `allowed-owners` | comma-separated owner addresses it may fund (empty: any) | empty |

The day's spending is read from the chain (everything the treasury sent in the last 24 hours, by the
operator or anyone else), so it survives restarts and counts every node sharing the treasury. A
refusal is `WalletFunded=False`, reason `TreasuryPolicy`, naming what was asked and what the policy
allows (docs/money.md §1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

from cocoon_operator.api import identity
from cocoon_operator.api.units import nano_to_ton, ton_to_nano
from cocoon_operator.ton.addresses import raw_address
from cocoon_operator.ton.client import ChainClient

PREFIX: Final = f"{identity.GROUP}/"
TON: Final = 1_000_000_000
DEFAULT_MAX_TOP_UP_NANO: Final = 10 * TON
DEFAULT_MAX_PER_DAY_NANO: Final = 100 * TON
DAY_S: Final = 86_400
# Transactions scanned to add up a day's spending; a treasury busier than this is refused (the sum
# could not be proven) rather than trusted.
SPEND_SCAN_LIMIT: Final = 2048


class PolicyError(ValueError):
    """An annotation of the treasury Secret does not parse (names the annotation, not a key)."""


@dataclass(frozen=True)
class TreasuryPolicy:
    max_top_up_nano: int = DEFAULT_MAX_TOP_UP_NANO
    max_per_day_nano: int = DEFAULT_MAX_PER_DAY_NANO
    fund_paused: bool = False
    allowed_owners: frozenset[str] = frozenset()  # raw addresses; empty: any owner

    @classmethod
    def from_annotations(cls, annotations: Mapping[str, str] | None) -> TreasuryPolicy:
        notes = annotations or {}

        def ton(name: str, default: int) -> int:
            text = notes.get(PREFIX + name)
            if text is None:
                return default
            try:
                Decimal(text)
                value = ton_to_nano(text.strip())
            except (InvalidOperation, ValueError):
                raise PolicyError(
                    f"treasury Secret annotation {PREFIX}{name}: {text!r} is not a TON amount"
                ) from None
            return value

        paused = (notes.get(PREFIX + "fund-paused") or "false").strip().lower()
        if paused not in ("true", "false"):
            raise PolicyError(f"treasury Secret annotation {PREFIX}fund-paused: must be true or false")
        owners = set()
        for text in (notes.get(PREFIX + "allowed-owners") or "").split(","):
            if text.strip():
                try:
                    owners.add(raw_address(text.strip()))
                except Exception:
                    what = f"treasury Secret annotation {PREFIX}allowed-owners"
                    raise PolicyError(f"{what}: {text.strip()!r} is not an address") from None
        return cls(
            max_top_up_nano=ton("max-top-up", DEFAULT_MAX_TOP_UP_NANO),
            max_per_day_nano=ton("max-per-day", DEFAULT_MAX_PER_DAY_NANO),
            fund_paused=paused == "true",
            allowed_owners=frozenset(owners),
        )

    def may_fund(self, *, owner: str, paused: bool) -> str | None:
        """Why this node may not be funded at all (None: it may)."""
        if paused and not self.fund_paused:
            return (
                "the CocoonNode is paused and the treasury's policy does not fund paused nodes "
                f"({PREFIX}fund-paused is not true)"
            )
        if self.allowed_owners and raw_address(owner) not in self.allowed_owners:
            return f"owner {owner} is not among the owners the treasury may fund ({PREFIX}allowed-owners)"
        return None

    def refuse(self, amount_nano: int, spent_today_nano: int) -> str | None:
        """Why a top-up of `amount_nano` may not be sent (None: it may)."""
        if amount_nano > self.max_top_up_nano:
            return (
                f"asked {nano_to_ton(amount_nano)} TON; the treasury's policy allows at most "
                f"{nano_to_ton(self.max_top_up_nano)} TON per top-up ({PREFIX}max-top-up)"
            )
        left = self.max_per_day_nano - spent_today_nano
        if amount_nano > left:
            return (
                f"asked {nano_to_ton(amount_nano)} TON; the treasury sent "
                f"{nano_to_ton(spent_today_nano)} TON in the last 24 hours and its policy allows "
                f"{nano_to_ton(self.max_per_day_nano)} TON a day "
                f"({nano_to_ton(max(left, 0))} TON left; {PREFIX}max-per-day)"
            )
        return None


async def spent_last_day(client: ChainClient, treasury: str, now: int) -> int | None:
    """nanoTON the treasury sent in the 24 hours before `now` (chain time), from its transactions;
    None when they could not all be read within `SPEND_SCAN_LIMIT` (then nothing is sent)."""
    total, scanned, start = 0, 0, None
    while scanned < SPEND_SCAN_LIMIT:
        page = await client.transactions(treasury, start=start, limit=256)
        for tx in page.transactions:
            if tx.utime <= now - DAY_S:
                return total
            if not tx.aborted:
                total += sum(out.value for out in tx.out_msgs if not out.external)
        scanned += len(page.transactions)
        if page.complete or page.resume is None:
            return total
        start = page.resume
    return None
