"""Real LightRAG (1.4.16 and 1.4.9.8, from ../shared/lightrag-py) against the
real proxy binary, on a JSON and on a PostgreSQL database (issue 10).

(a) The whole pipeline (lightrag_driver.py: insert, duplicate re-insert,
    delete, re-insert, a context-only query in all five modes, with a fake
    LLM and hash embeddings) runs once on LightRAG's own storages and once
    through the proxy; the query contexts and the final stored state must be
    equal.
(b) LightRAG's own tests/test_graph_storage.py and the NetworkX batch tests of
    tests/test_batch_graph_operations.py run, unmodified, against
    ProxyGraphStorage (lightrag_pytest_plugin.py points them at it).
(c) LightRAG's own classes open what the proxy wrote: the JSON folder after a
    graceful stop, the PostgreSQL rows with PGKVStorage / PGVectorStorage /
    PGDocStatusStorage; they must read the records the native run reads, with
    no key LightRAG does not write itself.

What is compared strictly, and what is normalised (and why):
- Query contexts: strictly equal, character for character, on JSON and on
  PostgreSQL with the graph on NetworkX. With the graph on the proxy's
  PostgreSQL backend (all four proxy classes) each context is compared as a
  sorted list of lines: LightRAG 1.4.16's own PostgreSQL graph (Apache AGE)
  answers neighbour and edge listings without ORDER BY, so it promises no
  order, and the proxy's plain tables list by id (adapters/postgres
  TestGraphOrder); the lines themselves must be the same.
- JSON files: KV and doc-status files as JSON objects (LightRAG loads them
  into dicts and looks records up by id); NanoVectorDB data and matrix rows
  in file order (query ties follow it); the GraphML graph as
  networkx.read_graphml loads it: node order, edge order and orientation, and
  every node's adjacency order, strictly.
- PostgreSQL rows: per table, as a set of rows (a table has no row order;
  LightRAG's PG classes order by their own keys).
- Wall-clock fields (create_time, update_time, created_at, updated_at,
  __created_at__, processing_start_time/_end_time) are left out everywhere.
- LightRAG's adelete_by_doc_id writes "id" into the node dicts and
  "source"/"target" into the edge dicts that get_nodes_batch/get_edges_batch
  return (lightrag.py: "Ensure compatibility with existing logic").
  NetworkXStorage returns the graph's own attribute dicts, so those keys end
  up stored in its graph; over HTTP the client gets copies, so they do not.
  Those keys, where they equal the node id or an endpoint, are left out of
  the graph comparison.

Determinism: one worker everywhere (lightrag_driver.py explains the rest).
Documents are inserted one per ainsert call, except in JSONBatchPipelineTest:
LightRAG orders a multi-document batch by iterating the set filter_keys
returns and the dict get_docs_by_statuses returns. The proxy's JSON backend
lists documents in insertion order as LightRAG's JSON storage does, and the
client builds filter_keys' set as LightRAG's JSON storage does, so a batch on
JSON is held to strict equality too; LightRAG's PostgreSQL storage lists in
heap order, which nothing can match, so the PostgreSQL runs insert one by one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .helpers import psql_path
from .proxyserver import REPO, BackendNotBuiltIn, ProxyServer, pg_dsn, proxy_binary

SHARED = REPO.parent / "shared"
LIGHTRAG_PY = Path(os.environ.get("HYBRIDRAG_TEST_LIGHTRAG_PY", str(SHARED / "lightrag-py")))
DEPS = LIGHTRAG_PY / "deps"
LIGHTRAG_TESTS = LIGHTRAG_PY / "lightrag-1.4.16" / "tests"
VERSIONS = ["1.4.16", "1.4.9.8"]
SYSTEM_PYTHON = os.environ.get("HYBRIDRAG_TEST_LIGHTRAG_PYTHON", "/usr/bin/python3")
HERE = Path(__file__).resolve().parent
CLIENT = HERE.parent
DRIVER = HERE / "lightrag_driver.py"
EXAMPLE = CLIENT / "examples" / "lightrag_quickstart.py"
MODEL = "fake_hash_embed"  # lightrag_driver.MODEL: the vector tables' model suffix
TIMEOUT = 900


def _fail_or_skip(why: str) -> None:
    if os.environ.get("CI"):
        raise AssertionError(why)
    raise unittest.SkipTest(why)


def lightrag_env(version: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HYBRIDRAG_", "POSTGRES_", "LIGHTRAG_")) and k not in ("PYTHONPATH", "WORKSPACE")}
    env["PYTHONPATH"] = os.pathsep.join([str(LIGHTRAG_PY / f"lightrag-{version}"), str(DEPS), str(CLIENT), str(HERE)])
    env["PYTHONHASHSEED"] = "0"
    # LightRAG 1.4.9.8's PostgreSQL classes size vector columns from it
    # (lightrag_driver.DIM).
    env["EMBEDDING_DIM"] = "32"
    env.update(extra)
    return env


def require_lightrag() -> None:
    for v in VERSIONS:
        if not (LIGHTRAG_PY / f"lightrag-{v}" / "lightrag").is_dir():
            _fail_or_skip(f"LightRAG {v} source absent: {LIGHTRAG_PY}")
        probe = subprocess.run([SYSTEM_PYTHON, "-c", "import numpy, networkx, asyncpg, pytest, pytest_asyncio, lightrag"],
                               env=lightrag_env(v), capture_output=True, text=True)
        if probe.returncode != 0:
            _fail_or_skip(f"{SYSTEM_PYTHON} cannot import LightRAG {v} and its packages "
                          f"(scripts/setup-python-lightrag.sh):\n{probe.stderr[-2000:]}")


def start_driver(version: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([SYSTEM_PYTHON, str(DRIVER), *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(p: subprocess.Popen, what: str) -> dict:
    out, err = p.communicate(timeout=TIMEOUT)
    if p.returncode != 0:
        raise AssertionError(f"{what} failed ({p.returncode}):\n{err[-6000:]}")
    return json.loads(out.strip().splitlines()[-1])


def run_driver(version: str, args: list[str], env: dict[str, str], what: str) -> dict:
    return finish(start_driver(version, args, env), what)


def without_delete_aliasing(state: dict) -> dict:
    """The graph of a folder state without the keys adelete_by_doc_id leaves
    in NetworkX's own dicts (see the module docstring)."""
    out = dict(state)
    for f, g in state.items():
        if not f.endswith(".graphml"):
            continue
        nodes = [[n, {k: v for k, v in a.items() if not (k == "id" and v == n)}] for n, a in g["nodes"]]
        edges = [[u, w, {k: v for k, v in a.items() if not (k in ("source", "target") and v in (u, w))}]
                 for u, w, a in g["edges"]]
        out[f] = {**g, "nodes": nodes, "edges": edges}
    return out


