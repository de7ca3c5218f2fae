"""The floor for crash recovery: the least a supervisor can do.

It is the parent of its services, waits on a pidfd for each, and respawns an
exited one at once with posix_spawn.  No config, no logging, no checks: what
is left is the kernel's exit notification plus one spawn, which is the floor
any real manager's crash-recovery time should be compared with.

argv: pidfile, then a file with one token per line (each service runs
``sleep TOKEN``).  The tokens are not in argv so that the bench, which finds
services by the tokens among their arguments, never takes this for a service.
"""

import os
import select
import shutil
import sys


def spawn(argv):
    pid = os.posix_spawn(argv[0], argv, os.environ)
    return pid, os.pidfd_open(pid)


def main():
    pidfile, token_file = sys.argv[1], sys.argv[2]
    with open(token_file) as handle:
        tokens = handle.read().split()
    sleep = shutil.which("sleep") or "/bin/sleep"
    poller = select.poll()
    watched = {}
    for token in tokens:
        pid, fd = spawn([sleep, token])
        watched[fd] = (pid, [sleep, token])
        poller.register(fd, select.POLLIN)
    with open(pidfile, "w") as handle:
        handle.write(f"{os.getpid()}\n")
    while True:
        for fd, _events in poller.poll():
            pid, argv = watched.pop(fd)
            poller.unregister(fd)
            os.close(fd)
            new_pid, new_fd = spawn(argv)
            watched[new_fd] = (new_pid, argv)
            poller.register(new_fd, select.POLLIN)
            os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
