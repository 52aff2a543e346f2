"""Live chain reads for the plugin: one liteserver connection per TON global config, the one each
CocoonNode names (`spec.network.globalConfigRef`). Read-only: balances and payouts."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cocoon_operator.plugin.kube import Kube
from cocoon_operator.ton.client import ChainClient, ChainError, ChainSettings
from cocoon_operator.ton.payouts import PayoutScan, scan_owner_payouts

T = TypeVar("T")
DEFAULT_KEY = "global.config.json"


def config_ref(obj: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(namespace, ConfigMap, key) of a CocoonNode's TON global config."""
    ref = ((obj.get("spec") or {}).get("network") or {}).get("globalConfigRef") or {}
    if not ref.get("name"):
        return None
    return str(obj["metadata"].get("namespace") or ""), str(ref["name"]), str(ref.get("key") or DEFAULT_KEY)


@dataclass
class Chains:
    """Clients by global config text; connected on first use, closed together."""

    kube: Kube
    settings: ChainSettings = field(default_factory=lambda: ChainSettings(connect_timeout_s=8.0))
    _clients: dict[str, ChainClient] = field(default_factory=dict)
    _broken: set[str] = field(default_factory=set)  # configs that could not be used
    errors: list[str] = field(default_factory=list)  # why, for the user (config and chain errors only)

    async def client_for(self, obj: Mapping[str, Any]) -> ChainClient | None:
        ref = config_ref(obj)
        text = self.kube.config_map_value(*ref) if ref is not None else None
        if not text:
            return None
        if text in self._broken:
            return None
        client = self._clients.get(text)
        if client is None:
            try:
                client = ChainClient.from_config(json.loads(text), self.settings)
                await client.start()
            except (ChainError, ValueError) as exc:
                self._broken.add(text)
                self.errors.append(f"TON global config {ref[1] if ref else '?'}: {type(exc).__name__}: {exc}")
                return None
            self._clients[text] = client
        return client

    async def read(self, obj: Mapping[str, Any], call: Callable[[ChainClient], Awaitable[T]]) -> T | None:
        client = await self.client_for(obj)
        if client is None:
            return None
        try:
            return await call(client)
        except ChainError as exc:
            self.errors.append(f"{obj['metadata'].get('namespace')}/{obj['metadata']['name']}: {exc}")
            return None

    async def balance(self, obj: Mapping[str, Any], address: str) -> int | None:
        async def read(client: ChainClient) -> int:
            return int((await client.account_state(address)).balance)

        return await self.read(obj, read)

    async def payouts(
        self, obj: Mapping[str, Any], owner: str, sources: Iterable[str], limit: int
    ) -> PayoutScan | None:
        wanted = sorted(set(sources))

        async def read(client: ChainClient) -> PayoutScan:
            return await scan_owner_payouts(client, owner, after_lt=0, sources=wanted, limit=limit)

        return await self.read(obj, read)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
