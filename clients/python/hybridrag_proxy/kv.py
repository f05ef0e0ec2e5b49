"""ProxyKVStorage: LightRAG's BaseKVStorage over the proxy's KV routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .bases import BaseKVStorage
from .common import ProxyStorageMixin

# Records per upsert request: keeps bodies well under the proxy's limit.
UPSERT_BATCH = 2000


class KVMethods(ProxyStorageMixin):
    """The KV methods, shared by the KV and doc-status classes."""

    async def get_by_id(self, id: str) -> dict[str, Any] | None:
        out = await self._post("/get", {"ids": [id]})
        return out["records"][0]

    async def get_by_ids(self, ids: list[str]) -> list[dict[str, Any] | None]:
        ids = list(ids)
        if not ids:
            return []
        out = await self._post("/get", {"ids": ids})
        return out["records"]

    async def filter_keys(self, keys: set[str]) -> set[str]:
        asked = set(keys)
        if not asked:
            return set()
        out = await self._post("/filter-keys", {"keys": list(asked)})
        # Built as LightRAG's JSON storages build it (set(keys) - stored):
        # LightRAG iterates this set to order a batch's new documents, and a
        # set's iteration order depends on how it was built.
        return asked - (asked - set(out["missing"]))

    async def upsert(self, data: dict[str, dict[str, Any]]) -> None:
        if not data:
            return
        items = list(data.items())
        for i in range(0, len(items), UPSERT_BATCH):
            await self._post("/upsert", {"records": dict(items[i : i + UPSERT_BATCH])})

    async def delete(self, ids: list[str]) -> None:
        ids = list(ids)
        if not ids:
            return
        await self._post("/delete", {"ids": ids})

    async def is_empty(self) -> bool:
        out = await self._get()
        return bool(out["is_empty"])

    async def count(self) -> int:
        """Number of records (not part of LightRAG's interface)."""
        out = await self._get()
        return int(out["count"])

    async def get_all(self) -> dict[str, dict[str, Any]]:
        """Every record, by id (LightRAG removed get_all in 1.4.7; kept for
        older callers and tools)."""
        result: dict[str, dict[str, Any]] = {}
        after = ""
        while True:
            out = await self._get("/records", {"after": after, "limit": 10000})
            for r in out["records"]:
                result[r["id"]] = r["data"]
            if out.get("next") is None:
                return result
            after = out["next"]


@dataclass
class ProxyKVStorage(KVMethods, BaseKVStorage):
    """KV namespaces (full_docs, text_chunks, llm_response_cache, ...).

    Semantics are the proxy's (= JsonKVStorage): upsert replaces each record
    whole and stamps _id/create_time/update_time; get_by_id returns a copy.
    """

    def __post_init__(self) -> None:
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:
            parent()
        self._proxy_setup("kv")
