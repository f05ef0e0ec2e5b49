#!/usr/bin/env bash
# fuzz.sh runs every Go fuzz target in the module briefly.
#
# Targets are discovered, not listed: `go test -list '^Fuzz'` per package, so a
# new FuzzXxx is fuzzed in CI as soon as it exists. Each runs for FUZZTIME
# (default 50000x: fifty thousand inputs). A failure leaves its crashing input
# under the package's testdata/fuzz/FuzzXxx/, where plain `go test` replays it
# from then on.
#
# The budget is a count, not a duration: with a duration, Go 1.26's fuzz
# coordinator can report "context deadline exceeded" as a failure when the time
# runs out while a worker is busy (golang/go#75804, fixed in Go 1.27), which a
# busy CI machine hits with no failing input at all. A count has no deadline to
# race. FUZZTIME=30s still works for a longer local run.
#
# usage: scripts/fuzz.sh [packages...]   (default ./...)
set -euo pipefail

FUZZTIME="${FUZZTIME:-50000x}"
cd "$(dirname "$0")/.."

pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./...)

ran=0
failed=()
# A package is fuzzed only when it has test files; go list says which.
while IFS= read -r pkg; do
	[ -n "$pkg" ] || continue
	targets="$(go test -list '^Fuzz' "$pkg" | grep -E '^Fuzz[A-Za-z0-9_]*$' || true)"
	for target in $targets; do
		echo "fuzz: $pkg $target for $FUZZTIME"
		if go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg"; then
			ran=$((ran + 1))
		else
			failed+=("$pkg.$target")
		fi
	done
done < <(go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' "${pkgs[@]}")

if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: FAILED: ${failed[*]}" >&2
	exit 1
fi
echo "fuzz: $ran target(s) passed"
