"""ProxyGraphStorage: LightRAG's BaseGraphStorage over the proxy.

Every single-item method is a one-item call of the matching batch route, and
every batch method is one request. Edges are undirected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional

from .bases import BaseGraphStorage, KnowledgeGraph, KnowledgeGraphEdge, KnowledgeGraphNode
from .common import SCAN_PAGE, ProxyStorageMixin

# Items per batch write request.
WRITE_BATCH = 2000


def _pairs(edges: Iterable[Any]) -> list[dict[str, str]]:
    out = []
    for e in edges:
        if isinstance(e, dict):
            out.append({"src": e["src"], "tgt": e["tgt"]})
        else:
            s, t = e[0], e[1]
            out.append({"src": s, "tgt": t})
    return out


@dataclass
class ProxyGraphStorage(ProxyStorageMixin, BaseGraphStorage):
    """The chunk_entity_relation graph."""

    def __post_init__(self) -> None:
        parent = getattr(super(), "__post_init__", None)
        if parent is not None:
            parent()
        self._proxy_setup("graphs")

    # --- nodes -----------------------------------------------------------

    async def has_node(self, node_id: str) -> bool:
        return (await self._post("/nodes/has", {"ids": [node_id]}))["exists"][0]

    async def has_nodes_batch(self, node_ids: list[str]) -> set[str]:
        ids = list(node_ids)
        if not ids:
            return set()
        exists = (await self._post("/nodes/has", {"ids": ids}))["exists"]
        return {i for i, ok in zip(ids, exists) if ok}

    async def node_degree(self, node_id: str) -> int:
        return int((await self._post("/nodes/degrees", {"ids": [node_id]}))["degrees"][0])

    async def node_degrees_batch(self, node_ids: list[str]) -> dict[str, int]:
        ids = list(node_ids)
        if not ids:
            return {}
        degrees = (await self._post("/nodes/degrees", {"ids": ids}))["degrees"]
        return {i: int(d) for i, d in zip(ids, degrees)}

    async def get_node(self, node_id: str) -> dict[str, Any] | None:
        return (await self._post("/nodes/get", {"ids": [node_id]}))["nodes"][0]

    async def get_nodes_batch(self, node_ids: list[str]) -> dict[str, dict[str, Any]]:
        ids = list(node_ids)
        if not ids:
            return {}
        nodes = (await self._post("/nodes/get", {"ids": ids}))["nodes"]
        return {i: n for i, n in zip(ids, nodes) if n is not None}

    async def get_node_edges(self, source_node_id: str) -> list[tuple[str, str]] | None:
        item = (await self._post("/nodes/edges", {"ids": [source_node_id]}))["edges"][0]
        if not item["found"]:
            return None
        return [(e["src"], e["tgt"]) for e in item["edges"]]

    async def get_nodes_edges_batch(self, node_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
        ids = list(node_ids)
        if not ids:
            return {}
        items = (await self._post("/nodes/edges", {"ids": ids}))["edges"]
        return {i: [(e["src"], e["tgt"]) for e in it["edges"]] for i, it in zip(ids, items)}

    async def upsert_node(self, node_id: str, node_data: dict[str, Any]) -> None:
        await self._post("/nodes/upsert", {"nodes": [{"id": node_id, "properties": node_data}]})

    async def upsert_nodes_batch(self, nodes: list[tuple[str, dict[str, Any]]]) -> None:
        items = [{"id": n, "properties": d} for n, d in nodes]
        for i in range(0, len(items), WRITE_BATCH):
            await self._post("/nodes/upsert", {"nodes": items[i : i + WRITE_BATCH]})

    async def upsert_nodes_bulk(self, nodes: list[tuple[str, dict[str, Any]]], batch_size: int = 500) -> None:
        await self.upsert_nodes_batch(nodes)

    async def delete_node(self, node_id: str) -> None:
        await self._post("/nodes/delete", {"ids": [node_id]})

    async def remove_nodes(self, nodes: list[str]) -> None:
        ids = list(nodes)
        if ids:
            await self._post("/nodes/delete", {"ids": ids})

    # --- edges -----------------------------------------------------------

    async def has_edge(self, source_node_id: str, target_node_id: str) -> bool:
        body = {"pairs": [{"src": source_node_id, "tgt": target_node_id}]}
        return (await self._post("/edges/has", body))["exists"][0]

    async def edge_degree(self, src_id: str, tgt_id: str) -> int:
        body = {"pairs": [{"src": src_id, "tgt": tgt_id}]}
        return int((await self._post("/edges/degrees", body))["degrees"][0])

    async def edge_degrees_batch(self, edge_pairs: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
        pairs = _pairs(edge_pairs)
        if not pairs:
            return {}
        degrees = (await self._post("/edges/degrees", {"pairs": pairs}))["degrees"]
        return {(p["src"], p["tgt"]): int(d) for p, d in zip(pairs, degrees)}

    async def get_edge(self, source_node_id: str, target_node_id: str) -> dict[str, Any] | None:
        body = {"pairs": [{"src": source_node_id, "tgt": target_node_id}]}
        return (await self._post("/edges/get", body))["edges"][0]

    async def get_edges_batch(self, pairs: list[dict[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        ps = _pairs(pairs)
        if not ps:
            return {}
        edges = (await self._post("/edges/get", {"pairs": ps}))["edges"]
        return {(p["src"], p["tgt"]): e for p, e in zip(ps, edges) if e is not None}

    async def upsert_edge(self, source_node_id: str, target_node_id: str, edge_data: dict[str, Any]) -> None:
        body = {"edges": [{"src": source_node_id, "tgt": target_node_id, "properties": edge_data}]}
        await self._post("/edges/upsert", body)

    async def upsert_edges_batch(self, edges: list[tuple[str, str, dict[str, Any]]]) -> None:
        items = [{"src": s, "tgt": t, "properties": d} for s, t, d in edges]
        for i in range(0, len(items), WRITE_BATCH):
            await self._post("/edges/upsert", {"edges": items[i : i + WRITE_BATCH]})

    async def upsert_edges_bulk(self, edges: list[tuple[str, str, dict[str, Any]]], batch_size: int = 500) -> None:
        await self.upsert_edges_batch(edges)

    async def remove_edges(self, edges: list[tuple[str, str]]) -> None:
        pairs = _pairs(edges)
        if pairs:
            await self._post("/edges/delete", {"pairs": pairs})

    # --- whole-graph reads -------------------------------------------------

    async def get_all_labels(self) -> list[str]:
        return (await self._get("/labels"))["labels"]

    async def get_popular_labels(self, limit: int = 300) -> list[str]:
        return (await self._get("/labels/popular", {"limit": int(limit)}))["labels"]

    async def search_labels(self, query: str, limit: int = 50) -> list[str]:
        return (await self._get("/labels/search", {"q": query, "limit": int(limit)}))["labels"]

    # get_all_nodes / get_all_edges list the graph in the order LightRAG's
    # own storage for the backend does (order=storage): NetworkX's on a JSON
    # database, each edge once from the endpoint inserted first.

    async def get_all_nodes(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = []
        params: dict[str, Any] = {"order": "storage", "limit": SCAN_PAGE}
        while True:
            out = await self._get("/nodes", params)
            result.extend({**n["properties"], "id": n["id"]} for n in out["nodes"])
            if not out.get("cursor"):
                return result
            params["cursor"] = out["cursor"]

    async def get_all_edges(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = []
        params: dict[str, Any] = {"order": "storage", "limit": SCAN_PAGE}
        while True:
            out = await self._get("/edges", params)
            result.extend({**e["properties"], "source": e["src"], "target": e["tgt"]} for e in out["edges"])
            if not out.get("cursor"):
                return result
            params["cursor"] = out["cursor"]

    async def get_nodes_by_chunk_ids(self, chunk_ids: list[str]) -> list[dict[str, Any]]:
        out = await self._post("/nodes/by-chunk-ids", {"chunk_ids": list(chunk_ids)})
        return [{**n["properties"], "id": n["id"]} for n in out["nodes"]]

    async def get_edges_by_chunk_ids(self, chunk_ids: list[str]) -> list[dict[str, Any]]:
        out = await self._post("/edges/by-chunk-ids", {"chunk_ids": list(chunk_ids)})
        return [{**e["properties"], "source": e["src"], "target": e["tgt"]} for e in out["edges"]]

    async def get_knowledge_graph(
        self,
        node_label: str,
        max_depth: int = 3,
        max_nodes: Optional[int] = None,
        min_degree: int = 0,
        include_orphans: bool = False,
    ) -> KnowledgeGraph:
        # As NetworkXStorage: max_nodes is capped by global_config
        # ["max_graph_nodes"]. min_degree/include_orphans (newer forks) are
        # accepted for signature compatibility; the proxy does not filter.
        cap = (self.global_config or {}).get("max_graph_nodes")
        if max_nodes is None:
            max_nodes = int(cap) if cap else 1000
        elif cap:
            max_nodes = min(int(max_nodes), int(cap))
        out = await self._post("/knowledge-graph",
                               {"label": node_label, "max_depth": int(max_depth), "max_nodes": int(max_nodes)})
        return KnowledgeGraph(
            nodes=[KnowledgeGraphNode(id=n["id"], labels=n["labels"], properties=n["properties"]) for n in out["nodes"]],
            edges=[
                KnowledgeGraphEdge(id=e["id"], type=e.get("type"), source=e["source"], target=e["target"],
                                   properties=e["properties"])
                for e in out["edges"]
            ],
            is_truncated=bool(out["is_truncated"]),
        )

    async def embed_nodes(self, algorithm: str) -> Any:
        # Abstract in LightRAG < 1.3 only; no backend implements it.
        raise NotImplementedError("node embedding is not supported by the storage proxy")

    async def counts(self) -> tuple[int, int]:
        """(nodes, edges) (not part of LightRAG's interface)."""
        out = await self._get()
        return int(out["nodes"]), int(out["edges"])
