"""The log files of programs: which ones, their last lines, in time order.

``usrsvc logs`` reads what services wrote to their ``stdout``/``stderr``
files; it is not their parent and needs no daemon. Lines carry no time in
general, so each gets one (the ordering rule, also in ``usrsvc --help``):

1. a line that starts with a time (see logtime) has that time;
2. a line without one has the time of the nearest timed line above it in
   the same file (a traceback stays with the record that logged it); lines
   above the first timed one take its time;
3. a file with no timed line at all gives every line its mtime.

``-n N`` takes the last N lines of each file; files are then merged by that
time, each file's own order kept (ties: the stdout file first, programs in
config order). Two files without times come out one block after the other,
the one written to last at the end. ``--since`` keeps the lines
whose time is that recent. Nothing here prints: the CLI formats ``Line``s.
Files sit where the config says, maybe in a shared directory, so they are
opened like the log files we write (proc.paths): never through another
user's symlink, never a file someone else planted.
"""

import heapq
import os
import stat

STREAMS = ("stdout", "stderr")
MAX_LINE = 1 << 20  # longer lines come out in pieces: memory stays bounded
MAX_SCAN = 1 << 24  # how far back the start of an unfinished last line is looked for
UNTIMED_LINES = 1000  # --since over lines with no time: the most kept (and said)
UNTIMED_BYTES = 1 << 22  # ... and the most bytes read for them
_BLOCK = 1 << 16


class Line:
    """One line of a log: who wrote it, to which stream, when, and what (text)."""

    __slots__ = ("program", "stream", "time", "message")

    def __init__(self, program, stream, time, message):
        self.program, self.stream, self.time, self.message = program, stream, time, message

    def as_dict(self):
        from .logtime import iso_utc

        return {"program": self.program, "stream": self.stream, "time": iso_utc(self.time),
                "message": self.message}


class LogFile:
    """A program's log file for one stream (``stream`` "stdout" also when the
    program sends stderr to the same file). ``backups``: how many rotated
    copies its config keeps (``*_backups``; None: not known), the most a
    follower will read back (logfollow.backup_tail)."""

    __slots__ = ("program", "stream", "path", "backups")

    def __init__(self, program, stream, path, backups=None):
        self.program, self.stream, self.path = program, stream, path
        self.backups = backups

    def __repr__(self):
        return "LogFile(%r, %r, %r)" % (self.program, self.stream, self.path)


def files_of(programs, streams=STREAMS):
    """(files, problems): the LogFiles of ``programs`` for ``streams``, and a
    sentence for each stream asked for that has no file of its own."""
    files, problems = [], []
    for program in programs:
        logger = getattr(program, "logger", None)  # its output is not in a file of ours
        if "stdout" in streams and not logger:
            files.append(LogFile(program.name, "stdout", program.stdout,
                                 getattr(program, "stdout_backups", None)))
        if "stderr" not in streams:
            continue
        if program.stderr and program.stderr != program.stdout:
            files.append(LogFile(program.name, "stderr", program.stderr,
                                 getattr(program, "stderr_backups", None)))
        elif streams == ("stderr",) and not logger:
            problems.append("%s: its stderr goes to its stdout file %s (stderr = stdout): see"
                            " usrsvc logs --stdout %s" % (program.name, program.stdout,
                                                          program.name))
    return files, problems


def logger_notes(programs, streams=STREAMS):
    """Where the output of programs with ``logger = COMMAND`` goes: their logger
    writes it wherever its command says, so usrsvc can only name the command
    (and the file that takes the logger's own messages)."""
    notes = []
    for program in programs:
        logger = getattr(program, "logger", None)
        if not logger:
            continue
        separate = program.stderr and program.stderr != program.stdout
        if "stdout" not in streams and separate:
            continue
        which = "stdout" if separate else "stdout and stderr"
        notes.append("%s: its %s %s written by its logger: %s (see where that command writes;"
                     " the logger's own messages are in %s)"
                     % (program.name, which, "is" if separate else "are", logger, program.stdout))
    return notes


class Unreadable(Exception):
    """A log file that cannot be shown; the message names it, why, and the fix.
    ``missing`` when it does not exist (yet)."""

    def __init__(self, message, missing=False):
        super().__init__(message)
        self.missing = missing


