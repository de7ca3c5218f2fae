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


def digests(program):
    """key -> digest of each launch setting (an environment value is never stored)."""
    return {key: _digest(getattr(program, key)) for key in LAUNCH_KEYS}


class LaunchRecord:
    __slots__ = ("pid", "start_time", "sid", "launched_at", "at", "keys", "title")

    def __init__(self, pid, start_time, sid, launched_at, at, keys, title=""):
        self.pid = pid
        self.start_time = start_time
        self.sid = sid
        self.launched_at = launched_at  # start time of the launched process (the earliest)
        self.at = at  # wall clock of the confirmation
        self.keys = dict(keys)
        self.title = title  # the command line it had when confirmed

    def changed(self, program):
        """Launch settings edited since this launch, in LAUNCH_KEYS order."""
        now = digests(program)
        return [key for key in LAUNCH_KEYS if self.keys.get(key) != now[key]]

    def dumps(self):
        lines = [VERSION, "pid %d" % self.pid, "start_time %r" % self.start_time,
                 "sid %d" % self.sid, "launched_at %r" % self.launched_at, "at %r" % self.at]
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
            record = cls(int(values["pid"]), float(values["start_time"]), int(values["sid"]),
                         float(values["launched_at"]), float(values["at"]), keys,
                         values.get("title", ""))
        except (KeyError, ValueError, IndexError):
            return None
        if record.pid <= 0 or record.start_time != record.start_time:
            return None
        return record


def make(program, info, launched_at, sid=None):
    """The record for ``program`` confirmed as ``info`` (a ProcInfo)."""
    import time

    if sid is None:
        from . import procfs

        fresh = procfs.read(info.pid)
        sid = fresh.sid if fresh is not None and fresh.sid is not None else info.pid
    return LaunchRecord(info.pid, info.start_time, sid,
                        launched_at if launched_at is not None else info.start_time,
                        time.time(), digests(program), info.cmdline_text)


def read_file(path):
    """The record at ``path``; None when missing, unsafe or damaged.

    Only a regular file of ours that nobody else can write counts, read
    without following a symlink.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
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


def write_file(path, record):
    """Atomically: a temp file of an unpredictable name, then rename."""
    directory = os.path.dirname(path)
    temp = os.path.join(directory, ".%s.%s.tmp" % (os.path.basename(path), os.urandom(6).hex()))
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            os.write(fd, record.dumps())
        finally:
            os.close(fd)
        os.rename(temp, path)
    except OSError:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
