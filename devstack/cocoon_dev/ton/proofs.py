"""Synthetic block structures the liteserver hands out, shaped so pytoniq's trust_level=2 checks pass.

These are ordinary cells, not pruned Merkle proofs: at trust level 2 pytoniq still walks the account
proof (`check_account_proof`) but checks neither signatures nor Merkle hashes, so a Block whose
`state_update` points at a one-account `ShardStateUnsplit` is enough (shared docs, ton-devnet.md §2.5).
"""

from __future__ import annotations

from pytoniq_core.boc.builder import Builder
from pytoniq_core.boc.cell import Cell
from pytoniq_core.boc.hashmap.hashmap import HashMap

from cocoon_dev.ton.boc import cells_to_boc

_BLOCK_TAG = 0x11EF55AA
_SHARD_STATE_TAG = 0x9023AFE2
_ROOT_SHARD_PREFIX = 1 << 63  # the one workchain-0 shard (shard id 0x8000000000000000)


def _currency(builder: Builder, grams: int) -> Builder:
    builder.store_coins(grams).store_bit(0)  # no extra currencies
    return builder


def _shard_ident(builder: Builder, workchain: int) -> Builder:
    builder.store_bits("00").store_uint(0, 6).store_int(workchain, 32).store_uint(_ROOT_SHARD_PREFIX, 64)
    return builder


def accounts_dict(account_id: bytes, shard_account: Cell, balance: int) -> Cell:
    """`ShardAccounts` (HashmapAugE 256 ShardAccount DepthBalanceInfo) holding one account."""
    leaf = Builder().store_bits("10").store_uint(256, 9).store_bytes(account_id)  # hml_long label
    _currency(leaf.store_uint(0, 5), balance)  # DepthBalanceInfo extra
    leaf.store_cell(shard_account)  # ShardAccount value, inline
    root = Builder().store_bit(1).store_ref(leaf.end_cell())
    return _currency(root.store_uint(0, 5), balance).end_cell()


def shard_state(
    *, global_id: int, workchain: int, seqno: int, now: int, lt: int, accounts: Cell, balance: int
) -> Cell:
    """A `ShardStateUnsplit` of one shard holding `accounts`."""
    b = Builder().store_uint(_SHARD_STATE_TAG, 32).store_int(global_id, 32)
    _shard_ident(b, workchain)
    b.store_uint(seqno, 32).store_uint(0, 32).store_uint(now, 32).store_uint(lt, 64).store_uint(seqno, 32)
    b.store_ref(Cell.empty())  # out_msg_queue_info (not parsed by clients)
    b.store_bit(0)  # before_split
    b.store_ref(accounts)
    extra = Builder().store_uint(0, 64).store_uint(0, 64)
    _currency(extra, balance)  # total_balance
    _currency(extra, 0)  # total_validator_fees
    extra.store_bit(0).store_bit(0)  # libraries, master_ref
    b.store_ref(extra.end_cell())
    b.store_bit(0)  # custom (no McStateExtra)
    state: Cell = b.end_cell()
    return state


def block_with_state(*, global_id: int, seqno: int, state: Cell) -> Cell:
    """A `Block` whose `state_update` new-state ref is `state` (only that path is read at level 2)."""
    info = Builder().store_uint(0x9BC7A987, 32).store_uint(seqno, 32).end_cell()
    state_update = Builder().store_ref(Cell.empty()).store_ref(state).end_cell()
    block: Cell = (
        Builder()
        .store_uint(_BLOCK_TAG, 32)
        .store_int(global_id, 32)
        .store_ref(info)
        .store_ref(Cell.empty())  # value_flow
        .store_ref(state_update)
        .store_ref(Cell.empty())  # extra
        .end_cell()
    )
    return block


def account_proof(
    *,
    global_id: int,
    seqno: int,
    now: int,
    lt: int,
    account_id: bytes,
    shard_account: Cell,
    balance: int,
) -> tuple[bytes, bytes]:
    """(shard block root hash, proof BoC) for `getAccountState`: a 2-root BoC, root 0 -> Block,
    root 1 -> its ShardStateUnsplit, whose accounts dictionary holds the account."""
    state = shard_state(
        global_id=global_id,
        workchain=0,
        seqno=seqno,
        now=now,
        lt=lt,
        accounts=accounts_dict(account_id, shard_account, balance),
        balance=balance,
    )
    block = block_with_state(global_id=global_id, seqno=seqno, state=state)
    proof = cells_to_boc([Builder().store_ref(block).end_cell(), Builder().store_ref(state).end_cell()])
    return block.hash, proof


