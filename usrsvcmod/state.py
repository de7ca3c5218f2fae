"""Runtime state: user-stop marks and per-program locks.

One private (0700) directory per main config file, keyed by its real path,
under ``$XDG_RUNTIME_DIR/usrsvc/`` (or ``/run/user/UID/usrsvc/`` when that
exists and the variable is unset) or else ``/tmp/usrsvc-UID/``: two
configs of one user never share marks or locks. Both are cleared at
reboot, which is what a stop mark should be.
"""

import errno
import os
import time

from .config import safety
from .errors import PermissionProblem, TryAgain

LOCK_TIMEOUT = 30.0


def _quote(text):
    return text.replace("%", "%25").replace("/", "%2F")


def _unquote(text):
    return text.replace("%2F", "/").replace("%25", "%")


class RuntimeState:
    """The state directory of one main config file."""

    def __init__(self, config_path, environ=None):
        self.environ = os.environ if environ is None else environ
        key = _quote(os.path.realpath(config_path))
        if len(key) > 200:
            import hashlib

            key = hashlib.sha256(key.encode()).hexdigest()
        self.key = key
        self._verified = None  # the path ensure() last created or checked

    @property
    def root(self):
        """Where runtime state lives now. Worked out at each use, so that a
        long-running usrsvcd follows when /run/user/UID appears (the user
        logged in) or its $XDG_RUNTIME_DIR goes away (logged out)."""
        runtime = self.environ.get("XDG_RUNTIME_DIR")
        if not runtime or not os.path.isdir(runtime):
            # usrsvcd under a system unit has no XDG_RUNTIME_DIR while a login
            # shell of the same user has /run/user/UID: use it so both agree
            runtime = "/run/user/%d" % os.geteuid()
            try:
                if os.stat(runtime).st_uid != os.geteuid():
                    runtime = None
            except OSError:
                runtime = None
        if runtime:
            return os.path.join(runtime, "usrsvc")
        return os.path.join("/tmp", "usrsvc-%d" % os.geteuid())

    @property
    def path(self):
        return os.path.join(self.root, self.key)

    def candidates(self):
        """Every directory this state could have lived in (current one first)."""
        roots = [self.root, "/run/user/%d/usrsvc" % os.geteuid(), "/tmp/usrsvc-%d" % os.geteuid()]
        if self.environ.get("XDG_RUNTIME_DIR"):
            roots.append(os.path.join(self.environ["XDG_RUNTIME_DIR"], "usrsvc"))
        return [os.path.join(root, self.key) for root in dict.fromkeys(roots)]

    def ensure(self):
        """Create (or check) the state directory; checked once per place per process."""
        path = self.path
        if path != self._verified or not os.path.isdir(path):
            safety.private_dir(os.path.dirname(path))
            safety.private_dir(path)
            self._verified = path
        return path

    def _file(self, kind, name):
        return os.path.join(self.path, "%s.%s" % (_quote(name), kind))

    # user-stop marks ------------------------------------------------
    def mark_stopped(self, name):
        try:
            self.ensure()
            with open(self._file("stopped", name), "w") as handle:
                handle.write("%f\n" % time.time())
        except OSError as err:
            raise PermissionProblem("cannot record the stop of %s in %s: %s"
                                    % (name, self.path, err.strerror or err), path=self.path)

    def clear_stopped(self, name):
        try:
            os.unlink(self._file("stopped", name))
        except FileNotFoundError:
            pass
        except OSError as err:
            raise PermissionProblem("cannot clear the stop mark of %s in %s: %s"
                                    % (name, self.path, err.strerror or err), path=self.path)

    def is_stopped(self, name):
        return os.path.exists(self._file("stopped", name))

    # launch records (see proc/record.py) -------------------------------
    def read_record(self, name):
        """The program's launch record, or None. Never creates anything."""
        from .proc import record

        path = self._file("launch", name)
        if not safety.is_private_dir(os.path.dirname(path)):
            return None
        return record.read_file(path)

    def write_record(self, name, launch_record):
        """Only while holding the program's lock."""
        from .proc import record

        self.ensure()
        record.write_file(self._file("launch", name), launch_record)

    def clear_record(self, name):
        """Only while holding the program's lock. A record that cannot be removed
        (a directory planted in its place) is left: it is never read as one."""
        try:
            os.unlink(self._file("launch", name))
        except OSError:
            pass

    def all_records(self):
        """(name, LaunchRecord) for every readable record of this config."""
        from .proc import record

        directory = self.path
        if not safety.is_private_dir(directory):
            return []
        found = []
        try:
            names = [n for n in os.listdir(directory) if n.endswith(".launch")]
        except OSError:
            return []
        for entry in names:
            launch = record.read_file(os.path.join(directory, entry))
            if launch is not None:
                found.append((_unquote(entry[:-len(".launch")]), launch))
        return found

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
