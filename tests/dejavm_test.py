"""What the Python tests share: the programs meson passes in, running them, reading traces
through dejavm-trace, and the skip rule for tests that boot the tiny Linux."""
import json
import os
import subprocess
import sys

BIN = os.environ.get("DEJAVM_BIN", "")
TOOL = os.environ.get("DEJAVM_TRACE_BIN", "")
GUESTS = os.environ.get("DEJAVM_GUEST_DIR", "")
LINUX = os.environ.get("DEJAVM_LINUX_DIR", "")


def run(args, timeout=300, env=None):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          errors="replace", timeout=timeout, env=env)


def guest(name):
    return os.path.join(GUESTS, name + ".elf")


def dump(trace, *args):
    """The trace's events as dicts (`dejavm-trace dump TRACE ARGS`, e.g. "--type", "msi")."""
    p = run([TOOL, "dump", trace] + list(args))
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines()]


def skip(why):
    print("skipped: " + why)
    sys.exit(77)


def require_linux():
    """Skips (77) without DEJAVM_LINUX_DIR, or fails when DEJAVM_REQUIRE_LINUX=1 (CI)."""
    if LINUX:
        return
    if os.environ.get("DEJAVM_REQUIRE_LINUX") == "1":
        sys.exit("DEJAVM_LINUX_DIR is not set but DEJAVM_REQUIRE_LINUX=1")
    skip("DEJAVM_LINUX_DIR is not set")
