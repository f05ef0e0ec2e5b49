#!/usr/bin/env bash
# Runs bench/pgcompare (issue 3's PostgreSQL benchmarks: proxy vs direct pgx,
# proxy peak RSS on a >1 GB database) against the database of
# HYBRIDRAG_TEST_PG (make pg writes it to .cache/pg.env). The bench creates
# its own database next to that one and drops it at the end (--keep keeps
# it; --reuse NAME measures a kept one again without loading). It exits 1
# with "FAIL: ..." when the vector query's plan is not the HNSW index scan,
# the index was scanned fewer times than queries were sent, or recall@k
# against exact scans is below 0.95 (issue 12; docs/BENCHMARKS.md).
# Usage: bash bench/pgcompare.sh [pgcompare flags, e.g. --vectors 2000]
# Full size (the default, 100k x 1536) needs ~2 GB of disk for PostgreSQL and
# takes a few minutes, most of it the HNSW build; wait for a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${HYBRIDRAG_TEST_PG:-}" ] && [ -f .cache/pg.env ]; then . ./.cache/pg.env; fi
: "${HYBRIDRAG_TEST_PG:?set HYBRIDRAG_TEST_PG (or run make pg) to a postgres:// URL}"
exec go run ./bench/pgcompare --dsn "$HYBRIDRAG_TEST_PG" "$@"
