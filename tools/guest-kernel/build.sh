#!/usr/bin/env bash
# Build a tiny x86_64 Linux guest kernel (vmlinux + bzImage) and a tiny
# initramfs for dejavm tests, and cache them.
#
# Usage: build.sh [--this-host|--no-this-host] [--print-dir] [--print-key] [--quiet]
#
#   --this-host     apply the workarounds for the nested-PVM KVM of the dejavm
#                   development machines (patches/this-host/*.patch and
#                   this-host.config); the default (env DEJAVM_THIS_HOST=1)
#   --no-this-host  plain kernel for real VT-x/AMD-V hardware (DEJAVM_THIS_HOST=0)
#   --print-dir     print only the artifact directory (not each artifact)
#   --print-key     print only the cache entry's name (linux-<hash>) and build nothing
#   --quiet         no progress messages on stderr (failures are still shown)
#
# On success the last line on stdout is the artifact directory:
#   dir=$(tools/guest-kernel/build.sh --print-dir | tail -1)
# It holds vmlinux, bzImage, initramfs.cpio, config, cmdline.txt, System.map
# and build.log. Cache: ${DEJAVM_CACHE:-$HOME/.cache/dejavm}/linux-<hash>, where
# <hash> covers every input (this script, config fragments, patches, init.c,
# cmdline.txt, the this-host flag, the linux-source-6.1 package version and the
# compiler version): an existing entry is reused as is. DEJAVM_LINUX_SOURCE_VERSION
# stands in for the installed package's version (tests: a machine where the archive moved on).
set -euo pipefail

# The whole script is one brace group, so bash parses it completely before
# running any of it: editing this file (git pull, ...) during a build is safe.
{
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src_tarball=/usr/src/linux-source-6.1.tar.xz
src_pkg=linux-source-6.1

this_host=${DEJAVM_THIS_HOST:-1}
print_dir=0
print_key=0
quiet=0

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

while (($#)); do
	case $1 in
	--this-host) this_host=1 ;;
	--no-this-host) this_host=0 ;;
	--print-dir) print_dir=1 ;;
	--print-key) print_key=1 ;;
	--quiet) quiet=1 ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "build.sh: unknown argument: $1" >&2
		usage >&2
		exit 2
		;;
	esac
	shift
done
case $this_host in
1 | yes | true | on) this_host=1 ;;
0 | no | false | off) this_host=0 ;;
*)
	echo "build.sh: DEJAVM_THIS_HOST must be 0 or 1, not '$this_host'" >&2
	exit 2
	;;
esac

start_time=$SECONDS
msg() {
	((quiet)) || printf '[guest-kernel %3ds] %s\n' $((SECONDS - start_time)) "$*" >&2
}
die() {
	printf 'build.sh: error: %s\n' "$*" >&2
	exit 1
}

