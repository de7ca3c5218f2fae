"""Direct /proc reads for one known pid: the CLI's hot path.

``import psutil`` costs more than a whole ``usrsvc status NAME`` may take,
so checking one pid reads /proc here, and so does the one scan of every process
(``scan``: measured 2.4x cheaper than psutil's process_iter at 10,000 processes,
a cost every start and stop of a batch paid). psutil, still installed, is the
reference: tests/unit/test_procfs.py checks these answers against psutil's.
"""

import os

_CACHE = {}
TICK = 0.02  # start times from /proc are exact to a clock tick (10 ms): the one tolerance


def _constants():
    if "btime" not in _CACHE:
        with open("/proc/stat", "rb") as handle:
            for line in handle:
                if line.startswith(b"btime"):
                    _CACHE["btime"] = float(line.split()[1])
                    break
        _CACHE["tick"] = float(os.sysconf("SC_CLK_TCK"))
        _CACHE["page_kb"] = os.sysconf("SC_PAGE_SIZE") // 1024
    return _CACHE


class ProcInfo:
    """What usrsvc needs to know of one process, read once."""

    __slots__ = ("pid", "ppid", "sid", "state", "start_time", "uid", "cmdline", "uids", "ticks",
                 "threads")

    def __init__(self, pid, ppid, sid, state, start_time, uid, cmdline, uids=None, ticks=None,
                 threads=None):
        self.pid = pid
        self.ppid = ppid
        self.sid = sid
        self.state = state
        self.start_time = start_time
        self.uid = uid  # the effective uid
        self.cmdline = cmdline
        self.uids = (uid, uid, uid) if uids is None else uids  # real, effective, saved
        self.ticks = ticks  # start time in clock ticks since boot, exact (None: not read)
        self.threads = threads  # its thread count when read with it (glance), else None

    def owned_by(self, uid):
        """A process is ours only when its real, effective and saved uids all are."""
        return all(u == uid for u in self.uids)

    @property
    def zombie(self):
        return self.state in ("Z", "X")

    @property
    def cmdline_text(self):
        return " ".join(self.cmdline)


def trim(cmdline):
    """Drop trailing empty arguments.

    A process that rewrote its title (setproctitle, redis, nginx workers)
    pads the old argv area with NULs, which read as hundreds of empty
    arguments: joined by spaces they would stop ``proctitle_re = ...$``
    from ever matching, and ``ps auxww`` does not show them either.
    """
    end = len(cmdline)
    while end and not cmdline[end - 1]:
        end -= 1
    return cmdline[:end] if end != len(cmdline) else cmdline


_UIDS = {}


def read(pid):
    """ProcInfo for ``pid``, or None if there is no such process."""
    return _read(pid)


def _read(pid, uid=None):
    """``read``; with ``uid``, None as soon as the process shows it is not a live
    one of that user's (a zombie, or another uid): nothing more is read."""
    base = "/proc/%d" % pid
    try:
        with open(base + "/stat", "rb") as handle:
            stat = handle.read()
        fields = stat[stat.rfind(b")") + 2:].split()
        if uid is not None and fields[0] in (b"Z", b"X"):
            return None
        with open(base + "/status", "rb") as handle:
            status = handle.read()
        at = status.find(b"\nUid:")
        uids = tuple(int(u) for u in status[at + 5:status.find(b"\n", at + 5)].split()[:3])
        if uid is not None and uids != (uid, uid, uid):
            return None
        uids = _UIDS.setdefault(uids, uids)  # one tuple per distinct triple, not per process
        with open(base + "/cmdline", "rb") as handle:
            raw = handle.read()
    except (FileNotFoundError, ProcessLookupError, NotADirectoryError):
        return None
    except PermissionError:
        return None
    consts = _constants()
    start = consts["btime"] + int(fields[19]) / consts["tick"]
    cmdline = trim([a.decode("utf-8", "replace") for a in raw.split(b"\0")])
    return ProcInfo(pid, int(fields[1]), int(fields[3]), fields[0].decode(), start, uids[1], cmdline,
                    uids, int(fields[19]))


