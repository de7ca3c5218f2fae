"""Launch commands detached from the bench (double fork + new session).

Used to bring up many services for usrsvc 1.5.13 quickly: its own start
burns CPU for ``success_seconds`` per program, which at N = 1000 would take
the run's whole budget.  The daemon then adopts them through their pidfiles,
which is exactly what a parentless manager is meant to do.

Input (stdin): JSON list of {"argv": [...], "log": path, "pidfile": path}.
Output: one "pid" line per entry, in order.
"""

import json
import os
import sys


def launch(argv, log):
    read_end, write_end = os.pipe()
    first = os.fork()
    if first == 0:
        os.close(read_end)
        os.setsid()
        second = os.fork()
        if second:
            os.write(write_end, str(second).encode())
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDONLY)
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(devnull, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.closerange(3, 1 << 16)
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    os.close(write_end)
    pid = int(os.read(read_end, 32).decode())
    os.close(read_end)
    os.waitpid(first, 0)
    return pid


def main():
    for entry in json.load(sys.stdin):
        pid = launch(entry["argv"], entry["log"])
        if entry.get("pidfile"):
            tmp = entry["pidfile"] + ".tmp"
            with open(tmp, "w") as handle:
                handle.write(f"{pid}\n")
            os.replace(tmp, entry["pidfile"])
        print(pid, flush=True)


if __name__ == "__main__":
    main()