def ids_of(state: dict) -> dict:
    """The ids a native JSON run holds, for the read step."""
    ids = {"kv": {}, "vdb": {}, "doc_status": []}
    for f, v in state.items():
        if f == "kv_store_doc_status.json":
            ids["doc_status"] = sorted(v)
        elif f.startswith("kv_store_"):
            ids["kv"][f[len("kv_store_"):-len(".json")]] = sorted(v)
        elif f.startswith("vdb_"):
            ids["vdb"][f[len("vdb_"):-len(".json")]] = [d["__id__"] for d in v["data"]]
    return ids


def extra_keys(native: dict, proxy: dict) -> set[str]:
    """Keys in the proxy side's records that the native side's records lack."""
    out: set[str] = set()

    def walk(a, b):
        if isinstance(a, dict) and isinstance(b, dict):
            out.update(set(b) - set(a))
            for k in set(a) & set(b):
                walk(a[k], b[k])

    for part in ("kv", "vdb", "doc_status"):
        walk(native.get(part, {}), proxy.get(part, {}))
    return out


def hybridrag_keys(read: dict) -> set[str]:
    """Record keys named after the proxy (hybridrag_*), anywhere in a read."""
    out: set[str] = set()

    def walk(v):
        if isinstance(v, dict):
            out.update(k for k in v if k.startswith("hybridrag"))
            for x in v.values():
                walk(x)

    for part in ("kv", "vdb", "doc_status"):
        walk(read.get(part, {}))
    return out


