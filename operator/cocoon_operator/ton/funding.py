"""Keep a node's cocoon wallet funded from the provider's treasury, exactly once per shortfall.

The treasury is a standard wallet (V4R2 or V5R1) whose key comes from a Secret. A top-up is
idempotent across operator restarts because of three facts:

1. The intent (treasury seqno used, valid_until, amount, target, the treasury's last lt) is saved in
   a durable store (later: the CocoonNode status) BEFORE the external message is sent.
2. A wallet applies at most one external per seqno, and none after `valid_until`. Re-sending the
   same (seqno, valid_until, transfer) is therefore harmless: Ed25519 signatures are deterministic,
   so the rebuilt message is byte-identical and liteservers dedupe it.
3. On every call with an open intent, the chain decides: the treasury seqno advanced and an
   outgoing transfer to the wallet with that amount exists after the recorded lt → done; the seqno
   advanced without it (the seqno was used by someone else) or `valid_until` passed → our message
   can never apply, so the intent is dropped and a fresh one may be made.

Results are typed (`FundingStatus`); an empty or missing treasury is a result, not an exception.
Keys never appear in logs, results or exception messages.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, Literal, Protocol

from nacl.bindings import crypto_sign_seed_keypair
from pydantic import BaseModel, ConfigDict, Field, SecretBytes
from pydantic.alias_generators import to_camel
from pytoniq.contract.wallets.wallet import WalletV4R2
from pytoniq.contract.wallets.wallet_v5 import WalletV5R1
from pytoniq_core.boc.address import Address
from pytoniq_core.crypto.keys import mnemonic_is_valid, mnemonic_to_private_key

from cocoon_operator.ton.client import ChainClient, ExternalRejected, GetMethodFailed, raw_address

log = logging.getLogger(__name__)

# Kept on the treasury on top of the transfer for its own fees.
TREASURY_FEE_RESERVE_NANO = 50_000_000
DEFAULT_MESSAGE_TTL_S = 300
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


class FundingIntent(BaseModel):
    """What is persisted before a top-up is sent (JSON, camelCase: goes into the CocoonNode status)."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)

    treasury: str  # raw address
    wallet: str  # raw address of the cocoon wallet
    treasury_seqno: int
    valid_until: int
    amount_nano: int = Field(gt=0)
    target_nano: int
    treasury_last_lt: int  # transactions at or below this lt predate the intent
    created_at: int


class IntentStore(Protocol):
    async def load(self) -> FundingIntent | None: ...

    async def save(self, intent: FundingIntent | None) -> None: ...


class FundingStatus(StrEnum):
    ABOVE_FLOOR = "WalletFunded"
    SENT = "TopUpSent"
    PENDING = "TopUpPending"
    CONFIRMED = "TopUpConfirmed"
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

    @property
    def funded(self) -> bool:
        return self.status in (FundingStatus.ABOVE_FLOOR, FundingStatus.CONFIRMED)


def _expanded_key(key: TreasuryKey) -> bytes:
    """pytoniq signs with libsodium's 64-byte secret key (seed + public key)."""
    _, secret = crypto_sign_seed_keypair(key.private_key.get_secret_value())
    return bytes(secret)


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
        backend = client.backend
        wallet: Any
        if key.version == "v5r1":
            v5: Any = WalletV5R1
            wallet = await v5.from_private_key(
                backend, seed, wallet_id=key.wallet_id, network_global_id=key.network_global_id
            )
        else:
            wallet = await WalletV4R2.from_private_key(backend, seed, wallet_id=key.wallet_id, version="v4r2")
        return cls(client, key, wallet)

    async def seqno(self) -> int:
        try:
            return int((await self._client.run_get_method(self.address, "seqno"))[0])
        except GetMethodFailed:
            return 0

    def transfer_boc(self, *, seqno: int, valid_until: int, destination: str, amount: int) -> bytes:
        """The signed external for one plain, non-bounceable transfer with an empty body (the
        cocoon wallet accepts empty bodies from anyone, §10.4). Deterministic for equal inputs."""
        w = self._wallet
        message = w.create_wallet_internal_message(
            destination=Address(destination),
            send_mode=SEND_MODE_PAY_FEES_SEPARATELY_IGNORE_ERRORS,
            value=amount,
            bounce=False,
        )
        wallet_id = w.wallet_id
        body = w.raw_create_transfer_msg(
            _expanded_key(self._key), seqno, wallet_id, [message], valid_until=valid_until
        )
        external = w.create_external_msg(dest=w.address, body=body)
        return bytes(external.serialize().to_boc())


async def _chain_now(client: ChainClient) -> int:
    return await client.chain_time()


async def _find_transfer(client: ChainClient, intent: FundingIntent) -> str | None:
    """The treasury transaction (after the intent's lt) that sent `amount` to the wallet."""
    page = await client.transactions(intent.treasury, to_lt=intent.treasury_last_lt)
    for tx in page.transactions:
        if tx.aborted:
            continue
        for out in tx.out_msgs:
            if out.dest == intent.wallet and out.value == intent.amount_nano and not out.external:
                return tx.hash
    return None