def open_log(log):
    """(fd, stat) of ``log`` for reading, or Unreadable.

    The directory is opened and checked as for writing (paths.open_dir), the
    file without following a symlink, and it must be a regular file of ours
    or root's: a file another user planted there is not shown as our log.
    """
    from .proc import paths

    what = "%s: the %s log %s" % (log.program, log.stream, log.path)
    if log.path == os.devnull:
        raise Unreadable("%s: its %s goes to /dev/null: nothing is kept (set %s to a file to"
                         " keep it)" % (log.program, log.stream, log.stream))
    directory, name = os.path.split(log.path)
    try:
        dir_fd = paths.open_dir(directory)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
    except paths.Refused as err:
        raise Unreadable("%s is refused: %s (%s)" % (what, err.strerror,
                                                     err.fix.format(key=log.stream))) from None
    except FileNotFoundError:
        raise Unreadable("%s does not exist (has the program been started since it was"
                         " configured?)" % what, missing=True) from None
    except OSError as err:
        raise Unreadable(_os_problem(what, log, err)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Unreadable("%s is not a regular file" % what)
        paths.check_file(log.path, st)
    except paths.Refused as err:
        os.close(fd)
        raise Unreadable("%s is refused: %s" % (what, err.strerror)) from None
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def _os_problem(what, log, err):
    import errno

    if err.errno == errno.ELOOP:
        return "%s is a symlink: it is not followed (point %s at the file itself)" % (
            what, log.stream)
    if err.errno in (errno.EACCES, errno.EPERM):
        return "%s cannot be read: %s (make it readable: chmod u+r %s)" % (
            what, err.strerror, log.path)
    return "%s cannot be opened: %s" % (what, err.strerror)


def complete_end(fd, size, limit=None):
    """The offset just past the last newline before ``size`` (0 if none): what
    follows it is a line still being written. None when no newline is within
    the last ``limit`` bytes (a huge unfinished line: NUL holes, binary output,
    progress bars redrawn with \\r), so that finding out never reads a whole
    file."""
    pos = size
    floor = 0 if limit is None else max(0, size - limit)
    while pos > floor:
        start = max(floor, pos - _BLOCK)
        chunk = os.pread(fd, pos - start, start)
        index = chunk.rfind(b"\n")
        if index >= 0:
            return start + index + 1
        pos = start
    return 0 if floor == 0 else None


def unfinished(fd, size, whole):
    """The unfinished last line, [whole, size) (``whole`` None: it starts more
    than MAX_SCAN bytes back), at most its last MAX_LINE bytes: a longer one
    comes out cut, marked with how much was left out."""
    if whole is not None and size - whole <= MAX_LINE:
        return os.pread(fd, size - whole, whole)
    tail = os.pread(fd, MAX_LINE, size - MAX_LINE)
    if whole is None:
        return b"[line cut: over %d bytes] " % (MAX_SCAN - MAX_LINE) + tail
    return b"[line cut: %d bytes] " % (size - whole - MAX_LINE) + tail


def backwards(fd, end):
    """The lines of the file up to ``end`` (just past a newline, or 0), last
    first, as bytes without their newline."""
    pos, rest = end - 1, b""
    while pos > 0:
        start = max(0, pos - _BLOCK)
        parts = (os.pread(fd, pos - start, start) + rest).split(b"\n")
        pos, rest = start, parts[0]
        yield from reversed(parts[1:])
        while len(rest) > MAX_LINE:
            yield rest[-MAX_LINE:]
            rest = rest[:-MAX_LINE]
    if end > 0:
        yield rest


def decode(raw):
    """Text as written: UTF-8, undecodable bytes replaced."""
    return raw.decode("utf-8", "replace")


def timed(log, texts, mtime, now):
    """Lines of ``texts`` (one file, in order) with the times of the ordering rule."""
    from .logtime import line_time

    stamps = [line_time(text, now) for text in texts]
    current = next((s for s in stamps if s is not None), mtime)
    lines = []
    for text, stamp in zip(texts, stamps):
        if stamp is not None:
            current = stamp
        lines.append(Line(log.program, log.stream, current, text))
    return lines


def tail(log, fd, st, count=None, since=None, now=None, partial=True, notes=None):
    """(lines, end): the last ``count`` lines of the open file (all when None)
    whose time is at least ``since``, and the offset where what was read ends.

    With ``partial`` the unfinished last line counts as a line; without it
    (a follower) it is left for later and ``end`` is where it starts. Memory
    and time stay bounded on any file: an unfinished line is read only in
    its last MAX_LINE bytes; --since over lines that carry no time keeps at
    most UNTIMED_LINES of them (a sentence in ``notes`` says so).
    """
    size = st.st_size
    whole = complete_end(fd, size, MAX_SCAN)
    end = size - MAX_LINE if whole is None else whole  # a follower skips a huge head
    raws = []
    if partial and (whole is None or size > whole):
        raws.append(unfinished(fd, size, whole))
        end = size
    if since is not None and st.st_mtime < since:
        return [], end  # nothing was written since then
    if count == 0:
        return [], end
    if whole is not None:  # else the lines above are out of reach: the cut line says so
        raws += _back(log, fd, whole, count, since, now, len(raws), notes)
    texts = [decode(raw) for raw in reversed(raws)]
    lines = timed(log, texts, st.st_mtime, now)
    if since is not None:
        lines = [line for line in lines if line.time >= since]
    return lines, end


def _back(log, fd, whole, count, since, now, have, notes):
    """The complete lines before ``whole`` that ``tail`` wants, last first: up to
    ``count`` (with ``have`` taken already), back to the first one older than
    ``since``; without any time seen, no more than UNTIMED_LINES/UNTIMED_BYTES."""
    from .logtime import line_time

    raws, read, timed_seen = [], 0, False
    for raw in backwards(fd, whole):
        if count is not None and len(raws) + have >= count:
            break
        if since is not None and not timed_seen and (
                len(raws) >= UNTIMED_LINES or read >= UNTIMED_BYTES):
            if notes is not None:
                notes.append("%s: the %s log %s: its last %d lines carry no time, so --since"
                             " cannot tell how old they are: only those are shown (use -n N"
                             " for more)" % (log.program, log.stream, log.path, len(raws)))
            break
        raws.append(raw)
        read += len(raw) + 1
        if since is not None:
            stamp = line_time(raw[:80].decode("utf-8", "replace"), now)
            if stamp is not None:
                timed_seen = True
                if stamp < since:
                    break
    return raws


def merge(groups):
    """One list in time order from lists each in its own order (kept)."""
    return list(heapq.merge(*groups, key=lambda line: line.time))


def read(files, count=None, since=None, now=None, notes=None):
    """(lines, problems): the last ``count`` lines of each file, all merged (as
    ``tail -n`` and pm2 count: per file, so a quiet stderr is not crowded out by
    a busy stdout); a sentence for each file that cannot be read (and in
    ``notes``, for what was left out on purpose)."""
    groups, problems = [], []
    for log in files:
        try:
            fd, st = open_log(log)
        except Unreadable as err:
            problems.append(str(err))
            continue
        try:
            lines, _ = tail(log, fd, st, count, since, now, notes=notes)
        finally:
            os.close(fd)
        groups.append(lines)
    return merge(groups), problems


class Style:
    """How lines are printed for people: a name prefix when several programs
    are shown (``width`` wide), colours only on a terminal that wants them."""

    COLOURS = ("36", "32", "33", "35", "34", "96", "92", "93", "95", "94")

    def __init__(self, names, prefix, colour):
        self.width = max((len(name) for name in names), default=0)
        self.prefix = prefix
        self.colour = colour
        self.codes = {name: self.COLOURS[index % len(self.COLOURS)]
                      for index, name in enumerate(names)}

    def format(self, line):
        """The line for a terminal or a pipe; its text escaped (see escape: a tab
        is kept, Java and Go indent stack traces with it)."""
        from .escape import one_line, printable

        text = printable(line.message)
        if self.colour and line.stream == "stderr":
            text = "\033[31m%s\033[0m" % text
        if not self.prefix:
            return text
        label = one_line(line.program).ljust(self.width)
        if self.colour:
            label = "\033[%sm%s\033[0m" % (self.codes.get(line.program, "0"), label)
        return "%s | %s" % (label, text)


def wants_colour(out, environ):
    """Colour on a terminal only, never with NO_COLOR set (https://no-color.org) or TERM=dumb."""
    try:
        tty = out.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and not environ.get("NO_COLOR") and environ.get("TERM") != "dumb"
