"""Where a log file's rotations are recorded, so that a follower keeps its place.

A service holds its log open with O_APPEND and we are not its parent, so a
log is rotated in place: its first part is copied to a backup, then removed
from the front of the live file (``fallocate(FALLOC_FL_COLLAPSE_RANGE)``,
or, where the filesystem cannot, a copy-and-truncate). Every byte still in
the file moves towards the front by what was removed. A follower that was at
offset P is then at P - removed.

The contract between the rotator (usrsvcd, ``usrsvc logs --rotate``) and a
follower (``usrsvc logs -f``), per log file, in the runtime state directory:

- ``log-<digest>.lock``: an flock. The rotator holds it exclusively from the
  copy to the record; a follower holds it shared while it looks at the file's
  size and reads, so it never reads across a collapse.
- ``log-<digest>.rot``: one line ``DEV INO REMOVED`` : the total bytes removed
  from the front of the file with that device and inode since it was made
  (written atomically after each rotation). A follower remembers the REMOVED
  it last saw for its inode; when it grows by R, its offset moves back by R.
  A file that shrank with no new record was truncated by someone else.
  A rotation that kept a backup appends ``BDEV BINO``: the device and inode
  of the NAME.1 it made, so a follower reading back from the backups reads
  that file and not one another user planted (readers of the first three
  fields ignore them).

``<digest>`` is a short blake2 digest of the log's real path, so two
programs sharing a log file share its record.
"""

import os

VERSION = 1


def _name(path, kind):
    try:
        from _blake2 import blake2b
    except ImportError:  # pragma: no cover - every CPython has it
        from hashlib import blake2b
    digest = blake2b(os.path.realpath(path).encode("utf-8", "surrogateescape"),
                     digest_size=10).hexdigest()
    return "log-%s.%s" % (digest, kind)


def lock(state, path, shared=False, timeout=30.0):
    """Hold the log's rotation lock (an fd: close it to let go). ``state`` is a
    RuntimeState. TryAgain after ``timeout`` seconds."""
    import fcntl
    import time

    from ..errors import TryAgain

    fd = os.open(_name(path, "lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
                 | os.O_NONBLOCK, 0o600, dir_fd=state.dirfd())
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            pass
        if time.monotonic() >= deadline:
            os.close(fd)
            raise TryAgain("the rotation lock of %s is held for over %gs; try again"
                           % (path, timeout))
        time.sleep(0.01)


def read(state, path):
    """(dev, ino, removed) last recorded for the log at ``path``, or None."""
    data = state.read(_name(path, "rot"), limit=256)
    if not data:
        return None
    try:
        dev, ino, removed = (int(field) for field in data.split()[:3])
    except ValueError:
        return None
    return dev, ino, removed


def read_backup(state, path):
    """(dev, ino) of the newest backup the last rotation made, or None (none
    kept, or a record written before the field existed)."""
    data = state.read(_name(path, "rot"), limit=256)
    fields = data.split()[3:5] if data else []
    try:
        return tuple(int(field) for field in fields) if len(fields) == 2 else None
    except ValueError:
        return None


def write(state, path, dev, ino, removed, backup=None):
    """Record that ``removed`` bytes in all were cut from the front of (dev, ino);
    ``backup``: (dev, ino) of the NAME.1 this rotation made."""
    data = b"%d %d %d" % (dev, ino, removed)
    if backup is not None:
        data += b" %d %d" % backup
    state.write(_name(path, "rot"), data + b"\n")
