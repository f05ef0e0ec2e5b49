"""ProxyVectorStorage: LightRAG's BaseVectorStorage over the proxy.

The storage embeds texts itself (LightRAG's contract) with the
embedding_func it is given, in batches of global_config
["embedding_batch_num"], and sends the vectors as base64 of little-endian
float32. Results have NanoVectorDBStorage's shape.
"""

from __future__ import annotations

import asyncio
import base64
import sys
from array import array
from dataclasses import dataclass
from typing import Any, Optional

from .bases import BaseVectorStorage
from .common import ProxyStorageMixin

# Records per upsert request.
UPSERT_BATCH = 500
# Records above which the request body is encoded off the event loop.
_OFFLOAD_RECORDS = 200

# What LightRAG's PGVectorStorage writes into its chunks table beyond
# meta_fields (postgres_impl.py _upsert_chunks: the tokens and
# chunk_order_index columns). Sent only to a PostgreSQL database: a JSON
# database keeps NanoVectorDB's meta_fields only, as LightRAG's JSON storage.
_PG_CHUNK_COLUMNS = ("tokens", "chunk_order_index")


def _created_at(v: dict[str, Any]) -> Optional[int]:
    """A record's own created_at (Unix seconds) when the caller gives one
    (a record copied from another store), else None (the proxy sets now)."""
    for key in ("__created_at__", "created_at"):
        at = v.get(key)
        if isinstance(at, (int, float)) and not isinstance(at, bool) and at > 0:
            return int(at)
    return None


def encode_vector(vec: Any) -> str:
    """base64 of little-endian float32 for a list of numbers or a 1-D
    numpy array."""
    if hasattr(vec, "astype") and hasattr(vec, "tobytes"):
        return base64.b64encode(vec.astype("<f4").tobytes()).decode("ascii")
    a = array("f", vec)
    if sys.byteorder == "big":
        a.byteswap()
    return base64.b64encode(a.tobytes()).decode("ascii")


def encode_rows(embeddings: Any) -> list[str]:
    """One encoded vector per row of a 2-D array or list of lists."""
    if hasattr(embeddings, "astype") and getattr(embeddings, "ndim", 2) == 1:
        return [encode_vector(embeddings)]
    return [encode_vector(row) for row in embeddings]