def shard_hashes(*, seqno: int, root_hash: bytes, file_hash: bytes, lt: int, now: int) -> Cell:
    """`ShardHashes` with one workchain-0 `shard_descr` (tag 0xa) in a `bt_leaf`: pytoniq's
    `update_last_blocks` crashes on an empty dictionary."""
    descr = Builder().store_uint(0xA, 4).store_uint(seqno, 32).store_uint(seqno, 32)
    descr.store_uint(lt, 64).store_uint(lt, 64).store_bytes(root_hash).store_bytes(file_hash)
    descr.store_uint(0, 5).store_uint(0, 3)  # before/want split/merge, nx_cc_updated; flags
    descr.store_uint(0, 32).store_uint(_ROOT_SHARD_PREFIX, 64).store_uint(seqno, 32).store_uint(now, 32)
    descr.store_bit(0)  # fsm_none
    fees = _currency(_currency(Builder(), 0), 0).end_cell()
    descr.store_ref(fees)
    bin_tree = Builder().store_bit(0).store_cell(descr.end_cell()).end_cell()  # bt_leaf$0
    hashmap = HashMap(32, value_serializer=lambda src, dest: dest.store_ref(src))
    hashmap.set_int_key(0, bin_tree)
    root = hashmap.serialize()
    hashes: Cell = Builder().store_dict(root).end_cell()
    return hashes


def config_state(
    *, global_id: int, seqno: int, now: int, lt: int, config: Cell, shard_hashes_cell: Cell
) -> Cell:
    """A masterchain `ShardStateUnsplit` whose `McStateExtra` carries `config` (a Hashmap 32 ^Cell root)."""
    info = Builder().store_uint(0, 16)  # flags
    info.store_uint(0, 32).store_uint(0, 32).store_bit(0)  # validator_info
    info.store_bit(0).store_bit(0).store_uint(0, 64)  # prev_blocks: empty HashmapAugE + KeyMaxLt extra
    info.store_bit(0).store_bit(0)  # after_key_block, last_key_block
    extra = Builder().store_uint(0xCC26, 16)
    extra.store_slice(shard_hashes_cell.begin_parse())  # ShardHashes (HashmapE 32)
    extra.store_bytes(b"\x55" * 32).store_ref(config)  # ConfigParams: config_addr, ^config dict
    extra.store_ref(info.end_cell())
    _currency(extra, 0)  # global_balance
    b = Builder().store_uint(_SHARD_STATE_TAG, 32).store_int(global_id, 32)
    _shard_ident(b, -1)
    b.store_uint(seqno, 32).store_uint(0, 32).store_uint(now, 32).store_uint(lt, 64).store_uint(seqno, 32)
    b.store_ref(Cell.empty()).store_bit(0)  # out_msg_queue_info, before_split
    b.store_ref(Builder().store_bit(0).store_uint(0, 5).store_coins(0).store_bit(0).end_cell())  # no accounts
    state_extra = Builder().store_uint(0, 64).store_uint(0, 64)
    _currency(_currency(state_extra, 0), 0)
    state_extra.store_bit(0).store_bit(0)
    b.store_ref(state_extra.end_cell())
    b.store_bit(1).store_ref(extra.end_cell())  # custom: McStateExtra
    state: Cell = b.end_cell()
    return state


def config_subset(config: Cell, params: list[int]) -> Cell:
    """The config dictionary restricted to `params` (getConfigParams)."""
    parsed = config.begin_parse().load_hashmap(
        32, key_deserializer=lambda bits: int(bits, 2), value_deserializer=lambda s: s.load_ref()
    )
    wanted = {k: v for k, v in (parsed or {}).items() if k in set(params)}
    hashmap = HashMap(32, value_serializer=lambda src, dest: dest.store_ref(src))
    for key, value in wanted.items():
        hashmap.set_int_key(key, value)
    root: Cell | None = hashmap.serialize()
    if root is None:
        raise ValueError(f"param_list: none of {params} is in the config")
    return root
