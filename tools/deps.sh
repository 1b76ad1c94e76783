#!/usr/bin/env bash
# Installs the Debian 12 packages dejavm needs to build, test and benchmark; a no-op when all
# are present. Runs apt-get as root (directly, or through sudo).
set -euo pipefail

packages=(
	# build (clang-format: tools/test.sh checks the sources' format)
	gcc meson ninja-build pkg-config clang-format
	libzstd-dev libmsgpack-dev liburing-dev libxxhash-dev libssl-dev libseccomp-dev check
	# the REST API (server, JSON) and dejavm-remote; curl for its tests
	libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev curl
	# bpf/ (optional feature)
	libbpf-dev clang bpftool systemtap-sdt-dev bpftrace
	# tools/fuzz.sh (tests/fuzz): clang's libFuzzer and sanitizer runtimes (-fsanitize=fuzzer)
	libclang-rt-14-dev
	# tiny Linux guest (tools/guest-kernel)
	linux-source-6.1 flex bison bc libelf-dev cpio xz-utils lz4 make
	# trace checks and the peer for benchmarks
	zstd python3 python3-msgpack qemu-system-x86
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
echo "dejavm: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q >&2
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
