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
TICK = procfs.TICK
_SELF_NAMES = ("usrsvc", "usrsvcd")


class Found:
    """Result of looking a program up. ``pid`` is None when not running.

    Finding never writes: ``repairs`` lists what the caller should fix
    while it holds the program's lock (see repair()); ``leftovers`` are
    live processes of the recorded launch when the program itself is gone
    (a crashed master's workers); ``changed`` names the launch settings
    edited since the recorded launch.
    """

    __slots__ = ("pid", "info", "how", "notes", "repairs", "leftovers", "record", "_program",
                 "_changed", "digests")

    def __init__(self, pid=None, info=None, how=None, notes=()):
        self.pid = pid
        self.info = info
        self.how = how
        self.notes = list(notes)
        self.repairs = []
        self.leftovers = []
        self._program = None  # set when ``record`` describes the found process
        self._changed = None
        self.record = None
        self.digests = None  # the program's launch digests when known (config cache)

    @property
    def changed(self):
        """Launch settings edited since the recorded launch (worked out when asked:
        usrsvcd's passes never need it)."""
        if self._changed is None:
            self._changed = self.record.changed(self._program, self.digests) \
                if self._program else []
        return self._changed


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
    """(whether proctitle_re matches the command line, why not if it could not tell);
    the default one without ``re``.

    The default pattern is ``(?:^|[\\s/])SUFFIX$``: plain string tests say
    the same, and spare ``usrsvc status NAME`` the import of ``re``.
    Any other goes through the one bounded matcher (titlematch).
    """
    text, suffix = info.cmdline_text, program.title_suffix
    if suffix is not None:
        return text.endswith(suffix) and (len(text) == len(suffix)
                                          or text[-len(suffix) - 1] in _SEPARATORS), None
    from .titlematch import search

    matched, notes = search(program, [info])
    return bool(matched), (notes[0] if notes else None)


def check_pid(program, pid, written_at=None):
    """(ProcInfo, None) when ``pid`` is the program, else (None, reason)."""
    info = procfs.read(pid)
    if info is None:
        return None, "pid %d is not running" % pid
    if info.zombie:
        return None, "pid %d has exited (zombie)" % pid
    if not info.owned_by(os.geteuid()):
        other = next(u for u in info.uids if u != os.geteuid())
        return None, "pid %d belongs to uid %d, not to this user" % (pid, other)
    if written_at is not None and info.start_time > written_at + START_SLACK:
        return None, "pid %d started after the pidfile was written (a reused pid)" % pid
    if pid == os.getpid() or is_self(info.cmdline) or is_wrapper(program, info.cmdline):
        return None, "pid %d is usrsvc itself or a wrapping shell" % pid
    matched, unknown = _matches(program, info)
    if not matched:
        return None, unknown or "pid %d runs %r, which does not match proctitle_re '%s'" % (
            pid, info.cmdline_text[:200], program.proctitle_re)
    return info, None


