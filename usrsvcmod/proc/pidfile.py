"""Pidfiles: tolerant reads, atomic writes that never follow a symlink."""

import os

PID_MAX = 4194304  # Linux's ceiling for /proc/sys/kernel/pid_max


def read(path):
    """(pid, mtime, None) or (None, None, reason) for a missing or garbage pidfile."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None, None, "no pidfile"
    except OSError as err:
        return None, None, "pidfile %s unreadable: %s" % (path, err.strerror)
    try:
        st = os.fstat(fd)
        if not _regular(st):
            return None, None, "pidfile %s is not a regular file" % path
        data = os.read(fd, 64)
    finally:
        os.close(fd)
    text = data.decode("ascii", "replace").strip()
    if not text:
        return None, None, "pidfile %s is empty" % path
    if not text.isdigit() or len(text) > 8:
        return None, None, "pidfile %s holds %r, not a pid" % (path, text[:20])
    pid = int(text)
    if not 0 < pid <= PID_MAX:
        return None, None, "pidfile %s holds %d, not a valid pid" % (path, pid)
    return pid, st.st_mtime, None


def trusted(path):
    """A pidfile only we can have written: ours, written by nobody else, in a
    directory where nobody else can replace it (sticky, or not writable by others)."""
    import stat

    try:
        st = os.lstat(path)
        parent = os.stat(os.path.dirname(path) or ".")
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        return False
    if parent.st_mode & 0o022 and not parent.st_mode & stat.S_ISVTX:
        return False
    return True


def _regular(st):
    import stat

    return stat.S_ISREG(st.st_mode)


def write(path, pid):
    """Write ``pid`` atomically: a temp file in the same directory, then rename.

    rename() replaces a symlink at ``path`` instead of writing through it,
    and the temp file is created with O_EXCL|O_NOFOLLOW.
    """
    from .. import atomic

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    atomic.write(path, b"%d\n" % pid, 0o644)


def remove(path, expected_pid=None):
    """Remove the pidfile (a symlink itself, never its target).

    With ``expected_pid``, only if the file still holds that pid, so a
    concurrent writer's new pid is not thrown away.
    """
    if expected_pid is not None:
        pid, _, _ = read(path)
        if pid is not None and pid != expected_pid:
            return False
    try:
        os.unlink(path)
        return True
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:  # e.g. another user's file in a sticky directory: not ours to remove
        return False
