"""Runs real LightRAG (../shared/lightrag-py) once, deterministically, and
prints what it did as one JSON line. Run by the system interpreter in a
process of its own (LightRAG keeps loaded namespaces in process-wide shared
storage), with PYTHONPATH = LightRAG's folder, its deps and clients/python:

    python3 lightrag_driver.py pipeline --storage json|proxy|pg|proxy-pg|proxy-pg-graph --dir D [--workspace W]
                                        [--docs N] [--ingest-only] [--batch] [--bench]
    python3 lightrag_driver.py read --storage json|pg --dir D [--workspace W] --ids IDS.json
    python3 lightrag_driver.py state --storage json --dir D      (a JSON working directory's records)
    python3 lightrag_driver.py pgstate --storage pg --dir - --workspace W   (POSTGRES_* env)

pipeline: insert, duplicate re-insert, delete, re-insert and a query in all
five modes (context only), with a fake LLM and hash embeddings; prints the
query contexts, the wall time of the ingest and the LLM/embedding calls.
read: opens what is stored with LightRAG's own classes and prints every
record they return for the given ids (KV, vectors, doc status) and the whole
graph. Storage names: json = LightRAG's JSON classes; pg = LightRAG's
PGKVStorage/PGVectorStorage/PGDocStatusStorage with NetworkX for the graph
(LightRAG 1.4.16's own PostgreSQL graph is Apache AGE, not installed here);
proxy = the four hybridrag_proxy classes; proxy-pg = the proxy's classes for
KV, vectors and doc status with NetworkX for the graph (so contexts compare
strictly with pg); proxy-pg-graph = all four proxy classes.

Determinism (../shared/lightrag-py/README.md): one worker everywhere,
PYTHONHASHSEED=0 (set by the caller), operate.py's asyncio.wait returns
finished tasks in creation order, and every extraction answer comes in a new
second, so the create_time order of cached extractions (one-second
resolution) that a delete's rebuild follows is the call order.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import re
import sys
import time
import types

DIM = 32
MODEL = "fake_hash_embed"
TYPES = ["person", "organization", "location", "event", "concept"]
NAMES = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Niaj",
         "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "Paris", "Berlin", "Tokyo", "Acme",
         "Globex", "Initech", "Umbrella"]
VERBS = ["met", "wrote to", "worked with", "travelled with", "argued with", "visited", "funded", "hired"]
QUERIES = ["What did Alice and Bob do together?", "Which organizations hired Grace?",
           "Tell me about Tokyo and its visitors."]
MODES = ["naive", "local", "global", "hybrid", "mix"]


def documents(n: int) -> list[str]:
    """n deterministic documents whose sentences share names, so entities
    and relations merge across documents."""
    docs = []
    for i in range(n):
        sentences = []
        for j in range(6):
            h = hashlib.sha256(f"{i}/{j}".encode()).digest()
            a, b, c = NAMES[h[0] % len(NAMES)], NAMES[h[1] % len(NAMES)], NAMES[h[2] % len(NAMES)]
            sentences.append(f"In chapter {i}.{j}, {a} {VERBS[h[3] % len(VERBS)]} {b} near {c}.")
        docs.append(f"Document {i}. " + " ".join(sentences))
    return docs


# --- fakes -------------------------------------------------------------------

class CharTokenizer:
    """One token per code point (tiktoken is not installed)."""

    def encode(self, content: str) -> list[int]:
        return [ord(c) for c in content]

    def decode(self, tokens: list[int]) -> str:
        return "".join(chr(t) for t in tokens)


CALLS = {"llm": 0, "extract": 0, "embed": 0}
_last_second = [0]


BENCH = [False]  # --bench: no per-second wait, LightRAG's default concurrency


async def _next_second() -> None:
    # A new second for every extraction answer (see the module docstring).
    if BENCH[0]:
        return
    now = time.time()
    target = max(int(now) + 1, _last_second[0] + 1)
    await asyncio.sleep(max(0.0, target - now + 0.01))
    _last_second[0] = target


def _input_text(text: str) -> str:
    blocks = re.findall(r"```\n(.*?)\n```", text, flags=re.S)
    return blocks[-1] if blocks else ""


def _extract(text: str) -> str:
    names = []
    for w in re.findall(r"\b[A-Z][a-z]{2,}\b", text):
        if w in NAMES and w not in names:
            names.append(w)
    names = names[:8]
    d = "<|#|>"
    lines = []
    for name in names:
        sent = next((s.strip() for s in re.split(r"(?<=\.)\s", text) if name in s), text[:80])
        ty = TYPES[int(hashlib.md5(name.encode()).hexdigest(), 16) % len(TYPES)]
        lines.append(f"entity{d}{name}{d}{ty}{d}{name} appears where {sent}")
    for i in range(len(names) - 1):
        a, b = names[i], names[i + 1]
        if i % 2:  # both orientations reach the graph
            a, b = b, a
        lines.append(f"relation{d}{a}{d}{b}{d}co-occurrence,{a.lower()}{d}{a} and {b} appear in the same passage")
    lines.append("<|COMPLETE|>")
    return "\n".join(lines)


async def fake_llm(prompt, system_prompt=None, history_messages=None, keyword_extraction=False, **kwargs) -> str:
    CALLS["llm"] += 1
    full = (system_prompt or "") + "\n" + prompt
    if "Based on the last extraction task" in prompt:
        await _next_second()
        CALLS["extract"] += 1
        return "<|COMPLETE|>"
    if "---Role---" in full and "entity_name" in full and "```" in full and "Description List" not in full:
        await _next_second()
        CALLS["extract"] += 1
        return _extract(_input_text(full))
    if "Description List" in prompt:
        name = re.search(r"Name: (.*)", prompt)
        descs = []
        for line in _input_text(prompt).splitlines():
            try:
                obj = json.loads(line)
                descs.append(" ".join(str(v) for v in obj.values()) if isinstance(obj, dict) else str(obj))
            except ValueError:
                descs.append(line)
        return f"Summary of {name.group(1).strip() if name else '?'}: " + " / ".join(descs)[:400]
    if "User Query:" in prompt or keyword_extraction:
        q = re.search(r"User Query:\s*(.*)", prompt)
        q = q.group(1).strip() if q else prompt[-200:]
        low = [w for w in re.findall(r"\b[A-Z][a-z]{2,}\b", q) if w in NAMES]
        high = [w.lower() for w in re.findall(r"\b[a-z]{5,}\b", q)][:3]
        return json.dumps({"high_level_keywords": high, "low_level_keywords": low})
    return "A fake answer."


def embed_vector(text: str) -> list[float]:
    raw = hashlib.sha256(text.encode("utf-8")).digest()
    raw = raw + hashlib.sha256(raw).digest()
    return [(b - 127.5) / 127.5 for b in raw[:DIM]]


async def fake_embed(texts: list[str], **kwargs):
    import numpy as np

    CALLS["embed"] += 1
    return np.array([embed_vector(t) for t in texts], dtype=np.float32)


# --- LightRAG under test ------------------------------------------------------

def patch_environment() -> None:
    """What LightRAG's PostgreSQL classes need here (lightrag-py/README.md):
    pipmaster is only asked whether asyncpg is installed; Debian's asyncpg
    lacks create_pool(reset=)."""
    import importlib.util

    pm = types.ModuleType("pipmaster")
    pm.is_installed = lambda name: importlib.util.find_spec(name) is not None

    def _refuse(*a, **k):
        raise RuntimeError("pipmaster.install is disabled in tests")

    pm.install = _refuse
    sys.modules.setdefault("pipmaster", pm)
    try:
        import asyncpg
    except ImportError:
        return
    orig = asyncpg.create_pool
    if getattr(orig, "_hybridrag_wrapped", False):
        return

    def create_pool(*a, **k):
        k.pop("reset", None)
        return orig(*a, **k)

    create_pool._hybridrag_wrapped = True
    asyncpg.create_pool = create_pool


def ordered_wait_module():
    """asyncio for operate.py: wait() yields done tasks in creation order,
    and every Semaphore admits one task. operate.py sizes its graph-merge
    semaphore at twice llm_model_max_async, so even with one LLM worker two
    merges interleave at their storage awaits, and the interleaving follows
    I/O timing (an HTTP round trip against an in-memory dict call): with one
    admitted at a time, FIFO, merges run in creation order on any storage."""
    mod = types.ModuleType("asyncio_ordered")
    mod.__dict__.update(asyncio.__dict__)
    mod.Semaphore = lambda value=1: asyncio.Semaphore(1)

    async def wait(fs, *a, **k):
        fs = list(fs)
        done, pending = await asyncio.wait(fs, *a, **k)
        return [f for f in fs if f in done], pending

    mod.wait = wait
    return mod


def classes(storage: str) -> dict[str, str]:
    json_classes = {"kv_storage": "JsonKVStorage", "vector_storage": "NanoVectorDBStorage",
                    "graph_storage": "NetworkXStorage", "doc_status_storage": "JsonDocStatusStorage"}
    pg = {"kv_storage": "PGKVStorage", "vector_storage": "PGVectorStorage", "graph_storage": "NetworkXStorage",
          "doc_status_storage": "PGDocStatusStorage"}
    proxy = {"kv_storage": "ProxyKVStorage", "vector_storage": "ProxyVectorStorage",
             "graph_storage": "ProxyGraphStorage", "doc_status_storage": "ProxyDocStatusStorage"}
    return {"json": json_classes, "pg": pg, "proxy": proxy,
            "proxy-pg": {**proxy, "graph_storage": "NetworkXStorage"}, "proxy-pg-graph": proxy}[storage]


def make_rag(storage: str, workdir: str, workspace: str):
    import lightrag
    import lightrag.operate as operate
    from lightrag import LightRAG
    from lightrag.utils import EmbeddingFunc, Tokenizer

    if storage.startswith("proxy"):
        import hybridrag_proxy

        assert hybridrag_proxy.register(), "hybridrag_proxy.register() found no LightRAG"
    if not BENCH[0]:
        operate.asyncio = ordered_wait_module()
    emb_kwargs = {"embedding_dim": DIM, "func": fake_embed}
    if "model_name" in EmbeddingFunc.__dataclass_fields__:
        emb_kwargs["model_name"] = MODEL
    kwargs = dict(
        working_dir=workdir, workspace=workspace,
        llm_model_func=fake_llm, embedding_func=EmbeddingFunc(**emb_kwargs),
        tokenizer=Tokenizer("chars", CharTokenizer()),
        chunk_token_size=300, chunk_overlap_token_size=30, entity_extract_max_gleaning=0,
        force_llm_summary_on_merge=3, embedding_batch_num=8,
        vector_db_storage_cls_kwargs={"cosine_better_than_threshold": 0.0},
    )
    if not BENCH[0]:
        kwargs.update(llm_model_max_async=1, embedding_func_max_async=1, max_parallel_insert=1)
    kwargs.update(classes(storage))
    return LightRAG(**kwargs), lightrag.__version__


async def pipeline(args) -> dict:
    from lightrag import QueryParam
    from lightrag.kg.shared_storage import initialize_share_data

    initialize_share_data(1)
    rag, version = make_rag(args.storage, args.dir, args.workspace)
    await rag.initialize_storages()
    try:
        from lightrag.kg.shared_storage import initialize_pipeline_status

        if version.startswith("1.4.9"):
            await initialize_pipeline_status()
    except ImportError:
        pass
    docs = documents(args.docs)
    n = len(docs)
    started, cpu_started = time.perf_counter(), time.process_time()
    if args.batch:
        await rag.ainsert(docs[: n - 1], file_paths=[f"doc{i}.txt" for i in range(n - 1)], track_id="track-insert")
    else:
        # One document per call: LightRAG orders a batch by the set
        # filter_keys returns and by get_docs_by_statuses (dict insertion
        # order on JSON, heap order on LightRAG's PostgreSQL: not comparable
        # with the proxy's id order there), and that order shapes the graph.
        for i in range(n - 1):
            await rag.ainsert(docs[i], file_paths=f"doc{i}.txt", track_id=f"track-insert-{i}")
    ingest = time.perf_counter() - started
    out = {"version": version, "ingest_seconds": ingest, "ingest_cpu_seconds": time.process_time() - cpu_started,
           "calls_after_ingest": dict(CALLS)}
    if not args.ingest_only:
        # The same document again: LightRAG records a duplicate.
        await rag.ainsert(docs[1], file_paths="doc1-again.txt", track_id="track-dup")
        from lightrag.utils import compute_mdhash_id

        victim = compute_mdhash_id(docs[2], prefix="doc-")
        res = await rag.adelete_by_doc_id(victim)
        out["delete"] = getattr(res, "status", str(res))
        await rag.ainsert(docs[2], file_paths="doc2.txt", track_id="track-again")
        await rag.ainsert(docs[n - 1], file_paths=f"doc{n - 1}.txt", track_id="track-last")
        contexts = {}
        for q in QUERIES:
            for mode in MODES:
                ctx = await rag.aquery(q, param=QueryParam(mode=mode, only_need_context=True, top_k=10,
                                                           chunk_top_k=5))
                contexts[f"{mode}: {q}"] = ctx if isinstance(ctx, str) else json.dumps(ctx, sort_keys=True)
        out["contexts"] = contexts
        out["doc_ids"] = [compute_mdhash_id(d, prefix="doc-") for d in docs]
    out["calls"] = dict(CALLS)
    await rag.finalize_storages()
    return out


# --- reading with LightRAG's own classes --------------------------------------

KV_NAMESPACES = ["full_docs", "text_chunks", "full_entities", "full_relations", "entity_chunks", "relation_chunks",
                 "llm_response_cache"]
VDB_NAMESPACES = {"chunks": {"full_doc_id", "content", "file_path"},
                  "entities": {"entity_name", "source_id", "content", "file_path"},
                  "relationships": {"src_id", "tgt_id", "source_id", "content", "file_path"}}


async def read(args) -> dict:
    """Every record LightRAG's own classes return for the ids the native
    run holds (ids come from the caller), and the whole graph."""
    from lightrag.kg.shared_storage import initialize_share_data
    from lightrag.utils import EmbeddingFunc

    initialize_share_data(1)
    with open(args.ids, encoding="utf-8") as f:
        ids = json.load(f)
    rag, version = make_rag(args.storage, args.dir, args.workspace)
    await rag.initialize_storages()
    out = {"kv": {}, "vdb": {}, "doc_status": {}, "graph": {}}
    for ns in KV_NAMESPACES:
        store = getattr(rag, ns, None)
        if store is None or ns not in ids.get("kv", {}):
            continue
        want = ids["kv"][ns]
        recs = await store.get_by_ids(want)
        out["kv"][ns] = {i: r for i, r in zip(want, recs) if r is not None}
    for ns, attr in [("chunks", "chunks_vdb"), ("entities", "entities_vdb"), ("relationships", "relationships_vdb")]:
        want = ids.get("vdb", {}).get(ns, [])
        store = getattr(rag, attr)
        recs = await store.get_by_ids(want)
        vecs = await store.get_vectors_by_ids(want) if hasattr(store, "get_vectors_by_ids") else {}
        out["vdb"][ns] = {i: {"record": r, "vector": [round(float(x), 4) for x in (vecs.get(i) or [])]}
                          for i, r in zip(want, recs) if r is not None}
    want = ids.get("doc_status", [])
    recs = await rag.doc_status.get_by_ids(want)
    out["doc_status"] = {i: r for i, r in zip(want, recs) if r is not None}
    g = rag.chunk_entity_relation_graph
    nodes = await g.get_all_nodes()
    edges = await g.get_all_edges()
    out["graph"] = {"nodes": nodes, "edges": edges,
                    "adjacency": {n["id"]: await g.get_node_edges(n["id"]) for n in nodes}}
    await rag.finalize_storages()
    return out


# --- the stored state of a JSON working directory -----------------------------

# Stamped with the wall clock: left out of every comparison.
TIME_KEYS = {"create_time", "update_time", "created_at", "updated_at", "__created_at__", "timestamp",
             "processing_start_time", "processing_end_time"}


def strip_times(v):
    if isinstance(v, dict):
        return {k: strip_times(x) for k, x in v.items() if k not in TIME_KEYS}
    if isinstance(v, list):
        return [strip_times(x) for x in v]
    return v


def folder_state(folder: str) -> dict:
    """Every record of a LightRAG working directory, as LightRAG's files hold
    it: KV and doc-status files as objects; NanoVectorDB data in file order
    with the decoded matrix rows; the graph as networkx.read_graphml loads it
    (node order, edge order and orientation, each node's adjacency order)."""
    import base64

    import networkx as nx
    import numpy as np

    out = {}
    for f in sorted(os.listdir(folder)):
        path = os.path.join(folder, f)
        if f.startswith("kv_store_") and f.endswith(".json"):
            with open(path, encoding="utf-8") as fh:
                out[f] = strip_times(json.load(fh))
        elif f.startswith("vdb_") and f.endswith(".json"):
            with open(path, encoding="utf-8") as fh:
                d = json.load(fh)
            m = np.frombuffer(base64.b64decode(d["matrix"]), dtype=np.float32).reshape(-1, d["embedding_dim"])
            items = []
            for row, item in zip(m, d["data"]):
                item = dict(item)
                if "vector" in item:  # per-item float16 copy (1.4.9.x+): compare decoded
                    import zlib

                    v16 = np.frombuffer(zlib.decompress(base64.b64decode(item.pop("vector"))), dtype=np.float16)
                    item["vector16"] = [round(float(x), 3) for x in v16]
                item["row"] = [round(float(x), 5) for x in row]
                items.append(strip_times(item))
            out[f] = {"embedding_dim": d["embedding_dim"], "data": items,
                      "other_keys": sorted(k for k in d if k not in ("embedding_dim", "data", "matrix"))}
        elif f.endswith(".graphml"):
            g = nx.read_graphml(path)
            out[f] = {"nodes": [[n, strip_times(dict(a))] for n, a in g.nodes(data=True)],
                      "edges": [[u, v, strip_times(dict(a))] for u, v, a in g.edges(data=True)],
                      "adjacency": {n: list(g.adj[n]) for n in g.nodes}}
    return out


async def pg_state(workspace: str) -> dict:
    """Every row of workspace in every lightrag_* table (POSTGRES_* env), by
    table, sorted by the row's text (heap order is not part of a table's
    content), without the workspace column and with wall-clock columns and
    keys left out. Vectors are rounded; JSON columns parsed."""
    import asyncpg

    conn = await asyncpg.connect(host=os.environ["POSTGRES_HOST"], port=int(os.environ["POSTGRES_PORT"]),
                                 user=os.environ["POSTGRES_USER"], database=os.environ["POSTGRES_DATABASE"])
    try:
        tables = await conn.fetch("""SELECT c.table_name FROM information_schema.columns c
            WHERE c.column_name = 'workspace' AND c.table_schema = 'public' AND c.table_name ILIKE 'lightrag%'
            ORDER BY 1""")
        out = {}
        for t in tables:
            name = t["table_name"]
            cols = await conn.fetch("""SELECT column_name, data_type, udt_name FROM information_schema.columns
                WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position""", name)
            rows = await conn.fetch(f'SELECT * FROM "{name}" WHERE workspace = $1', workspace)
            got = []
            for r in rows:
                row = {}
                for c in cols:
                    k, v = c["column_name"], r[c["column_name"]]
                    if k == "workspace" or k in TIME_KEYS:
                        continue
                    if c["udt_name"] in ("json", "jsonb") and isinstance(v, str):
                        v = strip_times(json.loads(v))
                    elif c["udt_name"] == "vector" and v is not None:
                        v = [round(float(x), 4) for x in str(v).strip("[]").split(",")]
                    elif not isinstance(v, (str, int, float, bool, type(None), list, dict)):
                        v = str(v)
                    row[k] = v
                got.append(row)
            got.sort(key=lambda r: json.dumps(r, sort_keys=True, default=str))
            out[name] = {"columns": [c["column_name"] for c in cols], "rows": got}
        return out
    finally:
        await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["pipeline", "read", "state", "pgstate"])
    ap.add_argument("--storage", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--workspace", default="")
    ap.add_argument("--docs", type=int, default=5)
    ap.add_argument("--ids")
    ap.add_argument("--ingest-only", action="store_true")
    ap.add_argument("--batch", action="store_true", help="insert the documents in one ainsert call")
    ap.add_argument("--bench", action="store_true",
                    help="timing run: LightRAG's default concurrency and no per-second wait (not deterministic)")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    BENCH[0] = args.bench
    if args.what == "state":
        print(json.dumps(folder_state(args.dir), ensure_ascii=False))
        return
    if args.what == "pgstate":
        print(json.dumps(asyncio.run(pg_state(args.workspace)), ensure_ascii=False, default=str))
        return
    patch_environment()
    result = asyncio.run(pipeline(args) if args.what == "pipeline" else read(args))
    print(json.dumps(result, default=str, ensure_ascii=False))


if __name__ == "__main__":
    main()
