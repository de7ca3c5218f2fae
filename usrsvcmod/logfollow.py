"""Follow log files as services write them (``usrsvc logs -f``), across rotations.

Each file is followed by its path, through four kinds of change:

- our own rotation (usrsvcd or ``usrsvc logs --rotate``): the first part of
  the file was removed in place. The contract is proc/logstate: under the
  log's rotation lock, held shared while we look at the size and read, the
  record's cumulative ``removed`` for our inode grew by R, so our offset
  moves back by R: no line is dropped or repeated.
- a truncation by someone else (the file shrank with no record): said on
  stderr, and the file is read again from its start.
- a rename or removal (logrotate's create mode): the old file is read to its
  end and kept while the service still writes to it (until it has been quiet
  for ``DRAIN_SECONDS``: a service that reopens its log on a signal writes to
  the old file until then), and the new file at the path is read from its start.
- a file that does not exist yet is waited for.

Sleeping is inotify on the files and their directories (wake-ups, at most
one pass each ``MIN_GAP``), with a pass each ``IDLE_PASS`` in any case; no
inotify, a pass each ``POLL``. The follower yields (lines, notes) per pass;
the CLI prints them. Under -f a line's time is its own (logtime), else the
time it was read.
"""

import os
import time

from .logs import MAX_LINE, Line, Unreadable, decode, open_log

MIN_GAP = 0.05
IDLE_PASS = 1.0
POLL = 0.2
DRAIN_SECONDS = 5.0
BUDGET = 1 << 22  # bytes read from one file per pass: memory stays bounded on a backlog


