"""A replay of LightRAG's ingest call pattern for one 20-chunk document
(contract doc section 7.1) through the client against a JSON database,
timed: prints calls/s and the per-call p50/p90 (HTTP round trip).

The shape follows ainsert in LightRAG 1.4.16: enqueue, then per document
the chunk writes, two extraction passes per chunk with LLM-cache misses,
the entity merge (~5 calls each, 8 at a time), the relation merge (~10
calls each), then index_done_callback on all 12 storages.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import statistics
import sys
import time
import unittest

import hybridrag_proxy as hp
from hybridrag_proxy import DocStatus

from . import helpers as h
from .proxyserver import ProxyServer

CHUNKS = 20
ENTITIES = 200
RELATIONS = 200
PASSES = 2  # extraction + one gleaning pass
MAX_ASYNC = 4
MERGE_ASYNC = 8
DIM = 1024
SEP = "<SEP>"


def md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


class IngestReplayTest(unittest.TestCase):
    """A plain TestCase running its own event loop: IsolatedAsyncioTestCase
    turns on asyncio debug mode, which costs more than the calls measured."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.server = ProxyServer({"bench": {"backend": "json", "path": "bench"}}).start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.cleanup()

    def setUp(self) -> None:
        h.point_env_at(self.server.url, "bench")

    def test_replay_one_document(self) -> None:
        """LightRAG's concurrency: 4 chunks and 8 merges at a time."""
        asyncio.run(self._replay(MAX_ASYNC, MERGE_ASYNC, "concurrent"))

    def test_replay_one_document_sequential(self) -> None:
        """One call at a time: the unloaded per-call latency."""
        asyncio.run(self._replay(1, 1, "sequential"))

    def _storages(self, ws: str):
        emb = h.FakeEmbedder(DIM)
        kv = {ns: h.kv(ns, ws) for ns in ("full_docs", "text_chunks", "full_entities", "full_relations",
                                          "entity_chunks", "relation_chunks", "llm_response_cache")}
        vdb = {
            "entities": h.vector("entities", ws, emb, {"entity_name", "source_id", "content", "file_path"}),
            "relationships": h.vector("relationships", ws, emb, {"src_id", "tgt_id", "source_id", "content", "file_path"}),
            "chunks": h.vector("chunks", ws, emb, {"full_doc_id", "content", "file_path"}),
        }
        return kv, vdb, h.graph(ws), h.docs(ws)

    async def _replay(self, max_async: int, merge_async: int, label: str) -> None:
        ws = h.fresh_workspace("ingest")
        kv, vdb, graph, docs = self._storages(ws)
        everything = [*kv.values(), *vdb.values(), graph, docs]
        for s in everything:  # initialize_storages, in order, one at a time
            await s.initialize()

        latencies: list[float] = []
        client = hp.get_client()
        client.on_call = lambda m, t, s: latencies.append(s)
        rng = random.Random(7)
        content = " ".join(f"word{i}" for i in range(4000))
        doc_id = "doc-" + md5(content)
        chunk_ids = [f"chunk-{md5(f'{content}-{i}')}" for i in range(CHUNKS)]
        names = [f"Entity {i:03d}" for i in range(ENTITIES)]
        pairs = set()
        while len(pairs) < RELATIONS:
            a, b = sorted(rng.sample(names, 2))
            pairs.add((a, b))
        pairs = sorted(pairs)
        now = "2026-01-15T08:00:00+00:00"

        def status(st: DocStatus, **extra) -> dict:
            return {doc_id: {"status": st.value, "content_summary": content[:250], "content_length": len(content),
                             "file_path": "doc.txt", "created_at": now, "updated_at": now, "track_id": "insert_x",
                             **extra}}

        start = time.perf_counter()
        # --- enqueue
        new = await docs.filter_keys({doc_id})
        self.assertEqual(new, {doc_id})
        await kv["full_docs"].upsert({doc_id: {"content": content, "file_path": "doc.txt"}})
        await kv["full_docs"].index_done_callback()
        await docs.upsert(status(DocStatus.PENDING))
        # --- process
        todo = await docs.get_docs_by_statuses([DocStatus.PROCESSING, DocStatus.FAILED, DocStatus.PENDING])
        self.assertIn(doc_id, todo)
        await kv["full_docs"].get_by_id(doc_id)
        await kv["full_docs"].get_by_id(doc_id)
        # 1-2: the document and its chunks
        await kv["full_docs"].get_by_id(doc_id)
        chunks = {cid: {"tokens": 1200, "content": f"chunk {i} " + content[i * 100:(i + 1) * 100],
                        "chunk_order_index": i, "full_doc_id": doc_id, "file_path": "doc.txt"}
                  for i, cid in enumerate(chunk_ids)}
        await asyncio.gather(docs.upsert(status(DocStatus.PROCESSING, chunks_list=chunk_ids, chunks_count=CHUNKS)),
                             vdb["chunks"].upsert(chunks), kv["text_chunks"].upsert(chunks))

        # 3-4: extraction, per chunk and pass: LLM-cache misses, then the chunk's cache list
        llm_sem = asyncio.Semaphore(max_async)

        async def extract(cid: str) -> None:
            keys = []
            for p in range(PASSES):
                key = f"default:extract:{md5(cid + str(p))}"
                async with llm_sem:
                    self.assertIsNone(await kv["llm_response_cache"].get_by_id(key))
                    await kv["llm_response_cache"].get_by_id(key)
                    await kv["llm_response_cache"].upsert({key: {"return": "entities...", "cache_type": "extract",
                                                                 "chunk_id": cid, "original_prompt": "p"}})
                keys.append(key)
            rec = await kv["text_chunks"].get_by_id(cid)
            rec["llm_cache_list"] = keys
            await kv["text_chunks"].upsert({cid: rec})

        chunk_sem = asyncio.Semaphore(max_async)

        async def extract_limited(cid: str) -> None:
            async with chunk_sem:
                await extract(cid)

        await asyncio.gather(*(extract_limited(c) for c in chunk_ids))

        # 5: merge phase 1, per entity
        merge_sem = asyncio.Semaphore(merge_async)

        async def merge_entity(name: str) -> None:
            async with merge_sem:
                src = SEP.join(rng.sample(chunk_ids, 2))
                await graph.get_node(name)
                await kv["entity_chunks"].get_by_id(name)
                await kv["entity_chunks"].upsert({name: {"chunk_ids": src.split(SEP), "count": 2}})
                node = {"entity_id": name, "entity_type": "person", "description": f"{name} is someone",
                        "source_id": src, "file_path": "doc.txt", "created_at": 1768464000, "truncate": ""}
                await graph.upsert_node(name, node)
                await vdb["entities"].upsert({"ent-" + md5(name): {"entity_name": name, "entity_type": "person",
                                                                    "content": f"{name}\n{node['description']}",
                                                                    "source_id": src, "file_path": "doc.txt"}})

        await asyncio.gather(*(merge_entity(n) for n in names))

        # 6: merge phase 2, per relation
        async def merge_relation(a: str, b: str) -> None:
            async with merge_sem:
                key = f"{a}{SEP}{b}"
                src = rng.choice(chunk_ids)
                self.assertFalse(await graph.has_edge(a, b))
                await kv["relation_chunks"].get_by_id(key)
                await kv["relation_chunks"].upsert({key: {"chunk_ids": [src], "count": 1}})
                for endpoint in (a, b):
                    self.assertIsNotNone(await graph.get_node(endpoint))
                    await kv["entity_chunks"].get_by_id(endpoint)
                edge = {"weight": 1.0, "description": f"{a} knows {b}", "keywords": "knows", "source_id": src,
                        "file_path": "doc.txt", "created_at": 1768464000, "truncate": ""}
                await graph.upsert_edge(a, b, edge)
                await vdb["relationships"].delete(["rel-" + md5(a + b), "rel-" + md5(b + a)])
                await vdb["relationships"].upsert({"rel-" + md5(a + b): {
                    "src_id": a, "tgt_id": b, "keywords": "knows", "description": edge["description"],
                    "content": f"knows\t{a}\n{b}\n{edge['description']}", "source_id": src, "file_path": "doc.txt",
                    "weight": 1.0}})

        await asyncio.gather(*(merge_relation(a, b) for a, b in pairs))

        # 7-9: the document's entity/relation lists, PROCESSED, _insert_done
        await kv["full_entities"].upsert({doc_id: {"entity_names": names, "count": len(names)}})
        await kv["full_relations"].upsert({doc_id: {"relation_pairs": [list(p) for p in pairs], "count": len(pairs)}})
        await docs.upsert(status(DocStatus.PROCESSED, chunks_list=chunk_ids, chunks_count=CHUNKS))
        await asyncio.gather(*(s.index_done_callback() for s in everything))
        elapsed = time.perf_counter() - start
        client.on_call = None

        # The data all arrived.
        self.assertEqual(await graph.counts(), (ENTITIES, RELATIONS))
        self.assertEqual(await vdb["entities"].count(), ENTITIES)
        self.assertEqual(await vdb["relationships"].count(), RELATIONS)
        self.assertEqual(await vdb["chunks"].count(), CHUNKS)
        self.assertEqual(await kv["llm_response_cache"].count(), CHUNKS * PASSES)
        self.assertEqual(len((await kv["text_chunks"].get_by_id(chunk_ids[0]))["llm_cache_list"]), PASSES)
        self.assertEqual((await docs.get_all_status_counts())["processed"], 1)

        n = len(latencies)
        lat = sorted(latencies)
        p50 = statistics.median(lat) * 1e3
        p90 = lat[int(0.9 * (n - 1))] * 1e3
        self.assertGreater(n, 3000, "the replay makes LightRAG's ~3,000 calls")
        print(f"\n[ingest replay, {label}] 1 document, {CHUNKS} chunks, {ENTITIES} entities, {RELATIONS} relations, dim {DIM}: "
              f"{n} HTTP calls in {elapsed:.2f}s = {n / elapsed:.0f} calls/s; per call p50 {p50:.3f} ms, "
              f"p90 {p90:.3f} ms (JSON database, loopback)", file=sys.stderr)
        for s in everything:
            await s.finalize()
        await client.aclose()