class _Compare(unittest.TestCase):
    maxDiff = None

    def assertContextsEqual(self, native: dict, proxy: dict, sort_lines: bool = False) -> None:
        self.assertEqual(sorted(native["contexts"]), sorted(proxy["contexts"]))
        for key, want in native["contexts"].items():
            got = proxy["contexts"][key]
            if sort_lines:
                want, got = sorted(want.splitlines()), sorted(got.splitlines())
            self.assertEqual(want, got, f"query context of {key!r}")

    def assertStateEqual(self, native: dict, proxy: dict) -> None:
        native, proxy = without_delete_aliasing(native), without_delete_aliasing(proxy)
        self.assertEqual(sorted(native), sorted(proxy), "files")
        for f in native:
            if f.endswith(".graphml"):
                for part in ("nodes", "edges", "adjacency"):
                    self.assertEqual(native[f][part], proxy[f][part], f"{f}: {part}")
            else:
                self.assertEqual(native[f], proxy[f], f)


class JSONPipelineTest(_Compare):
    """(a) and (c) on a JSON database."""

    @classmethod
    def setUpClass(cls) -> None:
        require_lightrag()
        proxy_binary()
        cls.tmp = tempfile.mkdtemp(prefix="hybridrag-lightrag-real-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.runs = {}
        for v in VERSIONS:
            base = os.path.join(cls.tmp, v)
            native_dir, proxy_db, scratch = (os.path.join(base, d) for d in ("native", "proxydb", "scratch"))
            os.makedirs(scratch)
            server = ProxyServer({"lr": {"backend": "json", "path": proxy_db}}, token="t0ken").start()
            try:
                env = lightrag_env(v)
                native = start_driver(v, ["pipeline", "--storage", "json", "--dir", native_dir], env)
                proxied = start_driver(v, ["pipeline", "--storage", "proxy", "--dir", scratch],
                                       lightrag_env(v, HYBRIDRAG_PROXY_URL=server.url, HYBRIDRAG_PROXY_DB="lr",
                                                    HYBRIDRAG_PROXY_TOKEN="t0ken"))
                run = {"native": finish(native, f"LightRAG {v} on its JSON storages"),
                       "proxy": finish(proxied, f"LightRAG {v} through the proxy (JSON)")}
            finally:
                server.stop()  # graceful: the proxy writes LightRAG's files and exits
                log = server.log()
                shutil.rmtree(server.dir, ignore_errors=True)
            run["proxy_log"] = log
            run["native_state"] = run_driver(v, ["state", "--storage", "json", "--dir", native_dir], env, "state")
            run["proxy_state"] = run_driver(v, ["state", "--storage", "json", "--dir", proxy_db], env, "state")
            run["proxy_files"] = sorted(os.listdir(proxy_db))
            ids_path = os.path.join(base, "ids.json")
            with open(ids_path, "w", encoding="utf-8") as f:
                json.dump(ids_of(run["native_state"]), f)
            run["native_read"] = run_driver(v, ["read", "--storage", "json", "--dir", native_dir, "--ids", ids_path],
                                            env, f"LightRAG {v} reading its own folder")
            run["proxy_read"] = run_driver(v, ["read", "--storage", "json", "--dir", proxy_db, "--ids", ids_path],
                                           env, f"LightRAG {v} reading the proxy's folder")
            cls.runs[v] = run

    def test_pipeline_contexts_equal(self) -> None:
        for v, run in self.runs.items():
            with self.subTest(version=v):
                self.assertEqual(run["native"]["version"], v)
                self.assertEqual(run["native"]["delete"], "success")
                self.assertEqual(run["native"]["calls"], run["proxy"]["calls"], "LLM and embedding calls")
                self.assertContextsEqual(run["native"], run["proxy"])

    def test_stored_state_equal(self) -> None:
        for v, run in self.runs.items():
            with self.subTest(version=v):
                self.assertStateEqual(run["native_state"], run["proxy_state"])

    def test_lightrag_reads_proxy_folder(self) -> None:
        """(c): LightRAG's JSON classes read the folder the proxy left."""
        for v, run in self.runs.items():
            with self.subTest(version=v):
                native, proxy = run["native_read"], run["proxy_read"]
                self.assertTrue(native["kv"]["full_docs"] and native["doc_status"], "the run stored documents")
                for part in ("kv", "vdb", "doc_status"):
                    self.assertEqual(strip_read_times(native[part]), strip_read_times(proxy[part]), part)
                self.assertEqual(extra_keys(native, proxy), set(), "keys LightRAG does not write itself")
                # get_all_nodes/get_all_edges set id/source/target themselves,
                # so the delete aliasing does not show here.
                self.assertEqual(strip_read_times(native["graph"]), strip_read_times(proxy["graph"]))
                names = [f for f in run["proxy_files"] if not f.startswith(".")]
                self.assertEqual(sorted(run["native_state"]), names, "the proxy's folder holds LightRAG's files")


class JSONBatchPipelineTest(_Compare):
    """(a) on a JSON database, with the documents inserted in one ainsert:
    LightRAG processes a batch in the order get_docs_by_status lists it
    (its dict's insertion order), which shapes the graph; the proxy's JSON
    backend lists in the same order (Capabilities.insertion_order)."""

    def test_batch_pipeline_equal(self) -> None:
        require_lightrag()
        proxy_binary()
        v = VERSIONS[0]
        tmp = tempfile.mkdtemp(prefix="hybridrag-lightrag-batch-")
        self.addCleanup(shutil.rmtree, tmp, True)
        native_dir, proxy_db, scratch = (os.path.join(tmp, d) for d in ("native", "proxydb", "scratch"))
        os.makedirs(scratch)
        server = ProxyServer({"lr": {"backend": "json", "path": proxy_db}}).start()
        try:
            env = lightrag_env(v)
            native = start_driver(v, ["pipeline", "--batch", "--storage", "json", "--dir", native_dir], env)
            proxied = start_driver(v, ["pipeline", "--batch", "--storage", "proxy", "--dir", scratch],
                                   lightrag_env(v, HYBRIDRAG_PROXY_URL=server.url, HYBRIDRAG_PROXY_DB="lr"))
            native_out = finish(native, f"LightRAG {v} on its JSON storages (batch)")
            proxy_out = finish(proxied, f"LightRAG {v} through the proxy (JSON, batch)")
        finally:
            server.stop()
            shutil.rmtree(server.dir, ignore_errors=True)
        self.assertContextsEqual(native_out, proxy_out)
        self.assertStateEqual(run_driver(v, ["state", "--storage", "json", "--dir", native_dir], env, "state"),
                              run_driver(v, ["state", "--storage", "json", "--dir", proxy_db], env, "state"))


def fresh_pg_database(dsn: str) -> tuple[str, str]:
    """A new database next to HYBRIDRAG_TEST_PG's; returns (dsn, name)."""
    psql = psql_path()
    if psql is None:
        _fail_or_skip("psql not found: the PostgreSQL comparison needs a database of its own")
    name = f"hybridrag_lr_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    for sql, db in ((f'CREATE DATABASE "{name}"', dsn), ("CREATE EXTENSION IF NOT EXISTS vector", None)):
        target = dsn if db else _with_db(dsn, name)
        res = subprocess.run([psql, target, "-v", "ON_ERROR_STOP=1", "-qc", sql], capture_output=True, text=True)
        if res.returncode != 0:
            raise AssertionError(f"{sql}: {res.stderr}")
    return _with_db(dsn, name), name


def drop_pg_database(dsn: str, name: str) -> None:
    psql = psql_path()
    if psql:
        subprocess.run([psql, dsn, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], capture_output=True)


def _with_db(dsn: str, name: str) -> str:
    u = urlsplit(dsn)
    return urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))


