#!/bin/bash
# Re-records the golden traces in corpora/traces/ and refreshes the images they were recorded
# from in corpora/images/ (zstd-compressed, named with their SHA-256 and origin in
# corpora/images/MANIFEST), after a change that is meant to change what guests do (a device
# model, virtual time, the trace format) or to take a new kernel. The tests replay every golden
# against the shipped images (tests/golden_test.py), so nothing a machine builds later (a newer
# linux-source-6.1, another gcc) can make them fail to replay.
#
# usage: tools/regen-golden.sh [--keep-images] [BUILD_DIR]      (default: build)
#   --keep-images   re-record with the images already in corpora/images (no kernel build)
# Without it, the images are this machine's: the tiny Linux from tools/guest-kernel/build.sh
# (built if missing, a few minutes) with its symbols stripped, and the test guests of BUILD_DIR.
# The script says which images and which traces changed.
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0
if [[ ${1:-} == --keep-images ]]; then
	keep=1
	shift
fi
build=${1:-build}
dejavm=$build/dejavm
tool=$build/tools/trace/dejavm-trace
images=corpora/images
# A trace replays exactly only on CPUs of the vendor it was recorded on (the guest sees the host's
# CPUID on PVM hosts; undefined flags are the CPU's): the goldens are kept per vendor.
vendor=$(awk -F': ' '/^vendor_id/ { print $2; exit }' /proc/cpuinfo)
out=corpora/traces/$vendor
mkdir -p "$out"
[[ -x $dejavm && -x $tool ]] || {
	echo "regen-golden: no $dejavm: build first (meson setup $build && ninja -C $build)" >&2
	exit 1
}
guests=(hello timer pio-storm mmio-storm)
# A fixed place: the disk's and the entropy source's paths are in the traces' headers.
stage=/tmp/dejavm-regen-golden
rm -rf "$stage"
mkdir -p "$stage"
trap 'rm -rf "$stage"' EXIT

# ---- the images --------------------------------------------------------------------------
manifest_sha() { # FILE -> the SHA-256 the manifest has for it, or nothing
	awk -v f="$1" '$1 == f { print $2 }' "$images/MANIFEST" 2>/dev/null || true
}
if ((!keep)); then
	linux=$(tools/guest-kernel/build.sh --quiet --print-dir | tail -1)
	source=$(sed -n 's/^source=//p' "$linux/build-info.txt")
	this_host=$(sed -n 's/^this_host=//p' "$linux/build-info.txt")
	cc=$(gcc --version | head -1)
	strip -o "$stage/vmlinux" "$linux/vmlinux"
	cp "$linux/initramfs.cpio" "$linux/cmdline-deterministic.txt" "$stage/"
	for g in "${guests[@]}"; do
		cp "$build/corpora/guests/$g.elf" "$stage/"
	done
	{
		echo "# The images the golden traces in corpora/traces were recorded from (FILE.zst here)."
		echo "# Written by tools/regen-golden.sh: FILE SHA256-of-FILE SIZE ORIGIN"
		kernel="tiny Linux from $source (tools/guest-kernel, $(basename "$linux"), this_host=$this_host, $cc)"
		for f in vmlinux initramfs.cpio; do
			what=$kernel
			[[ $f == vmlinux ]] && what="$kernel, stripped"
			echo "$f $(sha256sum <"$stage/$f" | cut -c1-64) $(stat -c %s "$stage/$f") $what"
		done
		for g in "${guests[@]}"; do
			echo "$g.elf $(sha256sum <"$stage/$g.elf" | cut -c1-64) $(stat -c %s "$stage/$g.elf") test guest corpora/guests/$g.c ($cc)"
		done
	} >"$stage/MANIFEST"
	changed=0
	for f in vmlinux initramfs.cpio "${guests[@]/%/.elf}"; do
		old=$(manifest_sha "$f")
		new=$(awk -v f="$f" '$1 == f { print $2 }' "$stage/MANIFEST")
		if [[ $old == "$new" ]]; then
			printf 'image  %-16s unchanged, sha256 %.12s\n' "$f" "$new"
		else
			if [[ -n $old ]]; then
				printf 'image  %-16s changed: sha256 %.12s -> %.12s\n' "$f" "$old" "$new"
			else
				printf 'image  %-16s new, sha256 %.12s\n' "$f" "$new"
			fi
			zstd -q -f -19 "$stage/$f" -o "$images/$f.zst"
			chmod 644 "$images/$f.zst"
			changed=1
		fi
	done
	grep -q "$source" "$images/MANIFEST" 2>/dev/null ||
		echo "image  the tiny Linux now comes from $source"
	cp "$stage/MANIFEST" "$images/MANIFEST"
	cp "$stage/cmdline-deterministic.txt" "$images/cmdline-deterministic.txt"
	((changed)) || echo "image  (all unchanged)"
