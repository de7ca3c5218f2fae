"""Events out, a snapshot out, commands in: the daemon's seams.

Every transition of a program emits an Event to the sinks (the log, the
alerts, the status file; later the API and metrics). After each burst the
loop publishes an immutable Snapshot, which ``usrsvcd status`` and other
readers read. Other threads reach the loop only through ``Inbox.submit``.
Event names are snake_case.
"""

import collections
import os
import time


class Event:
    __slots__ = ("name", "program", "reason", "pid", "level", "at", "fields")

    def __init__(self, name, program, reason="", pid=None, level="info", **fields):
        self.name = name
        self.program = program
        self.reason = reason
        self.pid = pid
        self.level = level  # "info" or "error"
        self.at = time.time()
        self.fields = fields


class Bus:
    """Hands each event to every sink; a failing sink never stops the others."""

    def __init__(self, on_error):
        self.sinks = []
        self.on_error = on_error  # (where) -> None, logs the current exception
        self.count = 0  # events emitted so far (the loop publishes a snapshot when it moves)

    def emit(self, event):
        self.count += 1
        for sink in self.sinks:
            try:
                sink(event)
            except Exception:  # a sink must never take the daemon down
                self.on_error("event sink %r" % getattr(sink, "__name__", sink))


def log_sink(log):
    """The daemon's log: one line per event (text or JSON)."""
    def sink(event):
        write = log.error if event.level == "error" else log.event
        write(event.program, event.name, event.reason, event.pid)

    sink.__name__ = "log"
    return sink


class Inbox:
    """Work for the loop from other threads: ``submit(fn)`` queues and wakes it."""

    def __init__(self, wake_fd):
        self.queue = collections.deque()
        self.wake_fd = wake_fd

    def submit(self, fn, *args):
        self.queue.append((fn, args))
        try:
            os.write(self.wake_fd, b"s")
        except OSError:
            pass  # the pipe is full: the loop is awake anyway

    def drain(self):
        while self.queue:
            yield self.queue.popleft()


def snapshot(files, programs, pid=None):
    """An immutable picture of every program, for readers outside the loop."""
    return {
        "pid": os.getpid() if pid is None else pid,
        "at": round(time.time(), 3),
        "files": list(files),
        "programs": {name: state.view() for name, state in programs.items()},
    }