@dataclass
class ProxyVectorStorage(ProxyStorageMixin, BaseVectorStorage):
    """The entities, relationships and chunks vector namespaces."""

    def __post_init__(self) -> None:
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:
            parent()
        cfg = self.global_config or {}
        kwargs = cfg.get("vector_db_storage_cls_kwargs") or {}
        threshold = kwargs.get("cosine_better_than_threshold")
        if threshold is not None:
            self.cosine_better_than_threshold = float(threshold)
        self._max_batch_size = int(cfg.get("embedding_batch_num") or 10)
        self.meta_fields = set(self.meta_fields or ())
        dim = getattr(self.embedding_func, "embedding_dim", None)
        self._dim = int(dim) if dim else 0
        # None until known: whether embedding_func takes LightRAG >= 1.4.10's
        # context/_priority keywords.
        self._embed_kwargs: Optional[bool] = None
        self._proxy_setup("vectors", dim=self._dim)

    async def initialize(self) -> None:
        await super().initialize()
        if self.namespace == "chunks":
            await self._client.backend_type(refresh=True)

    async def _kept_fields(self) -> set[str]:
        """The keys of a record the storage sends: meta_fields, plus on
        PostgreSQL the chunk columns LightRAG's PGVectorStorage fills."""
        if self.namespace == "chunks" and await self._client.backend_type() == "postgres":
            return self.meta_fields | set(_PG_CHUNK_COLUMNS)
        return self.meta_fields

    async def _embed(self, texts: list[str], context: str, **extra: Any) -> Any:
        if self.embedding_func is None:
            raise ValueError(f"vector storage {self.namespace!r} has no embedding_func")
        if self._embed_kwargs is not False:
            try:
                out = await self.embedding_func(texts, context=context, **extra)
                self._embed_kwargs = True
                return out
            except TypeError as e:
                if self._embed_kwargs or "unexpected keyword" not in str(e):
                    raise
                self._embed_kwargs = False
        return await self.embedding_func(texts)

    async def upsert(self, data: dict[str, dict[str, Any]]) -> None:
        if not data:
            return
        ids = list(data.keys())
        values = list(data.values())
        contents = [v["content"] for v in values]
        size = max(1, self._max_batch_size)
        batches = [contents[i : i + size] for i in range(0, len(contents), size)]
        results = await asyncio.gather(*(self._embed(b, "document") for b in batches))
        vectors: list[str] = []
        for r in results:
            vectors.extend(encode_rows(r))
        if len(vectors) != len(ids):
            raise ValueError(
                f"embedding_func returned {len(vectors)} vectors for {len(ids)} texts in {self.namespace!r}"
            )
        meta = await self._kept_fields()
        records = []
        for k, v, vec in zip(ids, values, vectors):
            rec = {"id": k, "vector": vec, "fields": {f: v[f] for f in v if f in meta}}
            at = _created_at(v)
            if at is not None:
                rec["created_at"] = at
            records.append(rec)
        for i in range(0, len(records), UPSERT_BATCH):
            part = {"records": records[i : i + UPSERT_BATCH]}
            if len(part["records"]) > _OFFLOAD_RECORDS:
                raw = await self._client.encode(part)
                await self._client.call("POST", self._t("/upsert"), raw_body=raw)
            else:
                await self._post("/upsert", part)

    async def query(self, query: str, top_k: int, query_embedding: Optional[list[float]] = None,
                    ids: Optional[list[str]] = None) -> list[dict[str, Any]]:
        # ids: the pre-1.4.8 full_doc_id filter; NanoVectorDB ignored it too.
        if query_embedding is not None:
            vec = encode_vector(query_embedding)
        else:
            emb = await self._embed([query], "query", _priority=5)
            vec = encode_rows(emb)[0]
        out = await self._post("/query", {"vector": vec, "top_k": int(top_k),
                                           "threshold": float(self.cosine_better_than_threshold)})
        return [
            {
                **m["fields"],
                "__id__": m["id"],
                "__created_at__": m["created_at"],
                "__metrics__": m["similarity"],
                "id": m["id"],
                "distance": m["similarity"],
                "created_at": m["created_at"],
            }
            for m in out["matches"]
        ]

    @staticmethod
    def _view(r: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
        if r is None:
            return None
        return {**r["fields"], "__id__": r["id"], "__created_at__": r["created_at"],
                "id": r["id"], "created_at": r["created_at"]}

    async def get_by_id(self, id: str) -> dict[str, Any] | None:
        out = await self._post("/get", {"ids": [id]})
        return self._view(out["records"][0])

    async def get_by_ids(self, ids: list[str]) -> list[dict[str, Any] | None]:
        ids = list(ids)
        if not ids:
            return []
        out = await self._post("/get", {"ids": ids})
        return [self._view(r) for r in out["records"]]

    async def get_vectors_by_ids(self, ids: list[str]) -> dict[str, list[float]]:
        ids = list(ids)
        if not ids:
            return {}
        out = await self._post("/vectors", {"ids": ids, "encoding": "array"})
        return out["vectors"]

    async def delete(self, ids: list[str]) -> None:
        ids = list(ids)
        if not ids:
            return
        await self._post("/delete", {"ids": ids})

    async def delete_entity(self, entity_name: str) -> None:
        await self._post("/delete-entity", {"entity_name": entity_name})

    async def delete_entity_relation(self, entity_name: str) -> None:
        await self._post("/delete-entity-relation", {"entity_name": entity_name})

    async def is_empty(self) -> bool:
        out = await self._get()
        return bool(out["is_empty"])

    async def count(self) -> int:
        """Number of vectors (not part of LightRAG's interface)."""
        out = await self._get()
        return int(out["count"])
