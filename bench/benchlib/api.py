"""usrsvcd's HTTP API under measurement (issue 13): request latency over the unix
socket, /metrics scrape time, the daemon's idle cost before and after the API is
used, and crash recovery while 200 clients hammer the API."""

import glob
import os
import signal
import socket
import subprocess
import sys
import time

from . import measure, procs
from .world import BenchError

CLIENTS = 200
# a separate process holds the 200 clients (threads), so the bench's own polling
# for the restarted process does not fight them for the GIL
HAMMER = r"""
import os, socket, sys, threading, time
path, count, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
dirfd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY)
address = "/proc/self/fd/%d/%s" % (dirfd, os.path.basename(path))
stop = time.monotonic() + seconds
done = [0, 0]
quit = threading.Event()
def watch_stdin():
    sys.stdin.read()  # the bench closes it: stop
    quit.set()
def client():
    while time.monotonic() < stop and not quit.is_set():
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        try:
            s.connect(address)
            s.sendall(b"GET /api/v1/programs HTTP/1.1\r\nHost: x\r\n\r\n")
            while s.recv(65536):
                pass
            done[0] += 1
        except OSError:
            done[1] += 1
            time.sleep(0.01)
        finally:
            s.close()
threads = [threading.Thread(target=client, daemon=True) for _ in range(count)]
for t in threads: t.start()
threading.Thread(target=watch_stdin, daemon=True).start()
print("ready", flush=True)
for t in threads: t.join()
print(done[0], done[1], flush=True)
"""


def socket_path(world):
    found = glob.glob(os.path.join(world.env["XDG_RUNTIME_DIR"], "usrsvc", "*", "api.sock"))
    if not found:
        raise BenchError("ours: no api.sock in the runtime state directory")
    return found[0]


def connect(path):
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(30)
    dirfd = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY)
    try:
        sock.connect("/proc/self/fd/%d/%s" % (dirfd, os.path.basename(path)))
    finally:
        os.close(dirfd)
    return sock


def get(path, target):
    """Seconds for one whole request (connect, send, read until the close), and the size."""
    t0 = time.perf_counter()
    sock = connect(path)
    try:
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target.encode())
        chunks = []
        while True:
            chunk = sock.recv(262144)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        sock.close()
    seconds = time.perf_counter() - t0
    body = b"".join(chunks)
    if not body.startswith(b"HTTP/1.1 200"):
        raise BenchError("ours: GET %s answered %r" % (target, body[:80]))
    return seconds, len(body)


def api_cost(peer, world, trials, rng, idle_window, crash_trials, wait_range):
    path = socket_path(world)
    # the API unused so far: the daemon as it idles without it
    off = measure.idle_cost(peer, world, idle_window)
    programs, cached, size = [], [], 0
    for _ in range(trials):  # each in a new second: rendered afresh (the cache lasts 1 s)
        time.sleep(1.01 - time.monotonic() % 1.0)
        seconds, size = get(path, "/api/v1/programs")
        programs.append(seconds)
        cached.append(get(path, "/api/v1/programs")[0])
    metrics = [get(path, "/metrics")[0] for _ in range(trials)]
    one = [get(path, "/api/v1/programs/%s" % world.names[len(world.names) // 2])[0]
           for _ in range(trials)]
    on = measure.idle_cost(peer, world, idle_window)
    quiet = measure.crash_recovery(world, crash_trials, rng, 30.0, wait_range)
    seconds = (world.settle + wait_range[1] + 3.0) * crash_trials + 10.0
    hammer = subprocess.Popen([sys.executable, "-c", HAMMER, path, str(CLIENTS), str(seconds)],
                              stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        if hammer.stdout.readline().strip() != "ready":
            raise BenchError("ours: the API clients did not start")
        loaded = measure.crash_recovery(world, crash_trials, rng, 30.0, wait_range)
        rss_loaded = procs.rss_kib(peer.daemon_pid(world))
    finally:
        try:
            hammer.stdin.close()
            counts = hammer.stdout.read().split() if hammer.wait(timeout=30) is not None else []
        except subprocess.TimeoutExpired:
            os.killpg(hammer.pid, signal.SIGKILL)
            hammer.wait(timeout=30)
            counts = []
    return {"n": world.n, "programs_samples": programs, "programs_bytes": size,
            "cached_samples": cached,
            "one_samples": one, "metrics_samples": metrics,
            "idle_off": _idle(off), "idle_on": _idle(on),
            "crash_quiet": quiet["samples"], "crash_loaded": loaded["samples"],
            "loaded_rss_kib": rss_loaded, "clients": CLIENTS,
            "hammer_requests": counts[-2:] if len(counts) >= 2 else None}


def _idle(rec):
    return {"cpu_percent": rec["cpu_percent"], "rss_kib": rec["rss_kib"],
            "wakeups_per_s": rec["wakeups_per_s"]}
