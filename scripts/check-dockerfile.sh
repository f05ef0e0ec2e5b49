#!/usr/bin/env bash
# check-dockerfile.sh proves, without a Docker engine, that the Dockerfile's
# build step works: it extracts the `go build` command from the Dockerfile's
# RUN line, runs it here with the output redirected to a scratch folder, and
# checks that the result is a static binary that runs and has the subcommand
# the HEALTHCHECK calls.
#
# What it cannot check: pulling the base images, the final stage's file
# ownership and the container network; those need `docker build`/`docker run`.
set -euo pipefail

cd "$(dirname "$0")/.."
DOCKERFILE="${1:-Dockerfile}"
fail() {
	echo "check-dockerfile: $*" >&2
	exit 1
}
[ -f "$DOCKERFILE" ] || fail "$DOCKERFILE not found"

# Join continuation lines, then take the RUN instruction that runs go build.
joined="$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$DOCKERFILE")"
run_line="$(grep -E '^RUN .*go build' <<<"$joined" | head -n1 || true)"
[ -n "$run_line" ] || fail "no 'RUN ... go build' line in $DOCKERFILE"
build_cmd="${run_line#RUN }"

# The output path is the word after -o; build into a scratch folder instead.
out_path="$(sed -nE 's/.*[[:space:]]-o[[:space:]]+([^[:space:]]+).*/\1/p' <<<"$build_cmd")"
[ -n "$out_path" ] || fail "the go build line has no -o OUTPUT: $build_cmd"
grep -q 'CGO_ENABLED=0' <<<"$build_cmd" || fail "the go build line must set CGO_ENABLED=0 for a static binary: $build_cmd"
grep -q -- '-trimpath' <<<"$build_cmd" || fail "the go build line must use -trimpath: $build_cmd"

# hadolint-style rules (hadolint itself is not installable here: it is in
# neither Debian's archive nor the Go module proxy).
froms="$(grep -E '^FROM ' <<<"$joined")"
while read -r _ image _; do
	case "$image" in
	*:latest | *:latest@*) fail "DL3007: FROM $image uses :latest; pin a version" ;;
	*:* | *@sha256:*) ;;
	*) grep -qE "AS $image\b|as $image\b" <<<"$froms" || fail "DL3006: FROM $image has no tag; pin a version" ;;
	esac
done <<<"$froms"
last_user="$(grep -E '^USER ' <<<"$joined" | tail -n1 | awk '{print $2}')"
case "$last_user" in
"" | root | 0 | 0:* | root:*) fail "DL3002: the final USER must be a non-root user (got '${last_user:-none}')" ;;
esac
if grep -qE '^ADD ' <<<"$joined" && grep -E '^ADD ' <<<"$joined" | grep -vqE 'https?://'; then
	fail "DL3020: use COPY, not ADD, for local files"
fi
if grep -qE '^RUN .*apt-get install' <<<"$joined" && ! grep -qE 'rm -rf /var/lib/apt/lists' <<<"$joined"; then
	fail "DL3009: apt-get install without rm -rf /var/lib/apt/lists/*"
fi
grep -qE '^RUN .*\bcd ' <<<"$joined" && fail "DL3003: use WORKDIR, not cd"
# The build stage must use the toolchain CI uses, so both build the same binary.
want_go="$(go env GOVERSION | sed 's/^go//')"
build_image="$(grep -E '^FROM golang:' <<<"$froms" | head -n1 | awk '{print $2}')"
if [ -n "$build_image" ]; then
	tag="${build_image#golang:}"
	tag="${tag%%-*}"
	[ "$tag" = "$want_go" ] || fail "the build stage uses golang:$tag but CI builds with Go $want_go; update the FROM line"
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
bin="$scratch/proxy"
local_cmd="${build_cmd//"$out_path"/"$bin"}"

echo "check-dockerfile: $local_cmd"
# Run it as the Dockerfile's shell would; GOFLAGS from the caller could hide a
# difference, so clear it.
env -u GOFLAGS sh -c "$local_cmd" || fail "the Dockerfile's build command failed"

[ -x "$bin" ] || fail "build produced no binary at $bin"
if command -v file >/dev/null 2>&1; then
	file "$bin" | grep -q 'statically linked' || fail "binary is not statically linked: $(file "$bin")"
elif ldd "$bin" >/dev/null 2>&1; then
	fail "binary is dynamically linked (ldd lists libraries)"
fi
"$bin" version >/dev/null || fail "'proxy version' failed on the built binary"

# The HEALTHCHECK runs the binary itself (a static image has no curl or shell),
# so the subcommand it names must exist.
hc="$(grep -E '^HEALTHCHECK' <<<"$joined" | head -n1 || true)"
[ -n "$hc" ] || fail "no HEALTHCHECK in $DOCKERFILE"
hc_sub="$(sed -nE 's/.*CMD \["[^"]+", *"([^"]+)".*/\1/p' <<<"$hc")"
[ -n "$hc_sub" ] || fail "HEALTHCHECK must be exec form CMD [\"/proxy\", \"SUBCOMMAND\"]: $hc"
"$bin" "$hc_sub" --help >/dev/null 2>&1 ||
	fail "HEALTHCHECK runs 'proxy $hc_sub', but the binary has no such subcommand"

echo "check-dockerfile: ok ($(du -h "$bin" | cut -f1) static binary; 'proxy version' and 'proxy $hc_sub --help' run)"
