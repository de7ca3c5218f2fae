"""Launch records: what usrsvc or usrsvcd launched and confirmed, for each program.

A record is written (under the program's lock) at the end of a successful
success window. It names the confirmed process by (pid, start time), the
session it runs in, when the launch began, and a digest of each setting
that shapes the launched process. A process whose (pid, start time) equals
the record *is* the program, whatever title it gives itself later (redis,
gunicorn, node, postgres), and the digests tell which settings were edited
since the launch.

The file is a few ``key value`` lines (no json import on the hot path),
kept in the program's private runtime state directory, so it is cleared at
reboot with the rest of that state.
"""

import os

VERSION = "usrsvc-launch 1"

# The settings that shape the launched process: editing one of them means
# the running process no longer is what the config describes.
LAUNCH_KEYS = ("command", "useshell", "directory", "umask", "inherit_env", "env", "stdout", "stderr")


def _digest(value):
    try:
        from _blake2 import blake2b  # 0.3 ms to import; hashlib costs 4 ms
    except ImportError:  # pragma: no cover - every CPython has it
        from hashlib import blake2b
    return blake2b(repr(value).encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def _value(program, key):
    """What a setting means for the launched process (so reordering [[Env]] or an
    extra space between words is no change)."""
    if key == "command" and not program.useshell:
        return program.argv
    if key == "env":
        if not (program.env_file or program.env_pass or program.env_command):
            return sorted(program.env)  # as before these keys: old records still match
        from .envbuild import content_digest

        # the env files' content counts (an edited file is a change); the EnvCommand's
        # output never does (fresh secrets at each start are the point), its command does
        return (sorted(program.env), program.env_pass, program.env_file,
                content_digest(program), program.env_command)
    return getattr(program, key)


def digests(program):
    """key -> digest of each launch setting (an environment value is never stored)."""
    return {key: _digest(_value(program, key)) for key in LAUNCH_KEYS}


class LaunchRecord:
    """Times are kept twice: as wall clock (for people) and as clock ticks since
    boot (exact, what identity compares: /proc start times are ticks, and the
    wall clock of a tick moves with btime, which has whole-second resolution)."""

    __slots__ = ("pid", "start_time", "sid", "launched_at", "at", "keys", "title", "ticks",
                 "launched_ticks", "at_ticks", "boot")

    def __init__(self, pid, start_time, sid, launched_at, at, keys, title="", ticks=None,
                 launched_ticks=None, at_ticks=None, boot=""):
        self.pid = pid
        self.start_time = start_time
        self.sid = sid
        self.launched_at = launched_at  # start time of the launched process (the earliest)
        self.at = at  # wall clock of the confirmation
        self.keys = dict(keys)
        self.title = title  # the command line it had when confirmed
        self.ticks = ticks  # start of the recorded process, in ticks since boot
        self.launched_ticks = launched_ticks  # start of the launched process
        self.at_ticks = at_ticks  # the confirmation
        self.boot = boot  # the boot id it belongs to

    def changed(self, program, known=None):
        """Launch settings edited since this launch, in LAUNCH_KEYS order;
        ``known``: the program's digests() when already worked out."""
        now = known if known is not None else digests(program)
        return [key for key in LAUNCH_KEYS if self.keys.get(key) != now[key]]

    def dumps(self):
        lines = [VERSION, "pid %d" % self.pid, "start_time %r" % self.start_time,
                 "sid %d" % self.sid, "launched_at %r" % self.launched_at, "at %r" % self.at]
        for name in ("ticks", "launched_ticks", "at_ticks"):
            if getattr(self, name) is not None:
                lines.append("%s %d" % (name, getattr(self, name)))
        if self.boot:
            lines.append("boot %s" % self.boot)
        lines += ["key %s %s" % item for item in sorted(self.keys.items())]
        lines.append("title %s" % self.title.replace("\n", " ")[:400])
        return ("\n".join(lines) + "\n").encode("utf-8", "replace")

    @classmethod
    def loads(cls, data):
        """A LaunchRecord, or None for anything that is not a whole record."""
        try:
            lines = data.decode("utf-8", "replace").split("\n")
            if lines[0] != VERSION:
                return None
            values, keys = {}, {}
            for line in lines[1:]:
                name, _, rest = line.partition(" ")
                if name == "key":
                    key, _, digest = rest.partition(" ")
                    keys[key] = digest
                elif name:
                    values[name] = rest
            ticks = [int(values[n]) if n in values else None
                     for n in ("ticks", "launched_ticks", "at_ticks")]
            record = cls(int(values["pid"]), float(values["start_time"]), int(values["sid"]),
                         float(values["launched_at"]), float(values["at"]), keys,
                         values.get("title", ""), *ticks, boot=values.get("boot", ""))
        except (KeyError, ValueError, IndexError):
            return None
        if record.pid <= 0 or record.start_time != record.start_time:
            return None
        return record


def make(program, info, launched_at, sid=None, launched_ticks=None):
    """The record for ``program`` confirmed as ``info`` (a ProcInfo)."""
    import time

    from . import procfs

    fresh = procfs.read(info.pid)
    if sid is None:
        sid = fresh.sid if fresh is not None and fresh.sid is not None else info.pid
    ticks = fresh.ticks if fresh is not None else info.ticks
    try:
        at_ticks, boot = procfs.uptime_ticks(), procfs.boot_id()
    except (OSError, ValueError):
        at_ticks, boot = None, ""
    return LaunchRecord(info.pid, info.start_time, sid,
                        launched_at if launched_at is not None else info.start_time,
                        time.time(), digests(program), info.cmdline_text, ticks,
                        launched_ticks if launched_ticks is not None else ticks, at_ticks, boot)


def read_file(path, dir_fd=None):
    """The record at ``path`` (relative to ``dir_fd`` if given); None when
    missing, unsafe or damaged.

    Only a regular file of ours that nobody else can write counts, read
    without following a symlink.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=dir_fd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or st.st_mode & 0o022 or (st.st_mode & 0o170000) != 0o100000:
            return None
        data = os.read(fd, 8192)
    except OSError:
        return None
    finally:
        os.close(fd)
    return LaunchRecord.loads(data)


def write_file(path, record, dir_fd=None):
    """Atomically: a temp file of an unpredictable name, then rename."""
    from .. import atomic

    atomic.write(path, record.dumps(), dir_fd=dir_fd)
