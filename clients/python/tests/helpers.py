"""Shared test helpers: a fake embedding function and storage factories."""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import struct
import subprocess

import hybridrag_proxy as hp
from hybridrag_proxy.client import ENV_DB, ENV_TOKEN, ENV_URL

_ws_counter = itertools.count()


def fresh_workspace(prefix: str = "t") -> str:
    """A workspace of its own for each test, so tests never see each other's data."""
    return f"{prefix}{os.getpid()}_{next(_ws_counter)}"


def point_env_at(url: str, db: str, token: str = "") -> None:
    os.environ[ENV_URL] = url
    os.environ[ENV_DB] = db
    os.environ[ENV_TOKEN] = token


class FakeEmbedder:
    """An embedding_func: known texts map to fixed vectors, other texts to a
    stable hash-derived vector. Records every call."""

    def __init__(self, dim: int = 4, known: dict[str, list[float]] | None = None, accept_context: bool = True) -> None:
        self.embedding_dim = dim
        self.known = known or {}
        self.accept_context = accept_context
        self.calls: list[tuple[list[str], dict]] = []

    def vector(self, text: str) -> list[float]:
        if text in self.known:
            return list(self.known[text])
        raw = hashlib.sha256(text.encode()).digest() * (1 + self.embedding_dim * 4 // 32)
        return [((b / 255.0) - 0.5) for b in raw[: self.embedding_dim]]

    async def __call__(self, texts: list[str], **kwargs):
        if kwargs and not self.accept_context:
            raise TypeError("embed() got an unexpected keyword argument 'context'")
        self.calls.append((list(texts), kwargs))
        return [self.vector(t) for t in texts]


def global_config(**extra) -> dict:
    cfg = {
        "embedding_batch_num": 10,
        "vector_db_storage_cls_kwargs": {"cosine_better_than_threshold": 0.2},
        "max_graph_nodes": 1000,
        "working_dir": "/nonexistent",
    }
    cfg.update(extra)
    return cfg


def kv(namespace: str, workspace: str, **cfg) -> hp.ProxyKVStorage:
    return hp.ProxyKVStorage(namespace=namespace, workspace=workspace, global_config=global_config(**cfg),
                             embedding_func=None)


def vector(namespace: str, workspace: str, embedder: FakeEmbedder, meta_fields: set[str], **cfg) -> hp.ProxyVectorStorage:
    return hp.ProxyVectorStorage(namespace=namespace, workspace=workspace, global_config=global_config(**cfg),
                                 embedding_func=embedder, meta_fields=meta_fields)


def graph(workspace: str, **cfg) -> hp.ProxyGraphStorage:
    return hp.ProxyGraphStorage(namespace="chunk_entity_relation", workspace=workspace,
                                global_config=global_config(**cfg), embedding_func=None)


def docs(workspace: str) -> hp.ProxyDocStatusStorage:
    return hp.ProxyDocStatusStorage(namespace="doc_status", workspace=workspace, global_config=global_config(),
                                    embedding_func=None)


def f32(values: list[float]) -> list[float]:
    """Round to float32, as the proxy stores vectors."""
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def psql_path() -> str | None:
    bindir = os.environ.get("HYBRIDRAG_TEST_PG_BINDIR", "")
    if bindir and os.path.exists(os.path.join(bindir, "psql")):
        return os.path.join(bindir, "psql")
    return shutil.which("psql")


def drop_pg_workspace(dsn: str, workspace: str) -> str:
    """Delete a workspace's rows from every LightRAG/HybridRAG table; returns
    a problem description, or "" when done."""
    psql = psql_path()
    if psql is None:
        return "psql not found: rows of workspace %s are left in PostgreSQL" % workspace
    sql = """DO $$ DECLARE r record; BEGIN
FOR r IN SELECT c.relname::text AS name FROM pg_class c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'workspace'
  WHERE c.relkind = 'r' AND pg_table_is_visible(c.oid)
    AND (c.relname ILIKE 'lightrag%%' OR c.relname ILIKE 'hybridrag%%')
  ORDER BY c.relname = 'lightrag_graph_nodes'
LOOP EXECUTE format('DELETE FROM %%I WHERE workspace = %%L', r.name, '%s'); END LOOP; END $$;""" % workspace
    res = subprocess.run([psql, dsn, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], capture_output=True, text=True)
    if res.returncode != 0:
        return f"cleanup of workspace {workspace} failed: {res.stderr.strip()}"
    return ""
