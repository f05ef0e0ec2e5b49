#!/usr/bin/env bash
# Runs the migration benchmarks that docs/BENCHMARKS.md quotes (issue 9), in
# one run: `proxy migrate` of generated 100 MB, 1 GB and 3 GB folders into
# PostgreSQL (whole time, phases, data-phase rate, peak RSS of the migrating
# process, ETA error after 10 % of the copy), and a raw pgx CopyFrom of the
# 1 GB folder's records as the floor for the data phase.
# Usage: bash bench/migrate.sh [WORKDIR]   (default /tmp/hybridrag-bench)
# Needs HYBRIDRAG_TEST_PG (make pg writes it to .cache/pg.env) and about 9 GB of
# free disk (4.2 GB of folders, the rest in PostgreSQL while a run lasts).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/hybridrag-bench}
mkdir -p "$work"
if [ -f .cache/pg.env ]; then . ./.cache/pg.env; fi
: "${HYBRIDRAG_TEST_PG:?set HYBRIDRAG_TEST_PG (make pg)}"

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
CGO_ENABLED=0 go build -trimpath -o "$work/proxy" ./cmd/proxy
go build -o "$work/migratebench" ./bench/migratebench

for size in 100MB 1GB 3GB; do
  if [ ! -f "$work/gen-$size/kv_store_full_docs.json" ]; then
    rm -rf "$work/gen-$size"
    "$work/proxy" gen "$work/gen-$size" --size "$size" --seed 1 --json
  fi
done

for size in 100MB 1GB 3GB; do
  raw=false
  if [ "$size" = 1GB ]; then raw=true; fi
  echo "== migrate the $size folder (load $(cut -d' ' -f1-3 /proc/loadavg))"
  "$work/migratebench" --dir "$work/gen-$size" --dsn "$HYBRIDRAG_TEST_PG" --raw="$raw"
done
