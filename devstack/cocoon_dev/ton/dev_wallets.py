"""Dev wallets of the local COCOON network: deterministic keys (from the network seed), WalletV4R2
addresses, and sending internal messages from a wallet through the local chain (deploying it first)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from nacl.bindings import crypto_sign_seed_keypair
from pytoniq.contract.contract import Contract
from pytoniq.contract.wallets.wallet import WalletV4R2
from pytoniq_core.boc.address import Address
from pytoniq_core.boc.cell import Cell
from pytoniq_core.tlb.account import StateInit

from cocoon_dev.ton.chain import LocalChain, LocalChainError, MessageResult
from cocoon_operator.ton.addresses import raw_address

WALLET_VALID_FOR: Final = 600


class HexKeys:
    """Mixed into the dev records with an Ed25519 key pair, kept as hex so `network.json` is plain JSON."""

    public_key: str
    private_key: str  # the 32-byte seed

    @property
    def key(self) -> bytes:
        """The public key as bytes."""
        return bytes.fromhex(self.public_key)

    @property
    def seed(self) -> bytes:
        """The private seed as bytes (what Ed25519 signing keys are made from)."""
        return bytes.fromhex(self.private_key)


@dataclass(frozen=True)
class DevWallet(HexKeys):
    """A dev WalletV4R2 (wallet_id 698983191). Keys are hex: `private_key` is the 32-byte seed."""

    role: str
    address: str
    public_key: str
    private_key: str = field(repr=False)  # never in logs or test output
    version: str = "v4r2"
    wallet_id: int = 698983191

    @property
    def addr(self) -> Address:
        return Address(self.address)

    @property
    def secret_key(self) -> bytes:
        """The 64-byte NaCl secret key pytoniq's wallets sign with."""
        return bytes(crypto_sign_seed_keypair(self.seed)[1])


def derive_seed(seed: bytes, label: str) -> bytes:
    return hashlib.sha256(seed + b"\x00" + label.encode()).digest()


def code_hash(code: Cell | None) -> str | None:
    return code.hash.hex() if code is not None else None


def dev_wallet(seed: bytes, role: str) -> DevWallet:
    private = derive_seed(seed, f"wallet:{role}")
    public = bytes(crypto_sign_seed_keypair(private)[0])
    wallet_id = 698983191
    address = Address((0, wallet_state_init(public, wallet_id).serialize().hash))
    return DevWallet(
        role=role,
        address=raw_address(address),
        public_key=public.hex(),
        private_key=private.hex(),
        wallet_id=wallet_id,
    )


def make_state_init(code: Cell, data: Cell) -> StateInit:
    return StateInit(code=code, data=data)


def wallet_state_init(public_key: bytes, wallet_id: int) -> StateInit:
    """A WalletV4R2's StateInit (seqno 0): its address, and what deploys it."""
    return make_state_init(WALLET_V4R2_CODE, WalletV4R2.create_data_cell(public_key, wallet_id, 0))


def _wallet_v4r2_code() -> Cell:
    from pytoniq.contract.wallets.wallet import WALLET_V4_R2_CODE

    code: Cell = WALLET_V4_R2_CODE
    return code


WALLET_V4R2_CODE: Final = _wallet_v4r2_code()


EMPTY_CELL: Final[Cell] = Cell.empty()


def boc(cell: Cell) -> bytes:
    data: bytes = cell.to_boc()
    return data


def external_boc(dest: Address, init: StateInit | None, body: Cell) -> bytes:
    message = Contract.create_external_msg(dest=dest, state_init=init, body=body)
    return boc(message.serialize())


async def wallet_seqno(chain: LocalChain, wallet: DevWallet) -> int | None:
    """The wallet's seqno, or None when it is not deployed yet."""
    if chain.status(wallet.address) != "active":
        return None
    stack = await chain.run_get_method(wallet.address, "seqno", [])
    return int(stack[0])


async def wallet_send(
    chain: LocalChain,
    wallet: DevWallet,
    messages: Sequence[tuple[Address, int, Cell | None, StateInit | None, bool]],
    *,
    mode: int = 3,
) -> MessageResult:
    """Send up to 4 internal messages `(dest, value, body, state_init, bounce)` from a dev wallet.

    Deploys the wallet in the same external when it is not active yet. `valid_until` follows the
    chain clock, so this keeps working after `chain.advance()`."""
    if not 0 < len(messages) <= 4:
        raise ValueError(f"a wallet external carries 1..4 messages, got {len(messages)}")
    seqno = await wallet_seqno(chain, wallet)
    wallet_msgs = [
        WalletV4R2.create_wallet_internal_message(
            destination=dest,
            send_mode=mode,
            value=value,
            body=body if body is not None else EMPTY_CELL,
            state_init=state_init,
            bounce=bounce,
        )
        for dest, value, body, state_init, bounce in messages
    ]
    body = WalletV4R2.raw_create_transfer_msg(
        private_key=wallet.secret_key,
        seqno=seqno or 0,
        wallet_id=wallet.wallet_id,
        messages=wallet_msgs,
        valid_until=chain.now + WALLET_VALID_FOR,
    )
    init = wallet_state_init(wallet.key, wallet.wallet_id) if seqno is None else None
    return await chain.send_message(external_boc(wallet.addr, init, body))


async def deploy_wallet(chain: LocalChain, wallet: DevWallet, amount: int) -> None:
    if chain.status(wallet.address) != "active":
        await chain.faucet(wallet.address, amount)
        init = wallet_state_init(wallet.key, wallet.wallet_id)
        body = WalletV4R2.raw_create_transfer_msg(
            private_key=wallet.secret_key, seqno=0, wallet_id=wallet.wallet_id, messages=[]
        )
        await chain.send_message(external_boc(wallet.addr, init, body))


def check_all_succeeded(result: MessageResult, what: str) -> None:
    failed = [tx for tx in result.transactions if not tx.success]
    if failed:
        tx = failed[0]
        raise LocalChainError(f"{what}: transaction on {tx.address} failed with exit code {tx.exit_code}")
