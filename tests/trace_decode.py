#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""An independent decoder of dejavm traces (docs/trace-format.md).

It shares no code with replay/trace_reader.c: it runs `zstd -dc FILE`, decodes the msgpack with
Debian's python3-msgpack, reads the field names from src/trace_events.h with a regex, rebuilds
seq and ts from the per-stream deltas (sync records reset them), undoes the value prediction
of PRED fields, merges the streams by seq, and prints the same JSON lines as `dejavm-trace dump`.

  trace_decode.py FILE                       print the events as JSON lines
  trace_decode.py --check TOOL FILE...       compare with `TOOL dump FILE`, byte for byte
  trace_decode.py --selftest --dejavm BIN --guest-dir DIR --tool TOOL
                                             record hello, pio-storm and mmio-storm, then --check
Exit status: 0 ok, 1 mismatch or error, 77 skipped (no msgpack module or no zstd).
"""
import argparse
import codecs
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import msgpack
except ImportError:
    print('trace_decode.py: the msgpack module is missing (apt install python3-msgpack)',
          file=sys.stderr)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
EVENTS_H = os.path.join(HERE, '..', 'src', 'trace_events.h')


def load_schema(path=EVENTS_H):
    """{type: (name, [(kind, field), ...])} from the X-macro lists of trace_events.h."""
    text = open(path, encoding='utf-8').read()
    fields = {}
    for m in re.finditer(r'#define TRACE_FIELDS_(\w+)\(F\)((?:[^\n]*\\\n)*[^\n]*)', text):
        fields[m.group(1)] = re.findall(r'F\((\w+),\s*(\w+),', m.group(2))
    events = re.search(r'#define TRACE_EVENTS\(E\)((?:[^\n]*\\\n)*[^\n]*)', text).group(1)
    schema = {}
    for num, name in re.findall(r'E\((\d+),\s*(\w+),', events):
        schema[int(num)] = (name, fields[name])
    return schema


def _one_byte_replace(err):
    # Each byte that does not start a valid UTF-8 sequence becomes U+FFFD on its own.
    return ('\ufffd', err.start + 1)


codecs.register_error('dejavm_byte_replace', _one_byte_replace)


def text(b):
    return bytes(b).decode('utf-8', 'dejavm_byte_replace')


def jsonable(o):
    """msgpack value -> JSON value, as dejavm-trace prints it."""
    if isinstance(o, bool) or o is None or isinstance(o, (int, float)):
        return o
    if isinstance(o, str):  # str decoded with surrogateescape: get the bytes back
        return text(o.encode('utf-8', 'surrogateescape'))
    if isinstance(o, (bytes, bytearray)):
        return bytes(o).hex()
    if isinstance(o, (list, tuple)):
        return [jsonable(x) for x in o]
    if isinstance(o, dict):
        out = {}
        for k, v in o.items():
            jk = jsonable(k)
            if not isinstance(jk, str):
                jk = json.dumps(jk, separators=(',', ':'))
            out[jk] = jsonable(v)
        return out
    if isinstance(o, msgpack.ExtType):
        return {'ext': o.code, 'data': o.data.hex()}
    raise TypeError('unexpected msgpack value %r' % (o,))


SYNC = 0
PRED_MUL = 0x9E3779B97F4A7C15
M64 = (1 << 64) - 1


def pred_mask(size):
    return (1 << (8 * size)) - 1 if 1 <= size <= 7 else M64


def unpredict(fields, values, table):
    """Replaces the PRED values (value - predicted) by the values, updating the stream's table."""
    key, size, reg = 0, 0, 0
    regs = table.setdefault('regs', {})
    values = list(values)
    for i, ((kind, _), v) in enumerate(zip(fields, values)):
        if kind == 'PORT':
            key |= (v << 2) & M64
        elif kind == 'GPA':
            key |= ((v << 2) | 2) & M64
        elif kind == 'WRITE':
            key |= 1 if v else 0
        elif kind == 'SIZE':
            size = v
        elif kind == 'PRED':
            slot = ((key * PRED_MUL) & M64) >> 56
            prev = table.get(slot)
            v = (v + (prev[1] if prev and prev[0] == key else 0)) & pred_mask(size)
            table[slot] = (key, v)
            values[i] = v
        elif kind == 'REG':  # XOR the same register of the stream's last REG event
            v ^= regs.get(reg, 0)
            regs[reg] = v
            values[i] = v
            reg += 1
    return values