class ProcessTable:
    """One pass over this user's live processes, shared by every lookup."""

    def __init__(self, uid=None):
        uid = os.geteuid() if uid is None else uid
        self.uid = uid
        self.procs = {}
        self.children = {}
        me = os.getpid()
        for info in procfs.scan(uid):  # psutil's process_iter cost 2.4x (see procfs.scan)
            if info.pid == me:
                continue
            self.procs[info.pid] = info
            self.children.setdefault(info.ppid, []).append(info.pid)
        self._suffixes = None
        self._sessions = None
        self._claims = None

    def session(self, sid):
        """Live processes of this user in session ``sid`` (the scan read every
        one's session id)."""
        if self._sessions is None:
            self._sessions = {}
            for pid in sorted(self.procs):
                info = self.procs[pid]
                self._sessions.setdefault(info.sid, []).append(info)
        return self._sessions.get(sid, [])

    def claims(self, records):
        """pid -> program name for every live recorded process (read once per table)."""
        if self._claims is None:
            self._claims = {}
            for name, record in records.all_records():
                info = self.procs.get(record.pid)
                if info is not None and abs(info.start_time - record.start_time) < START_SLACK:
                    self._claims[record.pid] = name
        return self._claims

    def _suffix_index(self):
        """Every tail of every command line that starts after a space or a slash."""
        index = {}
        for info in self.procs.values():
            text = info.cmdline_text
            starts = [0] + [i + 1 for i, c in enumerate(text) if c == "/" or c.isspace()]
            for start in starts:
                index.setdefault(text[start:], []).append(info)
        return index

    def matching(self, program, notes=None):
        """Every process of this user that matches the program's proctitle_re; what
        could not be told (a pattern that ran out of time) is added to ``notes``."""
        if program.title_suffix is not None:
            if self._suffixes is None:
                self._suffixes = self._suffix_index()
            candidates = self._suffixes.get(program.title_suffix, ())
        else:
            from .titlematch import search

            candidates, unknown = search(program, self.procs.values())
            if notes is not None:
                notes.extend(unknown)
        return [i for i in candidates if not is_self(i.cmdline) and not is_wrapper(program, i.cmdline)]

    def info(self, pid):
        """The ProcInfo of ``pid`` if it is a live process of ours, else None."""
        return self.procs.get(pid)

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


class ProcessTree:
    """The parent and the session of every process, from one file per process
    (procfs.stat_all), where ProcessTable reads three and every command line:
    all that ending a program's descendants needs (``family``). A process is
    read in full (uids, command line) only when asked for, and only if it is
    still the one the pass saw (same start ticks)."""

    def __init__(self, uid=None):
        self.uid = os.geteuid() if uid is None else uid
        self.children, self._sessions, self._ticks, self._infos = {}, {}, {}, {}
        me = os.getpid()
        for pid, ppid, sid, ticks in procfs.stat_all():
            if pid == me:
                continue
            self._ticks[pid] = ticks
            self.children.setdefault(ppid, []).append(pid)
            self._sessions.setdefault(sid, []).append(pid)

    def info(self, pid):
        """The ProcInfo of ``pid`` if it is a live process of ours, else None."""
        if pid not in self._infos:
            info = procfs.read(pid) if pid in self._ticks else None
            if info is not None and (info.zombie or not info.owned_by(self.uid)
                                     or info.ticks != self._ticks[pid] or not info.cmdline):
                info = None  # not ours, or no longer the process the pass saw
            self._infos[pid] = info
        return self._infos[pid]

    def descendants(self, pid):
        """Every live descendant of ``pid`` of ours, parents first."""
        found, queue = [], list(self.children.get(pid, ()))
        while queue:
            child = queue.pop(0)
            info = self.info(child)
            if info is not None:
                found.append(info)
            queue.extend(self.children.get(child, ()))
        return found

    def session(self, sid, besides=()):
        """Live processes of ours in session ``sid`` (pids in ``besides`` not read)."""
        return [i for i in (self.info(p) for p in sorted(self._sessions.get(sid, ()))
                            if p not in besides) if i is not None]


def _table(table):
    if table is None:
        return ProcessTable()
    return table() if callable(table) else table


def _same_start(info, ticks, start_time):
    """Exact when both sides have clock ticks; else within a tick of wall clock."""
    if ticks is not None and info.ticks is not None:
        return info.ticks == ticks
    return abs(info.start_time - start_time) < TICK


def _started_since(info, ticks, start_time):
    if ticks is not None and info.ticks is not None:
        return info.ticks >= ticks
    return info.start_time >= start_time - TICK


def _recorded(program, record):
    """ProcInfo of the recorded process when it still lives, else None.

    Its stat file alone says whether it does (procfs.glance: its uids as that
    file's owner, enough for a process that passed the rule when recorded);
    the command line is read only then. An undumpable process's files are
    root's (ssh-agent and others make themselves so): its status says whose
    it is."""
    me = os.geteuid()
    info = procfs.glance(record.pid)
    if info is not None and not info.zombie and not info.owned_by(me):
        info = procfs.read(record.pid)
    if info is None or info.zombie or not info.owned_by(me):
        return None
    if not _same_start(info, record.ticks, record.start_time):
        return None  # the pid was reused
    if info.cmdline is None:
        info.cmdline = procfs.read_cmdline(record.pid)
        if info.cmdline is None:
            return None  # gone meanwhile
    return info