class Source:
    """One open file: where we are in it, and the removals we have accounted for."""

    def __init__(self, fd, st, offset, removed):
        self.fd = fd
        self.ident = (st.st_dev, st.st_ino)
        self.offset = offset
        self.removed = removed
        self.pending = b""  # a line still being written
        self.quiet_since = None  # set once the path names another file

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class Tracked:
    """A log file followed by its path: the current Source and old ones draining."""

    def __init__(self, log, state, clock=time.monotonic):
        self.log = log
        self.state = state
        self.clock = clock
        self.current = None
        self.draining = []
        self.said = set()  # notes said while the path holds no log we can follow
        self.watched_ident = None  # the inode inotify watches for this path

    # opening ------------------------------------------------------------------------------
    def start(self, fd, st, offset):
        """Follow the open file from ``offset`` (what the tail read ended at)."""
        self.current = Source(fd, st, offset, self._removed_now(st))

    def _removed_now(self, st):
        from .proc import logstate

        record = logstate.read(self.state, self.log.path)
        if record and record[:2] == (st.st_dev, st.st_ino):
            return record[2]
        return 0

    def _reopen(self, notes):
        """The path names a new file (or none yet): follow it from its start."""
        try:
            fd, st = open_log(self.log)
        except Unreadable as err:
            note = "%s; waiting for it" % err if err.missing else str(err)
            if note not in self.said:  # each problem once: a FIFO, a symlink, a planted file
                notes.append(note)
                self.said.add(note)
            return
        self.said.clear()
        lock = self._lock()
        try:
            self.current = Source(fd, st, 0, self._removed_now(st))
        finally:
            if lock is not None:
                os.close(lock)

    # reading ------------------------------------------------------------------------------
    def _lock(self):
        """The rotation lock, shared; None when a rotation holds it right now."""
        from .errors import TryAgain
        from .proc import logstate

        try:
            return logstate.lock(self.state, self.log.path, shared=True, timeout=0)
        except TryAgain:
            return None

    def poll(self, notes):
        """(lines, done): lines written since the last poll (old files first);
        ``done`` False when a rotation held the lock or more is left to read
        (look again soon)."""
        lines = []
        for source in list(self.draining):
            self._drain(source, lines)
        if self.current is None:
            self._reopen(notes)
            if self.current is None:
                return lines, True
        lock = self._lock()
        if lock is None:
            return lines, False
        try:
            self._account(self.current, notes, lines)
            done = self._read(self.current, lines)
        finally:
            os.close(lock)
        if done:
            self._check_path(notes, lines)
        return lines, done

    def _account(self, source, notes, lines):
        """Apply rotations recorded since the last look, and notice a truncation."""
        from .proc import logstate

        record = logstate.read(self.state, self.log.path)
        if record and record[:2] == source.ident and record[2] != source.removed:
            moved, source.removed = record[2] - source.removed, record[2]
            if moved > source.offset:
                self._catch_up(source, moved, notes, lines)
            else:
                source.offset -= moved
            return
        size = os.fstat(source.fd).st_size
        if size < source.offset:
            notes.append("%s: %s was truncated by someone else (it shrank from %d to %d bytes"
                         " with no rotation recorded); reading it from the start"
                         % (self.log.program, self.log.path, source.offset, size))
            self._flush(source, lines)
            source.offset = 0

    def _catch_up(self, source, moved, notes, lines):
        """Rotations removed ``moved`` bytes, more than we had read: the rest of
        them is at the end of the rotator's backups; read it there."""
        from .proc import logstate

        missed = moved - source.offset
        data = backup_tail(self.log.path, moved, missed, getattr(self.log, "backups", None),
                           logstate.read_backup(self.state, self.log.path))
        if data is None:
            self._flush(source, lines)
            kept = getattr(self.log, "backups", None) != 0
            notes.append("%s: %d bytes of %s were rotated away before they could be read"
                         " (%s)" % (self.log.program, missed, self.log.path,
                                    "see its backups" if kept else
                                    "%s_backups = 0 keeps no copy" % self.log.stream))
        else:
            self._take(source, data, lines)
        source.offset = 0

    def _read(self, source, lines, budget=BUDGET):
        """Read on, up to ``budget`` bytes; complete lines become Lines. True at
        the end of the file (False: more to read in the next pass)."""
        size = os.fstat(source.fd).st_size
        while source.offset < size:
            if budget <= 0:
                return False
            chunk = os.pread(source.fd, min(size - source.offset, 1 << 20, budget), source.offset)
            if not chunk:
                break
            source.offset += len(chunk)
            budget -= len(chunk)
            self._take(source, chunk, lines)
        return True

    def _take(self, source, chunk, lines):
        """Bytes that follow what was read: complete lines become Lines."""
        from .logtime import line_time

        now = time.time()
        parts = (source.pending + chunk).split(b"\n")
        source.pending = parts.pop()
        if len(source.pending) > MAX_LINE:
            parts.append(source.pending)
            source.pending = b""
        for raw in parts:
            text = decode(raw)
            stamp = line_time(text, now)
            lines.append(Line(self.log.program, self.log.stream,
                              now if stamp is None else stamp, text))

    def _drain(self, source, lines):
        """An old file: read what was added; close it once quiet for DRAIN_SECONDS."""
        before = source.offset
        self._read(source, lines)
        now = self.clock()
        if source.offset != before:
            source.quiet_since = now
        elif now - source.quiet_since >= DRAIN_SECONDS:
            self._flush(source, lines)
            source.close()
            self.draining.remove(source)

    def _flush(self, source, lines):
        """A line that will never be finished in this file comes out as it is."""
        if source.pending:
            lines.append(Line(self.log.program, self.log.stream, time.time(),
                              decode(source.pending)))
            source.pending = b""

    def _check_path(self, notes, lines):
        """Has the path been renamed away or removed (logrotate create mode)?"""
        directory, name = os.path.split(self.log.path)
        try:
            st = os.stat(self.log.path, follow_symlinks=False)
            if (st.st_dev, st.st_ino) == self.current.ident:
                return
        except OSError:
            pass
        old, self.current = self.current, None
        old.quiet_since = self.clock()
        self.draining.append(old)
        while len(self.draining) > 4:
            self.draining.pop(0).close()
        notes.append("%s: %s was renamed or removed (log rotation?); reading the old file to"
                     " its end and following the new one" % (self.log.program, self.log.path))
        self._reopen(notes)
        if self.current is not None:
            lock = self._lock()
            if lock is not None:
                try:
                    self._read(self.current, lines)
                finally:
                    os.close(lock)

    def close(self):
        for source in self.draining + ([self.current] if self.current else []):
            source.close()


