"""The one updating line ``start all`` / ``stop all`` / ``restart all`` show on a terminal.

``12/40 started, 1 failed, waiting on: web, api``, redrawn in place as
programs settle and cleared before the result table is printed. The CLI
creates one only when its output is a terminal (never in a pipe, with
``--json`` or with TERM=dumb); actions report to it through Session.progress.
"""

from .escape import one_line

CLEAR = "\r\x1b[K"


def terminal_width(stream, environ):
    """Columns of the terminal ``stream`` writes to; $COLUMNS wins (as for ls and ps);
    None when it is no terminal and $COLUMNS is unset (a pipe: nothing is cut)."""
    import os

    columns = environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns or None
    except (OSError, ValueError, AttributeError):
        return None


def cut(text, width):
    """``text`` cut to ``width`` terminal columns, ending in '...' when cut (wide East Asian
    characters take two columns, combining marks none)."""
    if width is None or (text.isascii() and len(text) <= width):
        return text
    if text.isascii():
        return text[:max(0, width - 3)] + "..." if width >= 3 else text[:width]
    import unicodedata

    def columns(char):
        if unicodedata.combining(char):
            return 0
        return 2 if unicodedata.east_asian_width(char) in "WF" else 1

    if sum(map(columns, text)) <= width:
        return text
    out, used = [], 0
    for char in text:
        size = columns(char)
        if used + size > width - 3:
            break
        out.append(char)
        used += size
    return "".join(out) + "..."


class Progress:
    """Counts and redraws; ``close()`` wipes the line (always call it, even on Ctrl-C)."""

    def __init__(self, stream, width):
        self.stream = stream
        self.width = width or 80
        self.verb = ""
        self.total = self.ok = self.failed = 0
        self.waiting = []
        self.shown = False

    def phase(self, verb, programs):
        self.verb = verb
        self.waiting = [p.name for p in programs]
        self.total, self.ok, self.failed = len(self.waiting), 0, 0
        if self.total:
            self._draw()

    def settled(self, name, ok):
        if name not in self.waiting:
            return
        self.waiting.remove(name)
        if ok:
            self.ok += 1
        else:
            self.failed += 1
        self._draw()

    def line(self):
        text = "%d/%d %s" % (self.ok, self.total, self.verb)
        if self.failed:
            text += ", %d failed" % self.failed
        if self.waiting:
            text += ", waiting on: " + ", ".join(one_line(n) for n in self.waiting)
        return cut(text, self.width - 1)  # the last column would wrap on some terminals

    def _draw(self):
        self.stream.write(CLEAR + self.line())
        self.stream.flush()
        self.shown = True

    def close(self):
        if self.shown:
            self.stream.write(CLEAR)
            self.stream.flush()
            self.shown = False
