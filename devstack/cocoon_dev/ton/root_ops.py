"""Bodies of the root contract owner's operations (cocoon-protocol.md §6.3): register, update and
unregister proxies, allow hashes, change prices and params, upgrade code. Only the dev stack sends
them (it deploys and administers its own COCOON network); the operator never does.
"""

from __future__ import annotations

from pytoniq_core.boc.address import Address
from pytoniq_core.boc.builder import Builder
from pytoniq_core.boc.cell import Cell

from cocoon_operator.ton.cells import LayoutError, begin, check_coins, check_uint, store_address
from cocoon_operator.ton.ops import Op
from cocoon_operator.ton.storage import ProxyDesc

# --- root owner op bodies ---------------------------------------------------------------------------


def root_op_body(
    op: Op, query_id: int = 0, *, payload: Builder | None = None, refs: tuple[Cell, ...] = ()
) -> Cell:
    """`op:uint32 query_id:uint64` + payload bits + refs: the body of any root owner op (§6.3)."""
    b: Builder = begin().store_uint(int(op), 32).store_uint(check_uint(query_id, 64, "query_id"), 64)
    if payload is not None:
        b.store_cell(payload.end_cell())
    for ref in refs:
        b.store_ref(ref)
    return b.end_cell()


def _hash_payload(value: bytes) -> Builder:
    if len(value) != 32:
        raise LayoutError(f"hash must be 32 bytes, got {len(value)}")
    b = begin()
    b.store_bytes(value)
    return b


def add_hash_body(kind: str, value: bytes, *, add: bool = True, query_id: int = 0) -> Cell:
    """add/del_{worker,model,proxy}_type. `kind` is "worker", "model" or "proxy"."""
    ops = {
        ("worker", True): Op.ADD_WORKER_TYPE,
        ("worker", False): Op.DEL_WORKER_TYPE,
        ("model", True): Op.ADD_MODEL_TYPE,
        ("model", False): Op.DEL_MODEL_TYPE,
        ("proxy", True): Op.ADD_PROXY_TYPE,
        ("proxy", False): Op.DEL_PROXY_TYPE,
    }
    op = ops.get((kind, add))
    if op is None:
        raise ValueError(f"hash kind must be 'worker', 'model' or 'proxy', not {kind!r}")
    return root_op_body(op, query_id, payload=_hash_payload(value))


def register_proxy_body(desc: ProxyDesc, *, query_id: int = 0) -> Cell:
    return root_op_body(Op.REGISTER_PROXY, query_id, payload=desc.store(begin()))


def unregister_proxy_body(seqno: int, *, query_id: int = 0) -> Cell:
    return root_op_body(Op.UNREGISTER_PROXY, query_id, payload=begin().store_uint(seqno, 32))


def update_proxy_body(seqno: int, desc: ProxyDesc, *, query_id: int = 0) -> Cell:
    return root_op_body(Op.UPDATE_PROXY, query_id, payload=desc.store(begin().store_uint(seqno, 32)))


def change_price_body(price_per_token: int, worker_fee_per_token: int, *, query_id: int = 0) -> Cell:
    payload = begin().store_coins(check_coins(price_per_token, "price_per_token"))
    payload.store_coins(check_coins(worker_fee_per_token, "worker_fee_per_token"))
    return root_op_body(Op.CHANGE_PRICE, query_id, payload=payload)


def change_params_body(
    *,
    price_per_token: int,
    worker_fee_per_token: int,
    proxy_delay_before_close: int,
    client_delay_before_close: int,
    min_proxy_stake: int,
    min_client_stake: int,
    query_id: int = 0,
) -> Cell:
    payload = begin().store_coins(check_coins(price_per_token, "price_per_token"))
    payload.store_coins(check_coins(worker_fee_per_token, "worker_fee_per_token"))
    payload.store_uint(check_uint(proxy_delay_before_close, 32, "proxy_delay_before_close"), 32)
    payload.store_uint(check_uint(client_delay_before_close, 32, "client_delay_before_close"), 32)
    payload.store_coins(check_coins(min_proxy_stake, "min_proxy_stake"))
    payload.store_coins(check_coins(min_client_stake, "min_client_stake"))
    return root_op_body(Op.CHANGE_PARAMS, query_id, payload=payload)


def upgrade_contracts_body(
    proxy_code: Cell, worker_code: Cell, client_code: Cell, *, query_id: int = 0
) -> Cell:
    return root_op_body(Op.UPGRADE_CONTRACTS, query_id, refs=(proxy_code, worker_code, client_code))


def change_owner_body(new_owner: Address, *, query_id: int = 0) -> Cell:
    return root_op_body(Op.CHANGE_OWNER, query_id, payload=store_address(begin(), new_owner))


def reset_body(*, query_id: int = 0) -> Cell:
    return root_op_body(Op.RESET, query_id)
