"""Files in directories other users can write: open nothing they could redirect.

A pidfile or a log file may sit in a shared directory (/tmp, a group's
directory). Another local user can plant there a symlink to a file of ours,
a directory or a FIFO in the file's place, or a directory symlink in place of
the directory itself; root following them overwrites or appends to files it
should not. So a directory is opened once (O_DIRECTORY) and judged by fstat
(its owner must be us or root; if everyone may write it, it must be sticky),
every symlink on the way there must be ours or root's, and the file is then
opened relative to that directory fd, so nothing can be swapped in between.
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


def planted_link(path):
    """(link, uid) of the first symlink on the way to ``path`` (absolute) owned by
    someone else than us or root, or None. Missing components end the walk."""
    todo = [part for part in path.split("/") if part]
    done, hops = "/", 0
    while todo:
        part = todo.pop(0)
        if part == ".":
            continue
        if part == "..":
            done = os.path.dirname(done)
            continue
        here = os.path.join(done, part)
        try:
            st = os.lstat(here)
        except OSError:
            return None
        if not stat.S_ISLNK(st.st_mode):
            done = here
            continue
        if not trusted(st.st_uid):
            return here, st.st_uid
        hops += 1
        if hops > _MAX_LINKS:
            return None  # the open fails with ELOOP
        target = os.readlink(here)
        todo = [p for p in target.split("/") if p] + todo
        if target.startswith("/"):
            done = "/"
    return None


def open_dir(directory, create=False):
    """An fd of ``directory`` (O_DIRECTORY) that nobody else can redirect.

    Raises Refused for a symlink of another user on the way, a directory owned
    by another user (root excepted), or one everyone may write that is not
    sticky; OSError when it cannot be opened (or, with ``create``, made).
    Missing directories are made one at a time, each opened with O_NOFOLLOW
    right after its mkdir: a symlink planted in between is not followed.
    """
    directory = os.path.abspath(directory)
    link = planted_link(directory)
    if link is not None:
        raise Refused(directory, "%s is a symlink owned by %s, who could point it anywhere"
                     % (link[0], owner(link[1])),
                     "set {key} to a file in a directory of yours (e.g. under your home directory),"
                     " not one reached through another user's symlink")
    try:
        fd = os.open(directory, _DIR_FLAGS)
    except FileNotFoundError:
        if not create or directory == "/":
            raise
        fd = _make(directory)
    try:
        check_dir(fd, directory)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _make(directory):
    parent, name = os.path.split(directory)
    parent_fd = open_dir(parent, create=True)
    try:
        try:
            os.mkdir(name, 0o755, dir_fd=parent_fd)
        except FileExistsError:
            pass  # made meanwhile: opened without following it, and checked, below
        try:
            return os.open(name, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=parent_fd)
        except OSError as err:
            if err.errno in (errno.ELOOP, errno.ENOTDIR):
                raise Refused(directory, "%s appeared as a symlink or a file while it was being"
                             " created" % directory, _FIX_DIR) from None
            raise
    finally:
        os.close(parent_fd)


def check_dir(fd, directory):
    """Raise Refused unless the open directory is ours or root's, and sticky if
    everyone may write it."""
    st = os.fstat(fd)
    if not trusted(st.st_uid):
        raise Refused(directory, "its directory %s is owned by %s, who could replace or redirect"
                     " the file" % (directory, owner(st.st_uid)), _FIX_DIR)
    if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
        raise Refused(directory, "its directory %s is writable by everyone (mode %04o) and not"
                     " sticky, so anyone could replace the file" % (directory,
                                                                    stat.S_IMODE(st.st_mode)),
                     _FIX_DIR + ", or make it sticky (chmod +t %s)" % directory)
    return st


def check_file(path, st):
    """Raise Refused for a file owned by another user (root excepted): in a shared
    directory they planted it, waiting for us to write to it."""
    if not trusted(st.st_uid):
        raise Refused(path, "%s is owned by %s, not by you or root (planted in a shared"
                     " directory?)" % (path, owner(st.st_uid)),
                     _FIX_DIR + " (or, if it is stale, remove it: rm %s)" % path)
