"""The identity rule: is this pid our program, and where is it otherwise?

A pidfile counts only if its pid is alive, not a zombie, owned by this
user, started before the pidfile was written (pid, start time) and its
command line matches ``proctitle_re``. Failing that, one pass over this
user's processes (ProcessTable, shared by every program of a command)
finds it by its command line, and the match is adopted.
"""

import os

from . import pidfile, procfs

# /proc start times are tick-exact but btime is whole seconds, so a process
# may appear up to a second younger than it is; a pid recycled that fast
# after its pidfile was written is not a practical risk.
START_SLACK = 1.0
_SELF_NAMES = ("usrsvc", "usrsvcd")


class Found:
    """Result of looking a program up. ``pid`` is None when not running."""

    __slots__ = ("pid", "info", "how", "notes")

    def __init__(self, pid=None, info=None, how=None, notes=()):
        self.pid = pid
        self.info = info
        self.how = how
        self.notes = list(notes)


def is_self(cmdline):
    """usrsvc or usrsvcd themselves (as a script, or by the daemon's proctitle)."""
    if not cmdline:
        return False
    if cmdline[0].startswith("usrsvcd:"):
        return True
    for arg in cmdline[:2]:
        if os.path.basename(arg) in _SELF_NAMES:
            return True
    return False


def is_wrapper(program, cmdline):
    """The ``shell -c COMMAND`` that wraps a useshell program."""
    return program.useshell and len(cmdline) >= 3 and cmdline[1] == "-c" and cmdline[2] == program.command


_SEPARATORS = frozenset(" \t\n\r\f\v/")


def _matches(program, info):
    """proctitle_re against the command line; the default one without ``re``.

    The default pattern is ``(?:^|[\\s/])SUFFIX$``: plain string tests say
    the same, and spare ``usrsvc status NAME`` the import of ``re``.
    """
    text, suffix = info.cmdline_text, program.title_suffix
    if suffix is not None:
        return text.endswith(suffix) and (len(text) == len(suffix)
                                          or text[-len(suffix) - 1] in _SEPARATORS)
    import re

    return re.search(program.proctitle_re, text) is not None


def check_pid(program, pid, written_at=None):
    """(ProcInfo, None) when ``pid`` is the program, else (None, reason)."""
    info = procfs.read(pid)
    if info is None:
        return None, "pid %d is not running" % pid
    if info.zombie:
        return None, "pid %d has exited (zombie)" % pid
    if info.uid != os.geteuid():
        return None, "pid %d belongs to uid %d, not to this user" % (pid, info.uid)
    if written_at is not None and info.start_time > written_at + START_SLACK:
        return None, "pid %d started after the pidfile was written (a reused pid)" % pid
    if pid == os.getpid() or is_self(info.cmdline) or is_wrapper(program, info.cmdline):
        return None, "pid %d is usrsvc itself or a wrapping shell" % pid
    if not _matches(program, info):
        return None, "pid %d runs %r, which does not match proctitle_re %r" % (
            pid, info.cmdline_text[:200], program.proctitle_re)
    return info, None


class ProcessTable:
    """One pass over this user's live processes, shared by every lookup."""

    def __init__(self, uid=None):
        import psutil

        uid = os.geteuid() if uid is None else uid
        self.procs = {}
        self.children = {}
        me = os.getpid()
        attrs = ["pid", "ppid", "uids", "cmdline", "create_time", "status"]
        for proc in psutil.process_iter(attrs):
            data = proc.info
            if data["uids"] is None or data["uids"].effective != uid or data["pid"] == me:
                continue
            if data["status"] in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD) or not data["cmdline"]:
                continue
            info = procfs.ProcInfo(data["pid"], data["ppid"], None, "S", data["create_time"],
                                   uid, procfs.trim(data["cmdline"]))
            self.procs[info.pid] = info
            self.children.setdefault(info.ppid, []).append(info.pid)
        self._suffixes = None

    def _suffix_index(self):
        """Every tail of every command line that starts after a space or a slash."""
        index = {}
        for info in self.procs.values():
            text = info.cmdline_text
            starts = [0] + [i + 1 for i, c in enumerate(text) if c == "/" or c.isspace()]
            for start in starts:
                index.setdefault(text[start:], []).append(info)
        return index

    def matching(self, program):
        """Every process of this user that matches the program's proctitle_re."""
        if program.title_suffix is not None:
            if self._suffixes is None:
                self._suffixes = self._suffix_index()
            candidates = self._suffixes.get(program.title_suffix, ())
        else:
            import re

            pattern = re.compile(program.proctitle_re)
            candidates = [i for i in self.procs.values() if pattern.search(i.cmdline_text)]
        return [i for i in candidates if not is_self(i.cmdline) and not is_wrapper(program, i.cmdline)]

    def descendants(self, pid):
        """Every live descendant of ``pid`` in this table, parents first."""
        found, queue = [], list(self.children.get(pid, ()))
        while queue:
            child = queue.pop(0)
            if child in self.procs:
                found.append(self.procs[child])
            queue.extend(self.children.get(child, ()))
        return found

    def top_most(self, matches):
        """Matches that are not descendants of another match, oldest first."""
        pids = {m.pid for m in matches}
        tops = []
        for info in matches:
            parent, seen = info.ppid, set()
            while parent in self.procs and parent not in pids and parent not in seen:
                seen.add(parent)
                parent = self.procs[parent].ppid
            if parent not in pids:
                tops.append(info)
        return sorted(tops, key=lambda i: (i.start_time, i.pid))


def find(program, table=None):
    """Locate ``program``: pidfile first, then a scan. Returns a Found.

    ``table`` is a ProcessTable or a zero-argument callable making one, so a
    command over many programs builds it at most once and only if needed.
    """
    notes = []
    pid, written_at, reason = pidfile.read(program.pidfile)
    if pid is not None:
        info, reason = check_pid(program, pid, written_at)
        if info is not None:
            return Found(pid, info, "pidfile")
        notes.append("stale pidfile %s: %s" % (program.pidfile, reason))
        if program.autopid:
            pidfile.remove(program.pidfile, expected_pid=pid)
    elif reason != "no pidfile":
        notes.append("ignored %s" % reason)  # garbage: not running, but say why
    if not program.scan_for_process:
        return Found(notes=notes)
    if table is None:
        table = ProcessTable()
    elif callable(table):
        table = table()
    tops = table.top_most(table.matching(program))
    if not tops:
        return Found(notes=notes)
    chosen = tops[0]
    if len(tops) > 1:
        notes.append("%d processes match proctitle_re %r (pids %s); took the oldest, %d"
                     % (len(tops), program.proctitle_re, ", ".join(str(t.pid) for t in tops),
                        chosen.pid))
    if program.autopid:
        try:
            pidfile.write(program.pidfile, chosen.pid)
            notes.append("adopted pid %d found by scan; wrote %s" % (chosen.pid, program.pidfile))
        except OSError as err:
            notes.append("found pid %d by scan but cannot write %s: %s"
                         % (chosen.pid, program.pidfile, err.strerror))
    return Found(chosen.pid, chosen, "scan", notes)


def family(table, program, pid):
    """Descendants to end with the program: of its wrapping shell, if it has one."""
    root = pid
    parent = table.procs.get(table.procs[pid].ppid) if pid in table.procs else None
    if parent is not None and is_wrapper(program, parent.cmdline):
        root = parent.pid
    family = [i for i in table.descendants(root) if i.pid != pid]
    if root != pid:
        family.insert(0, table.procs[root])
    return family
