#!/usr/bin/env python3
"""A tiny master/worker service for identity tests. First argument: the test's token.

  master.py TOKEN --port PORT [--pidfile PATH] [--title TITLE]

The master execs one worker (a different command line: "worker-of TOKEN")
that listens on PORT, and waits. With --pidfile it writes its own pid there
(autopid = False programs). SIGUSR2 makes it hand over like nginx's binary
upgrade: a child in the same session writes its pid to the pidfile, retitles
itself to --title and carries on as the master; the old master exits.
"""
import argparse
import os
import signal
import sys
import time

WORKER = """
import socket, sys, time
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", int(sys.argv[1])))
sock.listen(5)
while True:
    conn, _ = sock.accept()
    conn.sendall(b"worker %d\\n" % __import__("os").getpid())
    conn.close()
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("token")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pidfile")
    parser.add_argument("--title", default="upgraded-master")
    args = parser.parse_args()
    handover = []
    signal.signal(signal.SIGUSR2, lambda *a: handover.append(1))
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    if args.pidfile:
        write_pid(args.pidfile)
    worker = os.fork()
    if worker == 0:
        os.execv(sys.executable, [sys.executable, "-c", WORKER, str(args.port), "worker-of",
                                  args.token])
    while True:
        time.sleep(0.1)
        if handover:
            handover.clear()
            if os.fork() == 0:
                import setproctitle

                setproctitle.setproctitle("%s %s" % (args.title, args.token))
                if args.pidfile:
                    write_pid(args.pidfile)
                continue
            os._exit(0)


def write_pid(path):
    temp = path + ".tmp"
    with open(temp, "w") as handle:
        handle.write("%d\n" % os.getpid())
    os.rename(temp, path)


if __name__ == "__main__":
    main()
