"""A node's cocoon wallet: its address from the node key and owner, and its on-chain balance/seqno.

Takes the Ed25519 *public* key: callers derive it from the Secret's seed with
`addresses.public_key_from_seed` and drop the seed, so no key material travels further.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytoniq_core.boc.address import Address

from cocoon_operator.ton.addresses import cocoon_wallet_address, format_address, raw_address
from cocoon_operator.ton.cells import LayoutError
from cocoon_operator.ton.client import AccountStatus, ChainClient
from cocoon_operator.ton.storage import WalletStorage


@dataclass(frozen=True)
class CocoonWalletInfo:
    address: str  # raw
    friendly: str  # non-bounceable user-friendly form (fund it with a non-bounceable transfer)
    status: AccountStatus
    balance: int
    seqno: int
    blocked: bool


def cocoon_wallet_of(public_key: bytes, owner: Address | str) -> Address:
    owner_addr = owner if isinstance(owner, Address) else Address(owner)
    return cocoon_wallet_address(public_key, owner_addr)


async def read_cocoon_wallet(
    client: ChainClient, public_key: bytes, owner: Address | str, *, testnet: bool = False
) -> CocoonWalletInfo:
    """Balance and seqno of the node's cocoon wallet; seqno 0 while it is not deployed (§10.1)."""
    address = cocoon_wallet_of(public_key, owner)
    state = await client.account_state(address)
    seqno, blocked = 0, False
    if state.is_active and state.data is not None:
        try:
            storage = WalletStorage.from_cell(state.data)
            seqno, blocked = storage.seqno, storage.blocked
        except (LayoutError, ValueError):
            seqno = int((await client.run_get_method(address, "seqno"))[0])
    return CocoonWalletInfo(
        address=raw_address(address),
        friendly=format_address(address, bounceable=False, testnet=testnet),
        status=state.status,
        balance=state.balance,
        seqno=seqno,
        blocked=blocked,
    )
