#!/usr/bin/env python3
"""Write numbered lines (1, 2, 3... one per write(2)) to stdout at full speed.

  numbered_writer.py TOKEN [--limit N] [--width W]

The first argument is the test's unique token (for cleanup). Each line is
one write, so a kill never leaves half a line. Stops after N lines (0: never).
"""
import os
import sys


def main():
    limit, width = 0, 0
    args = sys.argv[2:]
    while args:
        option, value = args.pop(0), int(args.pop(0))
        if option == "--limit":
            limit = value
        elif option == "--width":
            width = value
    number = 1
    while not limit or number <= limit:
        os.write(1, b"%0*d\n" % (width, number))
        number += 1


if __name__ == "__main__":
    main()
