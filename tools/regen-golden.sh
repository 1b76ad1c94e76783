#!/bin/bash
# Re-records the golden traces in corpora/traces/ with the current build, after a change that
# is meant to change what guests do (a device model, virtual time, the trace format...).
# tests/replay_test.py replays every one of them against the build under test.
#
# usage: tools/regen-golden.sh [BUILD_DIR]      (default: build)
# The tiny Linux comes from tools/guest-kernel/build.sh (built if missing, a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
dejavm=$build/dejavm
guests=$build/corpora/guests
out=corpora/traces
[[ -x $dejavm ]] || { echo "regen-golden: no $dejavm: build first (meson setup $build && ninja -C $build)" >&2; exit 1; }
linux=$(tools/guest-kernel/build.sh --quiet --print-dir | tail -1)

rec() { # name, then dejavm arguments
	local name=$1
	shift
	"$dejavm" --deterministic --serial null --record "$out/$name.trace" "$@"
	printf '%-14s %8d bytes\n' "$name" "$(stat -c %s "$out/$name.trace")"
}
rec hello --kernel "$guests/hello.elf"
rec timer --kernel "$guests/timer.elf" --cmdline "ticks=20 hz=100"
# Busy-waits for 3 ticks without exiting: each tick needs a landmark (forced exit), which a
# replay reaches by single-stepping. Landmark positions depend on host time, so this one is
# not byte-identical between recordings; it must still replay exactly.
rec timer-spin --kernel "$guests/timer.elf" --cmdline "ticks=3 hz=100 spin=1" --exit-budget 50
rec pio-storm --kernel "$guests/pio-storm.elf" --cmdline "n=2000"
rec mmio-storm --kernel "$guests/mmio-storm.elf" --cmdline "n=1000"
rec linux-boot --kernel "$linux/vmlinux" --initramfs "$linux/initramfs.cpio" \
	--cmdline "$(cat "$linux/cmdline-deterministic.txt")"
# With a virtio-rng device: its entropy is in the trace (dma_write), so a replay with --feed
# needs no source and matches, and --live (fresh entropy) diverges at the first dma_write.
rec linux-rng --kernel "$linux/vmlinux" --initramfs "$linux/initramfs.cpio" \
	--cmdline "$(cat "$linux/cmdline-deterministic.txt")" --rng src=/dev/urandom
# A boot with a disk (a 1 MiB image with one partition, made here), the rng and hvc0: Linux
# reads the partition table and sector 8, reads the serial, writes sector 16. The image is not
# kept: a replay with --feed takes every byte Linux read from the trace.
img=$(mktemp /tmp/dejavm-golden-disk.XXXXXX)
/usr/bin/python3 - "$img" <<'PY'
import sys
b = bytearray(bytes(range(256)) * 4096)
b[446:512] = bytes([0, 0, 0, 0, 0x83, 0, 0, 0, 1, 0, 0, 0, 100, 0, 0, 0]) + bytes(48) + b"\x55\xaa"
open(sys.argv[1], "wb").write(b)
PY
rec linux-disk --kernel "$linux/vmlinux" --initramfs "$linux/initramfs.cpio" \
	--cmdline "$(cat "$linux/cmdline-deterministic.txt")" --disk path="$img",serial=golden-disk \
	--rng src=/dev/urandom --console null
rm -f "$img"
