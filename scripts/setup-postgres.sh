#!/usr/bin/env bash
# setup-postgres.sh makes PostgreSQL with pgvector available to the tests.
#
# Idempotent: on a machine that already has a running cluster, the vector
# extension and the test database, it only checks them (about a second).
# On a fresh Debian 12 machine (PostgreSQL 15 cluster on 127.0.0.1:5432, trust
# auth, run as root) it starts the cluster, builds pgvector from Debian 13's
# source package (Debian 12 ships no pgvector), creates the test database and
# the extension in it.
#
# Output: log lines on stderr; on success the environment for the tests on
# stdout (or into --env-file FILE) as shell `export` lines:
#   HYBRIDRAG_TEST_PG         DSN of the test database (pgvector enabled)
#   HYBRIDRAG_TEST_PG_BINDIR  folder holding initdb, pg_ctl and postgres, for
#                             tests that run a throwaway cluster as the
#                             postgres user (runuser -u postgres -- ...)
#
# When something cannot be set up (not root, no apt, no server) it says what
# is missing and exits 1 if CI=true; otherwise it warns, exits 0 and writes no
# environment, so the PostgreSQL tests skip.
#
# Settings (environment):
#   HYBRIDRAG_TEST_PG_DB          test database name (default hybridrag_test)
#   HYBRIDRAG_TEST_PG_HOST/PORT   server address (default 127.0.0.1:5432)
#   HYBRIDRAG_TEST_PG_VERSION     PostgreSQL major version (default: newest in /etc/postgresql)
#   HYBRIDRAG_PGVECTOR_REBUILD=1  rebuild and reinstall pgvector even if present
#   HYBRIDRAG_TEST_PG             use this server instead (only checks pgvector there)
set -euo pipefail

DB="${HYBRIDRAG_TEST_PG_DB:-hybridrag_test}"
HOST="${HYBRIDRAG_TEST_PG_HOST:-127.0.0.1}"
PORT="${HYBRIDRAG_TEST_PG_PORT:-5432}"
PGUSER_NAME=postgres
MIN_VECTOR_VERSION=0.7.0 # halfvec and HNSW on halfvec arrived in 0.7.0
ENV_FILE=""
START_SECONDS=$SECONDS
# NOTICEs such as "extension already exists" are noise here.
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

usage() {
	echo "usage: $0 [--env-file FILE]" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--env-file)
		[ $# -ge 2 ] || usage
		ENV_FILE="$2"
		shift 2
		;;
	-h | --help) usage ;;
	*) usage ;;
	esac
done

log() { echo "setup-postgres: $*" >&2; }

# give_up reports why PostgreSQL tests cannot run. In CI that is a failure;
# on a developer machine the tests skip instead.
give_up() {
	log "cannot set up PostgreSQL with pgvector: $*"
	[ -n "$ENV_FILE" ] && rm -f "$ENV_FILE"
	if [ "${CI:-}" = "true" ]; then
		log "CI=true: failing"
		exit 1
	fi
	log "warning: PostgreSQL tests will be skipped (HYBRIDRAG_TEST_PG not set)"
	exit 0
}

