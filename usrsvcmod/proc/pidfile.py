"""Pidfiles: tolerant reads, atomic writes that never follow a symlink."""

import errno
import os

PID_MAX = 4194304  # Linux's ceiling for /proc/sys/kernel/pid_max


def read(path, dirs=None):
    """(pid, mtime, None) or (None, None, reason) for a missing or garbage pidfile.

    Read through its checked directory (paths.open_dir, never made here): a
    directory reached through another user's symlink, or theirs, is not read
    from (another user's file there could name any pid). ``dirs`` (a Dirs)
    keeps that directory open for the next pidfile in it (``status all``)."""
    try:
        if dirs is not None:
            directory, name = os.path.split(os.path.abspath(path))
            return _read_at(dirs.open(directory), name, path)
        dir_fd, name = _open_parent(path)
    except FileNotFoundError:
        return None, None, "no pidfile"
    except OSError as err:  # paths.Refused among them: strerror says why
        return None, None, "pidfile %s unreadable: %s" % (path, err.strerror or err)
    try:
        return _read_at(dir_fd, name, path)
    finally:
        os.close(dir_fd)


class Dirs:
    """Checked pidfile directories kept open for one command that reads many
    pidfiles (ten thousand pidfiles in one directory: one walk, not ten thousand).
    Only for reads within one short command: the owner closes them (close())."""

    def __init__(self):
        self._fds = {}

    def open(self, directory):
        """The checked fd of ``directory`` (paths.open_dir), opened once; a failure
        (OSError) is raised again for every pidfile in it."""
        got = self._fds.get(directory)
        if got is None:
            from . import paths

            try:
                got = paths.open_dir(directory)
            except OSError as err:
                got = err
            self._fds[directory] = got
        if isinstance(got, OSError):
            raise got.with_traceback(None)
        return got

    def close(self):
        for got in self._fds.values():
            if isinstance(got, int):
                os.close(got)
        self._fds = {}


def _open_parent(path):
    """(fd of the pidfile's checked directory, the pidfile's name in it), for reading
    or removing: the directory is never made (OSError when it is missing)."""
    from . import paths

    directory, name = os.path.split(os.path.abspath(path))
    return paths.open_dir(directory), name


