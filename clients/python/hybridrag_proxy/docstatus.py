"""ProxyDocStatusStorage: LightRAG's DocStatusStorage over the proxy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from .bases import DocProcessingStatus, DocStatus, DocStatusStorage, status_value, to_doc_status
from .kv import KVMethods

_SORT_FIELDS = ("created_at", "updated_at", "id", "file_path")
_STATUS_VALUES = {s.value: s for s in DocStatus}


def _as_json_storage(record: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The record as LightRAG's JsonDocStatusStorage hands it back: its
    status is the DocStatus member LightRAG stored (so LightRAG's duplicate
    error_msg reads "Status: DocStatus.PROCESSED" as with its own JSON
    storage; its PostgreSQL storage returns the plain string)."""
    if record is not None:
        status = record.get("status")
        if type(status) is str and status in _STATUS_VALUES:
            record["status"] = _STATUS_VALUES[status]
    return record


@dataclass
class ProxyDocStatusStorage(KVMethods, DocStatusStorage):
    """The doc_status namespace. Records hold only DocProcessingStatus's
    keys (no _id/create_time), and the query methods return
    DocProcessingStatus objects (LightRAG's own class when installed)."""

    def __post_init__(self) -> None:
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:
            parent()
        self._proxy_setup("doc-status")

    async def initialize(self) -> None:
        await super().initialize()
        await self._client.backend_type(refresh=True)

    async def _like_lightrag(self, records: list[Optional[dict[str, Any]]]) -> list[Optional[dict[str, Any]]]:
        """Records shaped as LightRAG's storage of the same kind returns
        them (JSON: DocStatus members; PostgreSQL: plain strings)."""
        if records and await self._client.backend_type() == "json":
            return [_as_json_storage(r) for r in records]
        return records

    async def get_by_id(self, id: str) -> dict[str, Any] | None:
        return (await self._like_lightrag([await super().get_by_id(id)]))[0]

    async def get_by_ids(self, ids: list[str]) -> list[dict[str, Any] | None]:
        return await self._like_lightrag(await super().get_by_ids(ids))

    async def _counts(self) -> dict[str, int]:
        out = await self._get("/counts")
        return {k: int(v) for k, v in out["counts"].items()}

    async def get_status_counts(self) -> dict[str, int]:
        counts = await self._counts()
        counts.pop("all", None)
        return counts

    async def get_all_status_counts(self) -> dict[str, int]:
        return await self._counts()

    @staticmethod
    def _docs(out: dict[str, Any]) -> dict[str, DocProcessingStatus]:
        return {d["id"]: to_doc_status(d["data"]) for d in out["docs"]}

    async def get_docs_by_status(self, status: DocStatus) -> dict[str, DocProcessingStatus]:
        return self._docs(await self._post("/by-statuses", {"statuses": [status_value(status)]}))

    async def get_docs_by_statuses(self, statuses: list[DocStatus]) -> dict[str, DocProcessingStatus]:
        values = [status_value(s) for s in statuses]
        if not values:
            return {}
        return self._docs(await self._post("/by-statuses", {"statuses": values}))

    async def get_docs_by_track_id(self, track_id: str) -> dict[str, DocProcessingStatus]:
        return self._docs(await self._post("/by-track-id", {"track_id": track_id}))

    async def get_docs_paginated(
        self,
        status_filter: Optional[DocStatus] = None,
        page: int = 1,
        page_size: int = 50,
        sort_field: str = "updated_at",
        sort_direction: str = "desc",
    ) -> tuple[list[tuple[str, DocProcessingStatus]], int]:
        # LightRAG falls back to the defaults for unknown values.
        if sort_field not in _SORT_FIELDS:
            sort_field = "updated_at"
        sort_direction = (sort_direction or "").lower()
        if sort_direction not in ("asc", "desc"):
            sort_direction = "desc"
        body = {
            "status_filter": status_value(status_filter) if status_filter is not None else "",
            "page": int(page),
            "page_size": int(page_size),
            "sort_field": sort_field,
            "sort_direction": sort_direction,
        }
        out = await self._post("/paginated", body)
        return [(d["id"], to_doc_status(d["data"])) for d in out["docs"]], int(out["total"])

    async def get_doc_by_file_path(self, file_path: str) -> dict[str, Any] | None:
        out = await self._post("/by-file-path", {"file_path": file_path})
        doc = out.get("doc")
        return None if doc is None else (await self._like_lightrag([doc["data"]]))[0]