fi
ninja -C "$build" >/dev/null # decompresses the images into $build/corpora/images
img=$build/corpora/images
for f in vmlinux initramfs.cpio "${guests[@]/%/.elf}"; do
	[[ $(sha256sum <"$img/$f" | cut -c1-64) == "$(manifest_sha "$f")" ]] || {
		echo "regen-golden: $img/$f does not match $images/MANIFEST" >&2
		exit 1
	}
done

# ---- the traces ------------------------------------------------------------------------
mkdir -p "$stage/old"
cp "$out"/*.trace "$stage/old/" 2>/dev/null || true
rec() { # name, then dejavm arguments
	local name=$1 what
	shift
	"$dejavm" --deterministic --serial null --record "$out/$name.trace" "$@"
	if [[ ! -f $stage/old/$name.trace ]]; then
		what="new"
	elif cmp -s "$stage/old/$name.trace" "$out/$name.trace"; then
		what="unchanged"
	elif what=$("$tool" diff "$stage/old/$name.trace" "$out/$name.trace" 2>&1); then
		# only the header differs (this build's id): keep the committed file
		cp "$stage/old/$name.trace" "$out/$name.trace"
		what="unchanged events (kept)"
	elif [[ $what == *"dejavm-trace: $stage/old/"* ]]; then
		what="changed (the old trace is not readable by this build)"
	else
		what="changed: $(printf '%s\n' "$what" | grep -v '^note:\|^ ' | head -1 | cut -c1-72)"
	fi
	printf 'trace  %-16s %8d bytes  %s\n' "$name" "$(stat -c %s "$out/$name.trace")" "$what"
}
cmdline=$(cat "$images/cmdline-deterministic.txt")
linux=(--kernel "$img/vmlinux" --initramfs "$img/initramfs.cpio" --cmdline "$cmdline")
rec hello --kernel "$img/hello.elf"
rec timer --kernel "$img/timer.elf" --cmdline "ticks=20 hz=100"
# Busy-waits for 3 ticks without exiting: each tick comes at a landmark, a fixed point of the
# loop, which a replay reaches with a breakpoint. The same whatever --exit-budget.
rec timer-spin --kernel "$img/timer.elf" --cmdline "ticks=3 hz=100 spin=1"
# Counts in memory while it waits: no fixed point, so after --spin-limit each tick comes at a
# host-chosen point (not reproducible, and the trace says so); it still replays exactly.
rec timer-count --kernel "$img/timer.elf" --cmdline "ticks=2 hz=100 spin=2" --exit-budget 20 \
	--spin-limit 100
rec pio-storm --kernel "$img/pio-storm.elf" --cmdline "n=2000"
rec mmio-storm --kernel "$img/mmio-storm.elf" --cmdline "n=1000"
rec linux-boot "${linux[@]}"
# The same boot with a checkpoint every 2 virtual ms: replay --from each of them, and --jobs.
rec linux-ckpt "${linux[@]}" --checkpoint-every 2
# With a virtio-rng device: its entropy is in the trace (dma_write), so a replay with --feed
# needs no source and matches, and --live (fresh entropy) diverges at the first dma_write.
# (/dev/urandom: these two change at every regen.)
rec linux-rng "${linux[@]}" --rng src=/dev/urandom
# A boot with a disk (a 1 MiB image with one partition, made here), the rng and hvc0: Linux
# reads the partition table and sector 8, reads the serial, writes sector 16. The image is not
# kept: a replay with --feed takes every byte Linux read from the trace.
disk=$stage/golden-disk.img
/usr/bin/python3 - "$disk" <<'PY'
import sys
b = bytearray(bytes(range(256)) * 4096)
b[446:512] = bytes([0, 0, 0, 0, 0x83, 0, 0, 0, 1, 0, 0, 0, 100, 0, 0, 0]) + bytes(48) + b"\x55\xaa"
open(sys.argv[1], "wb").write(b)
PY
rec linux-disk "${linux[@]}" --disk path="$disk",serial=golden-disk --rng src=/dev/urandom \
	--console null
