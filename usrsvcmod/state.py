"""Runtime state: user-stop marks, launch records and per-program locks.

One private (0700) directory per main config file, keyed by its real path,
in the first of these places that is usable:

1. ``$XDG_RUNTIME_DIR/usrsvc/``, only when that directory is ours, mode 0700;
2. ``/run/user/UID/usrsvc/``, on the same condition (usrsvcd under a system
   unit has no XDG_RUNTIME_DIR while a login shell of the user has it);
3. ``$HOME/.cache/usrsvc/boot-BOOTID/``, when HOME is ours and nobody else
   can write it: a directory of the current boot, so state of an earlier
   boot is never read (and is removed when a new boot's directory is made);
4. ``/tmp/usrsvc-UID/``, the last resort: another user can pre-create that
   name, and then it is refused (exit 130), never used.

The first two are cleared at reboot by the system; the third by its boot
id. Two configs of one user never share marks or locks.

The directory is opened once (``O_DIRECTORY|O_NOFOLLOW`` at every level,
each level checked on the open descriptor) and every file in it is reached
relative to that descriptor, so nothing swapped in by name between a check
and a use is ever followed. Before each use the held directory is compared
with what its path names now: when it was removed (a tmp cleaner) or
replaced, it is made and checked again, and ``on_moved`` callbacks run
(usrsvcd re-takes its instance lock and rewrites its pidfile there).

File names: a program's files are ``<quoted name>.stopped|.launch|.lock``
(and with a logger ``.logger``, its launch record, and ``.logfifo``);
quoting escapes ``%``, ``/``, a leading ``.`` and a leading ``usrsvcd``, so
no program file can ever be one of the daemon's (``usrsvcd.*``), a temp
file (``.*``) or the config cache.
"""

import errno
import os
import stat
import time

from .errors import PermissionProblem, TryAgain, UnsafePathError

LOCK_TIMEOUT = 30.0
CHOICE_TTL = 1.0  # seconds a choice of base directory is reused (see RuntimeState._choice)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _quote(text):
    text = text.replace("%", "%25").replace("/", "%2F")
    if text.startswith(".") or text.startswith("usrsvcd"):
        text = "%%%02X%s" % (ord(text[0]), text[1:])
    return text


def _unquote(text):
    if text[:1] == "%" and text[1:3] in ("2E", "75"):
        text = chr(int(text[1:3], 16)) + text[3:]
    return text.replace("%2F", "/").replace("%25", "%")


def _private(st, uid):
    """The directory stat ``st`` is ours with no access for anyone else."""
    return stat.S_ISDIR(st.st_mode) and st.st_uid == uid and not st.st_mode & 0o077


def _home_ok(st, uid):
    """HOME may hold our state: ours (root's for root) and nobody else can write it."""
    from .config import safety

    return stat.S_ISDIR(st.st_mode) and st.st_uid == uid and safety.problem("", st, uid) is None


