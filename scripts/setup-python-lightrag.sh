#!/usr/bin/env bash
# setup-python-lightrag.sh makes the system interpreter (/usr/bin/python3) able
# to import LightRAG's own source from ../shared/lightrag-py, for the Python
# tests that open folders with LightRAG's storage classes. PyPI is out of
# reach here, so the pure-Python packages LightRAG needs come from Debian
# (../shared/lightrag-py/README.md); the others are in lightrag-py/deps.
#
# Idempotent: when every module imports, it only checks (well under a second).
# Needs root for apt-get; when it cannot install it says what is missing and
# exits 1 if CI=true, else warns and exits 0 (those tests then skip).
set -euo pipefail

PY=/usr/bin/python3
# asyncpg runs LightRAG's PostgreSQL classes; pytest, pytest-asyncio and
# wcwidth (for deps/ascii_colors) run LightRAG's own graph tests
# (clients/python/tests/test_lightrag_real.py).
PACKAGES=(python3-numpy python3-networkx python3-dotenv python3-tenacity python3-pydantic python3-httpx
	python3-xxhash python3-packaging python3-pandas python3-asyncpg python3-pytest python3-pytest-asyncio
	python3-wcwidth)
MODULES="numpy, networkx, dotenv, tenacity, pydantic, httpx, xxhash, packaging, pandas, asyncpg, pytest, pytest_asyncio, wcwidth"

fail() {
	echo "setup-python-lightrag: $*" >&2
	if [ "${CI:-}" = "true" ]; then exit 1; fi
	exit 0
}

[ -x "$PY" ] || fail "$PY is missing: apt-get install -y python3"
if "$PY" -c "import $MODULES" 2>/dev/null; then
	exit 0
fi
[ "$(id -u)" = 0 ] || fail "run as root to install ${PACKAGES[*]}"
command -v apt-get >/dev/null || fail "no apt-get: install ${PACKAGES[*]} for $PY"
echo "setup-python-lightrag: installing ${PACKAGES[*]}" >&2
start=$SECONDS
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
"$PY" -c "import $MODULES" || fail "installed, but $PY still cannot import: $MODULES"
echo "setup-python-lightrag: ready in $((SECONDS - start))s" >&2
