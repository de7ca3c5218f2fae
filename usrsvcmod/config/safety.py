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


# --- the directories above a config file (sshd's StrictModes) ---------------------------------
MAX_LINKS = 40  # as the kernel: more symlinks than this on one path is a loop


def _owner(uid):
    """``name, uid N`` for a message (only on the error path: pwd is not free)."""
    import pwd

    try:
        return "%s, uid %d" % (pwd.getpwuid(uid).pw_name, uid)
    except KeyError:
        return "uid %d" % uid


def _dir_problem(path, st, uid):
    """Why directory ``path``, on the way to a config file, lets someone else swap it.

    Only root and this user may own it. Nobody else may write it, unless it
    has the sticky bit (/tmp): then others cannot rename or remove what is
    ours in it, and the next component down is checked to be ours or root's.
    """
    if st.st_uid not in (0, uid):
        return ("directory %s is owned by %s, not by root or you: its owner can replace what is"
                " in it; fix: move the config out of %s (or, as root: chown root %s)"
                % (path, _owner(st.st_uid), path, path))
    mode = stat.S_IMODE(st.st_mode)
    if mode & stat.S_ISVTX:
        return None
    if mode & stat.S_IWOTH:
        return ("directory %s (mode %04o, owner %s) is writable by others: anyone can swap the"
                " config below it for a file of theirs; fix: chmod o-w %s"
                % (path, mode, _owner(st.st_uid), path))
    if mode & stat.S_IWGRP and not (_group_is_private(st.st_gid, uid)
                                    or _group_is_private(st.st_gid, 0)):
        return ("directory %s (mode %04o, owner %s) is writable by group %d, which has other"
                " members: they can swap the config below it for a file of theirs;"
                " fix: chmod g-w %s" % (path, mode, _owner(st.st_uid), st.st_gid, path))
    return None


def _link_problem(path, st, uid):
    """A symlink of someone else's: in a sticky directory its owner may re-point it."""
    if st.st_uid in (0, uid):
        return None
    return ("symlink %s is owned by %s, not by root or you: they can point it at a file of"
            " theirs; fix: use a path without it, or replace it with a symlink of your own"
            % (path, _owner(st.st_uid)))


def resolve(path, uid=None):
    """The real path of ``path``, refusing a way to it that someone else could change.

    Every directory the kernel passes through to reach ``path`` (``/``, each
    component, every symlink's target) must be root's or ours and writable
    by nobody else (see _dir_problem), every symlink followed root's or ours:
    sshd's StrictModes, walked the way the kernel walks, so a symlink cannot
    hide an unsafe directory. The last component is not checked here: the
    caller opens the returned path with O_NOFOLLOW and checks what it opened
    (fstat), which no one else can swap any more. Raises UnsafePathError;
    OSError (missing, a loop, not a directory) for the caller to report.
    One lstat per component: this runs on every ``usrsvc`` command.
    """
    import errno

    uid = os.geteuid() if uid is None else uid
    if not path.startswith("/"):  # no normpath: ".." after a symlink is the kernel's to walk
        path = os.path.join(os.getcwd(), path)
    todo = path.split("/")[::-1]
    current, links = "/", 0
    why = _dir_problem("/", os.lstat("/"), uid)
    while todo and not why:
        name = todo.pop()
        if name in ("", "."):
            continue
        if name == "..":  # ``current`` is a real path: its parent is what the kernel takes
            current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, name)
        st = os.lstat(candidate)
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > MAX_LINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
            why = _link_problem(candidate, st, uid)
            target = os.readlink(candidate)
            if target.startswith("/"):
                current = "/"
            todo.extend(target.split("/")[::-1])
            continue
        current = candidate
        if any(rest not in ("", ".") for rest in todo):  # not the last component
            if not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), candidate)
            why = _dir_problem(candidate, st, uid)
    if why:
        raise UnsafePathError(["%s: refused: %s" % (path, why)])
    return current


def check_parents(path):
    """resolve(), for a run that does not open ``path`` (the config cache's hit).

    Only the refusal matters here; a missing file is the loader's to report.
    """
    try:
        resolve(path)
    except OSError:
        pass
