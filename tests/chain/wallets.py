"""Small helpers for chain tests: deterministic wallets and hand-built externals."""

from __future__ import annotations

import hashlib
from typing import Any

from nacl.bindings import crypto_sign_seed_keypair
from pytoniq import WalletV4R2, WalletV5R1
from pytoniq_core import Address

from cocoon_operator.money.funding import Treasury
from cocoon_operator.ton.client import ChainClient

TON = 1_000_000_000


def seed(name: str) -> bytes:
    """A deterministic ed25519 secret key (64 bytes, seed + public key, as pytoniq takes it; tests only)."""
    _, secret = crypto_sign_seed_keypair(hashlib.sha256(f"cocoon-chain-test:{name}".encode()).digest())
    return bytes(secret)


async def wallet_v4(provider: Any, name: str) -> WalletV4R2:
    return await WalletV4R2.from_private_key(provider=provider, private_key=seed(name), version="v4r2")


async def wallet_v5(provider: Any, name: str) -> WalletV5R1:
    return await WalletV5R1.from_private_key(
        provider=provider, private_key=seed(name), network_global_id=-239
    )


async def deploy_treasury(client: ChainClient, treasury: Treasury) -> None:
    """Deploy a treasury's wallet as its owner would. The operator's Treasury only builds and signs
    transfers and holds no chain handle, so its pytoniq wallet gets one here to send the deploy."""
    wallet = treasury._wallet  # the same wallet (code, data, key)
    wallet.provider = client.backend
    await wallet.update()
    await wallet.deploy_via_external()


def non_bounceable(address: Address) -> Address:
    return Address(address.to_str(is_bounceable=False))


def v4_transfer_boc(wallet: WalletV4R2, seqno: int, dest: Address, amount: int) -> bytes:
    """The exact external message BoC of a V4R2 transfer (so a test can replay it byte for byte)."""
    msg = wallet.create_wallet_internal_message(destination=dest, value=amount)
    body = wallet.raw_create_transfer_msg(
        private_key=wallet.private_key, seqno=seqno, wallet_id=wallet.wallet_id, messages=[msg]
    )
    boc: bytes = wallet.create_external_msg(dest=wallet.address, body=body).serialize().to_boc()
    return boc
