#!/usr/bin/env python3
"""A small Python service for the usrsvc examples.

    python3 -u worker.py --tag NAME

Reads its settings from the environment that usrsvc builds from the
program's [[Env]] section (and the inherited defaults):

    EXAMPLE_GREETING   text to log on each beat
    EXAMPLE_INTERVAL   seconds between beats (default 3)
    EXAMPLE_ACTIVITY   file whose modification time is updated on each beat

It exits cleanly on SIGTERM, which is what ``usrsvc stop`` sends first.
"""

import argparse
import os
import signal
import sys
import time


def touch(path):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "a"):
        os.utime(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default="worker")
    args = parser.parse_args()
    greeting = os.environ.get("EXAMPLE_GREETING", "hello")
    interval = float(os.environ.get("EXAMPLE_INTERVAL", "3"))
    activity = os.environ.get("EXAMPLE_ACTIVITY")

    stopping = []
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    print("%s %s: started, pid %d, cwd %s" % (time.strftime("%F %T"), args.tag, os.getpid(),
                                               os.getcwd()))
    beat = 0
    while not stopping:
        beat += 1
        print("%s %s: beat %d: %s" % (time.strftime("%F %T"), args.tag, beat, greeting))
        if activity:
            touch(activity)
        deadline = time.monotonic() + interval
        while not stopping and time.monotonic() < deadline:
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    print("%s %s: SIGTERM received, exiting" % (time.strftime("%F %T"), args.tag))
    return 0


if __name__ == "__main__":
    sys.exit(main())
