"""What callers need of `KubeClient`, as Protocols: each caller names the parts it uses (a guarded
status write needs `get` and `patch`, the Lease also `create`), so a test fake implements only those."""

from collections.abc import Callable, Mapping
from typing import Any, Protocol


class ObjectReader(Protocol):
    async def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None: ...


class ObjectCreator(Protocol):
    async def create(self, obj: Mapping[str, Any]) -> dict[str, Any] | None: ...


class ObjectPatcher(Protocol):
    async def patch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        patch: Mapping[str, Any],
        *,
        subresource: str | None = None,
    ) -> dict[str, Any]: ...


class KubeApi(ObjectReader, ObjectCreator, Protocol):
    """The subset that a reconcile and its steps use (fakes implement it in tests)."""

    async def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        keep: Callable[[dict[str, Any]], dict[str, Any]] | None = None,  # what to keep of each item
    ) -> list[dict[str, Any]]: ...

    async def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]: ...

    async def patch_status(
        self, api_version: str, kind: str, namespace: str | None, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]: ...

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool: ...
