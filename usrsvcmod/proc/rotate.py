"""Rotate a log that a service we are not the parent of holds open with O_APPEND.

The service's descriptor cannot be reopened, so the file keeps its inode: its
first part is copied to a backup and then removed from its front. Where the
filesystem can (ext4, xfs: probed once per directory) the removal is
``fallocate(FALLOC_FL_COLLAPSE_RANGE)`` over a block-aligned head, which the
kernel does under the inode lock, atomically with respect to the service's
appends: no byte is lost or written twice, and the backups oldest-first
followed by the live file are exactly the stream the service wrote (a line
may be split between the newest backup and the live file). Elsewhere (tmpfs,
overlayfs, NFS, btrfs, vfat) the fallback is copy-and-truncate, which loses
what the service writes between the copy and the truncate; ``checkconfig``
warns about it (``collapse_problem``).

Backups are ``NAME.1`` (newest) ... ``NAME.N``, written to a temp file made
with O_EXCL|O_NOFOLLOW in the log's checked directory, synced, and renamed
into place only after the head was removed (the older backups are shifted
before that, so the rename is all that follows the cut), so a crash leaves the
bytes at worst twice, never nowhere. The rotation holds the log's lock from the copy
to the record and records the bytes removed (logstate.py), so a follower
keeps its place.
"""

import errno
import os
import stat

from . import logstate, paths

FALLOC_FL_COLLAPSE_RANGE = 0x08
COLLAPSING = ("ext4", "xfs")  # filesystems known to collapse (checkconfig, when a probe cannot tell)
_NOT_SUPPORTED = (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.ENOTTY)
_COPY_CHUNK = 1 << 20


def aligned_cut(size, block):
    """Bytes to remove from the front of a file of ``size`` bytes: the largest
    multiple of ``block`` strictly below ``size`` (collapse may not reach the
    end of the file), 0 when it is no bigger than one block."""
    if size <= 0 or block <= 0:
        return 0
    return (size - 1) // block * block


def backup_names(name, count):
    """NAME.1 (newest) ... NAME.count (oldest)."""
    return ["%s.%d" % (name, number) for number in range(1, count + 1)]


def _libc_fallocate():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    fallocate = libc.fallocate
    fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong)
    fallocate.restype = ctypes.c_int
    return fallocate, ctypes.get_errno


def collapse(fd, length):
    """Remove the first ``length`` bytes of the file (a multiple of its block size)."""
    fallocate, get_errno = _libc_fallocate()
    if fallocate(fd, FALLOC_FL_COLLAPSE_RANGE, 0, length) != 0:
        code = get_errno()
        raise OSError(code, os.strerror(code))


def block_size(fd):
    """The unit collapse works in: st_blksize and f_bsize are powers of two, so the
    larger is a multiple of both."""
    return max(os.fstat(fd).st_blksize, os.fstatvfs(fd).f_bsize)


def fs_type(path):
    """The type of the filesystem holding ``path`` (from /proc/self/mountinfo: the
    longest mount point above its real path), or "unknown"."""
    where = os.path.realpath(path)
    best, kind = "", "unknown"
    try:
        with open("/proc/self/mountinfo", "rb") as handle:
            for line in handle:
                fields = line.decode("utf-8", "replace").split()
                if "-" not in fields:
                    continue
                point = fields[4].encode().decode("unicode_escape")  # \040 for a space
                inside = where == point or where.startswith(point.rstrip("/") + "/")
                if inside and len(point) >= len(best):
                    best, kind = point, fields[fields.index("-") + 1]
    except OSError:
        pass
    return kind


def probe(dir_fd, named=True):
    """Whether files in the directory can be collapsed: True, False, or None when
    it cannot be told without a named temp file and ``named`` is False.

    An unnamed O_TMPFILE is tried first (nothing ever appears in the directory);
    a filesystem without O_TMPFILE gets a hidden O_EXCL|O_NOFOLLOW temp file,
    unlinked at once."""
    try:
        fd = os.open(".", os.O_RDWR | os.O_TMPFILE | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
    except OSError as err:
        if err.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL) or not named:
            return None
        fd = _named_temp(dir_fd, ".usrsvc-probe")[1]
    try:
        block = block_size(fd)
        os.write(fd, b"\0" * (2 * block))
        try:
            collapse(fd, block)
        except OSError as err:
            if err.errno in _NOT_SUPPORTED:
                return False
            raise
        return os.fstat(fd).st_size == block
    finally:
        os.close(fd)