async def ensure_funded(
    client: ChainClient,
    treasury: Treasury,
    wallet: Address | str,
    *,
    floor_nano: int,
    target_nano: int,
    store: IntentStore,
    message_ttl_s: int = DEFAULT_MESSAGE_TTL_S,
    confirm_wait_s: float = 0.0,
) -> FundingResult:
    """Top up `wallet` to `target_nano` when it is below `floor_nano`; at most once per shortfall."""
    if not 0 < floor_nano <= target_nano:
        raise ValueError(f"funding: need 0 < floor ({floor_nano}) <= target ({target_nano}) nanoTON")
    wallet_raw = raw_address(wallet)
    intent = await store.load()
    if intent is not None and (intent.wallet != wallet_raw or intent.treasury != treasury.address):
        intent = None  # another wallet/treasury: not ours to resolve (a spec change)
        await store.save(None)

    wallet_state = await client.account_state(wallet_raw)
    treasury_state = await client.account_state(treasury.address)

    def result(
        status: FundingStatus, message: str, amount: int = 0, tx_hash: str | None = None
    ) -> FundingResult:
        return FundingResult(
            status=status,
            message=message,
            wallet=wallet_raw,
            wallet_balance=wallet_state.balance,
            treasury=treasury.address,
            treasury_balance=treasury_state.balance,
            amount_nano=amount,
            tx_hash=tx_hash,
        )

    if intent is not None:
        resolved = await _resolve_intent(client, treasury, intent, treasury_state.is_active)
        if isinstance(resolved, str):
            await store.save(None)
            wallet_state = await client.account_state(wallet_raw)
            return result(
                FundingStatus.CONFIRMED,
                f"Topped up cocoon wallet {wallet_raw} with {intent.amount_nano} nanoTON from treasury "
                f"{treasury.address}",
                intent.amount_nano,
                resolved,
            )
        if resolved is _Resolution.PENDING:
            await _send(client, treasury, intent)  # the identical message again: harmless
            outcome = await _maybe_confirm(client, treasury, intent, store, confirm_wait_s)
            if outcome is not None:
                wallet_state = await client.account_state(wallet_raw)
                return result(FundingStatus.CONFIRMED, outcome[0], intent.amount_nano, outcome[1])
            return result(
                FundingStatus.PENDING,
                f"Top-up of {intent.amount_nano} nanoTON to {wallet_raw} (treasury seqno "
                f"{intent.treasury_seqno}) is not on chain yet",
                intent.amount_nano,
            )
        await store.save(None)  # DEAD: it can never apply; decide afresh below
        intent = None

    if wallet_state.balance >= floor_nano:
        return result(
            FundingStatus.ABOVE_FLOOR,
            f"Cocoon wallet {wallet_raw} holds {wallet_state.balance} nanoTON (floor {floor_nano})",
        )
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
            amount,
        )
    seqno = await treasury.seqno()
    now = await _chain_now(client)
    intent = FundingIntent(
        treasury=treasury.address,
        wallet=wallet_raw,
        treasury_seqno=seqno,
        valid_until=now + message_ttl_s,
        amount_nano=amount,
        target_nano=target_nano,
        treasury_last_lt=treasury_state.last_tx_lt,
        created_at=now,
    )
    await store.save(intent)  # write-ahead: from here on the chain decides
    await _send(client, treasury, intent)
    outcome = await _maybe_confirm(client, treasury, intent, store, confirm_wait_s)
    if outcome is not None:
        wallet_state = await client.account_state(wallet_raw)
        return result(FundingStatus.CONFIRMED, outcome[0], amount, outcome[1])
    return result(
        FundingStatus.SENT,
        f"Sent {amount} nanoTON from treasury {treasury.address} to cocoon wallet {wallet_raw} "
        f"(treasury seqno {seqno})",
        amount,
    )


class _Resolution(Enum):  # not a str: results that are str are transaction hashes
    PENDING = "pending"  # seqno not advanced and still valid: may be (re)sent
    DEAD = "dead"  # can never apply


async def _resolve_intent(
    client: ChainClient, treasury: Treasury, intent: FundingIntent, treasury_active: bool
) -> str | _Resolution:
    """The transfer's tx hash if it happened, else whether the intent is still live."""
    seqno = await treasury.seqno() if treasury_active else 0
    if seqno > intent.treasury_seqno:
        found = await _find_transfer(client, intent)
        return found if found is not None else _Resolution.DEAD
    if await _chain_now(client) > intent.valid_until:
        return _Resolution.DEAD
    return _Resolution.PENDING


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


async def _maybe_confirm(
    client: ChainClient, treasury: Treasury, intent: FundingIntent, store: IntentStore, wait_s: float
) -> tuple[str, str] | None:
    deadline = time.monotonic() + wait_s
    while True:
        resolved = await _resolve_intent(client, treasury, intent, True)
        if isinstance(resolved, str):
            await store.save(None)
            return (
                f"Topped up cocoon wallet {intent.wallet} with {intent.amount_nano} nanoTON from treasury "
                f"{intent.treasury}",
                resolved,
            )
        if resolved is _Resolution.DEAD or time.monotonic() >= deadline:
            return None
        await asyncio.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
