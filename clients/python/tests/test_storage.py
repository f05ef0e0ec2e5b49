"""Every method of the four storage classes against a real proxy, with
LightRAG's documented semantics (the cases of the Go conformance suite).

JSONStorageTest runs on a JSON database; PostgresStorageTest runs the same
cases on a PostgreSQL database when HYBRIDRAG_TEST_PG is set.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import unittest

import hybridrag_proxy as hp
from hybridrag_proxy import DocStatus, ProxyError

from . import helpers as h
from .proxyserver import BackendNotBuiltIn, ProxyServer, require_pg

SEP = "<SEP>"
KG_EDGES = [("H", "A"), ("H", "B"), ("H", "C"), ("H", "D"), ("A", "B"), ("A", "E"), ("C", "F"), ("F", "G")]
KG_NODES = ["H", "A", "B", "C", "D", "E", "F", "G", "Z"]

DIRECTIONS = {
    "north": [2.0, 0.0, 0.0, 0.0],
    "east": [0.0, 3.0, 0.0, 0.0],
    "south": [-1.0, 0.0, 0.0, 0.0],
    "north-east": [1.0, 1.0, 0.0, 0.0],
    "query-north": [5.0, 0.0, 0.0, 0.0],
}


class StorageCases:
    """The cases; a subclass provides server, db and backend."""

    server: ProxyServer
    db: str
    backend: str = "json"

    def setUp(self) -> None:
        h.point_env_at(self.server.url, self.db, self.server.token)
        self.ws = h.fresh_workspace()

    async def asyncTearDown(self) -> None:
        await hp.get_client().aclose()

    # --- KV ----------------------------------------------------------------

    async def test_kv_methods(self) -> None:
        s = h.kv("full_docs", self.ws)
        await s.initialize()
        self.assertTrue(await s.is_empty())
        before = int(time.time())
        await s.upsert({"doc-1": {"content": "hello", "file_path": "a.txt"}, "doc-2": {"content": "bye"}})
        self.assertFalse(await s.is_empty())
        got = await s.get_by_id("doc-1")
        self.assertEqual(got["content"], "hello")
        self.assertEqual(got["file_path"], "a.txt")
        self.assertEqual(got["_id"], "doc-1")
        self.assertGreaterEqual(got["create_time"], before)
        self.assertGreaterEqual(got["update_time"], got["create_time"])
        self.assertIsNone(await s.get_by_id("missing"))

        many = await s.get_by_ids(["doc-2", "missing", "doc-1"])
        self.assertEqual(len(many), 3, "aligned with the ids")
        self.assertEqual(many[0]["content"], "bye")
        self.assertIsNone(many[1])
        self.assertEqual(many[2]["_id"], "doc-1")
        self.assertEqual(await s.get_by_ids([]), [])

        missing = await s.filter_keys({"doc-1", "doc-9", "new"})
        self.assertIsInstance(missing, set)
        self.assertEqual(missing, {"doc-9", "new"})
        self.assertEqual(await s.filter_keys(set()), set())

        # upsert replaces the whole record (no field merge)
        await s.upsert({"doc-1": {"content": "replaced"}})
        got = await s.get_by_id("doc-1")
        self.assertNotIn("file_path", got)
        self.assertEqual(got["content"], "replaced")

        await s.delete(["doc-1", "never-stored"])
        self.assertIsNone(await s.get_by_id("doc-1"))
        self.assertEqual(await s.count(), 1)
        await s.index_done_callback()
        self.assertEqual(await s.get_all(), {"doc-2": await s.get_by_id("doc-2")})

        self.assertEqual(await s.drop(), {"status": "success", "message": "data dropped"})
        self.assertTrue(await s.is_empty())
        self.assertEqual((await s.health_check())["status"], "healthy")
        await s.finalize()

    async def test_kv_text_chunks_and_cache(self) -> None:
        chunks = h.kv("text_chunks", self.ws)
        await chunks.upsert({"chunk-1": {"content": "c", "tokens": 3, "chunk_order_index": 0, "full_doc_id": "doc-1"}})
        got = await chunks.get_by_id("chunk-1")
        self.assertEqual(got["llm_cache_list"], [], "text_chunks records get llm_cache_list")
        self.assertEqual(got["tokens"], 3)
        cache = h.kv("llm_response_cache", self.ws)
        key = "default:extract:" + hashlib.md5(b"p").hexdigest()
        await cache.upsert({key: {"return": "r", "cache_type": "extract", "chunk_id": "chunk-1", "original_prompt": "p"}})
        self.assertEqual((await cache.get_by_id(key))["return"], "r")
        self.assertEqual(chunks.global_config["embedding_batch_num"], 10, "LightRAG reads global_config")
        self.assertEqual((chunks.namespace, chunks.workspace), ("text_chunks", self.ws))

    async def test_kv_flush_writes_lightrag_files(self) -> None:
        if self.backend != "json":
            self.skipTest("JSON databases only")
        s = h.kv("full_docs", self.ws)
        await s.initialize()
        await s.upsert({"doc-1": {"content": "hello"}})
        path = os.path.join(self.server.data, self.db, self.ws, "kv_store_full_docs.json")
        # index_done_callback: the proxy rewrites the file in the background.
        await s.index_done_callback()
        for _ in range(6000):
            if os.path.exists(path):
                break
            await asyncio.sleep(0.01)
        # finalize waits for a flush: the file holds every acknowledged write.
        await s.upsert({"doc-2": {"content": "bye"}})
        await s.finalize()
        with open(path, encoding="utf-8") as f:
            on_disk = json.load(f)
        self.assertEqual(on_disk["doc-1"]["content"], "hello")
        self.assertEqual(on_disk["doc-2"]["content"], "bye")

    # --- vectors -----------------------------------------------------------

    async def _seed_vectors(self, namespace: str = "chunks", threshold: float = 0.2):
        emb = h.FakeEmbedder(4, DIRECTIONS)
        v = h.vector(namespace, self.ws, emb, {"content", "full_doc_id"},
                     vector_db_storage_cls_kwargs={"cosine_better_than_threshold": threshold})
        await v.initialize()
        await v.upsert({
            "e2": {"content": "east", "full_doc_id": "d", "dropped": "not a meta field"},
            "e1": {"content": "north", "full_doc_id": "d"},
            "neg": {"content": "south"},
            "e1e2": {"content": "north-east"},
        })
        return v, emb

    async def test_vector_upsert_and_query(self) -> None:
        v, emb = await self._seed_vectors()
        self.assertEqual(v.cosine_better_than_threshold, 0.2)
        self.assertEqual(await v.count(), 4)
        self.assertFalse(await v.is_empty())
        res = await v.query("query-north", top_k=10)
        self.assertEqual([r["id"] for r in res], ["e1", "e1e2"], "similarity >= threshold, best first")
        self.assertAlmostEqual(res[0]["distance"], 1.0, places=5)
        self.assertAlmostEqual(res[1]["distance"], 2 ** -0.5, places=5)
        self.assertEqual(res[0]["content"], "north")
        self.assertEqual(res[0]["full_doc_id"], "d")
        self.assertEqual(res[0]["__id__"], "e1")
        self.assertAlmostEqual(res[0]["__metrics__"], res[0]["distance"])
        self.assertLessEqual(abs(res[0]["created_at"] - time.time()), 60)
        self.assertEqual(emb.calls[-1][1].get("context"), "query")
        self.assertEqual(await v.query("query-north", top_k=1), res[:1])
        # a precomputed query embedding skips the embedding call
        n = len(emb.calls)
        res2 = await v.query("ignored", top_k=10, query_embedding=[0.0, 1.0, 0.0, 0.0])
        self.assertEqual(len(emb.calls), n)
        self.assertEqual([r["id"] for r in res2], ["e2", "e1e2"])

        strict, _ = await self._seed_vectors(namespace="entities", threshold=0.9)
        self.assertEqual(strict.cosine_better_than_threshold, 0.9, "from vector_db_storage_cls_kwargs")
        self.assertEqual([r["id"] for r in await strict.query("query-north", top_k=10)], ["e1"])

    async def test_vector_meta_fields_and_gets(self) -> None:
        v, _ = await self._seed_vectors()
        got = await v.get_by_id("e2")
        self.assertEqual(got["content"], "east")
        self.assertNotIn("dropped", got, "only meta_fields are kept")
        self.assertEqual((got["id"], got["__id__"]), ("e2", "e2"))
        self.assertIn("created_at", got)
        self.assertIsNone(await v.get_by_id("missing"))
        many = await v.get_by_ids(["e1", "missing", "neg"])
        self.assertEqual([m and m["id"] for m in many], ["e1", None, "neg"])
        vecs = await v.get_vectors_by_ids(["e1e2", "missing", "e2"])
        self.assertEqual(set(vecs), {"e1e2", "e2"})
        for id_, want in (("e1e2", [1, 1, 0, 0]), ("e2", [0, 3, 0, 0])):
            for a, b in zip(vecs[id_], want):
                self.assertAlmostEqual(a, b, delta=0.02 * max(1.0, abs(b)))
        self.assertEqual(await v.get_vectors_by_ids([]), {})

    async def test_vector_replace_and_delete(self) -> None:
        v, _ = await self._seed_vectors()
        await v.upsert({"e1": {"content": "east", "full_doc_id": "moved"}})
        self.assertEqual(await v.count(), 4)
        self.assertEqual([r["id"] for r in await v.query("query-north", top_k=10)], ["e1e2"], "old vector gone")
        await v.delete(["e1", "never"])
        self.assertEqual(await v.count(), 3)

        ents = h.vector("entities", self.ws, h.FakeEmbedder(4), {"entity_name", "content"})
        alice = "ent-" + hashlib.md5(b"Alice").hexdigest()
        await ents.upsert({alice: {"entity_name": "Alice", "content": "Alice"},
                           "custom": {"entity_name": "Bob", "content": "Bob"},
                           "ent-" + hashlib.md5(b"Carol").hexdigest(): {"entity_name": "Carol", "content": "Carol"}})
        await ents.delete_entity("Alice")
        await ents.delete_entity("Bob")
        await ents.delete_entity("Nobody")
        self.assertEqual(await ents.count(), 1)

        rels = h.vector("relationships", self.ws, h.FakeEmbedder(4), {"src_id", "tgt_id", "content"})
        await rels.upsert({"r1": {"src_id": "Alice", "tgt_id": "Bob", "content": "1"},
                           "r2": {"src_id": "Carol", "tgt_id": "Alice", "content": "2"},
                           "r3": {"src_id": "Bob", "tgt_id": "Carol", "content": "3"}})
        await rels.delete_entity_relation("Alice")
        self.assertEqual([r and r["id"] for r in await rels.get_by_ids(["r1", "r2", "r3"])], [None, None, "r3"])

        self.assertEqual((await v.drop())["status"], "success")
        self.assertTrue(await v.is_empty())
        await v.index_done_callback()

    async def test_vector_upsert_keeps_given_created_at(self) -> None:
        # A record copied from another store (its get_by_id view) keeps its
        # created_at; a record without one gets now.
        v = h.vector("entities", self.ws, h.FakeEmbedder(4), {"entity_name", "content"})
        await v.initialize()
        before = int(time.time())
        await v.upsert({"copied": {"entity_name": "A", "content": "a", "__created_at__": 1700000000,
                                   "created_at": 1700000000},
                        "fresh": {"entity_name": "B", "content": "b"}})
        copied, fresh = await v.get_by_ids(["copied", "fresh"])
        self.assertEqual((copied["created_at"], copied["__created_at__"]), (1700000000, 1700000000))
        self.assertEqual({k: copied[k] for k in ("entity_name", "content")}, {"entity_name": "A", "content": "a"})
        self.assertGreaterEqual(fresh["created_at"], before)
        again = h.vector("entities", h.fresh_workspace(), h.FakeEmbedder(4), {"entity_name", "content"})
        await again.upsert({"copied": copied})
        self.assertEqual((await again.get_by_id("copied"))["created_at"], 1700000000, "a copy of a copy too")

    async def test_vector_chunk_rows_like_lightrag(self) -> None:
        # LightRAG's chunks_vdb: meta_fields full_doc_id, content, file_path;
        # its records also hold tokens and chunk_order_index, which its
        # PGVectorStorage writes into their columns and NanoVectorDB drops.
        v = h.vector("chunks", self.ws, h.FakeEmbedder(4), {"full_doc_id", "content", "file_path"})
        await v.initialize()
        await v.upsert({"chunk-1": {"tokens": 12, "content": "hello", "chunk_order_index": 3,
                                    "full_doc_id": "doc-1", "file_path": "a.txt", "llm_cache_list": []}})
        got = await v.get_by_id("chunk-1")
        self.assertEqual({k: got[k] for k in ("full_doc_id", "content", "file_path")},
                         {"full_doc_id": "doc-1", "content": "hello", "file_path": "a.txt"})
        self.assertNotIn("llm_cache_list", got)
        if self.backend == "json":
            self.assertNotIn("tokens", got, "NanoVectorDB keeps meta_fields only")
            self.assertNotIn("chunk_order_index", got)
            await v.finalize()  # waits for the flush (index_done_callback does not)
            path = os.path.join(self.server.data, self.db, self.ws, "vdb_chunks.json")
            with open(path, encoding="utf-8") as f:
                item = json.load(f)["data"][0]
            self.assertEqual(set(item), {"__id__", "__created_at__", "full_doc_id", "content", "file_path", "vector"})
            return
        self.assertEqual((got["tokens"], got["chunk_order_index"]), (12, 3), "PGVectorStorage's SELECT * has them")
        try:
            import asyncpg  # type: ignore[import-not-found]
        except ImportError:
            return
        conn = await asyncpg.connect(require_pg())
        try:
            row = await conn.fetchrow("SELECT tokens, chunk_order_index FROM lightrag_vdb_chunks_pyclient_test_4d "
                                      "WHERE workspace = $1 AND id = $2", self.ws, "chunk-1")
        finally:
            await conn.close()
        self.assertEqual((row["tokens"], row["chunk_order_index"]), (12, 3), "the row's own columns")

    async def test_vector_embedding_batches(self) -> None:
        emb = h.FakeEmbedder(4, accept_context=False)  # a LightRAG <= 1.4.9 style embedding function
        v = h.vector("chunks", self.ws, emb, {"content"}, embedding_batch_num=3)
        await v.upsert({f"c{i}": {"content": f"text {i}"} for i in range(8)})
        self.assertEqual([len(c[0]) for c in emb.calls], [3, 3, 2], "batches of embedding_batch_num")
        self.assertEqual(await v.count(), 8)
        self.assertEqual(len(await v.query("text 5", top_k=1)), 1)
        await v.upsert({})

    async def test_vector_dimension_mismatch(self) -> None:
        await self._seed_vectors()
        wrong = h.vector("chunks", self.ws, h.FakeEmbedder(8), {"content"})
        with self.assertRaises(ProxyError) as cm:
            await wrong.upsert({"x": {"content": "x"}})
        self.assertEqual(cm.exception.code, "dimension_mismatch")
        self.assertEqual(cm.exception.status, 422)
        with self.assertRaises(ProxyError):
            await wrong.initialize()

    # --- graph -------------------------------------------------------------

    async def _seed_kg(self):
        g = h.graph(self.ws)
        await g.initialize()
        await g.upsert_edges_batch([(s, t, {"weight": 1.0}) for s, t in KG_EDGES])
        await g.upsert_nodes_batch([(n, {"entity_id": n}) for n in KG_NODES])
        return g

    async def test_graph_nodes(self) -> None:
        g = h.graph(self.ws)
        await g.upsert_node("n", {"a": "1", "b": "x"})
        await g.upsert_node("n", {"b": "y", "c": "z"})
        self.assertEqual(await g.get_node("n"), {"a": "1", "b": "y", "c": "z"}, "upsert_node merges")
        self.assertIsNone(await g.get_node("missing"))
        self.assertTrue(await g.has_node("n"))
        self.assertFalse(await g.has_node("missing"))
        await g.upsert_nodes_batch([("m", {"v": "1"}), ("m", {"v": "2"})])
        self.assertEqual(await g.get_node("m"), {"v": "2"}, "last write wins")
        self.assertEqual(await g.has_nodes_batch(["m", "n", "nope"]), {"m", "n"})
        self.assertEqual(await g.get_nodes_batch(["n", "missing", "m"]), {"n": {"a": "1", "b": "y", "c": "z"}, "m": {"v": "2"}})
        await g.upsert_nodes_bulk([("k", {"i": 1, "f": 2.5, "s": "1.0"})])
        k = await g.get_node("k")
        self.assertEqual(k, {"i": 1, "f": 2.5, "s": "1.0"})
        self.assertIsInstance(k["i"], int)
        await g.delete_node("k")
        self.assertFalse(await g.has_node("k"))
        self.assertEqual(await g.get_nodes_batch([]), {})
        self.assertEqual(await g.has_nodes_batch([]), set())

    async def test_graph_edges_undirected(self) -> None:
        g = h.graph(self.ws)
        await g.upsert_edge("a", "b", {"weight": 1.5, "d": "x"})
        self.assertTrue(await g.has_edge("a", "b"))
        self.assertTrue(await g.has_edge("b", "a"))
        self.assertFalse(await g.has_edge("a", "c"))
        await g.upsert_edge("b", "a", {"d": "y", "k": "z"})
        want = {"weight": 1.5, "d": "y", "k": "z"}
        self.assertEqual(await g.get_edge("b", "a"), want)
        self.assertEqual(await g.get_edge("a", "b"), want)
        self.assertIsNone(await g.get_edge("a", "zz"))
        self.assertEqual(await g.get_node("a"), {}, "edge upserts create missing endpoints")
        batch = await g.get_edges_batch([{"src": "b", "tgt": "a"}, {"src": "a", "tgt": "zz"}])
        self.assertEqual(batch, {("b", "a"): want}, "keyed by the requested orientation, missing omitted")
        await g.upsert_edges_batch([("p", "q", {"v": "1"}), ("q", "p", {"v": "2"})])
        self.assertEqual(await g.get_edge("p", "q"), {"v": "2"})
        await g.upsert_edges_bulk([("s", "s", {"d": "loop"})])
        self.assertTrue(await g.has_edge("s", "s"))
        self.assertEqual(await g.counts(), (5, 3))
        self.assertEqual(await g.get_edges_batch([]), {})

    async def test_graph_degrees_and_node_edges(self) -> None:
        g = await self._seed_kg()
        self.assertEqual([await g.node_degree(n) for n in ("H", "A", "Z", "missing")], [4, 3, 0, 0])
        self.assertEqual(await g.node_degrees_batch(["H", "missing", "G"]), {"H": 4, "missing": 0, "G": 1})
        self.assertEqual(await g.edge_degree("H", "A"), 7)
        eb = await g.edge_degrees_batch([("H", "A"), ("A", "H"), ("G", "missing"), ("x", "y")])
        self.assertEqual(eb, {("H", "A"): 7, ("A", "H"): 7, ("G", "missing"): 1, ("x", "y"): 0})
        self.assertEqual(sorted(await g.get_node_edges("A")), [("A", "B"), ("A", "E"), ("A", "H")])
        self.assertIsNone(await g.get_node_edges("missing"))
        self.assertEqual(await g.get_node_edges("Z"), [])
        ne = await g.get_nodes_edges_batch(["G", "missing", "Z"])
        self.assertEqual(ne, {"G": [("G", "F")], "missing": [], "Z": []})
        self.assertEqual(await g.node_degrees_batch([]), {})

    async def test_graph_removals(self) -> None:
        g = await self._seed_kg()
        await g.remove_nodes(["H", "missing"])
        self.assertFalse(await g.has_node("H"))
        self.assertFalse(await g.has_edge("A", "H"), "incident edges go with the node")
        self.assertEqual(await g.counts(), (8, 4))
        await g.remove_edges([("B", "A"), ("x", "y")])
        self.assertFalse(await g.has_edge("A", "B"), "either orientation")
        self.assertTrue(await g.has_node("A"), "endpoints stay")
        self.assertEqual(await g.counts(), (8, 3))
        await g.remove_nodes([])
        await g.remove_edges([])

    async def test_graph_labels_and_scans(self) -> None:
        g = await self._seed_kg()
        self.assertEqual(await g.get_all_labels(), sorted(KG_NODES))
        self.assertEqual(await g.get_popular_labels(), ["H", "A", "B", "C", "F", "D", "E", "G", "Z"])
        self.assertEqual(await g.get_popular_labels(limit=4), ["H", "A", "B", "C"])
        nodes = await g.get_all_nodes()
        self.assertEqual(sorted(n["id"] for n in nodes), sorted(KG_NODES))
        self.assertEqual(next(n for n in nodes if n["id"] == "A"), {"entity_id": "A", "id": "A"})
        edges = await g.get_all_edges()
        self.assertEqual(sorted(tuple(sorted((e["source"], e["target"]))) for e in edges),
                         sorted(tuple(sorted(p)) for p in KG_EDGES))
        self.assertEqual(edges[0]["weight"], 1.0)

        s = h.graph(self.ws + "s")
        labels = ["Apple", "apple pie", "Pineapple", "big_apple", "APPLE", "Banana", "crab apple tree", "Snapple", "pear"]
        await s.upsert_nodes_batch([(lbl, {}) for lbl in labels])
        want = ["APPLE", "Apple", "apple pie", "big_apple", "crab apple tree", "Snapple", "Pineapple"]
        self.assertEqual(await s.search_labels("  apple "), want)
        self.assertEqual(await s.search_labels("apple", limit=3), want[:3])
        self.assertEqual(await s.search_labels("kiwi"), [])

    async def test_graph_scans_page_in_storage_order(self) -> None:
        """get_all_nodes/get_all_edges page with the proxy's cursor and give
        the same list as one page: the storage's order (NetworkX's on JSON)."""
        g = await self._seed_kg()
        whole_nodes, whole_edges = await g.get_all_nodes(), await g.get_all_edges()
        import hybridrag_proxy.graph as graph_module

        saved = graph_module.SCAN_PAGE
        graph_module.SCAN_PAGE = 2
        try:
            self.assertEqual(await g.get_all_nodes(), whole_nodes)
            self.assertEqual(await g.get_all_edges(), whole_edges)
        finally:
            graph_module.SCAN_PAGE = saved
        if self.db.startswith("json"):
            # NetworkX: nodes in insertion order (the edges created them),
            # each edge from the endpoint inserted first.
            self.assertEqual([n["id"] for n in whole_nodes][:3], [KG_EDGES[0][0], KG_EDGES[0][1], KG_EDGES[1][1]])
            self.assertEqual((whole_edges[0]["source"], whole_edges[0]["target"]), tuple(KG_EDGES[0]))

    async def test_graph_knowledge_graph(self) -> None:
        g = await self._seed_kg()
        kg = await g.get_knowledge_graph("*", max_depth=3, max_nodes=100)
        self.assertIsInstance(kg, hp.KnowledgeGraph)
        self.assertEqual(sorted(n.id for n in kg.nodes), sorted(KG_NODES))
        self.assertEqual(len(kg.edges), len(KG_EDGES))
        self.assertFalse(kg.is_truncated)
        node = next(n for n in kg.nodes if n.id == "A")
        self.assertEqual((node.labels, node.properties), (["A"], {"entity_id": "A"}))
        e = kg.edges[0]
        self.assertEqual((e.type, e.id), ("DIRECTED", f"{e.source}-{e.target}"))
        kg = await g.get_knowledge_graph("H", max_depth=1)
        self.assertEqual(sorted(n.id for n in kg.nodes), ["A", "B", "C", "D", "H"])
        kg = await g.get_knowledge_graph("*", max_nodes=3)
        self.assertEqual(sorted(n.id for n in kg.nodes), ["A", "B", "H"])
        self.assertTrue(kg.is_truncated)
        capped = h.graph(self.ws, max_graph_nodes=2)
        kg = await capped.get_knowledge_graph("*", max_nodes=100)
        self.assertEqual(len(kg.nodes), 2, "max_nodes is capped by global_config['max_graph_nodes']")
        kg = await g.get_knowledge_graph("missing")
        self.assertEqual((kg.nodes, kg.edges, kg.is_truncated), ([], [], False))

    async def test_graph_by_chunk_ids_and_drop(self) -> None:
        g = h.graph(self.ws)
        await g.upsert_nodes_batch([("n1", {"source_id": f"chunk-1{SEP}chunk-2"}), ("n2", {"source_id": "chunk-3"}),
                                    ("n3", {"source_id": "chunk-10"}), ("n4", {"other": "chunk-1"})])
        await g.upsert_edges_batch([("n1", "n2", {"source_id": "chunk-2"}),
                                    ("n3", "n2", {"source_id": f"chunk-3{SEP}chunk-10"})])
        nodes = await g.get_nodes_by_chunk_ids(["chunk-1", "chunk-3", "nope"])
        self.assertEqual(sorted(n["id"] for n in nodes), ["n1", "n2"])
        self.assertIn("source_id", nodes[0])
        edges = await g.get_edges_by_chunk_ids(["chunk-10"])
        self.assertEqual(len(edges), 1)
        self.assertEqual(sorted([edges[0]["source"], edges[0]["target"]]), ["n2", "n3"])
        self.assertEqual(edges[0]["source_id"], f"chunk-3{SEP}chunk-10")
        self.assertEqual(await g.get_nodes_by_chunk_ids([]), [])
        await g.index_done_callback()
        self.assertEqual(await g.drop(), {"status": "success", "message": "data dropped"})
        self.assertEqual(await g.counts(), (0, 0))
        self.assertEqual(await g.get_all_labels(), [])

    # --- doc status --------------------------------------------------------

    def _doc(self, i: int) -> dict:
        statuses = ["processed", "failed", "pending"]
        return {
            "status": statuses[i % 3],
            "content_summary": f"summary {i}",
            "content_length": 100 + i,
            "created_at": f"2026-01-15T08:{i:02d}:00.000000+00:00",
            "updated_at": f"2026-01-15T09:{59 - i:02d}:00.000000+00:00",
            "file_path": f"path-{(i * 7) % 25:02d}.txt",
            "track_id": ["track-a", "track-b"][i % 2],
            "chunks_count": i,
            "chunks_list": [f"chunk-{i}"],
            "metadata": {"processing_start_time": 1700000000 + i},
        }

    async def _seed_docs(self):
        d = h.docs(self.ws)
        await d.initialize()
        await d.upsert({f"doc-{i:02d}": self._doc(i) for i in range(25)})
        return d

    async def test_doc_status_kv_methods(self) -> None:
        d = await self._seed_docs()
        self.assertEqual(await d.get_by_id("doc-03"), self._doc(3), "stored as given: no _id, no create_time")
        await d.upsert({"bare": {"status": "pending", "content_summary": "x"}})
        self.assertEqual(await d.get_by_id("bare"), {"status": "pending", "content_summary": "x", "chunks_list": []})
        got = await d.get_by_ids(["doc-01", "missing"])
        self.assertEqual(got, [self._doc(1), None])
        self.assertEqual(await d.filter_keys({"doc-99", "doc-01", "bare"}), {"doc-99"})
        await d.delete(["bare", "never"])
        self.assertFalse(await d.is_empty())
        self.assertEqual(await d.count(), 25)
        await d.index_done_callback()

    async def test_doc_status_status_like_lightrag(self) -> None:
        # LightRAG's duplicate-document error_msg formats the stored status:
        # f"... Status: {existing_doc.get('status', 'unknown')}". Its JSON
        # storage hands back the DocStatus it stored ("DocStatus.PROCESSED"),
        # its PostgreSQL storage the column's string ("processed").
        d = h.docs(self.ws)
        await d.initialize()
        await d.upsert({"doc-1": {**self._doc(1), "status": DocStatus.PROCESSED}})
        want = "Status: DocStatus.PROCESSED" if self.backend == "json" else "Status: processed"
        existing = await d.get_by_id("doc-1")
        self.assertEqual(f"Status: {existing.get('status', 'unknown')}", want)
        self.assertEqual(existing["status"], "processed")
        self.assertEqual(json.loads(json.dumps(existing))["status"], "processed")
        [many] = await d.get_by_ids(["doc-1"])
        self.assertEqual(f"Status: {many['status']}", want)
        by_path = await d.get_doc_by_file_path(self._doc(1)["file_path"])
        self.assertEqual(f"Status: {by_path['status']}", want)

    async def test_doc_status_queries(self) -> None:
        d = await self._seed_docs()
        counts = await d.get_status_counts()
        self.assertEqual((counts["processed"], counts["failed"], counts["pending"]), (9, 8, 8))
        self.assertNotIn("all", counts)
        self.assertEqual((await d.get_all_status_counts())["all"], 25)

        by = await d.get_docs_by_status(DocStatus.FAILED)
        self.assertEqual(len(by), 8)
        doc = by["doc-01"]
        self.assertIsInstance(doc, hp.DocProcessingStatus)
        self.assertEqual(doc.status, "failed")
        self.assertEqual(doc.chunks_list, ["chunk-1"])
        self.assertEqual(doc.metadata, {"processing_start_time": 1700000001})
        self.assertIsNone(doc.error_msg)
        self.assertEqual(len(await d.get_docs_by_status("pending")), 8, "a plain string works too")
        multi = await d.get_docs_by_statuses([DocStatus.PROCESSING, DocStatus.FAILED, DocStatus.PENDING])
        self.assertEqual(len(multi), 16)
        self.assertEqual(await d.get_docs_by_statuses([]), {})
        track = await d.get_docs_by_track_id("track-a")
        self.assertEqual(len(track), 13)
        self.assertTrue(all(v.track_id == "track-a" for v in track.values()))

        self.assertEqual(await d.get_doc_by_file_path("path-07.txt"), self._doc(1))
        self.assertIsNone(await d.get_doc_by_file_path("nope"))

    async def test_doc_status_paginated(self) -> None:
        d = await self._seed_docs()
        page, total = await d.get_docs_paginated()
        self.assertEqual(total, 25)
        self.assertEqual([i for i, _ in page][:3], ["doc-00", "doc-01", "doc-02"], "updated_at desc by default")
        self.assertIsInstance(page[0][1], hp.DocProcessingStatus)
        page, total = await d.get_docs_paginated(page=2, page_size=10, sort_field="created_at", sort_direction="asc")
        self.assertEqual([i for i, _ in page], [f"doc-{i:02d}" for i in range(10, 20)])
        page, total = await d.get_docs_paginated(page_size=3, sort_field="id", sort_direction="DESC")
        self.assertEqual(len(page), 10, "page_size clamps to at least 10")
        self.assertEqual(page[0][0], "doc-24")
        page, total = await d.get_docs_paginated(status_filter=DocStatus.PENDING, page_size=50)
        self.assertEqual(total, 8)
        self.assertTrue(all(doc.status == "pending" for _, doc in page))
        page, total = await d.get_docs_paginated(sort_field="bogus", sort_direction="sideways")
        self.assertEqual(total, 25, "unknown sort values fall back to LightRAG's defaults")
        page, _ = await d.get_docs_paginated(sort_field="file_path", sort_direction="asc", page_size=10)
        self.assertEqual(page[0][1].file_path, "path-00.txt")

    async def test_doc_status_legacy_and_drop(self) -> None:
        d = h.docs(self.ws)
        await d.upsert({"old": {"status": "failed", "content": "full text", "content_summary": "s",
                                "content_length": 9, "created_at": "2024-01-01T00:00:00+00:00",
                                "updated_at": "2024-01-01T00:00:00+00:00", "error": "boom", "file_path": ""}})
        doc = (await d.get_docs_by_status(DocStatus.FAILED))["old"]
        self.assertEqual(doc.error_msg, "boom", "legacy error becomes error_msg")
        self.assertEqual(doc.file_path, "no-file-path")
        self.assertEqual((await d.get_by_id("old"))["error"], "boom", "the stored record is unchanged")
        self.assertEqual(await d.drop(), {"status": "success", "message": "data dropped"})
        self.assertTrue(await d.is_empty())
        await d.finalize()

    # --- lifecycle ---------------------------------------------------------

    async def test_index_done_callback_is_debounced(self) -> None:
        client = hp.get_client()
        flushes = []
        client.on_call = lambda m, t, s: flushes.append(t) if "/flush" in t else None
        try:
            stores = [h.kv(ns, self.ws) for ns in ("full_docs", "text_chunks", "full_entities", "full_relations",
                                                   "entity_chunks", "relation_chunks", "llm_response_cache")]
            stores += [h.graph(self.ws), h.docs(self.ws)]
            stores += [h.vector(ns, self.ws, h.FakeEmbedder(4), {"content"}) for ns in ("entities", "relationships", "chunks")]
            await stores[0].upsert({"d": {"content": "x"}})
            await asyncio.gather(*(s.index_done_callback() for s in stores))
            self.assertEqual(len(flushes), 1, "12 storages, one flush")
            self.assertTrue(flushes[0].endswith("/flush?wait=false"), flushes[0])
            await stores[1].index_done_callback()
            self.assertEqual(len(flushes), 2, "a later call flushes again")
        finally:
            client.on_call = None


class JSONStorageTest(StorageCases, unittest.IsolatedAsyncioTestCase):
    db = "jsondb"

    @classmethod
    def setUpClass(cls) -> None:
        cls.server = ProxyServer({"jsondb": {"backend": "json", "path": "jsondb"}}, token="s3cret").start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.cleanup()


class PostgresStorageTest(StorageCases, unittest.IsolatedAsyncioTestCase):
    db = "pgdb"
    backend = "postgres"

    @classmethod
    def setUpClass(cls) -> None:
        dsn = require_pg()
        # registry.yaml: a named PostgreSQL backend, and a database using it.
        # The model name gives the test its own vector tables.
        server = ProxyServer({"pgdb": {"backend": "pgtest"}}, token="s3cret",
                             backends={"pgtest": {"type": "postgres", "dsn": dsn, "embedding_model": "pyclient-test"}})
        try:
            cls.server = server.start()
        except BackendNotBuiltIn as e:
            server.cleanup()
            if os.environ.get("CI"):
                raise
            raise unittest.SkipTest(f"this proxy build cannot open PostgreSQL databases: {e}") from None

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.cleanup()

