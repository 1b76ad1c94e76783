#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run): installs what is missing, builds the VMM
# twice (plain, and with ASan+UBSan), builds the tiny Linux guest once per machine (cached in
# ~/.cache/dejavm), then runs every test in both builds, and then each fuzz target for a short
# while from its committed corpus (tools/fuzz.sh; each target counts as a test). Ends with "N
# passed, N failed, N skipped". With CI=true (.ci/run sets it) a skipped test counts as failed: CI installs
# everything and runs as root, so a skip there means a test silently did not run.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/deps.sh

echo "== the C sources follow .clang-format" >&2
# A file that would change fails the run here, before anything is built.
find src replay bpf tools tests corpora -name '*.[ch]' -print0 |
	xargs -0 clang-format --dry-run -Werror

echo "== tiny Linux guest (cached after the first build)" >&2
DEJAVM_LINUX_DIR=$(tools/guest-kernel/build.sh --print-dir | tail -n 1)
export DEJAVM_LINUX_DIR DEJAVM_REQUIRE_LINUX=1

passed=0 failed=0 skipped=0
run_suite() {
	local dir=$1
	shift
	echo "== build $dir ($*)" >&2
	if [ -d "$dir" ]; then
		meson configure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
	ninja -C "$dir" >/dev/null
	echo "== test $dir" >&2
	local rc=0
	meson test -C "$dir" --print-errorlogs || rc=$?
	# Count from meson's JSON log, so the closing line reflects every test that ran.
	local counts
	counts=$(python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
ok = bad = skip = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["result"] in ("OK", "EXPECTEDFAIL"):
        ok += 1
    elif r["result"] == "SKIP":
        skip += 1
        why = ((r.get("stdout") or "").strip().splitlines() or ["?"])[-1]
        print("skipped: %s (%s)" % (r["name"], why), file=sys.stderr)
    else:
        bad += 1
print(ok, bad, skip)
PY
)
	read -r ok bad skip <<<"$counts"
	passed=$((passed + ok))
	failed=$((failed + bad))
	skipped=$((skipped + skip))
	[ "$rc" -eq 0 ] || failed=$((failed > 0 ? failed : 1))
}

run_suite build -Dtests=enabled
# Second build: every test again under AddressSanitizer and UndefinedBehaviorSanitizer.
run_suite build-asan -Dtests=enabled -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fno-sanitize-recover=all \
	-Dbuildtype=debug
# The fuzz targets (tests/fuzz, a clang build of their own), 20 s each, two at a time: each one
# that crashes, hangs, leaks or runs out of memory is a failed test.
echo "== fuzz" >&2
fuzz_results=$(mktemp)
fuzz_rc=0
tools/fuzz.sh "${FUZZ_SECONDS:-20}" --jobs 2 --results "$fuzz_results" >&2 || fuzz_rc=$?
fuzz_failed=0
while read -r target result; do
	if [ "$result" = pass ]; then
		passed=$((passed + 1))
	else
		echo "failed: fuzz $target (see build-fuzz/fuzz-work/$target/log)" >&2
		fuzz_failed=$((fuzz_failed + 1))
	fi
done <"$fuzz_results"
rm -f "$fuzz_results"
# a fuzz.sh that failed without naming a target (its build) is one failure
[ "$fuzz_rc" -eq 0 ] || [ "$fuzz_failed" -gt 0 ] || fuzz_failed=1
failed=$((failed + fuzz_failed))
if [ "${CI:-}" = true ] && [ "$skipped" -gt 0 ]; then
	echo "CI=true: $skipped skipped tests count as failed" >&2
	failed=$((failed + skipped))
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