class RuntimeState:
    """The state directory of one main config file."""

    def __init__(self, config_path, environ=None):
        self.environ = os.environ if environ is None else environ
        key = _quote(os.path.realpath(config_path))
        if len(key) > 200:
            import hashlib

            key = hashlib.sha256(key.encode()).hexdigest()
        self.key = key
        self._fd = None  # the held, checked directory
        self._held = None  # (path, st_dev, st_ino) of it
        self.on_moved = []  # callables run after the directory was made again elsewhere
        self._chosen = None  # (monotonic time, _choose()) of the last look
        self._pinned = None  # the held fd, while a batch of reads uses it as it is (pinned)

    # where ---------------------------------------------------------------------------
    def _choice(self):
        """(base, parts): an existing base directory and the parts below it, ours to make;
        worked out again when the last answer is older than CHOICE_TTL (a command over
        thousands of programs asks for every one of them)."""
        import time

        now = time.monotonic()
        if self._chosen is not None and now - self._chosen[0] < CHOICE_TTL:
            return self._chosen[1]
        choice = self._choose()
        self._chosen = (now, choice)
        return choice

    def _choose(self):
        uid = os.geteuid()
        runtime = self.environ.get("XDG_RUNTIME_DIR")
        for base in ([runtime] if runtime and os.path.isabs(runtime) else []) \
                + ["/run/user/%d" % uid]:
            try:
                if _private(os.stat(base), uid):
                    return base, ("usrsvc",)
            except OSError:
                continue
        home = self.environ.get("HOME")
        if home and os.path.isabs(home):
            try:
                if _home_ok(os.stat(home), uid):
                    from .proc import procfs

                    boot = procfs.boot_id() or "unknown"
                    return home, (".cache", "usrsvc", "boot-" + boot)
            except OSError:
                pass
        return "/tmp", ("usrsvc-%d" % uid,)

    @property
    def root(self):
        """The directory that holds the state directories of all our configs, as
        chosen now: worked out at each use, so a long-running usrsvcd follows
        when /run/user/UID appears (the user logged in) or goes away."""
        base, parts = self._choice()
        return os.path.join(base, *parts)

    @property
    def path(self):
        return os.path.join(self.root, self.key)

    def candidates(self):
        """Every directory this state could have lived in (current one first)."""
        uid = os.geteuid()
        roots = [self.root, "/run/user/%d/usrsvc" % uid]
        if self.environ.get("XDG_RUNTIME_DIR"):
            roots.append(os.path.join(self.environ["XDG_RUNTIME_DIR"], "usrsvc"))
        roots.append("/tmp/usrsvc-%d" % uid)
        return [os.path.join(root, self.key) for root in dict.fromkeys(roots)]

    # the held directory ---------------------------------------------------------------
    def dirfd(self):
        """The state directory's descriptor, checked; made (or made again) when its
        path no longer names the directory held. Raises UnsafePathError (130) for
        a directory someone else could write, PermissionProblem (136) when it
        cannot be made."""
        path = self.path
        if self._fd is not None:
            try:
                st = os.lstat(path)
                if (path, st.st_dev, st.st_ino) == self._held:
                    return self._fd
            except OSError:
                pass
        moved = self._fd is not None
        fd = self._open(path)
        if self._fd is not None:
            os.close(self._fd)
        st = os.fstat(fd)
        self._fd, self._held = fd, (path, st.st_dev, st.st_ino)
        if moved:
            for callback in list(self.on_moved):
                callback()
        return fd

    def ensure(self):
        """Make (or check) the state directory; its path."""
        self.dirfd()
        return self._held[0]

    def recheck(self):
        """Open (and check) the directory again at the next use, as if it had moved."""
        self._chosen = None
        if self._held is not None:
            self._held = (None,) + self._held[1:]

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = self._held = None

    def _open(self, path):
        base, parts = self._choice()
        try:
            fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as err:
            raise PermissionProblem("cannot open %s for the runtime state: %s"
                                    % (base, err.strerror), path=base) from None
        st, uid = os.fstat(fd), os.geteuid()
        fine = _private(st, uid) if parts == ("usrsvc",) else \
            _home_ok(st, uid) if parts[0] == ".cache" else True
        if not fine:  # what was chosen by name is not what was opened
            os.close(fd)
            raise UnsafePathError(["%s: refused: it changed while it was chosen for the"
                                   " runtime state; try again" % base])
        try:
            where, made = base, []
            for name in parts + (self.key,):
                where = os.path.join(where, name)
                parent, fd = fd, None
                fresh, fd = self._step(parent, name, where, own_link=name == ".cache")
                made.append(fresh)
            if parts[-1].startswith("boot-") and made[-2]:
                _forget_other_boots(os.path.dirname(os.path.dirname(where)), parts[-1])
            if made[-1]:
                self._take_over(fd)
            return fd
        except BaseException:
            if fd is not None:
                os.close(fd)
            raise

    @staticmethod
    def _step(parent, name, where, own_link=False):
        """Open ``name`` under ``parent`` (made 0700 if missing), never through a
        symlink, and check the open directory; (made, fd). Closes ``parent``.
        With ``own_link`` (``~/.cache``, often a link to a scratch disk), a
        symlink of ours or root's is followed: nobody else can change it in our
        HOME, and what it leads to is checked like any level."""
        from .config import safety

        try:
            made = False
            try:
                os.mkdir(name, 0o700, dir_fd=parent)
                made = True
            except FileExistsError:
                pass
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
            except OSError as err:
                link = None
                if own_link and err.errno in (errno.ELOOP, errno.ENOTDIR):
                    link = os.stat(name, dir_fd=parent, follow_symlinks=False)
                if link is not None and stat.S_ISLNK(link.st_mode) \
                        and link.st_uid in (os.geteuid(), 0):
                    fd = os.open(name, _DIR_FLAGS & ~os.O_NOFOLLOW, dir_fd=parent)
                elif err.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafePathError(["%s: refused: runtime state path is not a directory"
                                           " (a symlink?); remove it" % where]) from None
                else:
                    raise
        except OSError as err:
            raise PermissionProblem("cannot make the runtime state directory %s: %s"
                                    % (where, err.strerror or err), path=where) from None
        finally:
            os.close(parent)
        st = os.fstat(fd)
        why = safety.problem(where, st)
        if why:
            os.close(fd)
            if st.st_uid != os.geteuid():
                why += " (another user made it: have it removed, or set XDG_RUNTIME_DIR to a" \
                       " private directory of yours)"
            raise UnsafePathError(["%s: refused: %s" % (where, why)])
        return made, fd

    def _take_over(self, fd):
        """A state directory made just now: bring the stop marks and launch records
        of this config from where they were (an earlier version's place, or before
        /run/user/UID appeared), so neither a user's stop nor a retitled service
        is forgotten."""
        from .config import safety
        from .proc import procfs, record

        here = os.path.join(self.root, self.key)
        booted = procfs._constants()["btime"] - 1
        for place in self.candidates():
            if place == here or not safety.is_private_dir(place):
                continue
            try:
                names = os.listdir(place)
            except OSError:
                continue
            for entry in names:
                try:
                    if entry.endswith(".stopped") and not entry.startswith("."):
                        st = os.lstat(os.path.join(place, entry))
                        if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() \
                                and st.st_mtime > booted:  # a stop of this boot
                            _create(fd, entry, b"%f\n" % st.st_mtime)
                    elif entry.endswith(".launch") and not entry.startswith("."):
                        launch = record.read_file(os.path.join(place, entry))
                        if launch is not None:
                            _create(fd, entry, launch.dumps())
                except (OSError, ValueError):
                    continue

    def _file(self, kind, name):
        """The name (relative to dirfd()) of a program's ``kind`` file."""
        return "%s.%s" % (_quote(name), kind)

    def _problem(self, what, name, err):
        return PermissionProblem("cannot %s %s in %s: %s"
                                 % (what, name, self.path, err.strerror or err), path=self.path)

    # user-stop marks ------------------------------------------------
    def mark_stopped(self, name):
        try:
            _replace(self.dirfd(), self._file("stopped", name), b"%f\n" % time.time())
        except OSError as err:
            raise self._problem("record the stop of", name, err) from None

    def clear_stopped(self, name):
        try:
            os.unlink(self._file("stopped", name), dir_fd=self.dirfd())
        except FileNotFoundError:
            pass
        except OSError as err:
            raise self._problem("clear the stop mark of", name, err) from None

    def is_stopped(self, name):
        fd = self._existing()
        if fd is None:
            return False  # no state directory: no mark (and status makes none)
        try:
            st = os.stat(self._file("stopped", name), dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        except OSError:
            return True  # unreadable here is not "not stopped": the safe answer
        return stat.S_ISREG(st.st_mode)

    # launch records (see proc/record.py) -------------------------------
    def read_record(self, name, kind="launch"):
        """The program's launch record (``kind`` "logger": its logger's), or None.
        Never creates anything."""
        fd = self._existing()
        if fd is None:
            return None
        from .proc import record

        return record.read_file(self._file(kind, name), dir_fd=fd)

    def pin(self):
        """From now until unpin(), reads (records, stop marks) use the directory
        as opened and checked now, not looked up again by path for each
        (``status all`` of ten thousand programs). Only for a batch of reads.
        The pin holds its own descriptor (dirfd() may replace the held one)."""
        self.unpin()
        fd = self._existing()
        self._pinned = os.dup(fd) if fd is not None else None

    def unpin(self):
        if self._pinned is not None:
            os.close(self._pinned)
            self._pinned = None

    def _existing(self):
        """dirfd() when the state directory exists (status never makes it)."""
        if self._pinned is not None:
            return self._pinned
        if self._fd is None and not os.path.isdir(self.path):
            return None
        try:
            return self.dirfd()
        except (OSError, UnsafePathError, PermissionProblem):
            return None

    def write_record(self, name, launch_record, kind="launch"):
        """Only while holding the program's lock."""
        from .proc import record

        record.write_file(self._file(kind, name), launch_record, dir_fd=self.dirfd())

    def clear_record(self, name, kind="launch"):
        """Only while holding the program's lock. A record that cannot be removed
        (a directory planted in its place) is left: it is never read as one."""
        try:
            os.unlink(self._file(kind, name), dir_fd=self.dirfd())
        except (OSError, UnsafePathError, PermissionProblem):
            pass

    def all_records(self):
        """(name, LaunchRecord) for every readable record of this config."""
        fd = self._existing()
        if fd is None:
            return []
        from .proc import record

        found = []
        try:
            names = [n for n in os.listdir(fd) if n.endswith(".launch") and not n.startswith(".")]
        except OSError:
            return []
        for entry in names:
            launch = record.read_file(entry, dir_fd=fd)
            if launch is not None:
                found.append((_unquote(entry[:-len(".launch")]), launch))
        return found

    # files of the daemon and the config cache -----------------------------------------
    def read(self, name, limit=1 << 24):
        """The bytes of our own regular file ``name`` in the state directory, or None."""
        fd = self._existing()
        if fd is None:
            return None
        return read_at(fd, name, limit)

    def open_own(self, name):
        """(fd, size) of our own regular file ``name`` in the state directory, that
        nobody else can write (as read() checks), for reading parts of it; None.
        The caller closes the fd."""
        fd = self._existing()
        if fd is None:
            return None
        return open_at(fd, name)

    @staticmethod
    def digests(program):
        """The program's launch digests for the config cache to keep (status
        compares them with launch records), or None when they depend on more
        than the config (an env file's content)."""
        if program.env_file:
            return None
        from .proc.record import digests

        return digests(program)

    def write(self, name, data):
        """Replace ``name`` atomically (temp file of an unpredictable name, rename)."""
        from . import atomic

        atomic.write(name, data, dir_fd=self.dirfd())

    # locks ----------------------------------------------------------
    def lock(self, name, timeout=LOCK_TIMEOUT, clock=time.monotonic):
        """Hold the program's lock (released by close() or by our death)."""
        return self.lock_file(self._file("lock", name), timeout, clock,
                              "program %s" % name, program=name)

    def lock_file(self, filename, timeout=0, clock=time.monotonic, what=None, **fields):
        """An flock on ``filename`` in the state directory, as an fd; TryAgain
        after ``timeout`` seconds (0: at once) when someone else holds it."""
        import fcntl

        fd = os.open(filename, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
                     | os.O_NONBLOCK, 0o600, dir_fd=self.dirfd())
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
                raise TryAgain("%s is locked by another usrsvc for over %gs; try again"
                               % (what or filename, timeout), **fields)
            time.sleep(0.02)


def open_at(dir_fd, name):
    """(fd, size) of our own regular file ``name`` under ``dir_fd`` that nobody else
    can write (never through a symlink), or None."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=dir_fd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        return None
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        os.close(fd)
        return None
    return fd, st.st_size


def read_at(dir_fd, name, limit=1 << 24):
    """Our own regular file ``name`` under ``dir_fd`` (never through a symlink), or None."""
    opened = open_at(dir_fd, name)
    if opened is None:
        return None
    fd, size = opened
    try:
        chunks, left = [], min(size + 1, limit)
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _replace(dir_fd, name, data):
    from . import atomic

    atomic.write(name, data, dir_fd=dir_fd)


def _create(dir_fd, name, data):
    """Write a new file ``name`` (never over an existing one)."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600, dir_fd=dir_fd)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _forget_other_boots(parent, current):
    """Remove the state of earlier boots from ``parent`` (best effort)."""
    import shutil

    try:
        fd = os.open(parent, _DIR_FLAGS)
    except OSError:
        return
    try:
        for entry in os.listdir(fd):
            if entry.startswith("boot-") and entry != current:
                shutil.rmtree(entry, dir_fd=fd, ignore_errors=True)
    finally:
        os.close(fd)
