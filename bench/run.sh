#!/usr/bin/env bash
# Runs every benchmark that docs/BENCHMARKS.md quotes, in one run, and prints
# the figures. Usage: bash bench/run.sh [WORKDIR]   (default /tmp/hybridrag-bench)
# Needs about 2.5 GB of free disk in WORKDIR. PostgreSQL benchmarks run when
# HYBRIDRAG_TEST_PG is set (make pg writes it to .cache/pg.env).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/hybridrag-bench}
mkdir -p "$work"
if [ -f .cache/pg.env ]; then . ./.cache/pg.env; fi

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
CGO_ENABLED=0 go build -trimpath -o "$work/proxy" ./cmd/proxy
go build -o "$work/openbench" ./bench/openbench

for size in 100MB 1GB; do
  if [ ! -f "$work/gen-$size/kv_store_full_docs.json" ]; then
    rm -rf "$work/gen-$size"
    "$work/proxy" gen "$work/gen-$size" --size "$size" --seed 1 --json
  fi
done

echo "== 1. inspect on the 1 GB folder (wall time, peak RSS)"
bytes=$(du -sb "$work/gen-1GB" | cut -f1)
/usr/bin/time -f '%e %M' -o "$work/inspect.time" "$work/proxy" inspect "$work/gen-1GB" --json >/dev/null
read -r secs kb <"$work/inspect.time"
awk -v b="$bytes" -v s="$secs" -v kb="$kb" 'BEGIN { printf "inspect: %.0f MB in %.2f s = %.0f MB/s, peak RSS %.1f MB\n", b/1e6, s, b/1e6/s, kb/1024 }'

echo "== 2. JSON adapter open (all namespaces loaded)"
for size in 100MB 1GB; do
  "$work/openbench" "$work/gen-$size"
done

echo "== 3. vector query 100k x 1536 on one core"
go test -run '^$' -bench 'BenchmarkVectorQuery100k$' -cpu 1 -benchtime 50x ./adapters/json/

echo "== 4. KV get of 10 ids through HTTP on loopback"
go test -run '^$' -bench 'BenchmarkKVGet10$' -benchtime 5000x ./proxy/