def collapse_problem(path):
    """Why a rotation of the log at ``path`` would fall back to copy-and-truncate
    ("tmpfs cannot ..."), or None. Writes nothing with a name: the probe is an
    unnamed O_TMPFILE, else the filesystem type decides. None as well when the
    directory is missing (checkconfig says so elsewhere)."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        works = probe(dir_fd, named=False)
    except OSError:
        works = None
    finally:
        os.close(dir_fd)
    kind = fs_type(directory)
    if works or (works is None and kind in COLLAPSING):
        return None
    return "%s (the filesystem of %s) cannot remove the head of a file in place" % (
        kind, directory)


def _named_temp(dir_fd, stem, keep=False):
    """(name, fd) of a new hidden file in the directory, never through a symlink;
    unlinked at once unless ``keep``."""
    name = "%s.%s.tmp" % (stem, os.urandom(6).hex())
    fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600, dir_fd=dir_fd)
    if not keep:
        os.unlink(name, dir_fd=dir_fd)
    return name, fd


class Outcome:
    """What one rotation did: ``method`` "collapse" or "copytruncate", ``removed``
    bytes cut from the front (0: nothing could be, the file being no bigger than
    one block), ``backup`` the new NAME.1 (None with no backups)."""

    __slots__ = ("path", "method", "removed", "backup", "fs_type")

    def __init__(self, path, method, removed, backup, fs_type):
        self.path, self.method, self.removed = path, method, removed
        self.backup, self.fs_type = backup, fs_type

    def describe(self):
        if not self.removed:
            return "%s: not rotated: it holds no more than one filesystem block, the least" \
                   " that can be cut from its front" % self.path
        text = "rotated %s: %d bytes %s" % (
            self.path, self.removed, "to %s" % self.backup if self.backup else "dropped")
        if self.method != "collapse":
            text += " by copy-and-truncate (%s cannot collapse a file: lines written meanwhile" \
                    " may be lost)" % self.fs_type
        return text


class Rotator:
    """Rotates logs; remembers per directory whether collapse works there.

    ``state`` is the RuntimeState holding the logs' records and locks.
    """

    def __init__(self, state, lock_timeout=30.0):
        self.state = state
        self.lock_timeout = lock_timeout
        self._collapse = {}  # (st_dev, st_ino) of a directory -> bool

    def can_collapse(self, dir_fd):
        st = os.fstat(dir_fd)
        key = (st.st_dev, st.st_ino)
        if key not in self._collapse:
            self._collapse[key] = bool(probe(dir_fd))
        return self._collapse[key]

    def due(self, path, maxbytes):
        """Whether the log at ``path`` outgrew ``maxbytes`` (one stat; False when
        it is missing or no regular file)."""
        try:
            st = os.stat(path)
        except OSError:
            return False
        return stat.S_ISREG(st.st_mode) and st.st_size > maxbytes

    def rotate(self, path, maxbytes, backups, force=False):
        """Rotate the log at ``path`` if it is over ``maxbytes`` (any size with
        ``force``); an Outcome, or None when there was nothing to do. OSError
        (paths.Refused for a file or directory others could redirect),
        TryAgain when its lock stays held."""
        directory, name = os.path.split(os.path.abspath(path))
        dir_fd = paths.open_dir(directory)
        try:
            fd = _open_log(dir_fd, name, path)
            if fd is None:
                return None
            try:
                if not force and os.fstat(fd).st_size <= maxbytes:
                    return None
                return self._locked(path, dir_fd, fd, name, backups,
                                    None if force else maxbytes)
            finally:
                os.close(fd)
        finally:
            os.close(dir_fd)

    def _locked(self, path, dir_fd, fd, name, backups, maxbytes):
        collapsing = self.can_collapse(dir_fd)
        _check_backups(dir_fd, name, backups, path)
        lock = logstate.lock(self.state, path, timeout=self.lock_timeout)
        try:
            st = os.fstat(fd)
            if maxbytes is not None and st.st_size <= maxbytes:
                return None  # rotated meanwhile by another usrsvc or usrsvcd
            cut = aligned_cut(st.st_size, block_size(fd)) if collapsing else st.st_size
            if cut <= 0:
                return Outcome(path, "collapse", 0, None, "")
            temp = _copy_head(fd, dir_fd, name, cut) if backups else None
            try:
                if temp:
                    # before the cut, so that after it only the rename of ``temp`` is
                    # left: a SIGKILL in between leaves the bytes in a hidden temp
                    # file, and shifting 200 backups took long enough to be hit
                    _make_room(dir_fd, name, backups)
                if collapsing:
                    collapse(fd, cut)
                else:
                    cut = _catch_up(fd, dir_fd, temp, cut)
                    os.ftruncate(fd, 0)
            except BaseException:
                if temp:
                    os.unlink(temp, dir_fd=dir_fd)
                raise
            backup = _install(dir_fd, name, temp, path)
            previous = logstate.read(self.state, path)
            total = cut
            if previous and previous[:2] == (st.st_dev, st.st_ino):
                total += previous[2]
            logstate.write(self.state, path, st.st_dev, st.st_ino, total,
                           _ident(dir_fd, name + ".1") if backup else None)
        finally:
            os.close(lock)
        return Outcome(path, "collapse" if collapsing else "copytruncate", cut, backup,
                       "" if collapsing else fs_type(path))


def _check_backups(dir_fd, name, backups, path):
    """Refuse, before anything is cut, backups that are not ours to move: in a
    shared sticky directory another user may have planted NAME.1 (a symlink, a
    file of theirs), which the shift could not rename anyway. Nor can we remove
    it there, so the fix is a log in a directory of our own."""
    for backup in backup_names(name, backups):
        try:
            st = os.stat(backup, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if not paths.trusted(st.st_uid):
            planted = os.path.join(os.path.dirname(path), backup)
            raise paths.Refused(planted, "%s is owned by %s, not by you or root (planted in a"
                                " shared directory?), so the backups of %s cannot be shifted"
                                % (planted, paths.owner(st.st_uid), path),
                                _backup_fix(dir_fd, planted))


def _backup_fix(dir_fd, planted):
    """What to do about another user's file among our backups: in a directory
    others can write (sticky: only its owner can remove it) the log must move."""
    mode = os.fstat(dir_fd).st_mode
    private = "set {key} to a file in a directory only you can write (e.g. mkdir -m 700" \
              " ~/logs), so that nobody can plant its backups; a log in a shared directory" \
              " cannot be rotated safely"
    if mode & (stat.S_IWOTH | stat.S_IWGRP):
        return private
    return private + " (or remove the stray file: rm %s)" % planted


def _open_log(dir_fd, name, path):
    """The log opened for writing, never through a symlink; None when it is
    missing or no regular file (/dev/null). Refused for another user's file."""
    try:
        fd = os.open(name, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise paths.Refused(path, "%s is a symlink; logs are never rotated through one"
                                % path, "set {key} to the real file") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            return None
        paths.check_file(path, st)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _copy_head(fd, dir_fd, name, length, start=0, temp=None):
    """Copy bytes [start, length) of the log into a new hidden temp file next to
    it (or append them to ``temp``), synced; the temp file's name."""
    if temp is None:
        temp, out = _named_temp(dir_fd, "." + name, keep=True)
        os.fchmod(out, stat.S_IMODE(os.fstat(fd).st_mode) & 0o666)
    else:
        out = os.open(temp, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC,
                      dir_fd=dir_fd)
    try:
        offset = start
        while offset < length:
            chunk = os.pread(fd, min(_COPY_CHUNK, length - offset), offset)
            if not chunk:
                raise OSError(errno.EIO, "the log shrank while it was being copied"
                              " (truncated by someone else?)")
            os.write(out, chunk)
            offset += len(chunk)
        os.fdatasync(out)
    except BaseException:
        os.close(out)
        if start == 0:
            os.unlink(temp, dir_fd=dir_fd)
        raise
    os.close(out)
    return temp


def _catch_up(fd, dir_fd, temp, copied):
    """Copy-and-truncate: copy what was appended while copying, a few times, so
    that only the bytes of the last instant before the truncate are lost."""
    for _ in range(3):
        size = os.fstat(fd).st_size
        if size <= copied:
            break
        if temp:
            _copy_head(fd, dir_fd, name=None, length=size, start=copied, temp=temp)
        copied = size
    return copied


def _install(dir_fd, name, temp, path):
    """Rename ``temp`` to NAME.1 (the room was made before the cut); the new backup's
    path, or None without backups."""
    if not temp:
        return None
    try:
        os.rename(temp, name + ".1", src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError as err:
        kept = os.path.join(os.path.dirname(path), temp)
        raise OSError(err.errno, "%s; the rotated part is kept in %s" % (err.strerror, kept),
                      path) from None
    return "%s.1" % path


def _shift(dir_fd, name, source, backups):
    """Make room for a new NAME.1 (see _make_room), then rename ``source`` to it."""
    _make_room(dir_fd, name, backups)
    os.rename(source, name + ".1", src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def _make_room(dir_fd, name, backups):
    """Move NAME.1..NAME.k up one, where NAME.k+1 is the first missing (so a big
    count costs nothing until it is reached), NAME.N being dropped: NAME.1 is then
    free."""
    names = backup_names(name, backups)
    count = 0
    while count < backups and _exists(dir_fd, names[count]):
        count += 1
    if count == backups:
        os.unlink(names[-1], dir_fd=dir_fd)
        count -= 1
    for number in range(count, 0, -1):
        os.rename(names[number - 1], names[number], src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def _ident(dir_fd, name):
    """(dev, ino) of ``name`` in the directory (the backup just renamed there)."""
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    return st.st_dev, st.st_ino


def _exists(dir_fd, name):
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False


def rename_rotate(path, backups):
    """Rotate a log its writer can reopen (usrsvcd's own): PATH becomes PATH.1,
    the older ones shift up, PATH.N is dropped (with no backups, PATH is removed).
    The caller reopens PATH afterwards."""
    directory, name = os.path.split(os.path.abspath(path))
    dir_fd = paths.open_dir(directory)
    try:
        if backups:
            _check_backups(dir_fd, name, backups, path)
            _shift(dir_fd, name, name, backups)
        else:
            os.unlink(name, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)
