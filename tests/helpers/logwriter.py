#!/usr/bin/env python3
"""A test service that writes numbered lines to stdout and stderr, then idles.

  logwriter.py TOKEN [--count N] [--every SECONDS] [--stderr] [--stamp iso|python]
                     [--old K] [--reopen PATH] [--text TEXT] [--go FILE] [--tag T]

Line i is "out i" on stdout (and "err i" on stderr with --stderr), after a
time stamp with --stamp (the first K lines with --old K are stamped two hours
ago). --reopen PATH: on SIGHUP, stdout is reopened at PATH (what a service
does for logrotate's create mode). --text adds a line as given (escapes
interpreted) first. --go FILE: wait until FILE exists before writing.
"""
import argparse
import datetime
import os
import signal
import sys
import time


def stamp(kind, back):
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=back)
    if kind == "iso":
        return now.isoformat(timespec="microseconds").replace("+00:00", "Z") + " "
    if kind == "python":
        local = now.astimezone()
        return local.strftime("%Y-%m-%d %H:%M:%S") + ",%03d " % (local.microsecond // 1000)
    return ""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("token")
    parser.add_argument("--tag", default=None, help="ignored: makes command lines distinct")
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--every", type=float, default=0.0)
    parser.add_argument("--stderr", action="store_true")
    parser.add_argument("--stamp", default=None)
    parser.add_argument("--old", type=int, default=0)
    parser.add_argument("--reopen", default=None)
    parser.add_argument("--text", default=None)
    parser.add_argument("--go", default=None)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    if args.reopen:
        def reopen(*_):
            fd = os.open(args.reopen, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.dup2(fd, 1)
            os.close(fd)
        signal.signal(signal.SIGHUP, reopen)
    if args.text:
        import codecs

        os.write(1, codecs.escape_decode(args.text.encode())[0] + b"\n")
    while args.go and not os.path.exists(args.go):
        time.sleep(0.05)
    for index in range(args.count):
        back = 7200 if index < args.old else 0
        os.write(1, ("%sout %d\n" % (stamp(args.stamp, back), index)).encode())
        if args.stderr:
            time.sleep(0.001)
            os.write(2, ("%serr %d\n" % (stamp(args.stamp, back), index)).encode())
        if args.every:
            time.sleep(args.every)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    sys.exit(main())
