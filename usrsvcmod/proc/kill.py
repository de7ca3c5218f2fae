"""Stop processes: stop signal, wait, SIGKILL; then the leftover descendants.

Many programs are stopped together by one ExitWatcher, so ``stop all``
waits for the slowest program, not for the sum of them.
"""

import signal
import time

from .watch import ExitWatcher, send


class StopTarget:
    """One program to stop: its main process and the descendants seen before."""

    def __init__(self, key, info, stop_signal, grace, descendants=()):
        self.key = key
        self.info = info
        self.stop_signal = stop_signal
        self.grace = grace
        self.descendants = list(descendants)
        self.killed = False  # SIGKILL was needed
        self.error = None
        self.main = None
        self.left = []  # Watched descendants still to end
        self.found = None  # the caller's identity.Found, if any


KILL_WAIT = 5.0  # how long a SIGKILLed process may take (uninterruptible sleep)


def stop_many(targets, clock=time.monotonic):
    """Stop every target; fills in ``killed``/``error``. Returns the targets."""
    watcher = ExitWatcher()
    pending = {}  # Watched -> [deadline, target, killed?]
    try:
        for target in targets:
            target.main = watcher.add(target.info.pid, target.info.start_time, target)
            target.left = [watcher.add(d.pid, d.start_time, target) for d in target.descendants]
            if target.main.exited:
                _release_descendants(target, pending, clock)
                continue
            try:
                send(target.main, target.stop_signal)
            except PermissionError as err:
                target.error = "cannot signal pid %d: %s" % (target.info.pid, err.strerror)
                continue
            pending[target.main] = [clock() + target.grace, target, False]
        while pending:
            _escalate(pending, clock())
            if not pending:
                break
            nearest = min(entry[0] for entry in pending.values())
            for watched in watcher.wait(max(0.0, nearest - clock())):
                entry = pending.pop(watched, None)
                if entry is None:
                    continue
                target = entry[1]
                if watched is target.main:
                    _release_descendants(target, pending, clock)
                elif watched in target.left:
                    target.left.remove(watched)
    finally:
        watcher.close()
    return targets


def _escalate(pending, now):
    """Past its grace period a process gets SIGKILL; past KILL_WAIT it is reported."""
    for watched, entry in list(pending.items()):
        deadline, target, killed = entry
        if deadline > now or watched.exited:
            continue
        if killed:
            target.error = "pid %d did not exit even after SIGKILL" % watched.pid
            del pending[watched]
        else:
            if send(watched, signal.SIGKILL) and watched is target.main:
                target.killed = True
            entry[0], entry[2] = now + KILL_WAIT, True


def _release_descendants(target, pending, clock):
    """The main process is gone: end its descendants that outlived it."""
    for watched in list(target.left):
        if watched.exited:
            target.left.remove(watched)
            continue
        try:
            if send(watched, target.stop_signal):
                pending[watched] = [clock() + target.grace, target, False]
                continue
        except PermissionError:
            pass
        target.left.remove(watched)


def signal_all(infos, sig):
    """Send ``sig`` to each process that still is the one in ``infos`` (pid, start time)."""
    import os

    from . import procfs

    for info in infos:
        if procfs.alive(info.pid, info.start_time):
            try:
                os.kill(info.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
