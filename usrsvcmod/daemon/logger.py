"""usrsvcd's watch over a program's logger (``logger = COMMAND``).

A small companion of one ProgramState: the logger's pidfd, and its
restarts. A dead logger is started again at once, since its service may be
blocked on a full pipe meanwhile (no line is lost, but none is written
either); only a logger that dies within QUICK seconds of its launch counts
as a failure, and repeated failures back off as programs do (the first one
is restarted at once, then 1 s, doubling, up to restart_delay_max). The logger is kept while its program is enabled,
not stopped with ``usrsvc stop``, and managed or running.
"""

import os

from ..errors import PermissionProblem, TryAgain, UnsafePathError, UsrsvcError

QUICK = 1.0  # seconds: a logger dying sooner after its launch is failing, not crashed
BUSY_RETRY = 1.0


class LoggerWatch:
    __slots__ = ("owner", "watched", "launched_at", "failures", "timer")

    def __init__(self, owner):
        self.owner = owner  # the ProgramState
        self.watched = None
        self.launched_at = None
        self.failures = 0
        self.timer = None

    @property
    def w(self):
        return self.owner.w

    def wanted(self):
        program = self.owner.program
        return bool(program.logger) and program.enabled \
            and (program.managed or self.owner.running) \
            and not self.w.state.is_stopped(program.name)

    def ensure(self):
        """Have the logger running and watched (the program's lock is held by the
        caller); None, or why it could not be started."""
        if self.watched is not None and not self.watched.exited:
            return None
        from ..proc import logger

        program = self.owner.program
        try:
            info = logger.find(self.w.state, program)
            if info is None:
                info, _ = logger.start(self.w.state, program, self.w.nofile, self.w.clock, 0)
                self.launched_at = self.w.clock()
                self.owner.emit("logger_started", program.logger, info.pid)
        except UsrsvcError as err:
            return err.message
        except OSError as err:  # the state directory refused, fork failing
            return "cannot start its logger: %s" % (err.strerror or err)
        self.watched = self.w.watcher.add(info.pid, info.start_time, (self.owner, "logger"))
        if self.watched.exited:
            self.on_exit(self.watched)
        return None

    def on_exit(self, watched):
        if watched is not self.watched:
            watched.close()
            return
        self.watched = None
        watched.close()
        quick = self.launched_at is not None and self.w.clock() - self.launched_at < QUICK
        self.failures = self.failures + 1 if quick else 0
        self.owner.emit("logger_exited", "%s%s" % (
            "within %gs of its start" % QUICK if quick else "after running",
            "" if self.wanted() else "; not restarted"), watched.pid,
            level="error" if quick else "warning")
        if self.wanted():
            self.later(self.delay())

    def delay(self):
        """0 for a logger that ran, and for the first quick death too (an operator's
        kill right after a restart is not a crash loop); then 1 s, doubling."""
        if self.failures <= 1:
            return 0.0
        return min(2.0 ** (self.failures - 2), self.owner.program.restart_delay_max)

    def later(self, delay):
        self.w.cancel(self.timer)
        self.timer = self.w.call_later(delay, self.restart)

    def restart(self):
        """Start it again under the program's lock (held already while the program starts)."""
        self.timer = None
        if not self.wanted() or (self.watched is not None and not self.watched.exited):
            return
        lock_fd = None
        if self.owner.lock_fd is None:
            try:
                lock_fd = self.w.state.lock(self.owner.name, timeout=0)
            except (TryAgain, OSError, UnsafePathError, PermissionProblem):
                self.later(BUSY_RETRY)  # a usrsvc acting on it: look again shortly
                return
        try:
            if not self.wanted():
                return
            why = self.ensure()
        finally:
            if lock_fd is not None:
                os.close(lock_fd)
        if why:
            self.failures += 1
            self.owner.emit("logger_failed", why.replace("\n", " | "), level="error")
            self.later(self.delay())

    def forget(self):
        self.w.cancel(self.timer)
        self.timer = None
        if self.watched is not None:
            self.w.watcher.discard(self.watched)
            self.watched = None
