#!/usr/bin/env bash
# The README's first command: install what is needed, build, then the main job: record the
# boot of the project's default guest, the tiny Linux it builds itself (the first build takes
# a few minutes and is cached in ~/.cache/dejavm), in deterministic mode, and replay it.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
dir=$(tools/guest-kernel/build.sh --print-dir | tail -n 1)
trace=${DEJAVM_QUICKSTART_TRACE:-build/boot.trace}
echo "== recording the tiny-Linux boot into $trace (--deterministic)"
./build/dejavm --kernel "$dir/vmlinux" --initramfs "$dir/initramfs.cpio" \
	--cmdline "$(cat "$dir/cmdline-deterministic.txt")" --deterministic --record "$trace"
./build/tools/trace/dejavm-trace info "$trace"
echo "== replaying it against this build"
exec ./build/dejavm replay "$trace"