def scan(uid):
    """ProcInfo of every live process whose real, effective and saved uids are
    all ``uid`` and that has a command line (no kernel threads), in pid order.

    The one scan of the machine's processes (identity.ProcessTable). It reads
    the same three files per process as ``read``, where psutil's process_iter
    took 2.4x the CPU for them (1.5 to 2 s for a machine of 10,000 processes,
    paid by every start and stop of a batch). Another user's process is
    passed over on the owner of its /proc directory alone when it is neither
    ours nor root's (root: a process of ours that is not dumpable shows as root's).
    """
    pids = sorted(int(name) for name in os.listdir("/proc") if name.isdigit())
    for pid in pids:
        if uid != 0:
            try:
                owner = os.stat("/proc/%d" % pid).st_uid
            except OSError:
                continue
            if owner not in (uid, 0):
                continue
        info = _read(pid, uid)
        if info is not None and info.cmdline:
            yield info


def stat_all():
    """(pid, ppid, sid, start ticks) of every live process on the machine, from
    /proc/PID/stat alone (one file each, where ``scan`` reads three): the
    shape of the process tree and its sessions, with nothing else known."""
    found = []
    for pid in sorted(int(name) for name in os.listdir("/proc") if name.isdigit()):
        try:
            with open("/proc/%d/stat" % pid, "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if fields[0] in (b"Z", b"X"):
            continue
        found.append((pid, int(fields[1]), int(fields[3]), int(fields[19])))
    return found


_STAT_FLAGS = os.O_RDONLY | os.O_CLOEXEC


def glance(pid):
    """ProcInfo of ``pid`` from /proc/PID/stat alone (one open), with its thread
    count, or None; its command line is not read (``cmdline`` is None). (Its
    rss there is the kernel's approximate per-CPU sum; statm's, what rss_limit
    and status count, is exact: rss_kb() reads that.)

    Its uids are all taken as the owner of that file: the effective uid of a
    dumpable process, root otherwise. That is the full rule (real, effective
    and saved uids ours) only for a process already known to have passed it
    (a launch record's (pid, start time)): from there, an unprivileged process
    cannot give itself another real or saved uid without an exec that also
    changes its effective uid or makes it undumpable (root-owned here).
    """
    try:
        fd = os.open("/proc/%d/stat" % pid, _STAT_FLAGS)
    except OSError:
        return None
    try:
        owner = os.fstat(fd).st_uid
        stat = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        fields = stat[stat.rfind(b")") + 2:].split()
        consts = _constants()
        ticks = int(fields[19])
        return ProcInfo(pid, int(fields[1]), int(fields[3]), fields[0].decode(),
                        consts["btime"] + ticks / consts["tick"], owner, None,
                        _UIDS.setdefault((owner,) * 3, (owner,) * 3), ticks, int(fields[17]))
    except (IndexError, ValueError):
        return None


def _read_all(path):
    """The bytes of a /proc file (os calls: a buffered open() costs twice as much)."""
    fd = os.open(path, _STAT_FLAGS)
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def read_cmdline(pid):
    """The command line of ``pid`` (trimmed, as read() gives it), or None when gone."""
    try:
        raw = _read_all("/proc/%d/cmdline" % pid)
    except OSError:
        return None
    return trim([a.decode("utf-8", "replace") for a in raw.split(b"\0")])


def uptime_ticks():
    """Clock ticks since boot now (/proc/uptime): comparable with ProcInfo.ticks,
    with no wall clock or whole-second btime in between."""
    with open("/proc/uptime", "rb") as handle:
        return int(float(handle.read().split()[0]) * _constants()["tick"])


def boot_id():
    """This boot's id: pids and ticks of another boot mean nothing (read once)."""
    if "boot" not in _CACHE:
        try:
            with open("/proc/sys/kernel/random/boot_id", "rb") as handle:
                _CACHE["boot"] = handle.read().strip().decode()
        except OSError:
            return ""
    return _CACHE["boot"]


def rss_kb(pid):
    """Resident set size in KiB as /proc/PID/statm counts it (psutil's rss)."""
    try:
        with open("/proc/%d/statm" % pid, "rb") as handle:
            return int(handle.read().split()[1]) * _constants()["page_kb"]
    except (OSError, IndexError, ValueError):
        return None


def tree_rss_kb(pid, rss=None, threads=None):
    """RSS in KiB of ``pid`` and every live descendant, summed (pages they share
    count once per process, as ``ps`` adds them up); None if ``pid`` is gone.
    Read down the tree through /proc/PID/task/*/children: no scan. ``rss`` and
    ``threads``: of ``pid``, when already read (glance)."""
    total = rss_kb(pid) if rss is None else rss
    if total is None:
        return None
    queue, seen = children(pid, threads), {pid}
    while queue:
        child = queue.pop()
        if child in seen:
            continue
        seen.add(child)
        total += rss_kb(child) or 0  # gone meanwhile, or a zombie (no pages)
        queue.extend(children(child))
    return total


def alive(pid, start_time):
    """True when ``pid`` still is the process that started at ``start_time``."""
    info = read(pid)
    return info is not None and not info.zombie and abs(info.start_time - start_time) < TICK


PF_EXITING = 0x4  # /proc/PID/stat flags: the process is in exit()
_KILL_BIT = 1 << (9 - 1)  # SIGKILL in the SigPnd/ShdPnd masks


def dying(pid):
    """True when ``pid`` is on its way out though not yet a zombie: a SIGKILL is
    pending for it, or it is already inside exit(). A process killed a moment ago
    still reads as alive in /proc until it has been scheduled to die."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        if fields[0] in (b"Z", b"X") or int(fields[6]) & PF_EXITING:
            return True
        with open("/proc/%d/status" % pid, "rb") as handle:
            for line in handle.read().splitlines():
                if line.startswith((b"SigPnd:", b"ShdPnd:")) \
                        and int(line.split(b":", 1)[1], 16) & _KILL_BIT:
                    return True
    except (OSError, IndexError, ValueError):
        return True  # gone
    return False


def signal_handled(pid, sig):
    """True when ``pid`` catches or ignores ``sig`` (SigCgt/SigIgn of /proc/PID/status);
    None when that cannot be read (the process is gone)."""
    try:
        with open("/proc/%d/status" % pid, "rb") as handle:
            fields = dict(line.split(b":", 1) for line in handle.read().splitlines()
                          if line.startswith((b"SigCgt:", b"SigIgn:")))
        mask = int(fields[b"SigCgt"], 16) | int(fields[b"SigIgn"], 16)
    except (OSError, KeyError, ValueError):
        return None
    return bool(mask >> (sig - 1) & 1)


def children(pid, threads=None):
    """Pids of the children of ``pid`` now (/proc/PID/task/*/children); ``threads``
    = 1 (from glance): its one task is itself, no listing."""
    found = []
    try:
        for task in (str(pid),) if threads == 1 else os.listdir("/proc/%d/task" % pid):
            data = _read_all("/proc/%d/task/%s/children" % (pid, task))
            found.extend(map(int, data.split()))
    except (OSError, ValueError):
        pass
    return found


_NO_PROCS = ()


def descendants(pid):
    """ProcInfo of every live descendant of ``pid``, read down the tree (no scan)."""
    found, queue = [], children(pid)
    while queue:
        child = queue.pop(0)
        info = read(child)
        if info is not None and not info.zombie:
            found.append(info)
            queue.extend(children(child))
    return found or _NO_PROCS  # most services have none: no empty list each