def _genuine_session(record):
    """Is session ``record.sid`` still the one the launch made? Its leader is
    the launched (or the recorded) process; a live leader that started at any
    other time means the session id was recycled."""
    leader = procfs.read(record.sid)
    if leader is None or leader.zombie:
        return True  # gone: a session id is not reused while a member lives
    return _same_start(leader, record.launched_ticks, record.launched_at) \
        or _same_start(leader, record.ticks, record.start_time)


def _own_pidfile(program, record, pid):
    """A pidfile the service wrote itself (autopid = False): trusted for a pid
    of ours that started after the recorded launch, in the launched session,
    when nobody else could have written the pidfile."""
    info = procfs.read(pid)
    if info is None or info.zombie or not info.owned_by(os.geteuid()):
        return None
    if info.sid != record.sid or not _started_since(info, record.launched_ticks, record.launched_at):
        return None
    if not pidfile.trusted(program.pidfile) or not _genuine_session(record):
        return None
    return info


def find(program, table=None, records=None, scan=True, gone=None, dirs=None):
    """Locate ``program``: launch record, pidfile, then a scan. Returns a Found.

    ``table`` is a ProcessTable or a zero-argument callable making one, so a
    command over many programs builds it at most once and only if needed.
    ``records`` (a RuntimeState) gives the launch records; None: none.
    ``scan=False`` reads only the record and the pidfile (no /proc scan):
    usrsvcd's check before it restarts a program it just saw die; ``gone``
    is that pid, known dead, so a record or pidfile naming it is not read
    further (crash recovery is a hot path). ``dirs``: a pidfile.Dirs that keeps
    pidfile directories open across the programs of one command.
    Nothing is written or removed here (see Found.repairs).
    """
    notes, repairs = [], []
    record = records.read_record(program.name) if records is not None else None
    if record is not None and record.boot and record.boot != procfs.boot_id():
        record = None  # from another boot: its pids mean nothing now
        repairs.append(("clear_record",))
    if record is not None and record.pid != gone:
        info = _recorded(program, record)
        if info is not None:
            found = Found(info.pid, info, "record")
            found.record, found._program = record, program
            if program.autopid:
                written, _, reason = pidfile.read(program.pidfile, dirs)
                if written != info.pid:
                    found.repairs.append(("write_pidfile", info.pid))
                if written is None and reason != "no pidfile":
                    found.notes.append("ignored %s" % reason)  # e.g. a directory in its place
                if written is not None and written != info.pid:
                    found.notes.append("stale pidfile %s: names pid %d, not the recorded pid %d"
                                       " (rewritten by the next start, stop or usrsvcd)"
                                       % (program.pidfile, written, info.pid))
            return found
    found = _by_pidfile(program, record, notes, repairs, gone, dirs)
    if found is None and program.scan_for_process and scan:
        found = _by_scan(program, _table(table), notes, repairs, records)
    if found is None:
        found = Found(notes=notes)
        if record is not None and scan and program.kill_descendants:
            found.leftovers = session_members(_table(table), record)
    found.record = record
    if found.how == "session":
        # the service handed over to a new process in its launch session (a
        # binary upgrade): the record follows it, digests and session kept
        found._program = program
        repairs.append(("follow_record", found.info))
    elif record is not None and not found.leftovers:
        repairs.append(("clear_record",))
    found.repairs = repairs
    return found


