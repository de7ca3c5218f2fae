"""The success window after a launch: which process is the program, and did it live?

A Settling follows one launch. It tracks the launched process; if that one
exits with status 0 (a forking daemon) it looks for a process matching
``proctitle_re`` that the launch left behind and tracks that instead. Any
other exit fails at once. At the deadline the tracked process (or, for a
wrapper that does not match, a matching descendant) must be alive.

The daemon drives Settlings from its event loop; ``settle_all`` drives
them for the command-line tool.
"""

import time

from . import identity, procfs, spawn
from .watch import ExitWatcher

# /proc start times have 10 ms resolution: a child may look that much older
_TICK = 0.02


class Settling:
    def __init__(self, launch, offsets, clock=time.monotonic):
        self.launch = launch
        self.program = launch.program
        self.offsets = offsets
        self.deadline = clock() + self.program.success_seconds
        self.tracked = None  # Watched
        self.done = False
        self.info = None  # ProcInfo of the program on success
        self.error = None
        self.leftover = []  # processes launched that never became the program

    def watch(self, watcher):
        self.tracked = watcher.add(self.launch.pid, self.launch.start_time, self)
        if self.tracked.exited:
            self.exited(watcher)

    def _fail(self, why):
        self.done = True
        tail = spawn.log_tail(self.program, self.offsets)
        self.error = why + ("\n  last lines of the log:\n    " + "\n    ".join(tail) if tail else "")

    def _survivor(self, table):
        """A matching process this launch left behind (forking daemons)."""
        since = (self.launch.start_time or 0) - _TICK
        matches = [m for m in table.matching(self.program) if m.start_time >= since]
        tops = table.top_most(matches)
        return tops[0] if tops else None

    def exited(self, watcher, table_factory=identity.ProcessTable):
        """The tracked process ended inside the window."""
        pid = self.tracked.pid
        how = spawn.exit_status(pid)
        if pid == self.launch.pid and how in (None, "exited with status 0"):
            survivor = self._survivor(table_factory())
            if survivor is not None:
                self.tracked = watcher.add(survivor.pid, survivor.start_time, self)
                if not self.tracked.exited:
                    return
                how = spawn.exit_status(survivor.pid)
                pid = survivor.pid
        self._fail("pid %d %s within success_seconds (%gs)"
                   % (pid, how or "exited", self.program.success_seconds))

    def expire(self, table_factory=identity.ProcessTable):
        """The window is over: settle on the process that is the program."""
        info = procfs.read(self.tracked.pid)
        if info is not None and not info.zombie and info.start_time is not None:
            checked, _ = identity.check_pid(self.program, info.pid)
            if checked is not None:
                self.info, self.done = checked, True
                return
        if info is not None and not info.zombie:
            table = table_factory()
            family = table.descendants(info.pid)
            for child in family:
                if child in table.matching(self.program):
                    self.info, self.done = child, True
                    return
            # it runs but is not the program: end what we launched, or the
            # next start would run a second copy beside it
            self.leftover = [info] + family
        self._fail("no process matching proctitle_re %r was running after success_seconds (%gs)"
                   % (self.program.proctitle_re, self.program.success_seconds))


def settle_all(settlings, clock=time.monotonic):
    """Drive every Settling to its end in one wait loop (the CLI's way)."""
    watcher = ExitWatcher()
    table = TableOnce()
    try:
        for item in settlings:
            item.watch(watcher)
        while True:
            open_items = [s for s in settlings if not s.done]
            if not open_items:
                break
            now = clock()
            table.reset()
            for item in open_items:
                if item.deadline <= now:
                    item.expire(table)
            open_items = [s for s in open_items if not s.done]
            if not open_items:
                break
            nearest = min(s.deadline for s in open_items)
            for watched in watcher.wait(max(0.0, nearest - clock())):
                if watched.key is not None and not watched.key.done and watched is watched.key.tracked:
                    table.reset()
                    watched.key.exited(watcher, table)
    finally:
        watcher.close()
    return settlings


class TableOnce:
    """A ProcessTable built at most once per wake-up, shared by every Settling."""

    def __init__(self):
        self._table = None

    def reset(self):
        self._table = None

    def __call__(self):
        if self._table is None:
            self._table = identity.ProcessTable()
        return self._table
