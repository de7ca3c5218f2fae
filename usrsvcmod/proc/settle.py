"""The success window after a launch: which process is the program, and did it live?

A Settling follows one launch. It tracks the launched process; if that one
exits with status 0 (a forking daemon) it looks for a process matching
``proctitle_re`` that the launch left behind and tracks that instead. Any
other exit fails at once. At the deadline the tracked process (or, for a
wrapper that does not match, a matching descendant) must be alive.

The daemon drives Settlings from its event loop; ``settle_all`` drives
them for the command-line tool.
"""

import os
import time

from . import identity, pidfile, procfs, spawn
from .watch import ExitWatcher

# /proc start times have 10 ms resolution: a child may look that much older
LAUNCHER_WAIT, LAUNCHER_WAITS = 0.25, 16  # up to 4 s more for a non-child's exit status
TITLE_SHOWN = 200  # characters of a command line quoted in a message
BACKGROUND_HINT = (
    "\n  if it puts itself in the background (forks and leaves its session), run it in the"
    " foreground instead (redis-server --daemonize no, php-fpm --nodaemonize, nginx -g"
    " 'daemon off;'), or set proctitle_re to the title it takes (ps -o pid,sid,args -u $USER"
    " shows it), so it is found")
# how a process a forking launcher left is told apart: the launch's own evidence
LEFT_BY_LAUNCHER = ("pidfile", "session", "orphan")