def backup_tail(path, moved, missed, backups=None, newest=None, limit=1 << 26):
    """The last ``missed`` bytes of the ``moved`` bytes the latest rotations cut
    from the log at ``path``, read from its backups ``NAME.1`` (newest: the last
    cut, as proc/rotate writes them), ``NAME.2`` ...; None when the newest
    backups do not add up to exactly ``moved`` bytes (fewer kept, none kept,
    compressed) or ``missed`` is over ``limit``.

    Only what the rotator could have made is read: at most ``backups`` files
    (the program's ``*_backups``; none when 0), each a regular file of ours or
    root's, NAME.1 the very file the rotation recorded (``newest``, its dev and
    inode) when it recorded one. In a shared directory another user could
    otherwise plant NAME.k files whose sizes add up, shown as our output."""
    from .proc import paths

    if missed > limit or backups == 0:
        return None
    directory, name = os.path.split(path)
    pieces = []
    try:
        dir_fd = paths.open_dir(directory)
    except OSError:
        return None
    try:
        total = 0
        for number in range(1, (999 if backups is None else backups) + 1):
            if total >= moved:
                break
            fd = os.open("%s.%d" % (name, number), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
                         | os.O_CLOEXEC, dir_fd=dir_fd)
            pieces.append(fd)
            st = os.fstat(fd)
            if not _made_by_rotation(st, newest if number == 1 else None):
                return None
            total += st.st_size
        if total != moved:
            return None
        return _read_tail(pieces, missed)
    except OSError:
        return None
    finally:
        for fd in pieces:
            os.close(fd)
        os.close(dir_fd)


def _made_by_rotation(st, ident=None):
    """Could the rotator have made this backup: a regular file of ours or root's
    (and the one recorded, when ``ident`` is given)?"""
    import stat

    from .proc import paths

    if not stat.S_ISREG(st.st_mode) or not paths.trusted(st.st_uid):
        return False
    return ident is None or (st.st_dev, st.st_ino) == tuple(ident)


def _read_tail(pieces, missed):
    """The last ``missed`` bytes of the open backups, newest first."""
    data, need = [], missed
    for fd in pieces:  # newest first: the bytes wanted end the newest backup
        size = os.fstat(fd).st_size
        take = min(size, need)
        data.insert(0, os.pread(fd, take, size - take))
        need -= take
        if not need:
            break
    return b"".join(data)


class Follower:
    """Every followed file, and the sleep between passes."""

    def __init__(self, tracked, inotify=None, clock=time.monotonic):
        self.tracked = tracked
        self.inotify = inotify
        self.clock = clock

    def watch(self):
        """(Re)watch each file and its directory; cheap when nothing changed."""
        from .proc import inotify as ino

        if self.inotify is None:
            return
        for item in self.tracked:
            path = item.log.path
            self.inotify.watch(os.path.dirname(path) or ".", ino.DIR_EVENTS)
            if item.current is not None and item.current.ident != item.watched_ident:
                self.inotify.forget(path, ino.FILE_EVENTS)
                if self.inotify.watch(path, ino.FILE_EVENTS):
                    item.watched_ident = item.current.ident

    def passes(self):
        """Yield (lines, notes) after each pass, forever (the caller stops it)."""
        while True:
            busy = False
            started = self.clock()
            lines, notes = [], []
            for item in self.tracked:
                got, done = item.poll(notes)
                lines.extend(got)
                busy = busy or not done
            self.watch()
            if lines or notes:
                yield lines, notes
            self._sleep(started, busy)

    def _sleep(self, started, busy):
        """Until something changes (inotify) or the next pass is due; never
        two passes within MIN_GAP."""
        if busy:
            time.sleep(MIN_GAP)
            return
        if self.inotify is None:
            time.sleep(max(0.0, started + POLL - self.clock()))
            return
        self.inotify.wait(IDLE_PASS)
        left = started + MIN_GAP - self.clock()
        if left > 0:
            time.sleep(left)

    def close(self):
        for item in self.tracked:
            item.close()
        if self.inotify is not None:
            self.inotify.close()


def begin(files, state, count=None, since=None, now=None):
    """(follower, lines, notes, problems): every file opened, its last lines read
    under its rotation lock, and followed from where that read ended. A missing
    file is waited for (a note); one that cannot be read is a problem."""
    from .logs import merge, tail
    from .proc import inotify, logstate

    tracked, groups, notes, problems = [], [], [], []
    for log in files:
        item = Tracked(log, state)
        try:
            fd, _ = open_log(log)
        except Unreadable as err:
            if not err.missing:
                problems.append(str(err))
                continue
            notes.append("%s; waiting for it" % err)
            item.said.add(notes[-1])
            tracked.append(item)
            continue
        try:
            lock = logstate.lock(state, log.path, shared=True)
            try:
                st = os.fstat(fd)
                lines, end = tail(log, fd, st, count, since, now, partial=False, notes=notes)
                item.start(fd, st, end)
            finally:
                os.close(lock)
        except BaseException:
            os.close(fd)
            raise
        tracked.append(item)
        groups.append(lines)
    follower = Follower(tracked, inotify.open_inotify())
    follower.watch()
    return follower, merge(groups), notes, problems