def _by_pidfile(program, record, notes, repairs, gone=None, dirs=None):
    pid, written_at, reason = pidfile.read(program.pidfile, dirs)
    if pid is not None and pid == gone:
        return None  # the process we just saw exit
    if pid is None:
        if reason != "no pidfile":
            notes.append("ignored %s" % reason)  # garbage: not running, but say why
        return None
    info, reason = check_pid(program, pid, written_at)
    if info is not None:
        return Found(pid, info, "pidfile", notes)
    if record is not None and not program.autopid:
        info = _own_pidfile(program, record, pid)
        if info is not None:
            return Found(pid, info, "session", notes)
    notes.append("stale pidfile %s: %s" % (program.pidfile, reason))
    if program.autopid:
        repairs.append(("remove_pidfile", pid))
    return None


def _by_scan(program, table, notes, repairs, records=None):
    matches = table.matching(program, notes)
    if matches and records is not None:
        claimed = table.claims(records)  # another program's recorded process is not ours
        matches = [m for m in matches if claimed.get(m.pid, program.name) == program.name]
    tops = table.top_most(matches)
    if not tops:
        return None
    chosen = tops[0]
    if len(tops) > 1:
        notes.append("%d processes match proctitle_re '%s' (pids %s); took the oldest, %d"
                     % (len(tops), program.proctitle_re, ", ".join(str(t.pid) for t in tops),
                        chosen.pid))
    notes.append("found pid %d by scan" % chosen.pid)
    if program.autopid:
        repairs.append(("write_pidfile", chosen.pid))
    return Found(chosen.pid, chosen, "scan", notes)


def session_members(table, record):
    """Live processes of ours in the recorded launch's session, started since.

    setsid() made that session for the launch: only what the launch
    started can be in it. If its leader's pid was recycled by a process
    started after the record, the session is someone else's: none.
    """
    if not _genuine_session(record):
        return []
    found = []
    for info in table.session(record.sid):
        if is_self(info.cmdline) or not _started_since(info, record.launched_ticks,
                                                        record.launched_at):
            continue
        # started by the confirmation at the latest: a process that joined a
        # recycled session id later is not of this launch
        if record.at_ticks is not None and info.ticks is not None:
            if info.ticks > record.at_ticks + 1:
                continue
        elif info.start_time > record.at + TICK:
            continue
        found.append(info)
    return found


def repair(program, found, records):
    """Apply ``found.repairs`` (the caller holds the program's lock); returns notes."""
    notes = []
    for action in found.repairs:
        if action[0] == "write_pidfile":
            try:
                pidfile.write(program.pidfile, action[1])
                if found.how == "scan":
                    notes.append("adopted pid %d: wrote %s" % (action[1], program.pidfile))
            except OSError as err:
                notes.append(pidfile.refusal(program.pidfile, err))
        elif action[0] == "remove_pidfile" and action[1] is not None:
            left = pidfile.remove(program.pidfile, expected_pid=action[1])
            if left:
                notes.append(left)
        elif action[0] == "follow_record" and records is not None and found.record is not None:
            from .record import LaunchRecord

            info, old = action[1], found.record
            try:
                records.write_record(program.name, LaunchRecord(
                    info.pid, info.start_time, old.sid, old.launched_at, old.at, old.keys,
                    info.cmdline_text))
            except Exception:  # OSError, an unusable state dir: found again next time anyway
                pass
        elif action[0] == "clear_record" and records is not None:
            try:
                records.clear_record(program.name)
            except OSError:
                pass
    found.repairs = []
    return notes


def family(table, program, pid, record=None):
    """Descendants to end with the program: of its wrapping shell, if it has one,
    and (``record``: its launch) every other process of its launch session that
    started since the launch. ``table``: a ProcessTable or a ProcessTree."""
    root = pid
    main = table.info(pid)
    parent = table.info(main.ppid) if main is not None else None
    if parent is not None and is_wrapper(program, parent.cmdline):
        root = parent.pid
    family = [i for i in table.descendants(root) if i.pid != pid]
    if root != pid:
        family.insert(0, parent)
    if record is not None and _genuine_session(record):
        have = {i.pid for i in family} | {pid}
        members = table.session(record.sid, have) if isinstance(table, ProcessTree) \
            else table.session(record.sid)
        family.extend(i for i in members if i.pid not in have
                      and _started_since(i, record.launched_ticks, record.launched_at))
    return family
