"""usrsvcd --init: the programs' output as lines on usrsvcd's own stdout.

A program with ``stdout = -`` (or ``stderr = -``) writes into a pipe that
usrsvcd holds: one pipe per program and stream, made at its first launch
and kept while usrsvcd lives, so that restarts write into the same pipe and
no line is lost between two runs. Only in init mode is this possible: the
services are then usrsvcd's descendants, and it outlives them.

Each pipe has a reader thread (never the loop: a program that writes a
flood, or a reader of our stdout that is slow, must not delay a restart).
Each line becomes one record on the event log's stream, under its lock so
that lines and events never mix: ``{"program", "stream", "time",
"message"}`` with ``log_format = json`` (a container's log collector reads
one JSON object per line), ``NAME | line`` in text. A line longer than
MAX_LINE bytes is cut into records of that size; bytes that are not UTF-8
are replaced. When usrsvcd ends, it closes its write ends once the
programs are stopped, and waits a little for the readers to finish the
last lines.
"""

import os
import threading

MAX_LINE = 16384  # bytes: a longer line is cut into records of this size
READ = 65536
DRAIN = 2.0  # seconds to wait for the readers at exit


class Console:
    def __init__(self, log):
        self.log = log  # EventLog: its stream and its lock are shared with the events
        self.lock = threading.Lock()
        self.pipes = {}  # (program name, stream) -> the write end we keep
        self.readers = []

    def writer(self, program, stream):
        """A new descriptor of the write end of ``program``'s ``stream`` pipe
        (close-on-exec: the launch puts it in place as the program's stdout)."""
        key = (program.name, stream)
        with self.lock:
            fd = self.pipes.get(key)
            if fd is None:
                read_fd, fd = os.pipe2(os.O_CLOEXEC)
                self.pipes[key] = fd
                reader = threading.Thread(target=self._read, args=(read_fd, program.name, stream),
                                          name="console-%s-%s" % key, daemon=True)
                reader.start()
                self.readers.append(reader)
        return os.dup(fd)

    def _read(self, fd, name, stream):
        pending = b""
        try:
            while True:
                try:
                    data = os.read(fd, READ)
                except OSError:
                    break
                if not data:
                    break
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    while len(line) > MAX_LINE:
                        self._emit(name, stream, line[:MAX_LINE])
                        line = line[MAX_LINE:]
                    self._emit(name, stream, line)
                while len(pending) > MAX_LINE:
                    self._emit(name, stream, pending[:MAX_LINE])
                    pending = pending[MAX_LINE:]
            if pending:
                self._emit(name, stream, pending)
        finally:
            os.close(fd)

    def _emit(self, name, stream, line):
        if line.endswith(b"\r"):
            line = line[:-1]
        self.log.output(name, stream, line.decode("utf-8", "replace"))

    def close(self, timeout=DRAIN):
        """Close our write ends; the readers end once the programs' ends are gone
        too (they are stopped by then); wait for them a little."""
        import time

        with self.lock:
            pipes, self.pipes = self.pipes, {}
        for fd in pipes.values():
            os.close(fd)
        deadline = time.monotonic() + timeout
        for reader in self.readers:
            reader.join(max(0.0, deadline - time.monotonic()))
