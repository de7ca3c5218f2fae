"""One line per event: time, program, event, reason, pid (text or JSON lines).

SIGHUP reopens the files (logrotate's postrotate), so ``reopen()`` exists.
"""

import json
import sys
import threading
import time
import traceback

from ..escape import one_line, printable


class EventLog:
    def __init__(self, fmt="text", stdout_path=None, stderr_path=None, debug=False):
        self.fmt = fmt
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path
        self.debug_enabled = debug
        self._rotate_error = None  # the last failure to rotate our own log (said once)
        self.out = sys.stdout
        self.err = sys.stderr
        # events come from the loop, programs' lines from console readers (--init)
        self.lock = threading.Lock()
        self.reopen()

    def reopen(self):
        """(Re)open the configured files; keep the old streams if that fails."""
        if self.stdout_path:
            new = self._open(self.stdout_path, "usrsvcd_stdout")
            if new is not None:
                self._swap("out", new)
        if self.stderr_path == "stdout":
            old, self.err = self.err, self.out
            if old not in (sys.stdout, sys.stderr, self.out):  # the previous out, now unused
                self._close(old)
        elif self.stderr_path:
            new = self._open(self.stderr_path, "usrsvcd_stderr")
            if new is not None:
                self._swap("err", new)

    def _open(self, path, key):
        """Opened as services' logs are (spawn.open_log): a FIFO put in its place
        must not freeze the loop, nor a symlink of another user redirect it."""
        from ..errors import UsrsvcError
        from ..proc import spawn

        try:
            return open(spawn.open_log(path, key=key), "a", buffering=1)
        except (OSError, UsrsvcError) as err:
            self.event(None, "log_error", getattr(err, "message", None) or "cannot open %s: %s"
                       % (path, err.strerror))
            return None

    def _swap(self, which, new):
        old = getattr(self, which)
        setattr(self, which, new)
        if old not in (sys.stdout, sys.stderr, self.out, self.err):
            self._close(old)

    @staticmethod
    def _close(stream):
        try:
            stream.close()
        except OSError:
            pass  # its last flush failed (a full disk): nothing more to do with it

    def rotate_own(self, maxbytes, backups):
        """Our own log files over ``maxbytes``: renamed to PATH.1 (older ones shifted,
        ``backups`` kept) and reopened. We are their only writer, so nothing is lost."""
        import os

        from ..proc import rotate

        rotated = []
        for which, path in (("out", self.stdout_path), ("err", self.stderr_path)):
            stream = getattr(self, which)
            if not path or path == "stdout" or path in rotated or stream in (sys.stdout,
                                                                              sys.stderr):
                continue
            try:
                if os.fstat(stream.fileno()).st_size <= maxbytes:
                    continue
                rotate.rename_rotate(path, backups)
            except (OSError, ValueError) as err:
                error = "cannot rotate %s: %s" % (path, getattr(err, "strerror", None) or err)
                if getattr(err, "fix", None):
                    error += "; " + err.fix.format(key="usrsvcd_std%s" % which)
                if error != getattr(self, "_rotate_error", None):  # once, not every tick
                    self.error(None, "log_rotate_failed", error)
                self._rotate_error = error
                continue
            rotated.append(path)
        if rotated:
            self._rotate_error = None
            self.reopen()
            self.event(None, "log_rotated", "%s renamed to .1 and reopened (%d kept)"
                       % (" and ".join(rotated), backups))

    def _write(self, stream, program, event, reason, pid, extra):
        now = time.time()
        if self.fmt == "json":
            # "time" as the lines of stdout = - have it (one stream, one time field to
            # sort on); "ts", the epoch seconds, kept for readers of earlier versions
            record = {"time": _iso(now), "ts": round(now, 3), "program": program,
                      "event": event, "reason": reason, "pid": pid}
            record.update(extra)
            line = json.dumps(record, sort_keys=False)
        else:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + ".%03d" % (now % 1 * 1000)
            # one line per event: a reason quoting a command line or a log must
            # neither drive the reader's terminal nor forge lines (a traceback
            # keeps its lines)
            reason = (printable if event == "internal_error" else one_line)(str(reason))
            line = "%s %s %s%s%s" % (stamp, program or "usrsvcd", event,
                                    ": %s" % reason if reason else "",
                                    " (pid %d)" % pid if pid else "")
        self._put(stream, line)

    def _put(self, stream, line):
        with self.lock:
            try:
                stream.write(line + "\n")
                stream.flush()
            except (OSError, ValueError):
                pass  # a full disk or closed stream must never take the daemon down

    def output(self, program, stream, message):
        """One line a program wrote to ``stdout = -`` (usrsvcd --init: console.py):
        a JSON object of its own, or ``NAME | line`` (control characters escaped)."""
        now = time.time()
        if self.fmt == "json":
            line = json.dumps({"program": program, "stream": stream, "time": _iso(now),
                               "message": message})
        else:
            line = "%s | %s" % (program, one_line(message))
        self._put(self.out, line)

    def event(self, program, event, reason="", pid=None, **extra):
        self._write(self.out, program, event, reason, pid, extra)

    def error(self, program, event, reason="", pid=None, **extra):
        self._write(self.err, program, event, reason, pid, extra)

    def debug(self, program, event, reason="", pid=None):
        if self.debug_enabled:
            self._write(self.out, program, event, reason, pid, {})

    def exception(self, where):
        """Log the current exception with its traceback; the loop goes on."""
        self.error(None, "internal_error", "%s: %s" % (where, traceback.format_exc().rstrip()))


def _iso(now):
    """ISO 8601 in UTC with milliseconds: 2026-11-30T20:49:17.218Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + ".%03dZ" % (now % 1 * 1000)