# version_ge A B: true when dotted version A >= B.
version_ge() {
	[ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

# retry N DELAY CMD...: run CMD up to N times, pausing DELAY seconds between
# tries (another process may hold the apt/dpkg lock on a fresh machine).
retry() {
	local tries=$1 delay=$2 i
	shift 2
	for ((i = 1; i <= tries; i++)); do
		if "$@"; then
			return 0
		fi
		[ "$i" -lt "$tries" ] && log "retrying in ${delay}s ($i/$tries): $*" && sleep "$delay"
	done
	return 1
}

# write_env prints the tests' environment and stores it in --env-file.
write_env() {
	local lines="export HYBRIDRAG_TEST_PG='$1'"
	[ -n "${2:-}" ] && lines="$lines
export HYBRIDRAG_TEST_PG_BINDIR='$2'"
	if [ -n "$ENV_FILE" ]; then
		mkdir -p "$(dirname "$ENV_FILE")"
		printf '%s\n' "$lines" >"$ENV_FILE"
		log "environment written to $ENV_FILE"
	fi
	printf '%s\n' "$lines"
}

# ---------------------------------------------------------------------------
# 0. A server chosen by the caller: only check it has pgvector.

if [ -n "${HYBRIDRAG_TEST_PG:-}" ]; then
	log "HYBRIDRAG_TEST_PG is set: using that server, no local setup"
	command -v psql >/dev/null 2>&1 || give_up "psql not found to check HYBRIDRAG_TEST_PG (install postgresql-client)"
	psql "$HYBRIDRAG_TEST_PG" -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION IF NOT EXISTS vector' >&2 ||
		give_up "cannot create the vector extension through HYBRIDRAG_TEST_PG (is pgvector installed there?)"
	write_env "$HYBRIDRAG_TEST_PG" "${HYBRIDRAG_TEST_PG_BINDIR:-}"
	exit 0
fi

# ---------------------------------------------------------------------------
# 1. Find the PostgreSQL version and its tools.

if [ -n "${HYBRIDRAG_TEST_PG_VERSION:-}" ]; then
	PGV="$HYBRIDRAG_TEST_PG_VERSION"
elif [ -d /etc/postgresql ] && [ -n "$(ls -A /etc/postgresql 2>/dev/null)" ]; then
	PGV="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort -V | tail -n1)"
else
	give_up "no PostgreSQL cluster configuration in /etc/postgresql (install postgresql-15 and create a cluster)"
fi
BINDIR="/usr/lib/postgresql/$PGV/bin"
PG_CONFIG="$BINDIR/pg_config"
log "PostgreSQL $PGV (binaries in $BINDIR)"

PSQL="$(command -v psql || true)"
[ -n "$PSQL" ] || PSQL="$BINDIR/psql"
[ -x "$PSQL" ] || give_up "psql not found (install postgresql-client-$PGV)"

missing=()
for tool in initdb pg_ctl postgres; do
	[ -x "$BINDIR/$tool" ] || missing+=("$BINDIR/$tool")
done
command -v runuser >/dev/null 2>&1 || missing+=("runuser (util-linux)")
id "$PGUSER_NAME" >/dev/null 2>&1 || missing+=("system user $PGUSER_NAME")
if [ ${#missing[@]} -gt 0 ]; then
	give_up "missing for throwaway-cluster tests: ${missing[*]}"
fi

psql_admin() {
	"$PSQL" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U "$PGUSER_NAME" "$@"
}

# ---------------------------------------------------------------------------
# 2. Start the cluster when it is stopped.

server_ready() { "$BINDIR/pg_isready" -q -h "$HOST" -p "$PORT" -t 2 >/dev/null 2>&1; }

if ! server_ready; then
	if [ "$(id -u)" -ne 0 ]; then
		give_up "server on $HOST:$PORT is not answering and only root can start it (pg_ctlcluster --skip-systemctl-redirect $PGV main start)"
	fi
	log "starting cluster $PGV main"
	pg_ctlcluster --skip-systemctl-redirect "$PGV" main start ||
		log "pg_ctlcluster start returned non-zero (it may already be starting)"
	for _ in $(seq 1 30); do
		server_ready && break
		sleep 1
	done
	server_ready || give_up "server on $HOST:$PORT did not come up within 30s (see /var/log/postgresql/postgresql-$PGV-main.log)"
fi
log "server answers on $HOST:$PORT"

# ---------------------------------------------------------------------------
# 3. Build pgvector from Debian 13's source package when it is missing.

SHAREDIR="$("$PG_CONFIG" --sharedir 2>/dev/null || echo "/usr/share/postgresql/$PGV")"
CONTROL="$SHAREDIR/extension/vector.control"

APT_OPTS=(-o DPkg::Lock::Timeout=120 -o Acquire::Retries=3)

# mirror_uri prints the machine's Debian mirror (the URIs: of the main,
# non-security entry), so that nothing host-specific lives in the repository.
mirror_uri() {
	local f=/etc/apt/sources.list.d/debian.sources uri=""
	if [ -r "$f" ]; then
		uri="$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' "$f")"
	fi
	if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
		uri="$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { if ($i !~ /security/) { print $i; exit } break } }' /etc/apt/sources.list)"
	fi
	[ -n "$uri" ] && echo "${uri%/}"
}

install_build_deps() {
	local pkgs=("postgresql-server-dev-$PGV" dpkg-dev make gcc) need=() p
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
	done
	if [ ${#need[@]} -eq 0 ]; then
		log "build dependencies already installed"
		return 0
	fi
	log "installing ${need[*]}"
	local deps_started=$SECONDS
	export DEBIAN_FRONTEND=noninteractive
	# The package lists may be missing or stale on a fresh machine.
	if ! apt-get -q "${APT_OPTS[@]}" install -y --no-install-recommends "${need[@]}" >&2; then
		retry 5 10 apt-get -q "${APT_OPTS[@]}" update >&2 || return 1
		retry 5 10 apt-get -q "${APT_OPTS[@]}" install -y --no-install-recommends "${need[@]}" >&2 || return 1
	fi
	log "build dependencies installed in $((SECONDS - deps_started))s"
}

build_pgvector() {
	local uri scratch src
	uri="$(mirror_uri)" || true
	[ -n "$uri" ] || {
		log "no Debian mirror URI found in /etc/apt/sources.list.d/debian.sources"
		return 1
	}
	scratch="$(mktemp -d /tmp/pgvector-build.XXXXXX)"
	# shellcheck disable=SC2064 # expand now: the variable is local
	trap "rm -rf '$scratch'" EXIT
	mkdir -p "$scratch/lists/partial" "$scratch/cache/archives/partial" "$scratch/src"
	echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie main" >"$scratch/sources.list"
	local opts=(
		-o "Dir::Etc::sourcelist=$scratch/sources.list"
		-o "Dir::Etc::sourceparts=/dev/null"
		-o "Dir::State::Lists=$scratch/lists"
		-o "Dir::Cache=$scratch/cache"
		-o Acquire::Retries=3
	)
	log "fetching pgvector source (Debian trixie) into $scratch"
	retry 3 5 apt-get -q "${opts[@]}" update >&2 || return 1
	(cd "$scratch/src" && retry 3 5 apt-get -q "${opts[@]}" source pgvector >&2) || return 1
	src="$(find "$scratch/src" -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' | head -n1)"
	[ -n "$src" ] || {
		log "apt-get source pgvector unpacked nothing"
		return 1
	}
	log "building $(basename "$src") (log: $scratch/build.log)"
	if ! { make -C "$src" -j"$(nproc)" PG_CONFIG="$PG_CONFIG" &&
		make -C "$src" install PG_CONFIG="$PG_CONFIG"; } >"$scratch/build.log" 2>&1; then
		tail -n 40 "$scratch/build.log" >&2
		return 1
	fi
}

if [ ! -f "$CONTROL" ] || [ "${HYBRIDRAG_PGVECTOR_REBUILD:-}" = "1" ]; then
	[ "$(id -u)" -eq 0 ] || give_up "$CONTROL is missing and building pgvector needs root (run this script as root once)"
	command -v apt-get >/dev/null 2>&1 || give_up "$CONTROL is missing and there is no apt-get to fetch pgvector"
	build_started=$SECONDS
	install_build_deps || give_up "could not install postgresql-server-dev-$PGV dpkg-dev make gcc"
	build_pgvector || give_up "could not build pgvector from Debian's source package"
	[ -f "$CONTROL" ] || give_up "pgvector built but $CONTROL is still missing"
	log "pgvector installed in $((SECONDS - build_started))s"
else
	log "pgvector already installed ($CONTROL)"
fi

# ---------------------------------------------------------------------------
# 4. Test database and extension.

psql_admin -d postgres -c 'SELECT 1' >/dev/null 2>&1 ||
	give_up "cannot connect as $PGUSER_NAME to $HOST:$PORT without a password (the tests expect trust auth on loopback)"

if [ "$(psql_admin -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != "1" ]; then
	log "creating database $DB"
	psql_admin -d postgres -c "CREATE DATABASE \"$DB\"" >&2 ||
		give_up "could not create database $DB"
fi

psql_admin -d "$DB" -c 'CREATE EXTENSION IF NOT EXISTS vector' >&2 ||
	give_up "CREATE EXTENSION vector failed in $DB"
# An extension created by an older build stays at its version until updated.
psql_admin -d "$DB" -c 'ALTER EXTENSION vector UPDATE' >/dev/null 2>&1 || true

VERSION="$(psql_admin -d "$DB" -tAc "SELECT extversion FROM pg_extension WHERE extname = 'vector'")"
version_ge "$VERSION" "$MIN_VECTOR_VERSION" ||
	give_up "pgvector $VERSION in $DB is older than $MIN_VECTOR_VERSION (set HYBRIDRAG_PGVECTOR_REBUILD=1)"

# Smoke test in a rolled-back transaction: vector and halfvec types, cosine
# distance and an HNSW index, which is what the PostgreSQL adapter will use.
psql_admin -d "$DB" >/dev/null 2>&1 <<'SQL' || give_up "pgvector smoke test failed in $DB"
BEGIN;
CREATE TEMP TABLE pgvector_smoke (id int PRIMARY KEY, v vector(3), h halfvec(3));
INSERT INTO pgvector_smoke VALUES (1, '[1,0,0]', '[1,0,0]'), (2, '[0,1,0]', '[0,1,0]');
CREATE INDEX ON pgvector_smoke USING hnsw (v vector_cosine_ops);
CREATE INDEX ON pgvector_smoke USING hnsw (h halfvec_cosine_ops);
SELECT id FROM pgvector_smoke ORDER BY v <=> '[1,0.1,0]' LIMIT 1;
ROLLBACK;
SQL

DSN="postgres://$PGUSER_NAME@$HOST:$PORT/$DB?sslmode=disable"
log "ready: pgvector $VERSION in $DB, setup took $((SECONDS - START_SECONDS))s"

write_env "$DSN" "$BINDIR"
