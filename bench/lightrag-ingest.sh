#!/usr/bin/env bash
# Times one 50-document LightRAG ingest on LightRAG's own JSON and PostgreSQL
# storages and through the proxy, side by side (bench/lightrag_ingest.py;
# docs/BENCHMARKS.md, "Real LightRAG ingest"). Needs LightRAG's source in
# ../shared/lightrag-py and the system packages of scripts/setup-python-lightrag.sh.
# The PostgreSQL part uses the server of HYBRIDRAG_TEST_PG (make pg) and a
# database of its own, hybridrag_bench_lightrag_ingest, dropped at the end.
# Usage: bash bench/lightrag-ingest.sh [--docs 50] [--rounds 3] [--version 1.4.16]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${HYBRIDRAG_TEST_PG:-}" ] && [ -f .cache/pg.env ]; then . ./.cache/pg.env; fi
CGO_ENABLED=0 go build -trimpath -o .cache/bin/proxy ./cmd/proxy
export HYBRIDRAG_TEST_PROXY_BIN="$PWD/.cache/bin/proxy"
exec python3 bench/lightrag_ingest.py --pg "${HYBRIDRAG_TEST_PG:-}" "$@"
