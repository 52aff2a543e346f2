"""Keep a node's cocoon wallet funded from the provider's treasury: once per shortfall, never twice.

The treasury is a standard wallet (V4R2 or V5R1) whose key comes from a Secret. A top-up is one
signed transfer (`money.transfer`), written down before it is sent and followed on chain until the
cocoon wallet shows it:

1. Write-ahead: the intent (treasury seqno it uses, `valid_until`, amount, where both accounts' chains
   stood) reaches the status (`money.records`) BEFORE the external is sent; a conflicting writer stops
   us there.
2. Re-sending the same (seqno, valid_until, transfer) is harmless: the signature is deterministic, the
   wallet applies one external per seqno. So a pending intent is re-sent, never re-signed anew.
3. With an intent open, the chain decides: PENDING → re-send; SENT → the money is in flight and counts
   toward the wallet's balance until the wallet shows the incoming transfer (SETTLED); DEAD (the seqno
   went elsewhere, or it expired) → the intent closes and a fresh decision may follow; UNKNOWN (a scan
   gap, liteservers disagreeing) → nothing new happens.
4. An intent from another treasury (the spec changed) is resolved first, with reads only; no new
   top-up while it is open. After a top-up settles, the next one waits at least `min_interval_s`,
   unless the band was raised since (a first registration's top-up, then the full target).

Money reads (wallet and treasury state, seqno, chain time) are cross-checked on two liteservers when
the config lists two. Results are typed (`FundingStatus`); an empty or missing treasury is a result,
not an exception. Keys never appear in logs, results or exception messages.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, TypeAlias

from nacl.bindings import crypto_sign_seed_keypair
from pydantic import BaseModel, ConfigDict, Field, SecretBytes
from pytoniq.contract.wallets.wallet import WalletV4R2
from pytoniq.contract.wallets.wallet_v5 import WalletV5R1
from pytoniq_core.boc.address import Address
from pytoniq_core.boc.cell import Cell
from pytoniq_core.crypto.keys import mnemonic_is_valid, mnemonic_to_private_key

from cocoon_operator.api.records import CamelModel
from cocoon_operator.money.records import MoneyRecord, RecordStore
from cocoon_operator.money.transfer import (
    Transfer,
    TransferProgress,
    TransferState,
    resolve,
    wallet_seqno,
)
from cocoon_operator.ton.addresses import raw_address
from cocoon_operator.ton.client import AccountState, ChainClient, ExternalRejected

log = logging.getLogger(__name__)

# Kept on the treasury on top of the transfer for its own fees.
TREASURY_FEE_RESERVE_NANO = 50_000_000
DEFAULT_MESSAGE_TTL_S = 300
DEFAULT_MIN_INTERVAL_S = 60
SEND_MODE_PAY_FEES_SEPARATELY_IGNORE_ERRORS = 3


class TreasuryKey(BaseModel):
    """Treasury wallet key material. `repr` and dumps never show the key."""

    model_config = ConfigDict(frozen=True)

    version: Literal["v4r2", "v5r1"] = "v4r2"
    private_key: SecretBytes  # 32-byte Ed25519 seed
    wallet_id: int | None = None
    network_global_id: int = -239  # V5R1 only; keep equal to config param 19

    @classmethod
    def from_secret_data(cls, data: Mapping[str, str | bytes], *, decoded: bool = True) -> TreasuryKey:
        """From a Secret's content: `mnemonic` (24 words) or `privateKey` (hex or base64 seed), plus
        optional `version` (v4r2|v5r1), `walletId`, `networkGlobalId`. With `decoded=False` the
        values are the Secret's base64 `data` fields. Errors name the field, never the value."""

        def text(key: str) -> str | None:
            value = data.get(key)
            if value is None:
                return None
            if not decoded:
                try:
                    value = base64.b64decode(value, validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise ValueError(f"treasury secret: field {key} is not base64") from exc
            return (value.decode() if isinstance(value, bytes) else value).strip()

        version = (text("version") or "v4r2").lower()
        if version not in ("v4r2", "v5r1"):
            raise ValueError("treasury secret: field version must be v4r2 or v5r1")
        mnemonic, key_text = text("mnemonic"), text("privateKey")
        if mnemonic:
            words = mnemonic.split()
            if not mnemonic_is_valid(words):
                raise ValueError("treasury secret: field mnemonic is not a valid TON mnemonic")
            _, private = mnemonic_to_private_key(words)
            seed = bytes(private[:32])
        elif key_text:
            try:
                seed = bytes.fromhex(key_text) if len(key_text) in (64, 128) else base64.b64decode(key_text)
            except (ValueError, binascii.Error) as exc:
                raise ValueError("treasury secret: field privateKey is neither hex nor base64") from exc
            seed = seed[:32] if len(seed) == 64 else seed
            if len(seed) != 32:
                raise ValueError("treasury secret: field privateKey must be a 32-byte Ed25519 seed")
        else:
            raise ValueError("treasury secret: needs field mnemonic or privateKey")
        wallet_id = text("walletId")
        global_id = text("networkGlobalId")
        try:
            return cls(
                version=version,
                private_key=SecretBytes(seed),
                wallet_id=int(wallet_id) if wallet_id else None,
                network_global_id=int(global_id) if global_id else -239,
            )
        except ValueError as exc:
            raise ValueError("treasury secret: walletId/networkGlobalId must be integers") from exc


class FundingIntent(CamelModel):
    """What is persisted before a top-up is sent (`status.funding.intent`)."""

    treasury: str  # raw address
    wallet: str  # raw address of the cocoon wallet
    treasury_seqno: int
    valid_until: int
    amount_nano: int = Field(gt=0)
    target_nano: int
    treasury_last_lt: int  # treasury transactions at or below this lt predate the intent
    created_at: int
    wallet_last_lt: int = 0  # wallet transactions at or below this lt predate the intent
    body_hash: str | None = None  # hex hash of the signed external body
    progress: TransferProgress | None = None

    def transfer(self) -> Transfer:
        return Transfer(
            source=self.treasury,
            dest=self.wallet,
            seqno=self.treasury_seqno,
            valid_until=self.valid_until,
            amount_nano=self.amount_nano,
            source_after_lt=self.treasury_last_lt,
            dest_after_lt=self.wallet_last_lt,
            body_hash=bytes.fromhex(self.body_hash) if self.body_hash else None,
        )


class FundingRecord(MoneyRecord):
    """The funding money records in `status.funding`: the open intent, and when the last top-up
    settled (chain time)."""

    intent: FundingIntent | None = None
    last_top_up_at: int | None = None
    last_top_up_target_nano: int | None = None  # what that top-up filled the wallet up to

    @classmethod
    def from_status(cls, funding: Mapping[str, Any] | None) -> FundingRecord:
        data = funding or {}
        return cls.model_validate({k: data.get(k) for k in ("intent", "lastTopUpAt", "lastTopUpTargetNano")})


FundingStore: TypeAlias = RecordStore[FundingRecord]


class FundingStatus(StrEnum):
    ABOVE_FLOOR = "WalletFunded"
    SENT = "TopUpSent"
    PENDING = "TopUpPending"
    SETTLING = "TopUpSettling"  # on chain from the treasury, not yet at the wallet: counts as funded
    CONFIRMED = "TopUpConfirmed"
    UNRESOLVED = "TopUpUnresolved"  # a scan gap or disagreeing liteservers: nothing new until it clears
    TOO_SOON = "TopUpIntervalNotElapsed"
    POLICY_REFUSED = "TreasuryPolicy"  # the treasury's spending policy does not allow this top-up
    TREASURY_INSUFFICIENT = "TreasuryInsufficient"
    TREASURY_MISSING = "TreasuryNotDeployed"


@dataclass(frozen=True)
class FundingResult:
    status: FundingStatus
    message: str
    wallet: str
    wallet_balance: int
    treasury: str
    treasury_balance: int
    amount_nano: int = 0
    tx_hash: str | None = None
    in_flight_nano: int = 0  # sent from the treasury, not yet at the wallet
    floor_nano: int = 0

    @property
    def funded(self) -> bool:
        if self.status in (FundingStatus.ABOVE_FLOOR, FundingStatus.CONFIRMED):
            return True
        return (
            self.status is FundingStatus.SETTLING
            and self.wallet_balance + self.in_flight_nano >= self.floor_nano
        )


def _expanded_key(key: TreasuryKey) -> bytes:
    """pytoniq signs with libsodium's 64-byte secret key (seed + public key)."""
    _, secret = crypto_sign_seed_keypair(key.private_key.get_secret_value())
    return bytes(secret)


class _NoReads:
    """The provider pytoniq's wallet constructors get here. They read the account only to fill fields
    a Treasury never uses (it builds and signs messages); answering "no state" keeps that read off the
    chain. Every read the money path makes goes through ChainClient, counted and cross-checked; this
    one was an uncounted getAccountState on one peer per funding check."""

    async def raw_get_account_state(self, address: Any) -> tuple[None, None]:
        return None, None


class Treasury:
    """A treasury wallet bound to a chain client. Builds (and rebuilds, identically) transfers."""

    def __init__(self, client: ChainClient, key: TreasuryKey, wallet: Any) -> None:
        self._client = client
        self._key = key
        self._wallet = wallet
        self.address = raw_address(wallet.address)

    @classmethod
    async def open(cls, client: ChainClient, key: TreasuryKey) -> Treasury:
        seed = _expanded_key(key)
        backend: Any = _NoReads()  # stands in for pytoniq's LiteClient (one method of it)
        wallet: Any
        if key.version == "v5r1":
            v5: Any = WalletV5R1
            wallet = await v5.from_private_key(
                backend, seed, wallet_id=key.wallet_id, network_global_id=key.network_global_id
            )
        else:
            wallet = await WalletV4R2.from_private_key(backend, seed, wallet_id=key.wallet_id, version="v4r2")
        return cls(client, key, wallet)

    def _external(self, *, seqno: int, valid_until: int, destination: str, amount: int) -> tuple[bytes, Cell]:
        w = self._wallet
        message = w.create_wallet_internal_message(
            destination=Address(destination),
            send_mode=SEND_MODE_PAY_FEES_SEPARATELY_IGNORE_ERRORS,
            value=amount,
            bounce=False,
        )
        body: Cell = w.raw_create_transfer_msg(
            _expanded_key(self._key), seqno, w.wallet_id, [message], valid_until=valid_until
        )
        external = w.create_external_msg(dest=w.address, body=body)
        return bytes(external.serialize().to_boc()), body

    def transfer_boc(self, *, seqno: int, valid_until: int, destination: str, amount: int) -> bytes:
        """The signed external for one plain, non-bounceable transfer with an empty body (the
        cocoon wallet accepts empty bodies from anyone, §10.4). Deterministic for equal inputs."""
        return self._external(seqno=seqno, valid_until=valid_until, destination=destination, amount=amount)[0]

    def body_hash(self, *, seqno: int, valid_until: int, destination: str, amount: int) -> bytes:
        return self._external(seqno=seqno, valid_until=valid_until, destination=destination, amount=amount)[
            1
        ].hash


async def ensure_funded(
    client: ChainClient,
    treasury: Treasury,
    wallet: Address | str,
    *,
    floor_nano: int,
    target_nano: int,
    store: FundingStore,
    message_ttl_s: int = DEFAULT_MESSAGE_TTL_S,
    min_interval_s: int = DEFAULT_MIN_INTERVAL_S,
    confirm_wait_s: float = 0.0,
    approve: Callable[[int, int], Awaitable[str | None]] | None = None,
    exclusive: AbstractAsyncContextManager[Any] | None = None,
) -> FundingResult:
    """Top up `wallet` to `target_nano` when it is below `floor_nano`; at most once per shortfall.

    `approve(amount, now)` (the treasury's spending policy) may refuse a top-up with a reason before
    anything is written or sent. `exclusive` (the treasury's lock) is held from the treasury read to
    the send: two top-ups from one treasury at once would pick the same seqno. A wallet at or above its
    floor, or an open intent, is answered without it, so the funding checks of a fleet do not queue
    behind one another."""
    if not 0 < floor_nano <= target_nano:
        raise ValueError(f"funding: need 0 < floor ({floor_nano}) <= target ({target_nano}) nanoTON")
    wallet_raw = raw_address(wallet)
    record = await store.load()
    wallet_state = await client.checked_state(wallet_raw)

    def result(status: FundingStatus, message: str, **extra: Any) -> FundingResult:
        return FundingResult(
            status=status,
            message=message,
            wallet=wallet_raw,
            wallet_balance=wallet_state.balance,
            treasury=treasury.address,
            treasury_balance=extra.pop("treasury_balance", 0),
            floor_nano=floor_nano,
            **extra,
        )

    intent = record.intent
    if intent is not None:  # whatever treasury or wallet it names: resolved before anything new
        outcome = await _follow(client, treasury, intent, store, record, confirm_wait_s)
        if outcome is not None:
            status, message, tx = outcome
            wallet_state = await client.checked_state(wallet_raw)
            in_flight = intent.amount_nano if status is FundingStatus.SETTLING else 0
            return result(
                status, message, amount_nano=intent.amount_nano, tx_hash=tx, in_flight_nano=in_flight
            )
        record = await store.load()  # DEAD: closed; decide afresh below

    if wallet_state.balance >= floor_nano:
        return result(
            FundingStatus.ABOVE_FLOOR,
            f"Cocoon wallet {wallet_raw} holds {wallet_state.balance} nanoTON (floor {floor_nano})",
        )
    now = await client.checked_time()
    # The interval holds back the same shortfall coming back soon (a wallet that drains fast, a read
    # that lags); a raised band (the runner verified its wallet after a first registration's top-up, a
    # higher spec target) is a new need and is funded at once.
    raised = record.last_top_up_target_nano is not None and target_nano > record.last_top_up_target_nano
    if record.last_top_up_at is not None and not raised and now < record.last_top_up_at + min_interval_s:
        return result(
            FundingStatus.TOO_SOON,
            f"Cocoon wallet {wallet_raw} holds {wallet_state.balance} nanoTON (floor {floor_nano}); the last "
            f"top-up settled {now - record.last_top_up_at}s ago, the next waits {min_interval_s}s",
        )
    async with exclusive or contextlib.nullcontext():
        treasury_state = await client.checked_state(treasury.address)
        if not treasury_state.is_active:
            return result(
                FundingStatus.TREASURY_MISSING,
                f"Treasury {treasury.address} is not deployed (account is {treasury_state.status}); "
                f"cocoon wallet {wallet_raw} needs {target_nano - wallet_state.balance} nanoTON",
            )
        amount = target_nano - wallet_state.balance
        if treasury_state.balance < amount + TREASURY_FEE_RESERVE_NANO:
            return result(
                FundingStatus.TREASURY_INSUFFICIENT,
                f"Treasury {treasury.address} holds {treasury_state.balance} nanoTON, needs {amount} "
                f"(+{TREASURY_FEE_RESERVE_NANO} for fees) to top up cocoon wallet {wallet_raw}",
                amount_nano=amount,
                treasury_balance=treasury_state.balance,
            )
        if approve is not None:
            refusal = await approve(amount, now)
            if refusal is not None:
                return result(
                    FundingStatus.POLICY_REFUSED,
                    f"No top-up of cocoon wallet {wallet_raw}: {refusal}",
                    amount_nano=amount,
                    treasury_balance=treasury_state.balance,
                )
        seqno = wallet_seqno(treasury_state)
        valid_until = now + message_ttl_s
        intent = FundingIntent(
            treasury=treasury.address,
            wallet=wallet_raw,
            treasury_seqno=seqno,
            valid_until=valid_until,
            amount_nano=amount,
            target_nano=target_nano,
            treasury_last_lt=treasury_state.last_tx_lt,
            created_at=now,
            wallet_last_lt=wallet_state.last_tx_lt,
            body_hash=treasury.body_hash(
                seqno=seqno, valid_until=valid_until, destination=wallet_raw, amount=amount
            ).hex(),
        )
        record = record.model_copy(update={"intent": intent})
        await store.save(record)  # write-ahead: from here on the chain decides
        await _send(client, treasury, intent)
        outcome = await _follow(client, treasury, intent, store, record, confirm_wait_s, just_sent=True)
        status, message, tx = outcome or (FundingStatus.SENT, "", None)
        if status is FundingStatus.PENDING:
            status, message = (
                FundingStatus.SENT,
                (
                    f"Sent {amount} nanoTON from treasury {treasury.address} to cocoon wallet {wallet_raw} "
                    f"(treasury seqno {seqno})"
                ),
            )
    wallet_state = await client.checked_state(wallet_raw)
    in_flight = amount if status in (FundingStatus.SENT, FundingStatus.SETTLING) else 0
    return result(
        status,
        message,
        amount_nano=amount,
        tx_hash=tx,
        in_flight_nano=in_flight,
        treasury_balance=treasury_state.balance,
    )


async def _follow(
    client: ChainClient,
    treasury: Treasury,
    intent: FundingIntent,
    store: FundingStore,
    record: FundingRecord,
    wait_s: float,
    *,
    just_sent: bool = False,
) -> tuple[FundingStatus, str, str | None] | None:
    """Where an open intent stands; persists what the chain showed. None: it closed DEAD."""
    deadline = time.monotonic() + wait_s
    ours = intent.treasury == treasury.address  # an intent of an older treasury is resolved by reads only
    while True:
        res = await resolve(client, intent.transfer(), intent.progress, settle=True)
        if res.progress != intent.progress:
            intent = intent.model_copy(update={"progress": res.progress})
            record = record.model_copy(update={"intent": intent})
            await store.save(record)
        if res.state is TransferState.SETTLED:
            now = await client.checked_time()
            settled = {"intent": None, "last_top_up_at": now, "last_top_up_target_nano": intent.target_nano}
            await store.save(record.model_copy(update=settled))
            break
        if res.state is TransferState.DEAD:
            await store.save(record.model_copy(update={"intent": None}))
            log.info(
                "Funding intent (treasury %s seqno %d) closed: %s",
                intent.treasury,
                intent.treasury_seqno,
                res.detail,
            )
            return None
        if res.state is TransferState.PENDING and ours and not just_sent:
            await _send(client, treasury, intent)  # the identical message again: harmless
        if time.monotonic() >= deadline:
            break
        just_sent = True
        await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    status, template = _OUTCOMES[res.state]
    where = "" if ours else f" (treasury {intent.treasury}, before the spec changed)"
    # `tx_hash` is the treasury transaction that sent it: None until the chain shows one.
    return status, template.format(i=intent, res=res, where=where), res.tx_hash


# Where an intent that is still open (or has just settled) stands, by what the chain showed.
_OUTCOMES: dict[TransferState, tuple[FundingStatus, str]] = {
    TransferState.SETTLED: (
        FundingStatus.CONFIRMED,
        "Topped up cocoon wallet {i.wallet} with {i.amount_nano} nanoTON from treasury {i.treasury}",
    ),
    TransferState.SENT: (
        FundingStatus.SETTLING,
        "Top-up of {i.amount_nano} nanoTON from treasury {i.treasury} is on chain (transaction "
        "{res.tx_hash}) and on its way to cocoon wallet {i.wallet}",
    ),
    TransferState.UNKNOWN: (
        FundingStatus.UNRESOLVED,
        "Top-up of {i.amount_nano} nanoTON (treasury {i.treasury} seqno {i.treasury_seqno}) cannot be "
        "resolved yet ({res.detail}); nothing new is sent",
    ),
    TransferState.PENDING: (
        FundingStatus.PENDING,
        "Top-up of {i.amount_nano} nanoTON to {i.wallet} (treasury seqno {i.treasury_seqno}){where} is "
        "not on chain yet",
    ),
}


async def _send(client: ChainClient, treasury: Treasury, intent: FundingIntent) -> None:
    boc = treasury.transfer_boc(
        seqno=intent.treasury_seqno,
        valid_until=intent.valid_until,
        destination=intent.wallet,
        amount=intent.amount_nano,
    )
    try:
        await client.send_external(boc)
    except ExternalRejected as exc:
        # Already applied (seqno moved) or expired: the next resolve decides. Never re-sign anew here.
        log.info("Treasury external for seqno %d was refused: %s", intent.treasury_seqno, exc)


__all__ = [
    "AccountState",
    "FundingIntent",
    "FundingRecord",
    "FundingResult",
    "FundingStatus",
    "FundingStore",
    "Treasury",
    "TreasuryKey",
    "ensure_funded",
]
