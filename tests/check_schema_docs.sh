#!/bin/sh
# The event tables of docs/trace-format.md must be exactly `dejavm-trace schema --markdown`.
# usage: check_schema_docs.sh DEJAVM_TRACE DOC
set -eu
tool=$1
doc=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$tool" schema --markdown >"$tmp/tool.md"
sed -n '/^<!-- schema:begin -->$/,/^<!-- schema:end -->$/p' "$doc" | sed '1d;$d' >"$tmp/doc.md"
if ! grep -q '^<!-- schema:begin -->$' "$doc" || ! grep -q '^<!-- schema:end -->$' "$doc"; then
	echo "$doc: the markers <!-- schema:begin --> and <!-- schema:end --> are missing" >&2
	exit 1
fi
if ! diff -u "$tmp/doc.md" "$tmp/tool.md"; then
	echo "$doc is out of date: put the output of 'dejavm-trace schema --markdown'" \
		"between its schema markers" >&2
	exit 1
fi
echo "docs match the schema ($(wc -l <"$tmp/tool.md") lines)"
