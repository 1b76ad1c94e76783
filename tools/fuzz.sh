#!/usr/bin/env bash
# Fuzzes every parser a guest or a file reaches (tests/fuzz, libFuzzer): builds the fuzz build
# (build-fuzz: CC=clang, -Dfuzz=enabled, ASan+UBSan), then runs each target for SECONDS
# (default 60) from a copy of its committed corpus (corpora/fuzz/TARGET) in a work directory
# (build-fuzz/fuzz-work/TARGET), and prints per target its executions per second, coverage
# (libFuzzer's cov: edges and ft: features at the end), corpus size, and what it found: a crash,
# a hang (an input running longer than --timeout), a leak or running out of memory, with the
# artifact's path. Exits 1 when any target found something.
#
#   tools/fuzz.sh [SECONDS] [--merge] [--jobs N] [--timeout S] [--results FILE] [TARGET...]
#
# --merge       add the inputs that found new coverage to corpora/fuzz/TARGET (libFuzzer's
#               -merge=1); without it the repository is left as it is
# --jobs N      targets run N at a time (default 1: the machine may be shared)
# --timeout S   an input taking longer than S seconds is a hang (default 20)
# --results F   one line per target, "TARGET pass" or "TARGET fail", for tools/test.sh
# TARGET...     only these (default: every one in tests/fuzz/meson.build)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60 merge=false jobs=1 timeout=20 results= targets=()
while [ $# -gt 0 ]; do
	case $1 in
	--merge) merge=true ;;
	--jobs) jobs=$2; shift ;;
	--timeout) timeout=$2; shift ;;
	--results) results=$2; shift ;;
	-h | --help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	[0-9]*) seconds=$1 ;;
	*) targets+=("$1") ;;
	esac
	shift
done
all=$(sed -n "s/^\t'\([a-z_]*\)' : \[.*/\1/p" tests/fuzz/meson.build)
[ ${#targets[@]} -gt 0 ] || read -r -a targets <<<"$(echo $all)"
for t in "${targets[@]}"; do
	grep -qx "$t" <<<"$all" || { echo "fuzz.sh: no target '$t' (targets: $(echo $all))" >&2; exit 2; }
done

tools/deps.sh # clang, libclang-rt-14-dev (libFuzzer)
build=build-fuzz
echo "== build $build (CC=clang, -Dfuzz=enabled)" >&2
if [ -d "$build" ]; then
	meson configure "$build" -Dfuzz=enabled >/dev/null
else
	CC=clang meson setup "$build" -Dfuzz=enabled -Dtests=disabled -Dbpf=disabled >/dev/null
fi
ninja -C "$build" fuzz >/dev/null

work=$build/fuzz-work
# rss: the trace reader may hold 256 MiB of frames, a VM target maps up to 64 MiB of RAM
flags=(-max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=2048 -print_final_stats=1)

run_target() {
	local t=$1 dir=$work/$1 dict=()
	rm -rf "$dir"
	mkdir -p "$dir/corpus" "$dir/artifacts"
	cp corpora/fuzz/"$t"/* "$dir/corpus/"
	# a target's dictionary: the words of its input language (option names, JSON fields)
	[ ! -f tests/fuzz/"$t".dict ] || dict=(-dict=tests/fuzz/"$t".dict)
	"$build/tests/fuzz/fuzz_$t" "${flags[@]}" "${dict[@]}" -artifact_prefix="$dir/artifacts/" \
		"$dir/corpus" >"$dir/log" 2>&1 || true
	if $merge; then
		"$build/tests/fuzz/fuzz_$t" -merge=1 -timeout="$timeout" -rss_limit_mb=2048 \
			corpora/fuzz/"$t" "$dir/corpus" >"$dir/merge.log" 2>&1 || true
	fi
}

echo "== fuzz ${targets[*]}: ${seconds} s each, $jobs at a time (logs in $work/TARGET/log)" >&2
running=0
for t in "${targets[@]}"; do
	run_target "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$jobs" ]; then
		wait -n || true
		running=$((running - 1))
	fi
done
wait

failed=0
[ -z "$results" ] || : >"$results"
printf '%-14s %9s %7s %7s %16s  %s\n' target exec/s cov ft corpus found
for t in "${targets[@]}"; do
	dir=$work/$t log=$work/$t/log
	# the last status line (DONE, or the last before a crash): cov, ft, corp
	status=$(grep -E '^#[0-9]+[[:space:]]+(INITED|NEW|REDUCE|pulse|DONE|RELOAD)' "$log" | tail -n 1)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")
	execs=$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$log")
	if [ -z "$execs" ]; then # stopped before its final stats: from its last status line
		execs=$(sed -n 's/.* exec\/s: \([0-9]*\).*/\1/p' <<<"$status")
	fi
	entries=$(find "$dir/corpus" -type f | wc -l)
	bytes=$(du -sb "$dir/corpus" | cut -f1)
	found=$(find "$dir/artifacts" -type f \( -name 'crash-*' -o -name 'timeout-*' \
		-o -name 'leak-*' -o -name 'oom-*' \) | sort | tr '\n' ' ')
	what=$(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer): [a-z-]+( signal)?|runtime error: .*' "$log" || true)
	if [ -z "$found" ] && ! grep -q '^#[0-9]*[[:space:]]*DONE' "$log"; then
		found="(stopped without finishing: see $log)" # e.g. killed, or a broken build
	fi
	printf '%-14s %9s %7s %7s %16s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" \
		"$entries/$((bytes / 1024))KiB" "${found:-nothing}${what:+ ($what)}"
	if [ -n "$found" ]; then
		failed=$((failed + 1))
		[ -z "$results" ] || echo "$t fail" >>"$results"
	else
		[ -z "$results" ] || echo "$t pass" >>"$results"
	fi
done
if $merge; then
	echo "merged new coverage into corpora/fuzz/TARGET (git status shows the new inputs)" >&2
fi
[ "$failed" -eq 0 ]
