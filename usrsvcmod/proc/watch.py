"""Wait for many processes at once: a pidfd each, one poll() for all.

A pidfd becomes readable when its process exits, zombie or not, so a
zombie counts as exited at once (some inits reap orphans only every few
seconds). Without pidfd support (Linux < 5.3) it falls back to polling
/proc every ``POLL_INTERVAL`` seconds; so it does for a process whose pidfd
would eat into the descriptors kept for launches and state files (a low
open-files limit, see fdlimit), or cannot be had at all (EMFILE).
"""

import os
import select
import signal
import time

from . import fdlimit, procfs

POLL_INTERVAL = 0.01
HAVE_PIDFD = hasattr(os, "pidfd_open")


class Watched:
    """One process being watched: pid, start time, its pidfd (or None).

    The Watched owns its pidfd: only close() closes it, once, and a closed
    watch never signals anything (a recycled fd number can never be hit).
    """

    __slots__ = ("pid", "start_time", "fd", "key", "exited", "closed", "keep")

    def __init__(self, pid, start_time, fd, key, keep=False):
        self.pid = pid
        self.start_time = start_time
        self.fd = fd
        self.key = key
        self.exited = False
        self.closed = False
        self.keep = keep  # keep the pidfd open after the exit (to read the exit status)

    def close(self):
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)
        self.closed = True


class ExitWatcher:
    """Add processes; ``wait(timeout)`` returns the ones that exited."""

    def __init__(self, poll_interval=POLL_INTERVAL, reserve=fdlimit.WATCH_RESERVE):
        self.poll_interval = poll_interval  # only used for processes without a pidfd
        self.reserve = reserve
        self._limit = None  # our open-files limit, read at the first pidfd
        self._poll = select.poll()
        self._by_fd = {}
        self._polled = []
        self._wakeup = None
        self.woken = False
        self._io = {}  # fd -> callback(revents): sockets of the API (add_io)
        self.io_ready = []  # (callback, revents) seen by the last wait(), for the loop to run

    def add_wakeup(self, fd):
        """Also return from wait() when ``fd`` (a non-blocking pipe) is readable; drain it."""
        self._wakeup = fd
        self._poll.register(fd, select.POLLIN)

    def add_io(self, fd, mask, callback):
        """Also wake for ``fd`` (``mask``: select.POLLIN/POLLOUT); the next wait()
        puts ``(callback, revents)`` in ``io_ready``. The caller owns the fd and
        calls remove_io() before closing it."""
        self._io[fd] = callback
        self._poll.register(fd, mask)

    def modify_io(self, fd, mask):
        if fd in self._io:
            self._poll.modify(fd, mask)

    def remove_io(self, fd):
        if self._io.pop(fd, None) is not None:
            self._poll.unregister(fd)

    def add(self, pid, start_time, key=None, keep=False):
        """Watch ``pid`` (which must have started at ``start_time``).

        Returns a Watched; its ``exited`` is already True when the process is
        gone, a zombie or a different process reusing the pid. With ``keep``
        the pidfd stays open after the exit until the caller closes it (see
        exitinfo); otherwise the watcher closes it when it reports the exit.
        """
        fd = None
        if start_time is None:  # it was gone before its start time could be read
            return _gone(pid, start_time, key)
        if not HAVE_PIDFD and not procfs.alive(pid, start_time):
            return _gone(pid, start_time, key)
        if HAVE_PIDFD:
            try:
                fd = self._pidfd(pid)
            except ProcessLookupError:
                return _gone(pid, start_time, key)
            if fd is not None and not procfs.alive(pid, start_time):
                info = procfs.read(pid)
                if info is None or abs(info.start_time - start_time) >= procfs.TICK or not keep:
                    os.close(fd)  # gone, or another process now has the pid
                    return _gone(pid, start_time, key)
                watched = Watched(pid, start_time, fd, key, keep)  # our zombie: keep its pidfd
                watched.exited = True
                return watched
        watched = Watched(pid, start_time, fd, key, keep)
        if fd is not None:
            self._by_fd[fd] = watched
            self._poll.register(fd, select.POLLIN)
        elif not watched.exited:
            self._polled.append(watched)
        return watched

    def _pidfd(self, pid):
        """A pidfd for ``pid``, or None when the limit leaves no room for it (poll then)."""
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            raise
        except OSError:  # EMFILE, or a kernel without it for this process
            return None
        if self._limit is None:
            self._limit = fdlimit.soft()
        if fdlimit.in_reserve(fd, self.reserve, self._limit):
            os.close(fd)
            return None
        return fd

    @property
    def polled(self):
        """How many processes are watched by polling /proc (no pidfd)."""
        return len(self._polled)

    def _forget(self, watched):
        fd = watched.fd
        if fd is not None and self._by_fd.get(fd) is watched:
            self._poll.unregister(fd)
            del self._by_fd[fd]
        if watched in self._polled:
            self._polled.remove(watched)

    def discard(self, watched):
        """Stop watching and close its pidfd (it never signals again)."""
        self._forget(watched)
        watched.close()

    def wait(self, timeout):
        """Block up to ``timeout`` seconds (None: forever); return exited Watched."""
        if self._polled and (timeout is None or timeout > self.poll_interval):
            timeout = self.poll_interval
        if not self._by_fd and not self._polled and self._wakeup is None and not self._io:
            if timeout:
                time.sleep(timeout)
            return []
        ms = None if timeout is None else max(0, int(timeout * 1000 + 0.999))
        try:
            events = self._poll.poll(ms)
        except InterruptedError:
            events = []
        done = []
        for fd, revents in events:
            if fd == self._wakeup:
                self._drain()
                continue
            callback = self._io.get(fd)
            if callback is not None:
                self.io_ready.append((callback, revents))
                continue
            watched = self._by_fd.get(fd)
            if watched is not None:
                watched.exited = True
                done.append(watched)
                self._forget(watched)
                if not watched.keep:
                    watched.close()
        for watched in list(self._polled):
            if not procfs.alive(watched.pid, watched.start_time):
                watched.exited = True
                done.append(watched)
                self._polled.remove(watched)
        return done

    def _drain(self):
        self.woken = True
        try:
            while os.read(self._wakeup, 512):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def close(self):
        for watched in list(self._by_fd.values()) + list(self._polled):
            self.discard(watched)

    def __len__(self):
        return len(self._by_fd) + len(self._polled)


def _gone(pid, start_time, key):
    watched = Watched(pid, start_time, None, key)
    watched.exited = True
    return watched


def send(watched, sig):
    """Signal exactly the watched process (pidfd: no pid-reuse race)."""
    if watched.exited or watched.closed:
        return False
    try:
        if watched.fd is not None:
            signal.pidfd_send_signal(watched.fd, sig)
        elif procfs.alive(watched.pid, watched.start_time):
            os.kill(watched.pid, sig)
        else:
            return False
        return True
    except ProcessLookupError:
        return False
