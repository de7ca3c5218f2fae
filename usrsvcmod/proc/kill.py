"""The one way to stop processes: stop signal, grace, SIGKILL; then the leftovers.

A Stopping ends one program's process and, once it is gone, the
descendants noted before (each: stop signal, grace, SIGKILL). It owns its
watches (pidfds) and is driven step by step: ``begin``, then ``exited`` for
each exit its watcher reports and ``tick`` at ``deadline()``. The command
line drives many at once to completion with ``stop_many``; usrsvcd drives
each from its own loop and timers. A Stopping without a main process ends
a set of leftovers (a crashed master's workers, what a failed start left).
"""

import signal
import time

from .watch import ExitWatcher, send

KILL_WAIT = 5.0  # how long a SIGKILLed process may take (uninterruptible sleep)


class Stopping:
    """Stop ``info`` (a ProcInfo, or None) and then ``descendants``."""

    def __init__(self, key, info, stop_signal, grace, descendants=(), kill_wait=KILL_WAIT,
                 sender=send):
        self.key = key
        self.send = sender  # tests give a recorder instead
        self.info = info
        self.stop_signal = stop_signal
        self.grace = grace
        self.kill_wait = kill_wait
        self.descendants = list(descendants)
        self.killed = False  # SIGKILL was needed for the main process
        self.signalled = []  # descendants still alive after the main one: we ended them
        self.error = None
        self.found = None  # the caller's identity.Found, if any
        self.main = None  # Watched of the main process
        self._pending = {}  # Watched -> [deadline, killed?]
        self._left = []  # Watched descendants not yet released
        self._watcher = None

    @property
    def done(self):
        return not self._pending and not self._left and (self.main is None or self.main.exited
                                                         or self.error is not None)

    def begin(self, watcher, now):
        """Watch everything, send the stop signal to the main process."""
        self._watcher = watcher
        self._left = [w for w in (watcher.add(d.pid, d.start_time, self) for d in self.descendants)
                      if not w.exited]
        if self.info is None:
            self._release(now)
            return
        self.main = watcher.add(self.info.pid, self.info.start_time, self)
        if self.main.exited:
            self._release(now)
            return
        try:
            self.send(self.main, self.stop_signal)
        except PermissionError as err:
            self.error = "cannot signal pid %d: %s" % (self.info.pid, err.strerror)
            self.close()
            return
        self._pending[self.main] = [now + self.grace, False]

    def exited(self, watched, now):
        """The watcher reports ``watched`` (one of ours) gone."""
        self._pending.pop(watched, None)
        if watched is self.main:
            self._release(now)
        elif watched in self._left:
            self._left.remove(watched)

    def tick(self, now):
        """Past its grace a process gets SIGKILL; past kill_wait it is reported."""
        for watched, entry in list(self._pending.items()):
            deadline, killed = entry
            if deadline > now:
                continue
            if watched.exited:
                self.exited(watched, now)
            elif killed:
                del self._pending[watched]
                if watched is self.main:
                    self.error = "pid %d did not exit even after SIGKILL" % watched.pid
                self._watcher.discard(watched)
                if watched is self.main:
                    self._release(now)
            else:
                if self.send(watched, signal.SIGKILL) and watched is self.main:
                    self.killed = True
                entry[0], entry[1] = now + self.kill_wait, True

    def deadline(self):
        """When ``tick`` must run next (None: nothing is waiting on time)."""
        return min((entry[0] for entry in self._pending.values()), default=None)

    def _release(self, now):
        """The main process is gone: end its descendants that outlived it."""
        for watched in list(self._left):
            self._left.remove(watched)
            if watched.exited:
                continue
            try:
                if self.send(watched, self.stop_signal):
                    self._pending[watched] = [now + self.grace, False]
                    self.signalled.append(watched.pid)
                    continue
            except PermissionError:
                pass
            self._watcher.discard(watched)

    def close(self):
        """Let go of every watch (their pidfds are closed)."""
        if self._watcher is None:
            return
        for watched in [self.main] + list(self._pending) + list(self._left):
            if watched is not None:
                self._watcher.discard(watched)
        self._pending, self._left = {}, []


# The command line's name for it: one program's stop.
StopTarget = Stopping


def stop_many(targets, clock=time.monotonic, on_done=None):
    """Drive every Stopping to its end in one wait loop. Returns the targets.

    ``on_done(target)`` is called once as each target finishes (progress)."""
    watcher = ExitWatcher()
    reported = set()
    try:
        now = clock()
        for target in targets:
            target.begin(watcher, now)
        while True:
            now = clock()
            for target in targets:
                target.tick(now)
            if on_done is not None:
                for target in targets:
                    if target.done and id(target) not in reported:
                        reported.add(id(target))
                        on_done(target)
            waiting = [t for t in targets if not t.done]
            if not waiting:
                break
            deadlines = [d for d in (t.deadline() for t in waiting) if d is not None]
            timeout = max(0.0, min(deadlines) - clock()) if deadlines else 0.05
            for watched in watcher.wait(timeout):
                if isinstance(watched.key, Stopping):
                    watched.key.exited(watched, clock())
    finally:
        watcher.close()
    return targets
