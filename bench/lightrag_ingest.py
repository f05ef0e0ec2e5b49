"""Wall time of one LightRAG ingest on LightRAG's own storages and through the
proxy, side by side in one run (issue 10's figures, issue 12's targets:
proxy on JSON at most 1.3x LightRAG's JSON storages, proxy on PostgreSQL at
most 1.2x LightRAG's PostgreSQL classes).

Each round runs every configuration once, in a fresh process and a fresh
database or workspace, in turn; the report gives the median per
configuration and the ratios of the medians. The ingest is one ainsert of
DOCS documents (about two chunks each) with LightRAG's default concurrency,
the fake LLM and hash embeddings of clients/python/tests/lightrag_driver.py
without its per-second wait, so the storages are most of the time measured.
The time is LightRAG's ainsert alone (not start-up, initialize_storages or
finalize); LightRAG's CPU is the CPU time of its process over the same span
(what is left of the wall time is waiting, for the proxy or the database). HTTP calls are the
storage requests the proxy counted for the whole run (initialize and finalize included), read from
its /metrics.

Run through bench/lightrag-ingest.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "clients" / "python"))

from tests.proxyserver import ProxyServer  # noqa: E402  (the tests' proxy launcher)

DRIVER = REPO / "clients" / "python" / "tests" / "lightrag_driver.py"
LIGHTRAG_PY = Path(os.environ.get("HYBRIDRAG_TEST_LIGHTRAG_PY", str(REPO.parent / "shared" / "lightrag-py")))
PYTHON = os.environ.get("HYBRIDRAG_TEST_LIGHTRAG_PYTHON", "/usr/bin/python3")
MODEL = "fake_hash_embed"


def env_for(version: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HYBRIDRAG_", "POSTGRES_", "LIGHTRAG_")) and k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join([str(LIGHTRAG_PY / f"lightrag-{version}"), str(LIGHTRAG_PY / "deps"),
                                         str(REPO / "clients" / "python")])
    env["EMBEDDING_DIM"] = "32"
    env.update(extra)
    return env


def drive(version: str, storage: str, workdir: str, docs: int, env: dict[str, str], workspace: str = "") -> dict:
    res = subprocess.run([PYTHON, str(DRIVER), "pipeline", "--storage", storage, "--dir", workdir,
                          "--workspace", workspace, "--docs", str(docs + 1), "--ingest-only", "--batch", "--bench"],
                         env=env, capture_output=True, text=True, timeout=3600)
    if res.returncode != 0:
        raise SystemExit(f"{storage} failed:\n{res.stderr[-4000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# A storage request's latency count on /metrics: every route under /v1/databases/.
_STORAGE_COUNT = re.compile(r'^hybridrag_request_duration_seconds_count\{[^}]*hybridrag_operation='
                            r'"(?:kv|vectors|graphs|doc-status|database)\.[^"]*"[^}]*\} (\d+)$', re.M)


def http_calls(server: ProxyServer) -> int:
    with urllib.request.urlopen(server.url + "/metrics", timeout=30) as resp:
        return sum(int(n) for n in _STORAGE_COUNT.findall(resp.read().decode()))


def psql(dsn: str, sql: str) -> None:
    subprocess.run(["psql", dsn, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True)


def with_db(dsn: str, name: str) -> str:
    u = urlsplit(dsn)
    return urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))


def cpu() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--version", default="1.4.16")
    ap.add_argument("--pg", default=os.environ.get("HYBRIDRAG_TEST_PG", ""),
                    help="postgres:// URL of a server; the bench creates and drops its own database there")
    ap.add_argument("--bench-db", default="hybridrag_bench_lightrag_ingest")
    args = ap.parse_args()
    v = args.version
    results: dict[str, list[tuple[float, int]]] = {}
    load = os.getloadavg()[0]
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="hybridrag-bench-ingest-") as tmp:
            out = drive(v, "json", os.path.join(tmp, "native"), args.docs, env_for(v))
            results.setdefault("LightRAG JSON storages", []).append((out["ingest_seconds"], 0, out["ingest_cpu_seconds"]))

            server = ProxyServer({"bench": {"backend": "json", "path": os.path.join(tmp, "proxydb")}}).start()
            try:
                out = drive(v, "proxy", os.path.join(tmp, "scratch"), args.docs,
                            env_for(v, HYBRIDRAG_PROXY_URL=server.url, HYBRIDRAG_PROXY_DB="bench"))
                results.setdefault("proxy, JSON database", []).append((out["ingest_seconds"], http_calls(server),
                                                                       out["ingest_cpu_seconds"]))
            finally:
                server.cleanup()

            if not args.pg:
                continue
            psql(args.pg, f'DROP DATABASE IF EXISTS "{args.bench_db}" WITH (FORCE)')
            psql(args.pg, f'CREATE DATABASE "{args.bench_db}"')
            dsn = with_db(args.pg, args.bench_db)
            psql(dsn, "CREATE EXTENSION IF NOT EXISTS vector")
            u = urlsplit(dsn)
            penv = {"POSTGRES_HOST": u.hostname or "127.0.0.1", "POSTGRES_PORT": str(u.port or 5432),
                    "POSTGRES_USER": u.username or "postgres", "POSTGRES_PASSWORD": u.password or "",
                    "POSTGRES_DATABASE": args.bench_db}
            out = drive(v, "pg", os.path.join(tmp, "pgnative"), args.docs, env_for(v, **penv), workspace="native")
            results.setdefault("LightRAG PG classes (graph: NetworkX)", []).append((out["ingest_seconds"], 0,
                                                                                       out["ingest_cpu_seconds"]))
            server = ProxyServer({"bench": {"backend": "pg"}},
                                 backends={"pg": {"type": "postgres", "dsn": dsn, "embedding_model": MODEL}}).start()
            try:
                for storage, label in (("proxy-pg", "proxy, PG database (graph: NetworkX)"),
                                       ("proxy-pg-graph", "proxy, PG database (graph in the proxy too)")):
                    before = http_calls(server)
                    out = drive(v, storage, os.path.join(tmp, storage), args.docs, env_for(v, **penv,
                                HYBRIDRAG_PROXY_URL=server.url, HYBRIDRAG_PROXY_DB="bench"),
                                workspace=f"{storage.replace('-', '')}{uuid.uuid4().hex[:6]}")
                    results.setdefault(label, []).append((out["ingest_seconds"], http_calls(server) - before,
                                                         out["ingest_cpu_seconds"]))
            finally:
                server.cleanup()
                psql(args.pg, f'DROP DATABASE IF EXISTS "{args.bench_db}" WITH (FORCE)')
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    med = {k: (statistics.median(t for t, _, _ in v_), int(statistics.median(c for _, c, _ in v_)),
               statistics.median(u for _, _, u in v_))
           for k, v_ in results.items()}
    base = {"JSON": med["LightRAG JSON storages"][0]}
    if "LightRAG PG classes (graph: NetworkX)" in med:
        base["PG"] = med["LightRAG PG classes (graph: NetworkX)"][0]
    print(f"LightRAG {v}, {args.docs} documents in one ainsert, {args.rounds} rounds, started {started}, "
          f"load average {load:.2f}; cpu: {cpu()}")
    print()
    print("| configuration | median ingest (s) | runs (s) | LightRAG's CPU (s) | HTTP calls | ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    for k, (t, calls, cpu_s) in med.items():
        ref = base["PG" if "PG" in k else "JSON"]
        runs = ", ".join(f"{x:.2f}" for x, _, _ in results[k])
        print(f"| {k} | {t:.2f} | {runs} | {cpu_s:.2f} | {calls if calls else '-'} | {t / ref:.2f}x |")


if __name__ == "__main__":
    main()
