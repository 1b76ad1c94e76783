#!/usr/bin/python3
"""REST API benchmark, in one run:

  vmm.ping and vm.info latency (p50/p99, connect + request + response, one connection per
  request as ch-remote does, a process per client) with 1 and 16 concurrent clients while a
  pio-storm guest runs, and again with it paused;
  the pio-storm rate (its exits per second, from --stats=json) with vm.info polled
  100 times a second vs not polled: their ratio.

Goals (issue 13): p99 < 1 ms on an idle machine, PIO rate within 3% (ratio >= 0.97).
Usage: api.py --build BUILD [--n N] [--reps R] [--requests K]
"""
import argparse
import concurrent.futures
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def request(sock_path, method, path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    s.sendall(("%s /api/v1/%s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
               % (method, path)).encode())
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


class Vmm:
    def __init__(self, build, guest, n):
        self.dir = tempfile.mkdtemp(prefix="dejavm-bench-api-")
        self.sock = os.path.join(self.dir, "api.sock")
        self.err = open(os.path.join(self.dir, "stderr"), "w+")
        self.proc = subprocess.Popen([os.path.join(build, "dejavm"), "--api-socket", self.sock,
                                      "--kernel", guest, "--cmdline", "n=%d" % n, "--serial",
                                      "null", "--stats=json"], stderr=self.err)
        while not os.path.exists(self.sock):
            time.sleep(0.005)

    def stats(self):
        """--stats=json of the VM once it ended (None before)."""
        self.err.flush()
        self.err.seek(0)
        for line in self.err.read().splitlines():
            if line.startswith("{"):
                return json.loads(line)
        return None

    def close(self):
        try:
            request(self.sock, "PUT", "vmm.shutdown")
        except OSError:
            pass
        self.proc.wait(30)


def one_client(sock, path, n):
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        status, _ = request(sock, "GET", path)
        out.append(time.perf_counter() - t0)
        assert status == 200, status
    return out


def latencies(sock, path, clients, per_client):
    # a process per client: Python's lock does not serialise them
    with concurrent.futures.ProcessPoolExecutor(clients) as ex:
        futs = [ex.submit(one_client, sock, path, per_client) for _ in range(clients)]
        return sorted(x for f in futs for x in f.result())


def pio_rate(build, guest, n, poll):
    v = Vmm(build, guest, n)
    stop = threading.Event()

    def poller():
        while not stop.is_set():
            request(v.sock, "GET", "vm.info")
            time.sleep(0.01)
    t = threading.Thread(target=poller) if poll else None
    if t:
        t.start()
    while v.stats() is None:
        time.sleep(0.05)
    stop.set()
    if t:
        t.join()
    st = v.stats()
    v.close()
    return st["exits_total"] / (st["run_time_ns"] / 1e9)  # exits (PIO round trips) per s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--n", type=int, default=300000, help="pio-storm round trips per rate run")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--requests", type=int, default=400, help="requests per latency series")
    a = ap.parse_args()
    guest = os.path.join(a.build, "corpora", "guests", "pio-storm.elf")

    v = Vmm(a.build, guest, 1 << 40)  # a storm for as long as the latencies take
    for when in ("while a pio-storm runs", "with the VM paused (its vCPU not on a core)"):
        print("latency %s (ms, connect + request + response):" % when)
        for path in ("vmm.ping", "vm.info"):
            for clients in (1, 16):
                lat = latencies(v.sock, path, clients, max(1, a.requests // clients))
                p50, p99 = lat[len(lat) // 2] * 1e3, lat[int(len(lat) * 0.99)] * 1e3
                print("  %-8s %2d client%s  p50 %.3f  p99 %.3f  (%d requests)"
                      % (path, clients, "s" if clients > 1 else " ", p50, p99, len(lat)))
        if when.startswith("while"):
            assert request(v.sock, "PUT", "vm.pause")[0] == 204
    v.close()

    rates = {False: [], True: []}
    for _ in range(a.reps):  # interleaved: drift hits both alike
        for poll in (False, True):
            rates[poll].append(pio_rate(a.build, guest, a.n, poll))
    quiet, polled = statistics.median(rates[False]), statistics.median(rates[True])
    print("pio-storm rate, median of %d: %.0f/s without polling, %.0f/s with vm.info 100/s: "
          "ratio %.3f (goal >= 0.97)" % (a.reps, quiet, polled, polled / quiet))


if __name__ == "__main__":
    sys.exit(main())
