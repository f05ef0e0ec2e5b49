"""While a migration runs, the Python client's ingest keeps going.

A JSON database big enough that its migration takes a few seconds (a
folder made by the built binary's `proxy gen`) is served by the real proxy.
An ingest loop in a thread writes documents through the client's storage
classes as LightRAG does (full_docs, text_chunks, chunk and entity vectors,
graph nodes and edges, doc status, index_done_callback). The migration to
PostgreSQL is started through the admin API while it runs: its writes get
503 + Retry-After, the client retries them, the ingest finishes, and every
document written before, during and after the migration is read back from
the database, now served by PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
import unittest
import urllib.error
import urllib.request
import uuid
from unittest import mock

import hybridrag_proxy as hp
from hybridrag_proxy import DocStatus
from hybridrag_proxy import http as hp_http
from hybridrag_proxy.client import ENV_RETRY

from . import helpers as h
from .proxyserver import BackendNotBuiltIn, ProxyServer, proxy_binary, require_pg

DB = "mig"
DIM = 64
GEN_SIZE = "24MB"
DOCS_AFTER = 10  # documents ingested after the cutover
DEADLINE = 240.0  # seconds for the whole ingest




def http_json(method: str, url: str, body=None) -> tuple[int, dict, dict]:
    """(status, headers, decoded body) of one plain HTTP call."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.status, dict(resp.headers), json.loads(raw) if raw else {}
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            payload = {"raw": raw.decode("utf-8", "replace")}
        return e.code, dict(e.headers), payload