def _read_at(dir_fd, name, path):
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=dir_fd)
    except FileNotFoundError:
        return None, None, "no pidfile"
    except OSError as err:
        return None, None, "pidfile %s unreadable: %s" % (path, _why_unreadable(dir_fd, name,
                                                                                   err))
    try:
        st = os.fstat(fd)
        if not _regular(st):
            return None, None, "pidfile %s is not a regular file (%s)" % (path, _kind(st))
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
    directory where nobody else can replace it (sticky, or not writable by
    others), reached without another user's directory or symlink on the way."""
    import stat

    try:
        dir_fd, name = _open_parent(path)
    except OSError:
        return False
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        parent = os.fstat(dir_fd)
    except OSError:
        return False
    finally:
        os.close(dir_fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        return False
    if parent.st_mode & 0o022 and not parent.st_mode & stat.S_ISVTX:
        return False
    return True


def _regular(st):
    import stat

    return stat.S_ISREG(st.st_mode)


def _why_unreadable(dir_fd, name, err):
    """strerror, or for the symlink O_NOFOLLOW refused, whose it is (not followed)."""
    import errno

    if err.errno != errno.ELOOP:
        return err.strerror
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return err.strerror
    from . import paths

    return "a symlink owned by %s (not followed)" % paths.owner(st.st_uid)


def _kind(st):
    import stat

    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symlink"),
                       (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")):
        if test(st.st_mode):
            return name
    return "not a file"


def write(path, pid):
    """Write ``pid`` atomically: a temp file in the same directory, then rename.

    The directory is opened and checked first (paths.open_dir: not another
    user's, not reached through their symlink, sticky if everyone may write
    it), and the write goes through that open directory (its descriptor),
    so it cannot be swapped for another one meanwhile. Another user's file or
    symlink at ``path`` is refused (paths.Refused, an OSError): it was
    planted. rename() replaces our own symlink at ``path`` instead of writing
    through it, and the temp file is created with O_EXCL|O_NOFOLLOW.
    """
    from .. import atomic

    directory, name = os.path.split(os.path.abspath(path))
    fd = _checked_dir(directory, name, path)
    try:
        atomic.write(name, b"%d\n" % pid, 0o644, dir_fd=fd)
    finally:
        os.close(fd)


def check(path):
    """Raise paths.Refused if ``path`` could not be written safely (see write);
    other OSErrors (a read-only disk...) are left to the write itself."""
    directory, name = os.path.split(os.path.abspath(path))
    try:
        fd = _checked_dir(directory, name, path)
    except OSError as err:
        from . import paths

        if isinstance(err, paths.Refused):
            raise
        return
    os.close(fd)


def _checked_dir(directory, name, path):
    """An fd of the pidfile's directory, made if missing; the entry ``name`` in it,
    if any, must be ours or root's."""
    from . import paths

    fd = paths.open_dir(directory, create=True)
    try:
        try:
            st = os.lstat(name, dir_fd=fd)
        except FileNotFoundError:
            return fd
        paths.check_file(path, st)
    except BaseException:
        os.close(fd)
        raise
    return fd


def refusal(path, err, where=""):
    """"cannot write pidfile PATH[ (where)]: why[. Fix: ...]" for an OSError from write."""
    from . import paths

    text = "cannot write pidfile %s%s: %s" % (path, " (%s)" % where if where else "",
                                               err.strerror or err)
    if isinstance(err, paths.Refused):
        text += ". Fix: " + err.fix.format(key="pidfile")
    elif err.errno == errno.EISDIR:
        text += ". Fix: set pidfile to a file name (e.g. %s/NAME.pid)" % path.rstrip("/")
    else:
        parent = os.path.dirname(path) or "."
        text += ("; the program still runs, found by its launch record (or a scan)."
                 " Fix: make %s a directory you can write (mkdir -p %s; chmod u+w %s), or set"
                 " pidfile to a path in a directory of yours" % (parent, parent, parent))
    return text


def remove(path, expected_pid=None):
    """Remove our pidfile (a symlink itself, never its target); returns None,
    or a note saying why it was left in place.

    Never what another user owns (planted in a shared directory: not ours to
    remove, even for root), never a directory. With ``expected_pid``, only
    if the file still holds that pid, so a concurrent writer's new pid is not
    thrown away, and never what could not be read. Everything goes through
    the checked directory's descriptor (paths.open_dir, never made here): in
    a directory reached through another user's symlink, or theirs, nothing
    is removed (it could be any directory of root's, with a file of that name).
    """
    try:
        dir_fd, name = _open_parent(path)
    except (FileNotFoundError, NotADirectoryError):
        return None  # no directory, so no pidfile
    except OSError as err:
        return _left_by_directory(path, err)
    try:
        return _remove_at(dir_fd, name, path, expected_pid)
    finally:
        os.close(dir_fd)


def _left_by_directory(path, err):
    """The note for a pidfile left because its directory was refused (or unreadable)."""
    from . import paths

    note = "left pidfile %s in place: %s" % (path, err.strerror or err)
    if isinstance(err, paths.Refused):
        note += ". Fix: " + err.fix.format(key="pidfile")
    return note


def _remove_at(dir_fd, name, path, expected_pid):
    import stat

    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        return "left pidfile %s in place: %s" % (path, err.strerror)
    if st.st_uid != os.geteuid():
        from . import paths

        return "left pidfile %s in place: it is owned by %s, not by you" % (
            path, paths.owner(st.st_uid))
    if stat.S_ISDIR(st.st_mode):
        return "left %s in place: it is a directory, not a pidfile" % path
    if expected_pid is not None:
        if not stat.S_ISREG(st.st_mode):  # a symlink is not read through: its pid is unknown
            return "left pidfile %s in place: it is %s, not read, so not removed" % (
                path, _kind(st))
        pid, _, reason = _read_at(dir_fd, name, path)
        if pid is None and "unreadable" in reason:
            return "left pidfile %s in place: it could not be read (%s), so it was not removed" % (
                path, reason.split("unreadable: ", 1)[-1])
        if pid is not None and pid != expected_pid:
            return None  # a newer pid, written meanwhile
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as err:
        return "cannot remove pidfile %s: %s" % (path, err.strerror)
    return None
