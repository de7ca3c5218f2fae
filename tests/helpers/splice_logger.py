#!/usr/bin/env python3
"""A minimal logger for ``logger = COMMAND`` tests: stdin to the end of a file.

  splice_logger.py TOKEN FILE

Bytes move from the pipe to FILE with splice(2), in the kernel: nothing sits
in this process between a read and a write, so even a SIGKILL loses no
byte. SIGTERM ends it at once: a splice either moved its bytes or none. A restarted logger appends to
the same FILE (the first argument is the test's token, for cleanup).
"""
import os
import signal
import sys


def main():
    path = sys.argv[2]
    out = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)  # splice refuses O_APPEND
    os.lseek(out, 0, os.SEEK_END)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while os.splice(0, out, 1 << 16):
        pass


if __name__ == "__main__":
    main()