class Spy:
    """Watches every HTTP round trip of the client (Pool.roundtrip): the 503
    answers, their Retry-After, and what the same request got when it was
    sent again."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.retried: dict[int, tuple[bytes, list[tuple[int, str | None, str]]]] = {}

    def wrap(self, orig):
        spy = self

        async def roundtrip(pool, request: bytes, head_only: bool = False):
            resp = await orig(pool, request, head_only)
            key = id(request)
            with spy.lock:
                entry = spy.retried.get(key)
                if entry is not None and entry[0] is not request:
                    entry = None  # another request reusing a freed id
                if resp.status == 503 or entry is not None:
                    code = ""
                    if resp.status == 503:
                        try:
                            code = json.loads(resp.body).get("code", "")
                        except ValueError:
                            pass
                    if entry is None:
                        entry = (request, [])
                        spy.retried[key] = entry
                    entry[1].append((resp.status, resp.headers.get("retry-after"), code))
            return resp

        return roundtrip

    def summary(self) -> list[tuple[str, list[tuple[int, str | None, str]]]]:
        with self.lock:
            return [(req.split(b"\r\n", 1)[0].decode("latin-1"), list(st)) for req, st in self.retried.values()]


class MigrationDuringIngestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.dsn = require_pg()
        cls.server = ProxyServer({DB: {"backend": "json", "path": "gen"}})
        gen_dir = os.path.join(cls.server.data, "gen")
        os.makedirs(cls.server.data, exist_ok=True)
        res = subprocess.run([proxy_binary(), "gen", gen_dir, "--size", GEN_SIZE, "--dim", str(DIM), "--json"],
                             capture_output=True, text=True, timeout=300)
        if res.returncode != 0:
            cls.server.cleanup()
            raise RuntimeError(f"proxy gen failed:\n{res.stdout}{res.stderr}")
        cls.gen = json.loads(res.stdout.strip().splitlines()[-1])
        try:
            cls.server.start()
        except BackendNotBuiltIn:
            cls.server.cleanup()
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.cleanup()

    def setUp(self) -> None:
        h.point_env_at(self.server.url, DB)
        # The client's retry budget must outlast the maintenance window on a
        # loaded machine (the default is 30 s).
        self._old_retry = os.environ.get(ENV_RETRY)
        os.environ[ENV_RETRY] = "180"

    def tearDown(self) -> None:
        if self._old_retry is None:
            os.environ.pop(ENV_RETRY, None)
        else:
            os.environ[ENV_RETRY] = self._old_retry

    # --- the ingest, as LightRAG drives the storages

    def _storages(self):
        emb = h.FakeEmbedder(DIM)
        kv = {ns: h.kv(ns, "") for ns in ("full_docs", "text_chunks")}
        vdb = {
            "chunks": h.vector("chunks", "", emb, {"full_doc_id", "content", "file_path"}),
            "entities": h.vector("entities", "", emb, {"entity_name", "source_id", "content", "file_path"}),
        }
        return kv, vdb, h.graph(""), h.docs("")

    @staticmethod
    def _doc(i: int) -> dict:
        doc_id = f"mig-doc-{i:05d}"
        content = f"document {i} about migrations, written while the proxy moves to PostgreSQL. " * 4
        chunks = {f"mig-chunk-{i:05d}-{j}": {"tokens": 40, "content": f"chunk {j} of {doc_id}: {content[:120]}",
                                            "chunk_order_index": j, "full_doc_id": doc_id, "file_path": f"{doc_id}.txt"}
                  for j in range(2)}
        entity = f"Migration Entity {i:05d}"
        return {"id": doc_id, "content": content, "chunks": chunks, "entity": entity,
                "prev_entity": f"Migration Entity {i - 1:05d}" if i > 0 else None}

    async def _ingest_one(self, st, d: dict) -> None:
        kv, vdb, graph, docs = st
        now = "2026-01-15T08:00:00+00:00"

        def status(s: DocStatus, **extra) -> dict:
            return {d["id"]: {"status": s.value, "content_summary": d["content"][:100],
                              "content_length": len(d["content"]), "file_path": f"{d['id']}.txt",
                              "created_at": now, "updated_at": now, "track_id": "insert_mig", **extra}}

        await kv["full_docs"].upsert({d["id"]: {"content": d["content"], "file_path": f"{d['id']}.txt"}})
        await docs.upsert(status(DocStatus.PENDING))
        await kv["full_docs"].index_done_callback()
        chunk_ids = list(d["chunks"])
        await asyncio.gather(docs.upsert(status(DocStatus.PROCESSING, chunks_list=chunk_ids, chunks_count=2)),
                             vdb["chunks"].upsert(d["chunks"]), kv["text_chunks"].upsert(d["chunks"]))
        ent = d["entity"]
        await graph.upsert_node(ent, {"entity_id": ent, "entity_type": "concept",
                                      "description": f"{ent} from {d['id']}", "source_id": chunk_ids[0],
                                      "file_path": f"{d['id']}.txt"})
        if d["prev_entity"]:
            await graph.upsert_edge(d["prev_entity"], ent, {"weight": 1.0, "description": "follows",
                                                            "keywords": "order", "source_id": chunk_ids[0]})
        await vdb["entities"].upsert({f"ent-{d['id']}": {"content": f"{ent}\n{ent} from {d['id']}",
                                                          "entity_name": ent, "source_id": chunk_ids[0],
                                                          "file_path": f"{d['id']}.txt"}})
        await docs.upsert(status(DocStatus.PROCESSED, chunks_list=chunk_ids, chunks_count=2))
        for s in (*kv.values(), *vdb.values(), graph, docs):
            await s.index_done_callback()

    def _ingest_thread(self, state: dict) -> None:
        async def run() -> None:
            st = self._storages()
            kv, vdb, graph, docs = st
            for s in (*kv.values(), *vdb.values(), graph, docs):
                await s.initialize()
            deadline = time.monotonic() + DEADLINE
            i = 0
            try:
                while True:
                    phase = state["phase"]
                    if phase == "after" and state["after"] >= DOCS_AFTER:
                        break
                    if time.monotonic() > deadline:
                        raise AssertionError(f"the ingest did not finish within {DEADLINE:g}s (phase {phase})")
                    d = self._doc(i)
                    await self._ingest_one(st, d)
                    with state["lock"]:
                        state["written"].append((d, phase, state["phase"]))
                        if phase == "after":
                            state["after"] += 1
                    i += 1
            finally:
                await hp.get_client().aclose()

        try:
            asyncio.run(run())
        except BaseException as e:  # handed to the test
            state["error"] = e

    # --- the test

    def test_ingest_survives_migration(self) -> None:
        ws = "pymig_" + uuid.uuid4().hex[:10]
        self.addCleanup(self._cleanup_pg, ws)
        base = f"{self.server.url}/v1/databases/{DB}"
        count_before = asyncio.run(self._count_full_docs())

        spy = Spy()
        patcher = mock.patch.object(hp_http.Pool, "roundtrip", spy.wrap(hp_http.Pool.roundtrip))
        patcher.start()
        self.addCleanup(patcher.stop)

        state = {"phase": "before", "after": 0, "written": [], "lock": threading.Lock(), "error": None}
        t = threading.Thread(target=self._ingest_thread, args=(state,), daemon=True)
        t.start()
        # Some documents before the migration starts.
        self._wait(lambda: len(state["written"]) >= 15 or state["error"] or not t.is_alive(), 120,
                   "documents written before the migration")
        self.assertIsNone(state["error"], f"ingest failed before the migration: {state['error']!r}")

        state["phase"] = "during"
        code, _, job = http_json("POST", f"{base}/migration",
                                 {"to": "postgres", "dsn": self.dsn, "workspace": ws, "embedding_model": "pytest"})
        self.assertEqual(code, 202, job)
        self.assertTrue(job.get("running"), job)
        self.assertIn("phase", job.get("progress", {}), job)

        # Follow the job; look at the database's status while it runs.
        status_phases, job_phases = [], []
        deadline = time.monotonic() + 180
        while True:
            code, _, job = http_json("GET", f"{base}/migration")
            self.assertEqual(code, 200, job)
            job_phases.append(job["progress"]["phase"])
            if not job["running"]:
                break
            code, _, st = http_json("GET", f"{base}/status")
            self.assertEqual(code, 200, st)
            mig = st.get("migration")
            if mig is not None:
                self.assertIn("phase", mig, st)
                status_phases.append(mig["phase"])
            self.assertLess(time.monotonic(), deadline, f"migration still running after 180s: {job}")
            time.sleep(0.1)
        state["phase"] = "after"
        self.assertIsNone(job.get("error"), f"migration failed: {job.get('error')}")
        summary = job.get("summary") or {}
        self.assertTrue(summary.get("verified"), job)
        self.assertTrue(summary.get("cut_over"), job)
        self.assertEqual(job["progress"]["phase"], "done", job["progress"])
        running_phases = [p for p in status_phases if p not in ("done", "failed")]
        self.assertTrue(running_phases, f"GET {DB}/status never showed a running migration's phase "
                                        f"(status saw {status_phases}, the job went through {sorted(set(job_phases))})")

        t.join(DEADLINE + 30)
        self.assertFalse(t.is_alive(), "the ingest did not finish")
        if state["error"] is not None:
            raise AssertionError(f"the ingest failed: {state['error']!r}\n{self.server.log()}") from state["error"]

        # Writes saw 503 + Retry-After and the client sent them again until
        # they were taken.
        seen = spy.summary()
        maint = [(line, sts) for line, sts in seen if any(s == 503 for s, _, _ in sts)]
        self.assertTrue(maint, "no request of the ingest got a 503 during the migration")
        writes = [(line, sts) for line, sts in maint
                  if line.startswith("POST ") and "/upsert" in line
                  and any(s == 503 and ra for s, ra, _ in sts) and 200 <= sts[-1][0] < 300]
        self.assertTrue(writes, f"no write got 503 + Retry-After and then succeeded when retried: {maint[:5]}")
        codes = {c for _, sts in maint for s, _, c in sts if s == 503}
        self.assertIn("maintenance", codes, f"503 codes seen: {codes}")
        for line, sts in maint:
            self.assertTrue(200 <= sts[-1][0] < 300, f"{line}: retried but never taken: {sts}")

        # Every document is there, from PostgreSQL now.
        code, _, backend = http_json("GET", f"{base}/backend")
        self.assertEqual(code, 200, backend)
        self.assertEqual(backend.get("type"), "postgres", backend)
        self.assertEqual(backend.get("workspace"), ws, backend)
        self.assertFalse(backend.get("maintenance"), backend)

        written = state["written"]
        by_phase = {p: sum(1 for _, started, _ in written if started == p) for p in ("before", "during", "after")}
        overlapping = sum(1 for _, started, ended in written if started == "during" or ended == "during")
        self.assertGreater(by_phase["before"], 0, by_phase)
        self.assertGreater(overlapping, 0, f"no document was being written while the migration ran: {by_phase}")
        self.assertGreaterEqual(by_phase["after"], DOCS_AFTER, by_phase)
        missing = asyncio.run(self._read_back([d for d, _, _ in written]))
        self.assertEqual(missing, [], f"documents missing after the cutover ({by_phase}):\n" + "\n".join(missing[:30]))
        count_after = asyncio.run(self._count_full_docs())
        self.assertEqual(count_after, count_before + len(written),
                         f"full_docs: {count_before} generated + {len(written)} ingested")
        print(f"\n  migration: {self.gen}; ingested {by_phase}; {len(maint)} requests got 503 "
              f"(Retry-After {sorted({ra for _, sts in maint for s, ra, _ in sts if s == 503})}); "
              f"status showed phases {sorted(set(running_phases))}")

    async def _count_full_docs(self) -> int:
        s = h.kv("full_docs", "")
        await s.initialize()
        try:
            return await s.count()
        finally:
            await hp.get_client().aclose()

    async def _read_back(self, docs_written: list[dict]) -> list[str]:
        kv, vdb, graph, docs = self._storages()
        for s in (*kv.values(), *vdb.values(), graph, docs):
            await s.initialize()
        missing: list[str] = []
        try:
            ids = [d["id"] for d in docs_written]
            full = await kv["full_docs"].get_by_ids(ids)
            stats = await docs.get_by_ids(ids)
            for d, rec, stat in zip(docs_written, full, stats):
                if rec is None or rec.get("content") != d["content"]:
                    missing.append(f"full_docs {d['id']}: {rec!r:.200}")
                if stat is None or stat.get("status") != DocStatus.PROCESSED.value:
                    missing.append(f"doc_status {d['id']}: {stat!r:.200}")
            chunk_ids = [c for d in docs_written for c in d["chunks"]]
            chunks = {d_id: c for d in docs_written for d_id, c in d["chunks"].items()}
            for cid, rec in zip(chunk_ids, await kv["text_chunks"].get_by_ids(chunk_ids)):
                if rec is None or rec.get("content") != chunks[cid]["content"]:
                    missing.append(f"text_chunks {cid}: {rec!r:.200}")
            for cid, rec in zip(chunk_ids, await vdb["chunks"].get_by_ids(chunk_ids)):
                if rec is None or rec.get("full_doc_id") != chunks[cid]["full_doc_id"]:
                    missing.append(f"vector chunks {cid}: {rec!r:.200}")
            ent_ids = [f"ent-{d['id']}" for d in docs_written]
            for eid, rec in zip(ent_ids, await vdb["entities"].get_by_ids(ent_ids)):
                if rec is None:
                    missing.append(f"vector entities {eid}")
            nodes = await graph.get_nodes_batch([d["entity"] for d in docs_written])
            for d in docs_written:
                n = nodes.get(d["entity"])
                if n is None or n.get("description") != f"{d['entity']} from {d['id']}":
                    missing.append(f"graph node {d['entity']}: {n!r:.200}")
                if d["prev_entity"] and not await graph.has_edge(d["prev_entity"], d["entity"]):
                    missing.append(f"graph edge {d['prev_entity']} - {d['entity']}")
        finally:
            await hp.get_client().aclose()
        return missing

    def _wait(self, cond, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                self.fail(f"timed out waiting for {what}")
            time.sleep(0.05)

    def _cleanup_pg(self, ws: str) -> None:
        self.server.stop()  # closes its PostgreSQL connections first
        problem = h.drop_pg_workspace(self.dsn, ws)
        if problem:
            print(f"\n{problem}")


if __name__ == "__main__":
    unittest.main()