# ---- prerequisites: check everything up front ---------------------------------
missing_pkgs=()
need_cmd() { # need_cmd COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 || missing_pkgs+=("$2")
}
need_file() { # need_file PATH PACKAGE
	[[ -e $1 ]] || missing_pkgs+=("$2")
}
need_cmd gcc gcc
need_cmd make make
need_cmd flex flex
need_cmd bison bison
need_cmd bc bc
need_cmd perl perl
need_cmd tar tar
need_cmd xz xz-utils
need_cmd lz4 lz4 # CONFIG_KERNEL_LZ4 (bzImage payload)
need_cmd patch patch
need_cmd flock util-linux
need_cmd readelf binutils
need_cmd sha256sum coreutils
need_cmd dpkg-query dpkg
need_file /usr/include/gelf.h libelf-dev          # objtool
need_file /usr/include/openssl/ssl.h libssl-dev   # scripts/ host tools
need_file "$src_tarball" "$src_pkg"
if ((${#missing_pkgs[@]})); then
	# shellcheck disable=SC2207
	missing_pkgs=($(printf '%s\n' "${missing_pkgs[@]}" | sort -u))
	die "missing build dependencies; install them with:
    apt-get install -y ${missing_pkgs[*]}"
fi
src_version=${DEJAVM_LINUX_SOURCE_VERSION:-$(dpkg-query -W -f='${Version}' "$src_pkg" 2>/dev/null)} ||
	die "cannot query the version of package $src_pkg"

# ---- inputs and cache key -------------------------------------------------------
inputs=("$here/build.sh" "$here/tiny.config" "$here/init.c" "$here/cmdline.txt"
	"$here/cmdline-deterministic.txt")
# patches/common: always (they change nothing unless asked to, e.g. by clearcpuid=tsc).
shopt -s nullglob
patches=("$here"/patches/common/*.patch)
shopt -u nullglob
inputs+=("${patches[@]}")
if ((this_host)); then
	[[ -f $here/this-host.config ]] && inputs+=("$here/this-host.config")
	shopt -s nullglob
	patches+=("$here"/patches/this-host/*.patch)
	shopt -u nullglob
	inputs+=("$here"/patches/this-host/*.patch)
fi
for f in "${inputs[@]}"; do
	[[ -f $f ]] || die "missing input file $f"
done

hash=$(
	{
		echo "this_host=$this_host"
		echo "src=$src_pkg $src_version"
		echo "cc=$(gcc --version | head -1)"
		for f in "${inputs[@]}"; do
			echo "file ${f#"$here"/} $(sha256sum <"$f" | cut -c1-64)"
		done
	} | sha256sum | cut -c1-12
)

cache=${DEJAVM_CACHE:-${HOME:-/tmp}/.cache/dejavm}
name=linux-$hash
if ((print_key)); then
	echo "$name"
	exit 0
fi
out=$cache/$name
artifacts=(vmlinux bzImage initramfs.cpio config cmdline.txt cmdline-deterministic.txt)

cached() {
	local a
	for a in "${artifacts[@]}"; do
		[[ -f $out/$a ]] || return 1
	done
}

report() {
	if ((!print_dir)); then
		local a
		for a in "${artifacts[@]}"; do
			echo "$out/$a"
		done
	fi
	echo "$out"
}

if cached; then
	msg "cached: $out"
	report
	exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/$name.lock"
if ! flock -n 9; then
	msg "another build of $name is running; waiting for it"
	flock 9
fi
if cached; then # built by whoever held the lock
	msg "cached: $out"
	report
	exit 0
fi

# ---- build ------------------------------------------------------------------------
# Everything happens in a temporary directory inside the cache (same file system,
# so the final mv is an atomic rename): an interrupted build never leaves a
# half-valid entry. The extracted, built source tree (~1 GB) is deleted
# afterwards: a new build only happens when an input changed, and nearly every
# input change (config fragment, patches) recompiles almost everything anyway,
# while extracting the tarball again costs only ~10 s of a 2-4 min build.
log=$cache/$name.build.log
: >"$log"
work=$(mktemp -d "$cache/tmp.$name.XXXXXX")
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [[ ${DEJAVM_KEEP_BUILD:-0} == 1 ]]; then
		echo "build.sh: build tree kept in $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run DESCRIPTION COMMAND...: run with output to the log; on failure, show its tail.
run() {
	local what=$1
	shift
	printf '\n==== %s\n==== %s\n' "$what" "$*" >>"$log"
	if ! "$@" >>"$log" 2>&1; then
		{
			echo "build.sh: error: $what failed; last lines of the log:"
			tail -n 40 "$log" | sed 's/^/    /'
			echo "build.sh: full log: $log"
		} >&2
		exit 1
	fi
}

msg "building $name (this host: $this_host; $src_pkg $src_version); log: $log"
{
	echo "dejavm guest kernel build $name"
	echo "this_host=$this_host src=$src_pkg $src_version"
	echo "inputs: ${inputs[*]#"$here"/}"
} >>"$log"

src=$work/src
mkdir -p "$src" "$work/out"

msg "extracting $src_tarball"
run "extract source" tar -xJf "$src_tarball" -C "$src" --strip-components=1

for p in "${patches[@]}"; do
	msg "applying patches/${p#"$here"/patches/}"
	run "apply ${p##*/}" patch -d "$src" -p1 --forward --batch --no-backup-if-mismatch -i "$p"
done

# Reproducible builds: the guest's /proc/version and banner do not depend on
# who built it, where, or when (the timestamp is the source tarball's mtime,
# which dpkg sets from the package).
build_ts=$(LC_ALL=C date -u -d "@$(stat -c %Y "$src_tarball")" '+%a %b %e %H:%M:%S UTC %Y')
kmake=(make -C "$src" ARCH=x86_64 "KBUILD_BUILD_USER=dejavm" "KBUILD_BUILD_HOST=dejavm"
	"KBUILD_BUILD_TIMESTAMP=$build_ts" "KBUILD_BUILD_VERSION=1")
unset KBUILD_OUTPUT KCONFIG_CONFIG CROSS_COMPILE LOCALVERSION O

fragments=("$here/tiny.config")
if ((this_host)) && [[ -f $here/this-host.config ]]; then
	fragments+=("$here/this-host.config")
fi

msg "configuring: tinyconfig + ${fragments[*]#"$here"/}"
run "make tinyconfig" "${kmake[@]}" tinyconfig
run "merge config fragments" env -C "$src" ARCH=x86_64 \
	scripts/kconfig/merge_config.sh -m .config "${fragments[@]}"
run "make olddefconfig" "${kmake[@]}" olddefconfig

# kconfig silently drops options whose dependencies are missing: check that
# every option the fragments set (or unset) really ended up that way.
config_errors=()
declare -A wanted=() # CONFIG_X -> value ("n" for "is not set"); the last line wins
order=()
while IFS= read -r line; do
	if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
		[[ -v wanted[${BASH_REMATCH[1]}] ]] || order+=("${BASH_REMATCH[1]}")
		wanted[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
	elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
		[[ -v wanted[${BASH_REMATCH[1]}] ]] || order+=("${BASH_REMATCH[1]}")
		wanted[${BASH_REMATCH[1]}]=n
	fi
done < <(cat "${fragments[@]}")
for sym in "${order[@]}"; do
	want=${wanted[$sym]}
	got=$(grep -E "^$sym=" "$src/.config" | cut -d= -f2- || true)
	if [[ $want == n ]]; then
		[[ -z $got || $got == n ]] || config_errors+=("$sym wanted off, got: $sym=$got")
	elif [[ $got != "$want" ]]; then
		config_errors+=("$sym wanted $want, got: ${got:+$sym=$got}${got:-not set (or missing dependencies)}")
	fi
done
if ((${#config_errors[@]})); then
	{
		echo "build.sh: error: kconfig did not honour these options (missing dependencies?):"
		printf '    %s\n' "${config_errors[@]}"
	} | tee -a "$log" >&2
	echo "build.sh: full log: $log" >&2
	exit 1
fi

jobs=$(nproc 2>/dev/null || echo 2)
msg "compiling vmlinux and bzImage with -j$jobs (2-4 minutes)"
run "make vmlinux bzImage" "${kmake[@]}" -j"$jobs" vmlinux bzImage

# vmlinux is booted through its PVH entry note (Xen ELF note type 18,
# XEN_ELFNOTE_PHYS32_ENTRY).
readelf -n "$src/vmlinux" >"$work/notes.txt" 2>>"$log" || true
grep -q 'Xen.*0x00000012' "$work/notes.txt" ||
	die "vmlinux has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); log: $log"

msg "building init and initramfs.cpio"
run "compile init.c" gcc -static -nostdlib -ffreestanding -fno-stack-protector -O2 \
	-mgeneral-regs-only -fno-pie -no-pie -fno-asynchronous-unwind-tables \
	-Wall -Wextra -Werror -Wl,--build-id=none -s -o "$work/init" "$here/init.c"
run "compile gen_init_cpio" gcc -O2 -o "$work/gen_init_cpio" "$src/usr/gen_init_cpio.c"
cat >"$work/initramfs.list" <<EOF
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
dir /proc 0755 0 0
dir /sys 0755 0 0
file /init $work/init 0755 0 0
EOF
# Uncompressed newc: on the PVM host, gunzip in the guest doubles boot time.
# All entries get the source tarball's mtime, so the image is reproducible.
touch -r "$src_tarball" "$work/init"
# shellcheck disable=SC2016 # expanded by the inner sh
run "gen_init_cpio" sh -c '"$1" -t "$2" "$3" >"$4"' sh "$work/gen_init_cpio" \
	"$(stat -c %Y "$src_tarball")" "$work/initramfs.list" "$work/out/initramfs.cpio"

cp "$src/vmlinux" "$work/out/vmlinux"
cp "$src/arch/x86/boot/bzImage" "$work/out/bzImage"
cp "$src/System.map" "$work/out/System.map"
cp "$src/.config" "$work/out/config"
cp "$here/cmdline.txt" "$work/out/cmdline.txt"
# For --deterministic: cmdline.txt with the TSC cleared (clearcpuid takes its last occurrence,
# so tsc joins the existing list) and the options of cmdline-deterministic.txt appended;
# docs/determinism.md says why each one is there.
det_cmdline=$(tr -s ' \n' ' ' <"$here/cmdline.txt")
if [[ $det_cmdline == *clearcpuid=* ]]; then
	det_cmdline=${det_cmdline/clearcpuid=/clearcpuid=tsc,}
else
	det_cmdline+=" clearcpuid=tsc"
fi
echo "${det_cmdline% } $(tr -s ' \n' ' ' <"$here/cmdline-deterministic.txt" | sed 's/ $//')" \
	>"$work/out/cmdline-deterministic.txt"
{
	echo "this_host=$this_host"
	echo "source=$src_pkg $src_version"
	echo "patches=${patches[*]##*/}"
	echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - start_time)) s"
} >"$work/out/build-info.txt"
cp "$log" "$work/out/build.log"

rm -rf "$out" # only an incomplete leftover can be here (checked under the lock)
mv -T "$work/out" "$out"
msg "done in $((SECONDS - start_time)) s: $out"
report
exit 0
}
