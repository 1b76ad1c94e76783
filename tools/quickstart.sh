#!/usr/bin/env bash
# The README's first command: install what is needed, build, then the main job. Until record
# and replay land, the main job boots the project's default guest, the tiny Linux it builds
# itself (the first build takes a few minutes and is cached in ~/.cache/dejavm).
set -euo pipefail
cd "$(dirname "$0")/.."

tools/deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
./build/dejavm --kernel build/corpora/guests/hello.elf
dir=$(tools/guest-kernel/build.sh --print-dir | tail -n 1)
exec ./build/dejavm --kernel "$dir/vmlinux" --initramfs "$dir/initramfs.cpio" \
	--cmdline "$(cat "$dir/cmdline.txt")" --memory size=64M --stats