def decode(path, schema):
    """Yields the dump-form dict of every event, in seq order."""
    data = subprocess.run(['zstd', '-dc', '--', path], stdout=subprocess.PIPE,
                          check=True).stdout
    unpacker = msgpack.Unpacker(raw=False, unicode_errors='surrogateescape',
                                strict_map_key=False, max_buffer_size=len(data) + 1)
    unpacker.feed(data)
    header = next(unpacker)
    assert header['format'] == 'dejavm-trace', header.get('format')
    prev_seq, prev_ts, pred, events = {}, {}, {}, []
    for ev in unpacker:
        typ, dseq, stream, dts = ev[:4]
        if typ == SYNC:  # [0, base_seq, stream, base_ts]: not an event
            prev_seq[stream], prev_ts[stream], pred[stream] = dseq, dts, {}
            continue
        seq = prev_seq[stream] = prev_seq.get(stream, -1) + dseq
        ts = prev_ts[stream] = prev_ts.get(stream, 0) + dts
        values = ev[4:]
        if typ in schema:
            values = unpredict(schema[typ][1], values, pred.setdefault(stream, {}))
        events.append((seq, ts, stream, typ, values))
    events.sort(key=lambda e: e[0])
    for seq, ts, stream, typ, values in events:
        out = {'seq': seq, 'ts': ts, 'stream': stream}
        if typ not in schema:
            out['type'] = typ
            out['raw'] = jsonable(values)
            yield out
            continue
        name, fields = schema[typ]
        out['type'] = name
        for (kind, field), value in zip(fields, values):
            out[field] = jsonable(value)
            if name == 'serial' and kind == 'BIN':
                out['text'] = text(value)
        if len(values) > len(fields):
            out['extra'] = jsonable(values[len(fields):])
        yield out


def lines(path, schema):
    for ev in decode(path, schema):
        yield json.dumps(ev, separators=(',', ':'), ensure_ascii=True) + '\n'


def check(tool, path, schema):
    """Compares our lines with `tool dump path`; returns True when identical."""
    dump = subprocess.run([tool, 'dump', path], stdout=subprocess.PIPE, check=True).stdout
    dump = dump.decode('ascii').splitlines(keepends=True)
    ours = list(lines(path, schema))
    for i, (a, b) in enumerate(zip(ours, dump)):
        if a != b:
            print('%s: line %d differs:\n  trace_decode.py: %s  dejavm-trace:    %s'
                  % (path, i + 1, a, b), file=sys.stderr)
            return False
    if len(ours) != len(dump):
        print('%s: trace_decode.py printed %d lines, dejavm-trace dump %d'
              % (path, len(ours), len(dump)), file=sys.stderr)
        return False
    print('%s: %d events, identical' % (path, len(ours)))
    return True


def selftest(args, schema):
    # The deterministic runs add regs (REG fields), irq and intr events.
    runs = [('hello', ''), ('pio-storm', 'n=3000'), ('mmio-storm', 'n=300'),
            ('pio-storm', 'n=3000 --deterministic'), ('timer', 'ticks=10 hz=100 --deterministic')]
    tmp = tempfile.mkdtemp(prefix='dejavm-trace-decode-')
    ok = True
    try:
        for i, (guest, cmdline) in enumerate(runs):
            trace = os.path.join(tmp, '%s-%d.trace' % (guest, i))
            cmd = [args.dejavm, '--kernel', os.path.join(args.guest_dir, guest + '.elf'),
                   '--serial', 'null', '--record', trace]
            if cmdline.endswith(' --deterministic'):
                cmd.append('--deterministic')
                cmdline = cmdline[:-len(' --deterministic')]
            if cmdline:
                cmd += ['--cmdline', cmdline]
            r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               timeout=120)
            if r.returncode != 0:
                print('%s failed (%d): %s' % (' '.join(cmd), r.returncode,
                                              r.stderr.decode(errors='replace')),
                      file=sys.stderr)
                ok = False
                continue
            ok = check(args.tool, trace, schema) and ok
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('files', nargs='*')
    ap.add_argument('--check', metavar='TOOL', help='compare with TOOL dump FILE')
    ap.add_argument('--selftest', action='store_true')
    ap.add_argument('--dejavm')
    ap.add_argument('--guest-dir')
    ap.add_argument('--tool')
    ap.add_argument('--schema', default=EVENTS_H, help='path of src/trace_events.h')
    args = ap.parse_args()
    if not shutil.which('zstd'):
        print('trace_decode.py: zstd is not installed', file=sys.stderr)
        return 77
    schema = load_schema(args.schema)
    if args.selftest:
        if not (args.dejavm and args.guest_dir and args.tool):
            ap.error('--selftest needs --dejavm, --guest-dir and --tool')
        return 0 if selftest(args, schema) else 1
    if not args.files:
        ap.error('no FILE')
    if args.check:
        ok = True
        for f in args.files:
            ok = check(args.check, f, schema) and ok
        return 0 if ok else 1
    out = sys.stdout
    for f in args.files:
        for line in lines(f, schema):
            out.write(line)
    return 0


if __name__ == '__main__':
    sys.exit(main())
