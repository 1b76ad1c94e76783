#!/usr/bin/python3
"""Which system calls each dejavm thread makes once it is filtered: runs a command under
strace -f and prints, per thread name (vcpu0, virtio-blk, trace-writer, api, main...), the
calls it made after it installed its filter, with counts. Use it to check the allow-lists in
src/sandbox.c (docs/seccomp.md) against what a workload really does.

  python3 tools/seccomp_audit.py [--out FILE] -- build/dejavm --kernel ... [args]
  python3 tools/seccomp_audit.py --merge FILE...   (the union of earlier --out files)
"""
import argparse
import collections
import json
import re
import subprocess
import sys
import tempfile

LINE = re.compile(r"^(\d+)\s+(?:<\.\.\. )?([a-z0-9_]+)(\(| resumed>)")


def audit(log):
    """{thread name: Counter(call)} from an strace -f log (one line per call, pid first); a
    thread's calls between its start and its own filter are listed apart (its parent's filter
    is the one they pass)."""
    name, filtered, parent = {}, {}, {}
    calls = collections.defaultdict(collections.Counter)
    first = None
    for line in open(log, errors="replace"):
        m = LINE.match(line)
        if not m:
            continue
        tid, call = int(m.group(1)), m.group(2)
        if first is None:
            first = tid
            name[tid] = "main"
        if m.group(3) == "(":
            pn = re.search(r'prctl\(PR_SET_NAME, "([^"]*)"', line)
            if pn:
                name[tid] = pn.group(1)
            cl = re.search(r"^\d+\s+clone3?\(.*= (\d+)$", line.strip())
            if cl:
                parent[int(cl.group(1))] = tid
        if call == "seccomp" and "SECCOMP_SET_MODE_FILTER" in line:
            filtered[tid] = True
            continue
        if m.group(3) != "(":
            continue
        if filtered.get(tid):
            calls[(tid, "")][call] += 1
        elif filtered.get(parent.get(tid)):  # its own filter is not in yet: its parent's counts
            calls[(tid, " (before its own filter)")][call] += 1
    out = collections.defaultdict(collections.Counter)
    for (tid, when), c in calls.items():
        n = name.get(tid) or "child of %s" % name.get(parent.get(tid), "?")
        n = re.sub(r"\d+$", "N", n) if n.startswith("vcpu") else n
        out[n + when].update(c)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--merge", nargs="*")
    ap.add_argument("cmd", nargs="*")
    a = ap.parse_args()
    if a.merge:
        total = collections.defaultdict(collections.Counter)
        for f in a.merge:
            for k, v in json.load(open(f)).items():
                total[k].update(v)
        res = total
    else:
        log = tempfile.NamedTemporaryFile(suffix=".strace")
        p = subprocess.run(["strace", "-f", "-qq", "-o", log.name] + a.cmd)
        res = audit(log.name)
        if a.out:
            json.dump(res, open(a.out, "w"))
        if p.returncode:
            print("(the command exited with %d)" % p.returncode, file=sys.stderr)
    for n in sorted(res):
        print("%s: %s" % (n, " ".join("%s(%d)" % kv for kv in sorted(res[n].items()))))


if __name__ == "__main__":
    main()
