"""Runtime state: user-stop marks and per-program locks.

One private (0700) directory per main config file, keyed by its real path,
under ``$XDG_RUNTIME_DIR/usrsvc/`` (or ``/run/user/UID/usrsvc/`` when that
exists and the variable is unset) or else ``/tmp/usrsvc-UID/``: two
configs of one user never share marks or locks. Both are cleared at
reboot, which is what a stop mark should be.
"""

import errno
import os
import stat
import time

from .config import safety
from .errors import TryAgain, UnsafePathError

LOCK_TIMEOUT = 30.0


def _quote(text):
    return text.replace("%", "%25").replace("/", "%2F")


def _private_dir(path):
    """Create ``path`` 0700 if needed; refuse a symlink or someone else's dir."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(["%s: refused: runtime state path is not a directory"
                               " (a symlink?); remove it" % path])
    safety.check(path, st)
    return path


class RuntimeState:
    """The state directory of one main config file."""

    def __init__(self, config_path, environ=None):
        environ = os.environ if environ is None else environ
        runtime = environ.get("XDG_RUNTIME_DIR")
        if not runtime:
            # usrsvcd under a system unit has no XDG_RUNTIME_DIR while a login
            # shell of the same user has /run/user/UID: use it so both agree
            candidate = "/run/user/%d" % os.geteuid()
            if os.path.isdir(candidate) and os.stat(candidate).st_uid == os.geteuid():
                runtime = candidate
        if runtime and os.path.isdir(runtime):
            root = os.path.join(runtime, "usrsvc")
        else:
            root = os.path.join("/tmp", "usrsvc-%d" % os.geteuid())
        key = _quote(os.path.realpath(config_path))
        if len(key) > 200:
            import hashlib

            key = hashlib.sha256(key.encode()).hexdigest()
        self.root = root
        self.path = os.path.join(root, key)

    def ensure(self):
        _private_dir(self.root)
        _private_dir(self.path)
        return self.path

    def _file(self, kind, name):
        return os.path.join(self.path, "%s.%s" % (_quote(name), kind))

    # user-stop marks ------------------------------------------------
    def mark_stopped(self, name):
        self.ensure()
        with open(self._file("stopped", name), "w") as handle:
            handle.write("%f\n" % time.time())

    def clear_stopped(self, name):
        try:
            os.unlink(self._file("stopped", name))
        except FileNotFoundError:
            pass

    def is_stopped(self, name):
        return os.path.exists(self._file("stopped", name))

    # locks ----------------------------------------------------------
    def lock(self, name, timeout=LOCK_TIMEOUT, clock=time.monotonic):
        """Hold the program's lock (released by close() or by our death)."""
        import fcntl

        self.ensure()
        path = self._file("lock", name)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        deadline = clock() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
            if clock() >= deadline:
                os.close(fd)
                raise TryAgain("program %s is locked by another usrsvc for over %gs; try again"
                               % (name, timeout), program=name)
            time.sleep(0.02)