class Settling:
    def __init__(self, launch, offsets, clock=time.monotonic):
        self.launch = launch
        self.program = launch.program
        self.offsets = offsets
        self.deadline = clock() + self.program.success_seconds
        self.tracked = None  # Watched
        self.done = False
        self.info = None  # ProcInfo of the program on success
        self.how = None  # how it was told apart: proctitle, record, pidfile, session
        self.note = None  # said once on success (a retitled process, say)
        self.error = None
        self.leftover = []  # processes launched that never became the program
        self.awaiting_pidfile = False  # a forking launcher exited 0; its pidfile may come
        self.clock = clock
        self.launcher = None  # its pidfd, kept after its exit to read its status
        self.waits = 0  # times the window was stretched for that status
        # True when this is the only launch of a usrsvc that is the subreaper:
        # a process handed to it since the launch can only come from this launch
        self.sole_launch = False

    def watch(self, watcher):
        self.tracked = self.launcher = watcher.add(self.launch.pid, self.launch.start_time, self,
                                                   keep=True)
        if self.tracked.exited:
            self.exited(watcher)

    def _launcher_status(self):
        """How the launched process ended, for a caller that is not its parent
        (usrsvcd): from its pidfd once init has reaped it (Linux 6.15+), else None."""
        if self.launcher is None or self.launcher.fd is None:
            return None
        from . import exitinfo

        try:
            status = exitinfo.read(self.launcher.fd)
        except OSError:
            return None
        return status.describe() if status is not None else None

    def close(self):
        """Let go of the launcher's pidfd (once the start is decided)."""
        if self.launcher is not None:
            if self.launcher.exited:  # still watched otherwise: the watcher closes it
                self.launcher.close()
            self.launcher = None

    def _fail(self, why, table_factory=None):
        """The start failed. With ``table_factory``, whatever the launch left
        alive in its session becomes ``leftover``: the caller ends it, or it
        would hold the port (or run a second copy) when the next attempt comes."""
        self.done = True
        self.close()
        if table_factory is not None and not self.leftover and self.launch.sid is not None:
            since = self._since()
            self.leftover = [m for m in table_factory().session(self.launch.sid)
                             if m.start_time >= since and procfs.alive(m.pid, m.start_time)]
        tail = spawn.log_tail(self.program, self.offsets)
        self.error = why + ("\n  last lines of the log:\n    " + "\n    ".join(tail) if tail else "")
        self.error += _tilde_hint(self.program)

    def _since(self):
        return (self.launch.start_time or 0) - procfs.TICK

    def _survivor(self, table):
        """What a launcher that exited 0 left behind (forking daemons), as
        (ProcInfo, how) or (None, why): a process matching proctitle_re, the
        pid in a pidfile the program writes itself, or the one top-most
        process left in the launch's session."""
        since, program = self._since(), self.program
        tops = table.top_most([m for m in table.matching(program) if m.start_time >= since])
        if tops:
            return tops[0], "proctitle"
        if not program.autopid and pidfile.trusted(program.pidfile):
            pid, written_at, _ = pidfile.read(program.pidfile)
            info = procfs.read(pid) if pid is not None else None
            # ours, started since the launch, and from it: in its session, or
            # handed to us (the command line's subreaper) when it left it
            if info is not None and not info.zombie and info.owned_by(os.geteuid()) \
                    and info.start_time >= since and written_at >= since - identity.START_SLACK \
                    and (info.sid == self.launch.sid or info.ppid == os.getpid()):
                return info, "pidfile"
        members = table.session(self.launch.sid) if self.launch.sid is not None else []
        members = table.top_most([m for m in members if m.start_time >= since and m.pid != self.launch.pid])
        if len(members) == 1:
            return members[0], "session"
        if not members and self.sole_launch:
            members = self._orphans(table, since)
            if len(members) == 1:
                return members[0], "orphan"
        if members:
            return None, "it left %d processes in its session, none matching proctitle_re '%s':\n%s\n" \
                "  set proctitle_re to the one that is the service, e.g.%s" % (
                    len(members), program.proctitle_re,
                    "\n".join("    pid %d: %s" % (m.pid, m.cmdline_text[:200]) for m in members),
                    _suggest(members[0], True))
        return None, None

    def _orphans(self, table, since):  # the table has only live processes of ours
        """Top-most processes of ours handed to us (usrsvc is the subreaper)
        since the launch: what a daemon that forked and left the launch's
        session (setsid: redis --daemonize yes, php-fpm) left behind."""
        launched = (self.launch.pid, self.launch.middle)
        handed = (table.procs.get(pid) for pid in table.children.get(os.getpid(), ()))
        return table.top_most([i for i in handed if i is not None and i.pid not in launched
                               and i.start_time >= (self.launch.start_time or since)])

    def exited(self, watcher, table_factory=identity.ProcessTable):
        """The tracked process ended inside the window."""
        pid = self.tracked.pid
        how = spawn.exit_status(pid)
        if how is None and pid == self.launch.pid and self.launch.middle is not None:
            # it died before the first child it came from had exited: it is
            # ours to reap (we are the subreaper) once that child is gone, a
            # moment away (it exits right after reporting the pid)
            spawn.reap([self.launch.middle], block=True)
            self.launch.middle = None
            how = spawn.exit_status(pid)
        if how is None and pid == self.launch.pid:
            how = self._launcher_status()
        if pid == self.launch.pid and how in (None, "exited with status 0"):
            survivor, kind = self._survivor(table_factory())
            if survivor is not None:
                self.tracked, self.how = watcher.add(survivor.pid, survivor.start_time, self), kind
                if not self.tracked.exited:
                    return
                how = spawn.exit_status(survivor.pid)
                pid = survivor.pid
            elif not self.program.autopid and kind is None:
                self.awaiting_pidfile = True  # it may write its pidfile a moment later
                return
            elif kind:
                self._fail("pid %d %s within success_seconds (%gs), and %s" % (
                    pid, how or "exited", self.program.success_seconds, kind), table_factory)
                return
            else:
                self._fail("pid %d %s within success_seconds (%gs) and left no process that is"
                           " the program%s" % (pid, how or "exited", self.program.success_seconds,
                                                BACKGROUND_HINT), table_factory)
                return
        self._fail("pid %d %s within success_seconds (%gs)"
                   % (pid, how or "exited", self.program.success_seconds), table_factory)

    def expire(self, table_factory=identity.ProcessTable):
        """The window is over: settle on the process that is the program."""
        if self.awaiting_pidfile:
            survivor, kind = self._survivor(table_factory())
            if survivor is not None and procfs.alive(survivor.pid, survivor.start_time):
                self._accept(survivor, kind)
                return
            self._fail("pid %d exited with status 0 and left no process: none matches"
                       " proctitle_re '%s', and pidfile %s names none started since"
                       % (self.launch.pid, self.program.proctitle_re, self.program.pidfile),
                       table_factory)
            return
        if self.how == "session" and self.launcher is not None and self.launcher.exited:
            # the launcher is not our child (usrsvcd): only its exit status, once
            # init reaps it, tells a forking daemon from a failed script that
            # left a process behind; stretch the window a little for it
            status = self._launcher_status()
            if status is None and self.waits < LAUNCHER_WAITS:
                self.waits += 1
                self.deadline = self.clock() + LAUNCHER_WAIT
                return
            if status is not None and status != "exited with status 0":
                self._fail("pid %d %s within success_seconds (%gs)"
                           % (self.launch.pid, status, self.program.success_seconds),
                           table_factory)
                return
        info = procfs.read(self.tracked.pid)
        if info is None or info.zombie or info.start_time is None:
            self._fail("pid %d was gone at the end of success_seconds (%gs)"
                       % (self.tracked.pid, self.program.success_seconds), table_factory)
            return
        checked, _ = identity.check_pid(self.program, info.pid)
        if checked is not None:
            self._accept(checked, self.how or "proctitle")
            return
        table = table_factory()
        matching = {m.pid for m in table.matching(self.program)}
        for child in table.descendants(info.pid):
            if child.pid in matching:
                self._accept(child, "proctitle")
                return
        if self.program.title_suffix is None and self.how not in LEFT_BY_LAUNCHER:
            # proctitle_re was set by hand: it is a promise of what the service
            # looks like, and this is not it. Stop what we launched, or the
            # next start would run a second copy beside it.
            self.leftover = [info] + table.descendants(info.pid)
            self._fail("pid %d is alive but runs %s, which does not match proctitle_re '%s';"
                       " if it is the service, set:%s"
                       % (info.pid, _quoted(info), self.program.proctitle_re,
                          _suggest(info, True)))
            return
        # Alive, yet its title does not match the default proctitle_re: it
        # retitled itself (redis, gunicorn, node...). It is the process we
        # launched (or the one its launcher left), so its launch record
        # identifies it from now on.
        self._accept(info, self.how if self.how in LEFT_BY_LAUNCHER else "record")
        self.note = "pid %d %s; tracked by its launch record%s" % (
            info.pid, _retitled(self.program, info), _suggest(info))

    def _accept(self, info, how):
        self.info, self.how, self.done = info, how, True
        self.close()

    def confirm(self, records):
        """The start succeeded: write the pidfile (autopid) and the launch record.
        Only under the program's lock. Returns notes for the user or the log."""
        from . import record

        program, notes = self.program, []
        if self.note:
            notes.append(self.note)
        if program.autopid:
            try:
                pidfile.write(program.pidfile, self.info.pid)
            except OSError as err:
                notes.append(pidfile.refusal(program.pidfile, err))
        if records is not None:
            try:
                records.write_record(program.name, record.make(
                    program, self.info, self.launch.start_time,
                    launched_ticks=self.launch.ticks))
            except Exception as err:  # OSError, or an unusable state directory
                notes.append("cannot write its launch record: %s"
                             % (getattr(err, "strerror", None) or err))
        return notes


