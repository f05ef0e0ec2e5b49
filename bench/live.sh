#!/usr/bin/env bash
# Runs the live-migration benchmark that docs/BENCHMARKS.md quotes (issue 11),
# in one run: request latency (KV get of 10 ids, vector top-10) and ingest
# throughput before a live migration, during its backfill (dual-write),
# verification and shadow reads, and after its cutover to PostgreSQL.
# Usage: bash bench/live.sh [SIZE] [SECONDS]   (default 50MB, 10)
# Needs PostgreSQL with pgvector (make pg); it creates and drops a database of
# its own (hybridrag_bench_live), never the test database.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-50MB}
secs=${2:-10}
work=${HYBRIDRAG_BENCH_DIR:-/tmp/hybridrag-bench}
mkdir -p "$work"
if [ -f .cache/pg.env ]; then . ./.cache/pg.env; fi
: "${HYBRIDRAG_TEST_PG:?set HYBRIDRAG_TEST_PG (make pg)}"
base=${HYBRIDRAG_TEST_PG%%\?*}
admin=${base%/*}/postgres
dsn=${base%/*}/hybridrag_bench_live
psql "$admin" -qc 'DROP DATABASE IF EXISTS hybridrag_bench_live' -c 'CREATE DATABASE hybridrag_bench_live'
psql "$dsn" -qc 'CREATE EXTENSION IF NOT EXISTS vector'
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
CGO_ENABLED=0 go build -trimpath -o "$work/proxy" ./cmd/proxy
go build -o "$work/livebench" ./bench/livebench
if [ ! -f "$work/gen-$size/kv_store_full_docs.json" ]; then
  rm -rf "$work/gen-$size"
  "$work/proxy" gen "$work/gen-$size" --size "$size" --seed 1 >/dev/null
fi
"$work/livebench" --dir "$work/gen-$size" --dsn "$dsn" --seconds "$secs"
echo "== load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
psql "$admin" -qc 'DROP DATABASE IF EXISTS hybridrag_bench_live'
