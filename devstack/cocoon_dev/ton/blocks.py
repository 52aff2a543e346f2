"""Block queries of the local liteserver: `lookupBlock` by seqno, `getAllShardsInfo` of a given
masterchain block and `listBlockTransactions` — what a block follower walks. Same TL and the same
kind of errors as a node (an unknown block is "not in db"); proofs are not produced (level 2 only).

The local chain has one shard in workchain 0 and seals one shard block per masterchain block with the
same seqno, so a masterchain block's shard top is the shard block of its own seqno.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from pytoniq_core.boc.builder import Builder
from pytoniq_core.boc.cell import Cell
from pytoniq_core.tl.block import BlockIdExt

from cocoon_dev.ton import proofs
from cocoon_dev.ton.boc import lite_server_error

if TYPE_CHECKING:
    from cocoon_dev.ton.chain import LocalChain
    from cocoon_dev.ton.liteserver import LocalLiteServer
    from cocoon_dev.ton.records import TxRecord

ERR_NOT_FOUND = 651
MAX_LIST = 256  # a node caps listBlockTransactions at 256 ids per answer
_AFTER = 1 << 7
_REVERSE = 1 << 6


def _block_id(raw: dict[str, Any]) -> BlockIdExt:
    return cast(BlockIdExt, BlockIdExt.from_dict(raw))


class BlockQueries:
    """The handlers, bound to one `LocalLiteServer` (its chain and TL schemas)."""

    def __init__(self, server: LocalLiteServer) -> None:
        self._server = server

    def _ser(self, name: str, data: dict[str, Any]) -> bytes:
        return cast(bytes, self._server.schemas.serialize(name, data))

    def _expected(self, workchain: int, seqno: int) -> BlockIdExt | None:
        chain = self._server.chain
        # Up to the head this server announces (a server in the "inflated-block" lie announces more).
        if not 1 <= seqno <= max(chain.seqno, self._server.announced_seqno()):
            return None
        if workchain == -1:
            return chain.mc_block_id(seqno)
        if workchain == 0:
            return chain.shard_block_id(seqno)
        return None

    def _known(self, block: BlockIdExt) -> bool:
        expected = self._expected(block.workchain, block.seqno)
        return (
            expected is not None
            and expected.root_hash == block.root_hash
            and expected.file_hash == block.file_hash
        )

    def _header_proof(self, seqno: int) -> bytes:
        chain = self._server.chain
        block = proofs.block_with_state(global_id=chain.global_id, seqno=seqno, state=Cell.empty())
        return bytes(Builder().store_ref(block).end_cell().to_boc())

    async def lookup_block(self, req: dict[str, Any], received: float) -> bytes:
        mode = int(req.get("mode", 0))
        ident = req["id"]
        if not mode & 1:  # by lt or utime: the local chain keeps no index of those
            return lite_server_error(ERR_NOT_FOUND, "block not found: lookup by lt or utime is not kept")
        found = self._expected(int(ident["workchain"]), int(ident["seqno"]))
        if found is None:
            return lite_server_error(ERR_NOT_FOUND, f"block not found: seqno {ident['seqno']} not in db")
        return self._ser(
            "liteServer.blockHeader",
            {"id": found.to_dict(), "mode": mode, "header_proof": self._header_proof(found.seqno)},
        )

    async def all_shards_info(self, req: dict[str, Any], received: float) -> bytes:
        block = _block_id(req["id"])
        if block.workchain != -1 or not self._known(block):
            return lite_server_error(ERR_NOT_FOUND, "block not found: not a masterchain block in db")
        chain = self._server.chain
        shard = chain.shard_block_id(block.seqno)
        cell = proofs.shard_hashes(
            seqno=shard.seqno,
            root_hash=shard.root_hash,
            file_hash=shard.file_hash,
            lt=chain.lt,
            now=chain.now,
        )
        return self._ser(
            "liteServer.allShardsInfo", {"id": block.to_dict(), "proof": b"", "data": cell.to_boc()}
        )

    async def list_block_transactions(self, req: dict[str, Any], received: float) -> bytes:
        block = _block_id(req["id"])
        if not self._known(block):
            return lite_server_error(ERR_NOT_FOUND, "block not found: not in db")
        mode = int(req["mode"])
        count = max(0, min(int(req["count"]), MAX_LIST))
        chain = self._server.chain
        # The masterchain of the local chain holds no accounts: its blocks list no transactions.
        txs = block_transactions(chain, block.seqno) if block.workchain == 0 else []
        keys = [(bytes.fromhex(t.address.split(":", 1)[1]), t.lt) for t in txs]
        order = list(range(len(txs)))
        if mode & _REVERSE:
            order.reverse()
        if mode & _AFTER:
            after = req.get("after") or {}
            mark = (_int256(after.get("account")), int(after.get("lt", 0)))
            order = [i for i in order if ((keys[i] > mark) if not mode & _REVERSE else (keys[i] < mark))]
        page = order[:count]
        ids = []
        for i in page:
            entry: dict[str, Any] = {"mode": mode & 7}
            if mode & 1:
                entry["account"] = keys[i][0].hex()
            if mode & 2:
                entry["lt"] = txs[i].lt
            if mode & 4:
                entry["hash"] = txs[i].hash.hex()
            ids.append(entry)
        return self._ser(
            "liteServer.blockTransactions",
            {
                "id": block.to_dict(),
                "req_count": count,
                "incomplete": len(order) > len(page),
                "ids": ids,
                "proof": b"",
            },
        )


def block_transactions(chain: LocalChain, seqno: int) -> list[TxRecord]:
    """The transactions of shard block `seqno`, ordered as a block lists them (account, then lt)."""
    found = []
    for address in chain.addresses():
        for tx in chain.transactions(address):  # newest first: stop at the older blocks
            if tx.seqno < seqno:
                break
            if tx.seqno == seqno:
                found.append(tx)
    return sorted(found, key=lambda t: (t.address, t.lt))


def _int256(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value.rjust(32, b"\x00")
    if isinstance(value, int):
        return value.to_bytes(32, "big")
    return bytes.fromhex(str(value or "0" * 64)).rjust(32, b"\x00")
