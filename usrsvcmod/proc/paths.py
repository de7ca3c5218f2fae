"""Files in directories other users can write: open nothing they could redirect.

A pidfile or a log file may sit in a shared directory (/tmp, a group's
directory). Another local user can plant there a symlink to a file of ours,
a directory or a FIFO in the file's place, or a directory symlink in place of
the directory itself; root following them overwrites or appends to files it
should not. So a directory is reached by a walk of descriptors from ``/``
(openat of each part with O_NOFOLLOW, never a path opened by name, which a
racing user could swap for a symlink between a check and the open); every
directory on the way is judged by fstat (its owner must be us or root; if
everyone may write it, it must be sticky), every symlink followed must be ours
or root's, and the file is then opened relative to the last directory fd, so
nothing can be swapped in between.
"""

import errno
import os
import stat

# flags every directory open here uses
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_MAX_LINKS = 40  # as the kernel (ELOOP beyond)
_FIX_DIR = "set {key} to a file in a directory of yours (e.g. under your home directory)"


class Refused(PermissionError):
    """A path usrsvc will not use (another user could redirect it, or it is no
    regular file): ``strerror`` says why, ``fix`` what to do, with ``{key}``
    standing for the setting (``fix.format(key="stdout")``).

    An OSError (EPERM), so that every caller which already copes with a file
    it cannot write (a note, a log line) copes with this one as well.
    """

    def __init__(self, path, why, fix):
        super().__init__(errno.EPERM, why, path)
        self.fix = fix


def trusted(uid):
    """Owners whose files and symlinks we follow: ourselves and root."""
    return uid in (0, os.geteuid())


def owner(uid):
    """"uid 1001 (alice)", for messages (the name when it has one)."""
    import pwd

    try:
        return "uid %d (%s)" % (uid, pwd.getpwuid(uid).pw_name)
    except KeyError:
        return "uid %d" % uid


HELD_MAX = 8  # directories a batch keeps open (held_dirs): the pidfiles', the logs'...


class HeldDirs:
    """Checked directory fds kept while a batch of programs runs (``held_dirs``).

    A start or stop of 1,000 programs walked the same pidfile and log
    directories from ``/`` about five times per program. A checked fd stays
    safe to use while held: it names that directory whatever is renamed or
    replaced on the path meanwhile, and only its owner (us, or root) could
    change its mode. ``open_dir`` hands out a dup of the held fd, so every
    caller still owns and closes the fd it got.
    """

    def __init__(self, limit=None):
        self.limit = HELD_MAX if limit is None else limit
        self.fds = {}  # absolute path -> fd

    def get(self, directory):
        fd = self.fds.get(directory)
        return None if fd is None else os.dup(fd)

    def keep(self, directory, fd):
        """Hold a copy of ``fd`` for later calls, when there is room."""
        if len(self.fds) >= self.limit or directory in self.fds:
            return
        from . import fdlimit

        copy = os.dup(fd)
        if fdlimit.in_reserve(copy, 2 * fdlimit.RESERVE):
            os.close(copy)  # descriptors run short: the batch needs them more
            return
        self.fds[directory] = copy

    def close(self):
        fds, self.fds = self.fds, {}
        for fd in fds.values():
            os.close(fd)


_HELD = []  # the HeldDirs of the batch running in this process, if any


class held_dirs:
    """``with held_dirs():`` open_dir reuses what it checked until the block ends."""

    def __enter__(self):
        self.held = None
        if not _HELD:
            self.held = HeldDirs()
            _HELD.append(self.held)
        return self

    def __exit__(self, *exc):
        if self.held is not None:
            _HELD.remove(self.held)
            self.held.close()


def open_dir(directory, create=False):
    """An fd of ``directory`` (O_DIRECTORY) that nobody else can redirect.

    The path is walked with descriptors from ``/``, never opened by name:
    each part is opened relative to its parent's fd with O_NOFOLLOW, so a
    directory swapped for a symlink between a check and the open (another
    user racing us) is never followed. Every directory on the way is judged
    by fstat (ours or root's, sticky if everyone may write it), and a symlink
    is followed only when it is ours or root's (at most 40 of them).

    Raises Refused for a symlink or a directory of another user on the way
    (root excepted), or one everyone may write that is not sticky; OSError
    when it cannot be opened (or, with ``create``, made). With ``create``,
    missing directories are made one at a time (mkdirat), each opened with
    O_NOFOLLOW right after: a symlink planted in between is not followed.
    Inside ``held_dirs()`` a directory checked before is not walked again.
    """
    directory = os.path.abspath(directory)
    if _HELD:
        fd = _HELD[0].get(directory)
        if fd is not None:
            return fd
        fd = _walk(directory, create)
        try:
            _HELD[0].keep(directory, fd)
        except OSError:
            pass  # not kept: walked again next time
        return fd
    return _walk(directory, create)


