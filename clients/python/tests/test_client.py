"""The HTTP client: keep-alive, concurrency, retries, errors, registration."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import types
import unittest
from pathlib import Path

import hybridrag_proxy as hp
from hybridrag_proxy import ProxyConfig, ProxyError
from hybridrag_proxy.client import ProxyClient

from . import helpers as h
from .proxyserver import ProxyServer, free_port

PKG_ROOT = Path(__file__).resolve().parents[1]
TOKEN = "t0ken"


def setUpModule() -> None:
    global SERVER
    SERVER = ProxyServer({"db1": {"backend": "json", "path": "db1"}}, token=TOKEN).start()


def tearDownModule() -> None:
    SERVER.cleanup()


class FakeServer:
    """A scripted HTTP server on 127.0.0.1: each connection reads requests
    and answers with the next scripted response (raw bytes)."""

    def __init__(self, responses: list[bytes], close_after_each: bool = False) -> None:
        self.responses = list(responses)
        self.requests: list[bytes] = []
        self.close_after_each = close_after_each
        self.connections = 0

    async def __aenter__(self) -> "FakeServer":
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                n = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        n = int(line.split(b":")[1])
                body = await reader.readexactly(n) if n else b""
                self.requests.append(head + body)
                writer.write(self.responses.pop(0) if self.responses else _resp(500, b'{"code":"script_end","message":"no more"}'))
                await writer.drain()
                if self.close_after_each:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _resp(status: int, body: bytes, extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def _client(url: str, **kw) -> ProxyClient:
    return ProxyClient(ProxyConfig(url=url, db=kw.pop("db", "db1"), token=kw.pop("token", TOKEN), **kw))


class ClientTest(unittest.IsolatedAsyncioTestCase):
    def setUp(self) -> None:
        h.point_env_at(SERVER.url, "db1", TOKEN)

    async def asyncTearDown(self) -> None:
        await hp.get_client().aclose()

    async def test_keep_alive_reuses_one_connection(self) -> None:
        c = _client(SERVER.url)
        for _ in range(50):
            await c.call("GET", c.target("/kv/full_docs"))
        self.assertEqual(c._state().pool.opened, 1)
        await c.aclose()

    async def test_hundreds_of_calls_in_flight(self) -> None:
        # IsolatedAsyncioTestCase runs in debug mode, which logs every slow
        # step of a loaded loop; measure the client, not the debugger.
        asyncio.get_running_loop().set_debug(False)
        ws = h.fresh_workspace()
        store = h.kv("text_chunks", ws)
        graph = h.graph(ws)
        n = 600

        async def one(i: int):
            await store.upsert({f"c{i}": {"content": str(i)}})
            await graph.upsert_node(f"n{i}", {"i": i})
            return (await store.get_by_id(f"c{i}"))["content"], await graph.get_node(f"n{i}")

        start = time.perf_counter()
        results = await asyncio.gather(*(one(i) for i in range(n)))
        elapsed = time.perf_counter() - start
        self.assertEqual([r[0] for r in results], [str(i) for i in range(n)])
        self.assertEqual([r[1] for r in results], [{"i": i} for i in range(n)])
        pool = hp.get_client()._state().pool
        self.assertLessEqual(pool.opened, hp.get_client().config.pool_size, "the pool bounds the connections")
        self.assertEqual(await store.count(), n)
        print(f"\n[concurrency] {4 * n} calls, {n} coroutines, {pool.opened} connections: "
              f"{4 * n / elapsed:.0f} calls/s", file=sys.stderr)

    async def test_retry_on_503_honours_retry_after(self) -> None:
        busy = _resp(503, b'{"code":"backend_unavailable","message":"busy"}', "Retry-After: 0\r\n")
        async with FakeServer([busy, busy, _resp(200, b'{"count":3,"is_empty":false}')]) as srv:
            c = _client(srv.url, retry_seconds=5)
            out = await c.call("GET", c.target("/kv/x"))
            self.assertEqual(out["count"], 3)
            self.assertEqual(len(srv.requests), 3)
            self.assertIn(b"Authorization: Bearer t0ken", srv.requests[0])
            await c.aclose()

    async def test_retry_gives_up_after_the_budget(self) -> None:
        busy = _resp(503, b'{"code":"database_locked","message":"locked","request_id":"rid-1"}', "Retry-After: 1\r\n")
        async with FakeServer([busy] * 10) as srv:
            c = _client(srv.url, retry_seconds=0.3)
            start = time.monotonic()
            with self.assertRaises(ProxyError) as cm:
                await c.call("GET", c.target("/kv/x"))
            self.assertLess(time.monotonic() - start, 2.0, "bounded by retry_seconds")
            self.assertEqual((cm.exception.code, cm.exception.status, cm.exception.request_id), ("database_locked", 503, "rid-1"))
            await c.aclose()

    async def test_unreachable_proxy(self) -> None:
        c = _client(f"http://127.0.0.1:{free_port()}", retry_seconds=0.2)
        with self.assertRaises(ProxyError) as cm:
            await c.call("GET", c.target("/kv/x"))
        self.assertEqual(cm.exception.code, "unavailable")
        self.assertIn("cannot reach the proxy", str(cm.exception))

    async def test_server_closing_idle_connections(self) -> None:
        ok = _resp(200, b'{"ok":true}')
        async with FakeServer([ok] * 5, close_after_each=True) as srv:
            c = _client(srv.url, retry_seconds=0)
            for _ in range(5):
                await asyncio.sleep(0.01)  # let the close reach us, or not: both must work
                self.assertEqual(await c.call("POST", c.target("/flush")), {"ok": True})
            self.assertEqual(srv.connections, 5)
            await c.aclose()

    async def test_chunked_response(self) -> None:
        body = b'{"labels":["a","b"]}'
        chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"5\r\n" + body[:5] + b"\r\n"
                   + f"{len(body) - 5:x}\r\n".encode() + body[5:] + b"\r\n0\r\n\r\n")
        async with FakeServer([chunked, _resp(200, b"{}")]) as srv:
            c = _client(srv.url)
            self.assertEqual(await c.call("GET", c.target("/graphs/g/labels")), {"labels": ["a", "b"]})
            self.assertEqual(await c.call("GET", c.target("/x")), {})
            self.assertEqual(srv.connections, 1, "the connection stays usable after a chunked body")
            await c.aclose()

    async def test_clear_exceptions_on_4xx(self) -> None:
        bad_db = _client(SERVER.url, db="nope")
        with self.assertRaises(ProxyError) as cm:
            await bad_db.call("GET", bad_db.target("/kv/full_docs"))
        e = cm.exception
        self.assertEqual((e.code, e.status), ("unknown_database", 404))
        self.assertTrue(e.request_id)
        self.assertIn("unknown_database", str(e))
        await bad_db.aclose()

        wrong_token = _client(SERVER.url, token="wrong")
        with self.assertRaises(ProxyError) as cm:
            await wrong_token.call("GET", wrong_token.target("/kv/full_docs"))
        self.assertEqual((cm.exception.code, cm.exception.status), ("unauthorized", 401))
        self.assertNotIn("wrong", repr(wrong_token), "the token never shows")
        await wrong_token.aclose()

        store = h.kv("full_docs", h.fresh_workspace())
        with self.assertRaises(ProxyError) as cm:
            await store.upsert({"x": "not an object"})
        self.assertIn(cm.exception.status, (400, 422))

        bad_ns = h.kv("bad namespace!", "")
        with self.assertRaises(ProxyError) as cm:
            await bad_ns.initialize()
        self.assertEqual(cm.exception.status, 400)
        self.assertEqual(cm.exception.code, "invalid_name")

        g = h.graph(h.fresh_workspace())
        with self.assertRaises(ProxyError):
            await g.get_knowledge_graph("*", max_depth=-1)
        res = await h.kv("full_docs", "").drop()  # drop reports failures LightRAG's way
        self.assertEqual(res["status"], "success")

    async def test_config_from_env(self) -> None:
        cfg = ProxyConfig.from_env({"HYBRIDRAG_PROXY_URL": "http://10.0.0.1:9000", "HYBRIDRAG_PROXY_DB": "rag",
                                    "HYBRIDRAG_PROXY_TOKEN": "tk", "HYBRIDRAG_PROXY_POOL_SIZE": "8"})
        self.assertEqual((cfg.url, cfg.db, cfg.token, cfg.pool_size), ("http://10.0.0.1:9000", "rag", "tk", 8))
        self.assertEqual(ProxyConfig.from_env({}).url, "http://127.0.0.1:8080")
        with self.assertRaises(ValueError):
            ProxyClient(ProxyConfig(url="127.0.0.1:8080"))
        with self.assertRaises(ValueError):
            ProxyConfig.from_env({"HYBRIDRAG_PROXY_RETRY_SECONDS": "soon"})
        self.assertFalse(ProxyConfig.from_env({}).flush_wait)
        self.assertTrue(ProxyConfig.from_env({"HYBRIDRAG_PROXY_FLUSH_WAIT": "1"}).flush_wait)
        with self.assertRaises(ValueError):
            ProxyConfig.from_env({"HYBRIDRAG_PROXY_FLUSH_WAIT": "maybe"})
        self.assertIs(hp.get_client(cfg), hp.get_client(cfg), "one shared client per configuration")

    def test_config_repr_hides_the_token(self) -> None:
        cfg = ProxyConfig.from_env({"HYBRIDRAG_PROXY_URL": "http://10.0.0.1:9000",
                                    "HYBRIDRAG_PROXY_TOKEN": "s3cret-token-value"})
        self.assertEqual(cfg.token, "s3cret-token-value")
        for text in (repr(cfg), str(cfg), f"{cfg}", repr(ProxyClient(cfg))):
            self.assertNotIn("s3cret-token-value", text, "the token never shows")
        self.assertIn("10.0.0.1:9000", repr(cfg), "the rest still shows")

    def test_deploy_files_use_the_clients_variables(self) -> None:
        # deploy/docker-compose.yml and the docs must name the variables the
        # client reads (ENV_* of client.py), not other spellings.
        import re

        from hybridrag_proxy import client as cl

        known = {cl.ENV_URL, cl.ENV_DB, cl.ENV_TOKEN, cl.ENV_POOL, cl.ENV_RETRY, cl.ENV_TIMEOUT, cl.ENV_FLUSH_WAIT}
        root = Path(__file__).resolve().parents[3]
        compose = (root / "deploy" / "docker-compose.yml").read_text()
        env = set(re.findall(r"^\s+(HYBRIDRAG_[A-Z_]+):", compose, re.M))
        self.assertTrue({cl.ENV_URL, cl.ENV_DB, cl.ENV_TOKEN} <= env, f"compose passes {sorted(env)}")
        files = [root / "deploy" / "docker-compose.yml", root / "README.md", root / "clients" / "python" / "README.md"]
        files += sorted((root / "docs").glob("*.md"))
        for f in files:
            if not f.exists():
                continue
            for name in re.findall(r"HYBRIDRAG_(?:STORAGE_)?PROXY_[A-Z_]+", f.read_text()):
                self.assertIn(name, known, f"{f.relative_to(root)} names {name}, which the client does not read")


class RegisterTest(unittest.TestCase):
    def test_register_without_lightrag(self) -> None:
        self.assertFalse(hp.LIGHTRAG_AVAILABLE)
        self.assertFalse(hp.register())

    def test_register_mutates_lightrag_registries(self) -> None:
        kg = types.ModuleType("lightrag.kg")
        kg.STORAGE_IMPLEMENTATIONS = {t: {"implementations": ["X"], "required_methods": []}
                                      for t in ("KV_STORAGE", "VECTOR_STORAGE", "GRAPH_STORAGE", "DOC_STATUS_STORAGE")}
        kg.STORAGES = {"X": ".kg.x"}
        kg.STORAGE_ENV_REQUIREMENTS = {"X": []}
        pkg = types.ModuleType("lightrag")
        pkg.kg = kg
        saved = {k: sys.modules.get(k) for k in ("lightrag", "lightrag.kg")}
        sys.modules.update({"lightrag": pkg, "lightrag.kg": kg})
        try:
            storages = kg.STORAGES
            self.assertTrue(hp.register())
            self.assertTrue(hp.register(), "idempotent")
            self.assertIs(kg.STORAGES, storages, "mutated in place")
            self.assertEqual(kg.STORAGE_IMPLEMENTATIONS["KV_STORAGE"]["implementations"], ["X", "ProxyKVStorage"])
            self.assertEqual(kg.STORAGE_IMPLEMENTATIONS["DOC_STATUS_STORAGE"]["implementations"], ["X", "ProxyDocStatusStorage"])
            for name in ("ProxyKVStorage", "ProxyVectorStorage", "ProxyGraphStorage", "ProxyDocStatusStorage"):
                self.assertEqual(kg.STORAGES[name], "hybridrag_proxy")
                self.assertEqual(kg.STORAGE_ENV_REQUIREMENTS[name], [])
                self.assertTrue(hasattr(__import__(kg.STORAGES[name]), name))
        finally:
            for k, v in saved.items():
                if v is None:
                    sys.modules.pop(k, None)
                else:
                    sys.modules[k] = v

    def test_subclasses_lightrag_bases_when_importable(self) -> None:
        """With a LightRAG whose bases declare every abstract method of
        1.4.9.8 and 1.4.16, the classes subclass them and instantiate."""
        with tempfile.TemporaryDirectory() as d:
            root = Path(d) / "lightrag"
            (root / "kg").mkdir(parents=True)
            (root / "__init__.py").write_text("")
            (root / "kg" / "__init__.py").write_text(
                "STORAGE_IMPLEMENTATIONS = {t: {'implementations': [], 'required_methods': []} for t in "
                "('KV_STORAGE', 'VECTOR_STORAGE', 'GRAPH_STORAGE', 'DOC_STATUS_STORAGE')}\n"
                "STORAGES = {}\nSTORAGE_ENV_REQUIREMENTS = {}\n")
            (root / "types.py").write_text(FAKE_TYPES)
            (root / "base.py").write_text(FAKE_BASE)
            code = textwrap.dedent("""
                import asyncio, lightrag.base as b, lightrag.types as t, hybridrag_proxy as hp
                assert hp.LIGHTRAG_AVAILABLE
                assert hp.register()
                pairs = [(hp.ProxyKVStorage, b.BaseKVStorage), (hp.ProxyVectorStorage, b.BaseVectorStorage),
                         (hp.ProxyGraphStorage, b.BaseGraphStorage), (hp.ProxyDocStatusStorage, b.DocStatusStorage)]
                for cls, base in pairs:
                    assert issubclass(cls, base), cls
                    assert not cls.__abstractmethods__, (cls, sorted(cls.__abstractmethods__))
                kv = hp.ProxyKVStorage(namespace="full_docs", workspace="", global_config={}, embedding_func=None)
                v = hp.ProxyVectorStorage(namespace="chunks", workspace="w", global_config={"vector_db_storage_cls_kwargs": {"cosine_better_than_threshold": 0.4}},
                                          embedding_func=None, meta_fields={"content"})
                assert v.cosine_better_than_threshold == 0.4
                g = hp.ProxyGraphStorage(namespace="chunk_entity_relation", workspace="", global_config={}, embedding_func=None)
                d = hp.ProxyDocStatusStorage(namespace="doc_status", workspace="", global_config={}, embedding_func=None)
                assert hp.KnowledgeGraph is t.KnowledgeGraph and hp.DocProcessingStatus is b.DocProcessingStatus
                print("ok")
            """)
            env = dict(os.environ, PYTHONPATH=os.pathsep.join([d, str(PKG_ROOT)]))
            res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
            self.assertEqual(res.returncode, 0, res.stderr)
            self.assertEqual(res.stdout.strip(), "ok")


FAKE_TYPES = '''
from dataclasses import dataclass, field
@dataclass
class KnowledgeGraphNode:
    id: str
    labels: list
    properties: dict
@dataclass
class KnowledgeGraphEdge:
    id: str
    type: str
    source: str
    target: str
    properties: dict
@dataclass
class KnowledgeGraph:
    nodes: list = field(default_factory=list)
    edges: list = field(default_factory=list)
    is_truncated: bool = False
'''

# The union of the abstract methods of LightRAG 1.4.9.8 and 1.4.16 (contract
# doc sections 1 and 8); fields as in lightrag/base.py.
FAKE_BASE = '''
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

def _abstract(*names):
    def deco(cls):
        for n in names:
            async def m(self, *a, **k): ...
            m.__name__ = n
            setattr(cls, n, abstractmethod(m))
        cls.__abstractmethods__ = frozenset(set(getattr(cls, "__abstractmethods__", ())) | set(names))
        return cls
    return deco

@_abstract("index_done_callback", "drop")
@dataclass
class StorageNameSpace(ABC):
    namespace: str
    workspace: str
    global_config: dict

@_abstract("get_by_id", "get_by_ids", "filter_keys", "upsert", "delete", "is_empty")
@dataclass
class BaseKVStorage(StorageNameSpace, ABC):
    embedding_func: Any

@_abstract("query", "upsert", "delete_entity", "delete_entity_relation", "get_by_id", "get_by_ids", "delete",
           "get_vectors_by_ids")
@dataclass
class BaseVectorStorage(StorageNameSpace, ABC):
    embedding_func: Any
    cosine_better_than_threshold: float = field(default=0.2)
    meta_fields: set = field(default_factory=set)

@_abstract("has_node", "has_edge", "node_degree", "edge_degree", "get_node", "get_edge", "get_node_edges",
           "upsert_node", "upsert_edge", "delete_node", "remove_nodes", "remove_edges", "get_all_labels",
           "get_knowledge_graph", "get_all_nodes", "get_all_edges", "get_popular_labels", "search_labels",
           "get_nodes_by_chunk_ids", "get_edges_by_chunk_ids", "get_nodes_batch", "node_degrees_batch",
           "edge_degrees_batch", "get_edges_batch", "get_nodes_edges_batch", "upsert_nodes_batch",
           "has_nodes_batch", "upsert_edges_batch")
@dataclass
class BaseGraphStorage(StorageNameSpace, ABC):
    embedding_func: Any

class DocStatus(str, Enum):
    PENDING = "pending"
    PROCESSING = "processing"
    PREPROCESSED = "preprocessed"
    PROCESSED = "processed"
    FAILED = "failed"

@dataclass
class DocProcessingStatus:
    content_summary: str
    content_length: int
    file_path: str
    status: DocStatus
    created_at: str
    updated_at: str
    track_id: str = None
    chunks_count: int = None
    chunks_list: list = field(default_factory=list)
    error_msg: str = None
    metadata: dict = field(default_factory=dict)

@_abstract("get_status_counts", "get_docs_by_status", "get_docs_by_statuses", "get_docs_by_track_id",
           "get_docs_paginated", "get_all_status_counts", "get_doc_by_file_path")
@dataclass
class DocStatusStorage(BaseKVStorage, ABC):
    pass
'''