def _tilde_hint(program):
    """A program that failed with a ``~`` in its arguments (no useshell): it got
    the ``~`` as it is, which is likely why (``redis-server ~/redis.conf``)."""
    if program.useshell:
        return ""
    words = [w for w in program.argv[1:] if w.startswith("~")]
    if not words:
        return ""
    return ("\n  '~' is not expanded in a command without useshell: the program got %s as it is"
            " (%s: [Program:%s] command = %s). Fix: write the full path (%s), or set"
            " useshell = True" % (" and ".join(words), program.source, program.name,
                                  program.command, os.path.expanduser(words[0])))


def _retitled(program, info):
    """How the accepted process looks, said without guessing why it differs."""
    text = _quoted(info)
    if ": " in info.cmdline_text or (len(info.cmdline) == 1 and " " in info.cmdline[0]):
        return "retitled itself to %s" % text  # gunicorn: master [...], nginx: ..., redis ...
    return "shows itself as %s, which the default proctitle_re '%s' does not match" % (
        text, program.proctitle_re)


def _quoted(info):
    """The command line in single quotes, as it is (no doubled backslashes);
    the front ends escape control characters when they print it."""
    text = info.cmdline_text
    return "'%s'" % (text if len(text) <= TITLE_SHOWN else text[:TITLE_SHOWN] + "...")


def _suggest(info, bare=False):
    """A proctitle_re matching ``info``, as it would be pasted into the config."""
    line = "proctitle_re = " + title_re(info.cmdline_text)
    if bare:
        return "\n    " + line
    return " (set %s to find it by its title as well)" % line


def title_re(text):
    """A regular expression matching exactly the command line ``text``, written
    so that it survives being pasted after ``proctitle_re = `` in a config
    file: no ``#`` (a comment there: written ``\\x23``), no control character
    (``.``), spaces and dashes left alone. A very long line is matched by its
    first TITLE_SHOWN characters (no ``$``), so the suggestion stays readable."""
    import re

    out = []
    for char in text[:TITLE_SHOWN]:
        if char == "#":
            out.append("\\x23")
        elif not char.isprintable():
            out.append(".")
        elif char in " -":
            out.append(char)
        else:
            out.append(re.escape(char))
    return "^" + "".join(out) + ("$" if len(text) <= TITLE_SHOWN else "")


def settle_all(settlings, clock=time.monotonic, on_done=None):
    """Drive every Settling to its end in one wait loop (the CLI's way).

    ``on_done(item)`` is called once as each item settles (progress)."""
    watcher = ExitWatcher()
    table = TableOnce()
    reported = set()
    try:
        for item in settlings:
            item.watch(watcher)
        while True:
            if on_done is not None:
                for item in settlings:
                    if item.done and id(item) not in reported:
                        reported.add(id(item))
                        on_done(item)
            open_items = [s for s in settlings if not s.done]
            if not open_items:
                break
            now = clock()
            table.reset()
            for item in open_items:
                if item.deadline <= now:
                    item.expire(table)
            open_items = [s for s in open_items if not s.done]
            if not open_items:
                continue  # the top of the loop reports them and ends
            nearest = min(s.deadline for s in open_items)
            # one table for every exit of this wake-up: it is read after all of them
            # (a table per exit made 1,000 failed starts read /proc 1,000 times)
            table.reset()
            for watched in watcher.wait(max(0.0, nearest - clock())):
                if watched.key is not None and not watched.key.done and watched is watched.key.tracked:
                    watched.key.exited(watcher, table)
    finally:
        watcher.close()
    return settlings


class TableOnce:
    """A ProcessTable built at most once per wake-up, shared by every Settling."""

    def __init__(self):
        self._table = None

    def reset(self):
        self._table = None

    def __call__(self):
        if self._table is None:
            self._table = identity.ProcessTable()
        return self._table