def _walk(directory, create):
    todo = _parts(directory)
    fd = _open_root(directory, todo)
    here, hops = "/", 0
    try:
        while todo:
            part = todo.pop()
            path = os.path.dirname(here) if part == ".." else os.path.join(here, part)
            child = _step(fd, part, path, directory, create, final=not todo)
            if isinstance(child, int):
                os.close(fd)
                fd, here = child, path
                check_dir(fd, directory, here if todo else None)
                continue
            hops += 1  # a symlink's target to walk (or None: the part changed, look again)
            if hops > _MAX_LINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), directory)
            todo.extend(_parts(child) if child is not None else [part])
            if child is not None and child.startswith("/"):
                os.close(fd)
                fd, here = None, "/"
                fd = _open_root(directory, todo)
    except BaseException:
        if fd is not None:
            os.close(fd)
        raise
    return fd


# directories on the way are only walked through: O_PATH needs no read permission
# (a root-owned directory of mode 0711 may be passed), and *at() calls take it
_WAY_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC


def _parts(path):
    """The parts of ``path``, last first (a stack: pop() gives the next one)."""
    return [part for part in reversed(path.split("/")) if part not in ("", ".")]


def _open_root(directory, todo):
    """An fd of ``/``, checked as the others are (as the last one when nothing follows)."""
    fd = os.open("/", _WAY_FLAGS if todo else _DIR_FLAGS)
    try:
        check_dir(fd, directory, "/" if todo else None)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _step(fd, part, path, directory, create, final):
    """Open ``part`` in the directory ``fd``: its fd when it is a directory, the
    target when it is a symlink we may follow, None when it changed meanwhile
    (to look again). Missing: made with ``create``, else FileNotFoundError."""
    flags = (_DIR_FLAGS if final else _WAY_FLAGS) | os.O_NOFOLLOW
    try:
        return os.open(part, flags, dir_fd=fd)
    except FileNotFoundError:
        if not create:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), directory) from None
        return _make(fd, part, path, directory, flags)
    except OSError as err:
        if err.errno in (errno.ENOTDIR, errno.ELOOP):  # a symlink (O_NOFOLLOW), or no directory
            return _link(fd, part, path, directory)
        err.filename = path  # not the name relative to the directory fd
        raise


def _link(fd, part, path, directory):
    """The target of the symlink ``part`` if it is ours or root's (Refused
    otherwise); NotADirectoryError for anything else but a directory."""
    try:
        link_fd = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    except FileNotFoundError:
        return None  # removed meanwhile: look again
    try:
        st = os.fstat(link_fd)  # the very entry read below, whatever is renamed meanwhile
        if stat.S_ISDIR(st.st_mode):
            return None  # a directory again (swapped back): look again
        if not stat.S_ISLNK(st.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
        if not trusted(st.st_uid):
            raise Refused(directory, "%s is a symlink owned by %s, who could point it anywhere"
                          % (path, owner(st.st_uid)),
                          _FIX_DIR + ", not one reached through another user's symlink")
        return os.readlink("", dir_fd=link_fd)
    finally:
        os.close(link_fd)


def _make(fd, part, path, directory, flags):
    """Make the missing directory ``part`` in ``fd`` and open it without following
    anything: whatever another user put there meanwhile is refused."""
    try:
        os.mkdir(part, 0o755, dir_fd=fd)
    except FileExistsError:
        pass  # made meanwhile: opened without following it, and checked, by the caller
    except OSError as err:
        err.filename = path
        raise
    try:
        return os.open(part, flags, dir_fd=fd)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOTDIR):
            raise Refused(directory, "%s appeared as a symlink or a file while it was being"
                          " created" % path, _FIX_DIR) from None
        err.filename = path
        raise


def check_dir(fd, directory, on_the_way=None):
    """Raise Refused unless the open directory is ours or root's, and sticky if
    everyone may write it. ``on_the_way``: the name of a directory above
    ``directory`` (the one the caller asked for) that ``fd`` is: whoever can
    rename entries there can swap the rest of the path for a symlink."""
    st = os.fstat(fd)
    if on_the_way is None:
        what = "its directory %s" % directory
    else:
        what = "%s, on the way to %s," % (on_the_way, directory)
    if not trusted(st.st_uid):
        raise Refused(directory, "%s is owned by %s, who could replace or redirect the file"
                      % (what, owner(st.st_uid)), _FIX_DIR)
    if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
        raise Refused(directory, "%s is writable by everyone (mode %04o) and not sticky, so"
                      " anyone could replace the file" % (what, stat.S_IMODE(st.st_mode)),
                      _FIX_DIR + ", or make it sticky (chmod +t %s)" % (on_the_way or directory))
    return st


def check_file(path, st):
    """Raise Refused for a file owned by another user (root excepted): in a shared
    directory they planted it, waiting for us to write to it."""
    if not trusted(st.st_uid):
        raise Refused(path, "%s is owned by %s, not by you or root (planted in a shared"
                     " directory?)" % (path, owner(st.st_uid)),
                     _FIX_DIR + " (or, if it is stale, remove it: rm %s)" % path)
