#!/usr/bin/env python3
"""A configurable test service. The first argument is the test's unique token.

  service.py TOKEN [--ignore-term] [--children N] [--exit CODE] [--after SECONDS]
                   [--fork] [--port PORT] [--touch FILE] [--every SECONDS]
                   [--rss-mb MB] [--pidfile PATH] [--report FILE] [--title TITLE]
                   [--spew LINES]

--spew LINES writes LINES numbered lines ("PID N", one write(2) each) to
stdout every 0.1 s, for log rotation under load.

--report FILE writes what the service inherited: ignored signals (Python
itself ignores SIGPIPE, left out, and SIGXFSZ), blocked signals, ppid/sid,
cwd, the descriptors open at exec, umask, and the environment as JSON.
"""
import argparse
import json
import os
import signal
import socket
import sys
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("token")
    parser.add_argument("--tag", default=None, help="ignored: makes command lines distinct")
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--children", type=int, default=0)
    parser.add_argument("--exit", type=int, default=None)
    parser.add_argument("--after", type=float, default=0.0)
    parser.add_argument("--fork", action="store_true")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--touch", default=None)
    parser.add_argument("--every", type=float, default=0.2)
    parser.add_argument("--rss-mb", type=int, default=0)
    parser.add_argument("--pidfile", default=None)
    parser.add_argument("--report", default=None, help="write signal dispositions/mask here")
    parser.add_argument("--title", default=None, help="setproctitle() to this (padded like redis)")
    parser.add_argument("--spew", type=int, default=0, help="numbered lines to write every 0.1 s")
    args = parser.parse_args()
    # descriptors as exec'd, before this script opens anything of its own
    inherited = []
    for name in os.listdir("/proc/self/fd"):
        try:
            os.readlink("/proc/self/fd/" + name)
        except OSError:  # the listing's own descriptor, closed by now
            continue
        inherited.append(int(name))
    inherited.sort()
    if args.title:
        import setproctitle

        setproctitle.setproctitle(args.title)
    if args.fork and os.fork() > 0:
        os._exit(0)
    if args.fork:
        os.setsid()
    if args.pidfile:
        with open(args.pidfile, "w") as handle:
            handle.write("%d\n" % os.getpid())
    if args.report:
        with open(args.report, "w") as handle:
            ignored = [s for s in signal.valid_signals()
                       if s not in (signal.SIGKILL, signal.SIGSTOP)
                       and signal.getsignal(s) == signal.SIG_IGN and s != signal.SIGPIPE]
            handle.write("ignored=%s\n" % sorted(int(s) for s in ignored))
            handle.write("blocked=%s\n" % sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])))
            handle.write("ppid=%d sid=%d pid=%d\n" % (os.getppid(), os.getsid(0), os.getpid()))
            handle.write("cwd=%s\n" % os.getcwd())
            handle.write("fds=%s\n" % inherited)
            mask = os.umask(0o022)
            os.umask(mask)
            handle.write("umask=%03o\n" % mask)
            handle.write("env_TESTVAR=%s\n" % os.environ.get("TESTVAR", ""))
            handle.write("environ=%s\n" % json.dumps(dict(os.environ), sort_keys=True))
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    for index in range(args.children):
        if os.fork() == 0:
            os.execvp(sys.executable, [sys.executable, "-c",
                      "import time\nwhile True: time.sleep(60)", "child-%d-of" % index, args.token])
    ballast = bytearray(args.rss_mb * 1024 * 1024)
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    listener = None
    if args.port:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", args.port))
        listener.listen(5)
    print("service %s up pid %d" % (args.token, os.getpid()), flush=True)
    started = time.monotonic()
    if args.spew:
        spew(args.spew)
    while True:
        if args.exit is not None and time.monotonic() - started >= args.after:
            print("service %s exiting with %d" % (args.token, args.exit), flush=True)
            sys.exit(args.exit)
        if args.touch:
            with open(args.touch, "a"):
                os.utime(args.touch)
        time.sleep(args.every if (args.touch or args.exit is not None) else 0.5)


def spew(lines):
    """Numbered lines, one write(2) each, so a reader can check none was lost or doubled."""
    pid, number = os.getpid(), 0
    pad = b"." * 60
    while True:
        for _ in range(lines):
            number += 1
            os.write(1, b"%d %d %s\n" % (pid, number, pad))
        time.sleep(0.1)


if __name__ == "__main__":
    main()
