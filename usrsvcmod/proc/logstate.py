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


def write(state, path, dev, ino, removed):
    """Record that ``removed`` bytes in all were cut from the front of (dev, ino)."""
    state.write(_name(path, "rot"), b"%d %d %d\n" % (dev, ino, removed))
