"""Refuse files and directories that someone else could write.

A config file that another user can change means command execution as this
user, so such files are refused with the exact ``chmod`` that fixes them.
"""

import os
import stat

from ..errors import UnsafePathError


def _group_is_private(gid, uid):
    """True when the group has no member but this user (a user-private group)."""
    import grp
    import pwd

    try:
        group = grp.getgrgid(gid)
        me = pwd.getpwuid(uid).pw_name
    except KeyError:
        return False
    if any(member != me for member in group.gr_mem):
        return False
    return all(entry.pw_uid == uid for entry in pwd.getpwall() if entry.pw_gid == gid)


def problem(path, st, uid=None):
    """Why ``path`` (already stat-ed) is unsafe, or None when it is fine."""
    uid = os.geteuid() if uid is None else uid
    kind = "directory" if stat.S_ISDIR(st.st_mode) else "file"
    if st.st_uid != uid:
        return ("%s %s is owned by uid %d, not by this user (uid %d): anyone who can write it"
                " runs commands as you; fix: chown %d %s"
                % (kind, path, st.st_uid, uid, uid, path))
    mode = stat.S_IMODE(st.st_mode)
    if mode & stat.S_IWOTH:
        return ("%s %s is writable by others (mode %04o); fix: chmod o-w %s"
                % (kind, path, mode, path))
    if mode & stat.S_IWGRP and not _group_is_private(st.st_gid, uid):
        return ("%s %s is writable by group %d which has other members (mode %04o);"
                " fix: chmod g-w %s" % (kind, path, st.st_gid, mode, path))
    return None


def check(path, st=None):
    """Raise UnsafePathError when ``path`` could be written by someone else."""
    if st is None:
        st = os.stat(path)
    why = problem(path, st)
    if why:
        raise UnsafePathError(["%s: refused: %s" % (path, why)])


def is_private_dir(path):
    """``path`` and its parent are directories nobody else can write (never creates)."""
    for item in (path, os.path.dirname(path)):
        try:
            st = os.lstat(item)
        except OSError:
            return False
        if not stat.S_ISDIR(st.st_mode) or problem(item, st):
            return False
    return True


def private_dir(path):
    """Create directory ``path`` 0700 if needed; refuse a symlink or someone else's dir.

    For the runtime state directory and the config cache inside it.
    """
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(["%s: refused: runtime state path is not a directory"
                               " (a symlink?); remove it" % path])
    check(path, st)
    return path