def pg_env(dsn: str) -> dict[str, str]:
    u = urlsplit(dsn)
    return {"POSTGRES_HOST": u.hostname or "127.0.0.1", "POSTGRES_PORT": str(u.port or 5432),
            "POSTGRES_USER": u.username or "postgres", "POSTGRES_PASSWORD": u.password or "",
            "POSTGRES_DATABASE": u.path.lstrip("/")}


def rows_without(table_state: dict, column: str) -> list[dict]:
    rows = [{k: v for k, v in r.items() if k != column} for r in table_state["rows"]]
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))


class PostgresPipelineTest(_Compare):
    """(a) and (c) on a PostgreSQL database: LightRAG's PGKVStorage,
    PGVectorStorage and PGDocStatusStorage (graph on NetworkX, as LightRAG
    1.4.16's own PostgreSQL graph needs Apache AGE) against the proxy's
    classes for the same three (graph on NetworkX: strict comparison), and
    against all four proxy classes (graph in the proxy's tables)."""

    @classmethod
    def setUpClass(cls) -> None:
        dsn = pg_dsn()
        if dsn is None:
            raise unittest.SkipTest("set HYBRIDRAG_TEST_PG to compare with LightRAG's PostgreSQL classes")
        require_lightrag()
        proxy_binary()
        cls.tmp = tempfile.mkdtemp(prefix="hybridrag-lightrag-real-pg-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.runs = {}
        for v in VERSIONS:
            db_dsn, name = fresh_pg_database(dsn)
            # A class cleanup runs even when setUpClass fails half-way.
            cls.addClassCleanup(drop_pg_database, dsn, name)
            base = os.path.join(cls.tmp, v)
            backend = {"type": "postgres", "dsn": db_dsn, "embedding_model": MODEL}
            if v.startswith("1.4.9"):
                backend["vector_table_naming"] = "legacy"  # 1.4.9.8 names vector tables without a model suffix
            server = ProxyServer({"lr": {"backend": "pg"}}, token="t0ken", backends={"pg": backend})
            try:
                server.start()
            except BackendNotBuiltIn as e:
                server.cleanup()
                _fail_or_skip(f"this proxy build cannot open PostgreSQL databases: {e}")
            penv = pg_env(db_dsn)
            env = lightrag_env(v, **penv)
            proxy_env = lightrag_env(v, HYBRIDRAG_PROXY_URL=server.url, HYBRIDRAG_PROXY_DB="lr",
                                     HYBRIDRAG_PROXY_TOKEN="t0ken", **penv)
            run = {}
            try:
                # LightRAG's classes create their tables first (creating them
                # concurrently with the proxy races in PostgreSQL's catalog).
                run["native"] = run_driver(v, ["pipeline", "--storage", "pg", "--workspace", "native",
                                               "--dir", os.path.join(base, "native")], env,
                                           f"LightRAG {v} on its PostgreSQL classes")
                p1 = start_driver(v, ["pipeline", "--storage", "proxy-pg", "--workspace", "proxy",
                                      "--dir", os.path.join(base, "proxy")], proxy_env)
                p2 = start_driver(v, ["pipeline", "--storage", "proxy-pg-graph", "--workspace", "proxyg",
                                      "--dir", os.path.join(base, "proxyg")], proxy_env)
                run["proxy"] = finish(p1, f"LightRAG {v} through the proxy (PostgreSQL, graph on NetworkX)")
                run["proxy_graph"] = finish(p2, f"LightRAG {v} through the proxy (PostgreSQL, all four classes)")
            finally:
                server.cleanup()
            for ws in ("native", "proxy", "proxyg"):
                run[f"pg_{ws}"] = run_driver(v, ["pgstate", "--storage", "pg", "--dir", base, "--workspace", ws],
                                             env, "pgstate")
            for d in ("native", "proxy"):
                # NetworkXStorage keeps a workspace's graph in working_dir/<workspace>.
                run[f"graph_{d}"] = run_driver(v, ["state", "--storage", "json", "--dir", os.path.join(base, d, d)],
                                               env, "state")
            ids = {"kv": {}, "vdb": {}, "doc_status": []}
            for table, st in run["pg_native"].items():
                key = {"lightrag_doc_full": ("kv", "full_docs"), "lightrag_doc_chunks": ("kv", "text_chunks"),
                       "lightrag_full_entities": ("kv", "full_entities"),
                       "lightrag_full_relations": ("kv", "full_relations"),
                       "lightrag_entity_chunks": ("kv", "entity_chunks"),
                       "lightrag_relation_chunks": ("kv", "relation_chunks"),
                       "lightrag_llm_cache": ("kv", "llm_response_cache"),
                       "lightrag_doc_status": ("doc_status", None)}.get(table)
                if table.startswith("lightrag_vdb_chunks"):
                    key = ("vdb", "chunks")
                elif table.startswith("lightrag_vdb_entity"):
                    key = ("vdb", "entities")
                elif table.startswith("lightrag_vdb_relation"):
                    key = ("vdb", "relationships")
                if key is None:
                    continue
                got = sorted(r["id"] for r in st["rows"])
                if key[0] == "doc_status":
                    ids["doc_status"] = got
                else:
                    ids[key[0]][key[1]] = got
            ids_path = os.path.join(base, "ids.json")
            with open(ids_path, "w", encoding="utf-8") as f:
                json.dump(ids, f)
            for ws in ("native", "proxy"):
                run[f"read_{ws}"] = run_driver(v, ["read", "--storage", "pg", "--workspace", ws, "--dir",
                                                   os.path.join(base, ws), "--ids", ids_path], env,
                                               f"LightRAG {v} PostgreSQL classes reading workspace {ws}")
            cls.runs[v] = run

    def test_pipeline_contexts_equal(self) -> None:
        for v, run in self.runs.items():
            with self.subTest(version=v, graph="NetworkX"):
                self.assertEqual(run["native"]["calls"], run["proxy"]["calls"], "LLM and embedding calls")
                self.assertContextsEqual(run["native"], run["proxy"])
            with self.subTest(version=v, graph="proxy tables"):
                self.assertEqual(run["native"]["calls"], run["proxy_graph"]["calls"], "LLM and embedding calls")
                self.assertContextsEqual(run["native"], run["proxy_graph"], sort_lines=True)

    def test_rows_equal(self) -> None:
        """Every LightRAG table holds the same rows for the proxy's workspace
        as for LightRAG's own, column by column (the proxy's hybridrag_extra
        column aside: test_no_foreign_column_values)."""
        for v, run in self.runs.items():
            native, proxy = run["pg_native"], run["pg_proxy"]
            for table in native:
                if table.startswith("lightrag_graph_"):
                    continue
                with self.subTest(version=v, table=table):
                    self.assertEqual(rows_without(native[table], "hybridrag_extra"),
                                     rows_without(proxy[table], "hybridrag_extra"))
            with self.subTest(version=v, graph="NetworkX folder"):
                self.assertStateEqual(run["graph_native"], run["graph_proxy"])

    def test_graph_tables_hold_lightrag_graph(self) -> None:
        """All four proxy classes: the graph tables hold the nodes and edges,
        with their properties, that LightRAG's NetworkX graph holds."""
        for v, run in self.runs.items():
            with self.subTest(version=v):
                g = without_delete_aliasing(run["graph_native"])["graph_chunk_entity_relation.graphml"]
                tables = run["pg_proxyg"]
                # networkx.read_graphml drops empty <data> elements, so the
                # NetworkX side cannot show a "" value (LightRAG stores
                # truncate=""); leave those out of the tables' side too.
                def props(p: dict) -> dict:
                    return {k: v for k, v in p.items() if v != ""}

                nodes = {r["id"]: props(r["properties"]) for r in tables["lightrag_graph_nodes"]["rows"]}
                edges = {tuple(sorted((r["src_id"], r["tgt_id"]))): props(r["properties"])
                         for r in tables["lightrag_graph_edges"]["rows"]}
                self.assertEqual({n: a for n, a in g["nodes"]}, nodes)
                self.assertEqual({tuple(sorted((u, w))): a for u, w, a in g["edges"]}, edges)

    def test_lightrag_reads_proxy_rows(self) -> None:
        """(c): LightRAG's PostgreSQL classes read the proxy's rows as their
        own."""
        for v, run in self.runs.items():
            with self.subTest(version=v):
                native, proxy = run["read_native"], run["read_proxy"]
                self.assertTrue(native["kv"]["full_docs"] and native["doc_status"], "the run stored documents")
                for part in ("kv", "vdb", "doc_status"):
                    self.assertEqual(strip_read_times(_drop_extra(native[part])),
                                     strip_read_times(_drop_extra(proxy[part])), part)

    def test_no_foreign_keys_in_records(self) -> None:
        """(c): no key that LightRAG does not write itself."""
        # Both workspaces share LightRAG's tables, so a column the proxy adds
        # shows on both sides: count the proxy's own columns as foreign too.
        found = {v: extra_keys(run["read_native"], run["read_proxy"]) | hybridrag_keys(run["read_proxy"])
                 for v, run in self.runs.items()}
        self.assertEqual(found, {v: set() for v in found})

    def test_no_foreign_column_values(self) -> None:
        """A row the proxy wrote carries nothing in LightRAG's tables that
        LightRAG's own row lacks: no hybridrag_extra column (the proxy keeps
        its extras in hybridrag_row_extras)."""
        extras = {}
        for v, run in self.runs.items():
            for table, st in run["pg_proxy"].items():
                n = sum(1 for r in st["rows"] if "hybridrag_extra" in r)
                if n:
                    extras[f"{v}/{table}"] = n
        self.assertEqual({}, extras)


def _drop_extra(rec):
    """Without the workspace column (PGKVStorage/PGVectorStorage's SELECT *
    returns it; the runs differ in it by design)."""
    if isinstance(rec, dict):
        return {k: _drop_extra(v) for k, v in rec.items() if k != "workspace"}
    return rec


TIMES = {"create_time", "update_time", "created_at", "updated_at", "__created_at__", "processing_start_time",
         "processing_end_time"}


def strip_read_times(v):
    if isinstance(v, dict):
        return {k: strip_read_times(x) for k, x in v.items() if k not in TIMES}
    if isinstance(v, list):
        return [strip_read_times(x) for x in v]
    return v


class LightRAGGraphTestsTest(unittest.TestCase):
    """(b): LightRAG's own graph tests, unmodified, on ProxyGraphStorage.
    test_batch_graph_operations.py imports make_relation_vdb_ids, which
    LightRAG 1.4.9.8 lacks, so with 1.4.9.8 only test_graph_storage.py runs."""

    BATCH = ["test_batch_graph_operations.py::TestBaseGraphStorageDefaults",
             "test_batch_graph_operations.py::TestNetworkXBatchOperations"]

    @classmethod
    def setUpClass(cls) -> None:
        require_lightrag()
        if not (LIGHTRAG_TESTS / "test_graph_storage.py").is_file():
            _fail_or_skip(f"LightRAG's tests absent: {LIGHTRAG_TESTS}")
        proxy_binary()

    def _pytest(self, version: str, server: ProxyServer, db: str) -> None:
        files = ["test_graph_storage.py"] + (self.BATCH if version == "1.4.16" else [])
        with tempfile.TemporaryDirectory() as cwd:
            env = lightrag_env(version, HYBRIDRAG_PROXY_URL=server.url, HYBRIDRAG_PROXY_DB=db,
                               HYBRIDRAG_PROXY_TOKEN="t0ken", LIGHTRAG_GRAPH_STORAGE="ProxyGraphStorage")
            res = subprocess.run([SYSTEM_PYTHON, "-m", "pytest", "-p", "lightrag_pytest_plugin", "-p", "no:cacheprovider",
                                  "-o", "asyncio_mode=auto", "--run-integration", "-q", "-rfEs",
                                  "--rootdir", str(LIGHTRAG_TESTS), *[str(LIGHTRAG_TESTS / f) for f in files]],
                                 env=env, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)
        tail = (res.stdout + res.stderr)[-6000:]
        self.assertEqual(res.returncode, 0, tail)
        summary = res.stdout.strip().splitlines()[-1]
        passed = re.search(r"(\d+) passed", summary)
        self.assertIsNotNone(passed, tail)
        self.assertNotIn("skipped", summary, tail)
        self.assertGreaterEqual(int(passed.group(1)), 6 if version != "1.4.16" else 16, tail)

    def test_json(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            server = ProxyServer({"lr": {"backend": "json", "path": os.path.join(tmp, "db")}}, token="t0ken").start()
            try:
                for v in VERSIONS:
                    with self.subTest(version=v):
                        self._pytest(v, server, "lr")
            finally:
                server.cleanup()

    def test_postgres(self) -> None:
        dsn = pg_dsn()
        if dsn is None:
            raise unittest.SkipTest("set HYBRIDRAG_TEST_PG")
        db_dsn, name = fresh_pg_database(dsn)
        try:
            server = ProxyServer({"lr": {"backend": "pg"}}, token="t0ken",
                                 backends={"pg": {"type": "postgres", "dsn": db_dsn, "embedding_model": MODEL}})
            try:
                server.start()
            except BackendNotBuiltIn as e:
                server.cleanup()
                _fail_or_skip(f"this proxy build cannot open PostgreSQL databases: {e}")
            try:
                for v in VERSIONS:
                    with self.subTest(version=v):
                        self._pytest(v, server, "lr")
            finally:
                server.cleanup()
        finally:
            drop_pg_database(dsn, name)


class QuickstartExampleTest(unittest.TestCase):
    """The example in clients/python/README.md and docs/hybridrag.md runs as
    it is, on both LightRAG versions, and both show exactly that file."""

    def test_docs_show_the_example(self) -> None:
        for doc in (CLIENT / "README.md", REPO / "docs" / "hybridrag.md"):
            with self.subTest(doc=doc.name):
                block = "```python\n" + EXAMPLE.read_text(encoding="utf-8") + "```\n"
                self.assertIn(block, doc.read_text(encoding="utf-8"),
                              f"{doc} must show examples/lightrag_quickstart.py unchanged")

    def test_example_runs(self) -> None:
        require_lightrag()
        for v in VERSIONS:
            with self.subTest(version=v), tempfile.TemporaryDirectory() as tmp:
                server = ProxyServer({"hybridrag": {"backend": "json", "path": os.path.join(tmp, "db")}},
                                     token="t0ken").start()
                try:
                    res = subprocess.run([SYSTEM_PYTHON, str(EXAMPLE)], cwd=tmp, capture_output=True, text=True,
                                         timeout=TIMEOUT, env=lightrag_env(v, HYBRIDRAG_PROXY_URL=server.url,
                                                                           HYBRIDRAG_PROXY_DB="hybridrag",
                                                                           HYBRIDRAG_PROXY_TOKEN="t0ken"))
                finally:
                    server.cleanup()
                self.assertEqual(res.returncode, 0, res.stderr[-4000:])
                self.assertIn("entities: ['Graph', 'HybridRAG', 'Knowledge', 'PostgreSQL', 'Proxy', 'Storage']",
                              res.stdout)
                self.assertIn("HybridRAG keeps its Knowledge Graph", res.stdout, "the query context has the chunk")
                self.assertFalse(os.path.exists(os.path.join(tmp, "rag_storage", "kv_store_full_docs.json")),
                                 "no LightRAG storage file in working_dir")


if __name__ == "__main__":
    unittest.main()
