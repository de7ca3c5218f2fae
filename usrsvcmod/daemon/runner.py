"""Running usrsvcd: one instance per config, found by its lock, detached or not.

The instance lock is an flock on ``usrsvcd.lock`` in the runtime state
directory, taken by the daemon process itself once its title is
``usrsvcd: CONFIG``, so two simultaneous starts cannot both win and the
lock table (/proc/locks) names the daemon's own pid: an flock records the
pid that took it, so a lock taken by the starting command and inherited
would name a process long gone. find_daemon() goes by that lock first and
by the pidfile only after it, and takes a pid for the daemon only when it
is a live process of ours titled exactly ``usrsvcd: CONFIG``.

The detaching command waits (briefly) for the daemon to say it is up,
through a pipe the daemon closes; the caller's stdout is never held open.

Nothing here prints: start/stop/reread return what happened or raise a
UsrsvcError, and usrsvcd.py says it.
"""

import errno
import fcntl
import json
import os
import signal
import time

from ..errors import DaemonFailed, DaemonRunning, PermissionProblem, TryAgain, UsrsvcError
from ..proc import pidfile, procfs

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
REREAD_TIMEOUT = 15.0
LOCK = "usrsvcd.lock"
PIDFILE = "usrsvcd.pid"
TITLE = "usrsvcd: "


class Started:
    """A detached daemon that said it is up."""

    def __init__(self, pid, log):
        self.pid = pid
        self.log = log


# finding the daemon --------------------------------------------------------------------------
def title(config_path):
    """The daemon's process title (setproctitle), the one thing find_daemon trusts."""
    return TITLE + config_path


def is_daemon_title(cmdline, config_path):
    """True when argv is exactly the title of a usrsvcd of ``config_path``.

    Never a substring match: ``tail -f usrsvcd.log`` or an editor on the
    config is not the daemon. The path may be spelled another way (a
    symlink) as long as it is the same file, as the runtime state is keyed
    by the real path.
    """
    if len(cmdline) != 1 or not cmdline[0].startswith(TITLE):
        return False
    path = cmdline[0][len(TITLE):]
    return path == config_path or os.path.realpath(path) == os.path.realpath(config_path)


def default_pidfile(state):
    return os.path.join(state.path, PIDFILE)


def pidfile_path(main, state):
    """The daemon's pidfile: ``[Main] pidfile``, else usrsvcd.pid in the runtime state directory."""
    return main.pidfile or default_pidfile(state)


def find_daemon(state, config_path, configured_pidfile=None):
    """The running usrsvcd of ``config_path`` as a ProcInfo, or None.

    First the holder of its instance lock, in every place the runtime state
    could have been when it started (RuntimeState.candidates); then, for a
    daemon whose lock cannot be seen, ``configured_pidfile`` and the default
    pidfile of each of those places, under the pid-plus-start-time rule.
    Either way the pid must be a live process of ours with the daemon's
    exact title (is_daemon_title). Reads only; the config is not needed.
    """
    places = state.candidates()
    for pid in lock_holders([os.path.join(place, LOCK) for place in places]):
        info = _verified(pid, config_path)
        if info is not None:
            return info
    paths = [configured_pidfile] if configured_pidfile else []
    paths += [os.path.join(place, PIDFILE) for place in places]
    for path in dict.fromkeys(paths):
        pid, written_at, _ = pidfile.read(path)
        if pid is None:
            continue
        info = _verified(pid, config_path)
        if info is not None and info.start_time <= written_at + 1.0:
            return info
    return _by_title(config_path)


def _by_title(config_path):
    """The oldest live process of ours titled exactly as the daemon of
    ``config_path``: the last resort when its lock and pidfile are gone (a
    tmp cleaner removed the state directory), so a second one never starts."""
    uid, found = os.geteuid(), None
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat("/proc/" + entry).st_uid != uid:
                continue
        except OSError:
            continue
        info = _verified(int(entry), config_path)
        if info is not None and (found is None or info.start_time < found.start_time):
            found = info
    return found


def _verified(pid, config_path):
    info = procfs.read(pid)
    if info is None or info.zombie or pid == os.getpid() or not info.owned_by(os.geteuid()):
        return None
    return info if is_daemon_title(info.cmdline, config_path) else None


def lock_holders(paths, table="/proc/locks"):
    """Pids holding an flock on any of ``paths`` per the kernel's lock table.

    Exact device-and-inode matches come first; then inode-only ones,
    because on btrfs and overlayfs stat() reports another device number
    than the lock table does (callers verify every pid anyway).
    """
    wanted = {}
    for path in paths:
        try:
            st = os.lstat(path)
        except OSError:
            continue
        wanted.setdefault(st.st_ino, set()).add((os.major(st.st_dev), os.minor(st.st_dev)))
    if not wanted:
        return []
    try:
        with open(table) as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    exact, same_inode = [], []
    for line in lines:
        # "1: FLOCK  ADVISORY  WRITE 1234 fe:00:56789 0 EOF"; a waiter's line has "->" first
        fields = line.split()
        if len(fields) < 6 or fields[1] != "FLOCK":
            continue
        try:
            major, minor, inode = fields[5].split(":")
            device, inode, pid = (int(major, 16), int(minor, 16)), int(inode), int(fields[4])
        except ValueError:
            continue
        if pid > 0 and inode in wanted:
            (exact if device in wanted[inode] else same_inode).append(pid)
    return list(dict.fromkeys(exact + same_inode))


def repair_pidfile(path, pid):
    """Rewrite the daemon's pidfile (atomically) unless it already holds ``pid``.

    True when it was rewritten. For the daemon's periodic reconcile: an
    emptied or overwritten pidfile must not hide it. OSError goes to the
    caller, which logs it.
    """
    if pidfile.read(path)[0] == pid:
        return False
    pidfile.write(path, pid)
    return True


def _running(config_path, info):
    """DaemonRunning naming ``info``, find_daemon's answer (None: the lock is held, by whom
    cannot be told, e.g. a daemon of an older version whose pidfile is gone)."""
    return DaemonRunning("usrsvcd is already running for %s (pid %s)"
                         % (config_path, info.pid if info else "unknown"),
                         pid=info.pid if info else None)


# stop and reread ------------------------------------------------------------------------------
def _wait_gone(info, timeout):
    deadline = time.monotonic() + timeout
    while procfs.alive(info.pid, info.start_time):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def stop(info, timeout=STOP_TIMEOUT):
    """SIGTERM to the daemon ``info`` (find_daemon's), SIGKILL after ``timeout``: it owns no service.

    SIGCONT follows the SIGTERM: a daemon stopped by SIGSTOP (or Ctrl-Z in --foreground)
    would otherwise never act on it and be killed at the timeout, with no clean exit
    (in init mode, no ordered stop of its programs)."""
    try:
        os.kill(info.pid, signal.SIGTERM)
        os.kill(info.pid, signal.SIGCONT)
        if not _wait_gone(info, timeout):
            os.kill(info.pid, signal.SIGKILL)
            _wait_gone(info, 5.0)
    except ProcessLookupError:
        pass  # it exited on its own meanwhile


def reread(state, info, timeout=REREAD_TIMEOUT):
    """SIGUSR1 to the daemon ``info``; its answer: ("ok", []), ("rejected", problems) or None
    when it did not confirm within ``timeout`` seconds."""
    report = _read_json(state)
    before = (report.get("generation") or 0) if report.get("pid") == info.pid else 0
    os.kill(info.pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = _read_json(state)
        if report.get("pid") == info.pid and (report.get("generation") or 0) > before:
            if report.get("status") == "ok":
                return "ok", []
            return "rejected", list(report.get("problems", ()))
        time.sleep(0.02)
    return None


def _read_json(state):
    try:
        report = json.loads(state.read("usrsvcd.reload") or b"{}")
    except ValueError:
        return {}
    return report if isinstance(report, dict) else {}


# start ----------------------------------------------------------------------------------------
def start(config_path, config, state, loader, foreground=False, debug=False, init=False):
    """Start the daemon of ``config`` (validated by the caller).

    Detached: returns Started once it is up. In the foreground: serves
    until SIGTERM, then returns the daemon's exit status (0, or 137 when a
    oneshot job failed in init mode: ``init``, see initmode.py). Raises DaemonRunning (135) when one
    runs already, DaemonFailed when a detached one never came up.
    """
    own_pidfile = pidfile_path(config.main, state)
    info = find_daemon(state, config_path, own_pidfile)
    if info is not None:
        raise _running(config_path, info)
    state.ensure()  # an unsafe state directory is refused here, not in the detached child
    state.close()  # opened again, and held, by the daemon (detaching closes every fd)
    if foreground or init:
        return _serve(config_path, config, state, loader, debug, None, init)
    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(read_fd)
            _detach_and_serve(config_path, config, state, loader, debug, _Report(write_fd))
        finally:
            os._exit(0)
    os.close(write_fd)
    os.waitpid(child, 0)
    report = _read_all(read_fd)
    if report.startswith("up "):
        pid, log = report[3:].split(" ", 1)
        return Started(int(pid), log)
    if report == "running":  # another start won the lock meanwhile
        raise _running(config_path, find_daemon(state, config_path, own_pidfile))
    raise DaemonFailed("failed to start: %s" % (report or "no word from the daemon"))


class _Report:
    """The detached daemon's one message to the command that started it."""

    def __init__(self, fd):
        self.fd = fd

    def send(self, text):
        if self.fd is not None:
            os.write(self.fd, text.encode())
            os.close(self.fd)
            self.fd = None


def _read_all(fd):
    import select

    chunks = []
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while poller.poll(READY_TIMEOUT * 1000):
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace").strip()


def _workdir():
    """HOME, where the daemon sits; / when HOME is unset or is no directory (a
    service account's HOME=/nonexistent)."""
    home = os.environ.get("HOME")
    return home if home and os.path.isabs(home) and os.path.isdir(home) else "/"


def _detach_and_serve(config_path, config, state, loader, debug, report):
    import daemon

    umask = os.umask(0o022)
    os.umask(umask)
    context = daemon.DaemonContext(
        working_directory=_workdir(),
        umask=umask,
        files_preserve=[report.fd],
        detach_process=True,
        signal_map={},
        prevent_core=False,  # its RLIMIT_CORE would pass on to every service it starts
    )
    with context:
        try:
            _serve(config_path, config, state, loader, debug, report)
        except DaemonRunning:
            report.send("running")
        except (UsrsvcError, OSError) as err:
            report.send(getattr(err, "message", None) or str(err))


def _take_lock(state, config_path, configured_pidfile):
    try:
        return state.lock_file(LOCK)
    except TryAgain:
        raise _running(config_path, find_daemon(state, config_path, configured_pidfile)) from None
    except OSError as err:
        path = os.path.join(state.path, LOCK)
        hint = " (a symlink? remove it)" if err.errno == errno.ELOOP else ""
        raise PermissionProblem("cannot open the instance lock %s: %s%s"
                                % (path, err.strerror, hint), path=path) from None


class _Instance:
    """The daemon's hold on its runtime state: the instance lock and, unless
    ``[Main] pidfile`` names one, the default pidfile. When the state
    directory is made again (removed by a tmp cleaner, or /run/user/UID
    appeared: RuntimeState.on_moved), both are taken again there; if another
    usrsvcd holds the new lock, this one leaves (its services keep running)."""

    def __init__(self, state, config_path, main, lock_fd):
        self.state, self.config_path, self.main, self.lock_fd = state, config_path, main, lock_fd
        self.daemon = None

    def moved(self):
        log = self.daemon.log if self.daemon is not None else None
        try:
            fd = self.state.lock_file(LOCK)
        except (UsrsvcError, OSError) as err:
            if not isinstance(err, TryAgain):  # a full disk, a refused directory: the old
                if log is not None:           # lock still holds; try again next time
                    log.error(None, "state_error", "cannot take the instance lock again in %s:"
                              " %s" % (self.state.path, getattr(err, "message", None) or err))
                self.state.recheck()  # the next use opens it again, and calls us again
                return
            if log is not None:
                log.error(None, "state_error", "runtime state directory %s was made again and"
                          " its instance lock cannot be taken (%s): leaving; the services keep"
                          " running" % (self.state.path, getattr(err, "message", None) or err))
            if self.daemon is not None:
                self.daemon.running = False
            return
        os.close(self.lock_fd)
        self.lock_fd = fd
        if self.daemon is not None:
            self.daemon.own_pidfile = pidfile_path(self.main, self.state)
            log.event(None, "state_moved", "runtime state directory made again: %s"
                      % self.state.path)
            self.daemon._repair_own_pidfile()


def _serve(config_path, config, state, loader, debug, report, init=False):
    """Run the daemon in this process until SIGTERM; its exit status."""
    import setproctitle

    from .core import Daemon  # here: finding or stopping the daemon needs none of the loop
    from .log import EventLog

    main = config.main
    own_pidfile = pidfile_path(main, state)
    # the title first: whoever holds the lock is then always recognisable
    setproctitle.setproctitle(title(config_path))
    instance = _Instance(state, config_path, main, _take_lock(state, config_path, own_pidfile))
    state.on_moved.append(instance.moved)
    try:
        stdout_path = main.usrsvcd_stdout
        if report is not None and not stdout_path:
            stdout_path = os.path.join(state.path, "usrsvcd.log")
        log = EventLog(main.log_format, stdout_path,
                       main.usrsvcd_stderr or (stdout_path and "stdout"), debug)
        try:
            pidfile.write(own_pidfile, os.getpid())
        except OSError as err:
            log.error(None, "pidfile_error", "cannot write %s: %s" % (own_pidfile, err.strerror))
        daemon = Daemon(config, log, state, loader)
        daemon.own_pidfile = own_pidfile  # its reconcile repairs it (repair_pidfile)
        if init:
            _init_mode(daemon, config, state, log)
        instance.daemon = daemon
        if report is not None:
            report.send("up %d %s" % (os.getpid(), stdout_path))
        try:
            daemon.run()
        finally:
            pidfile.remove(daemon.own_pidfile, expected_pid=os.getpid())
            log.event(None, "exited", "status %d" % daemon.exit_code if daemon.exit_code else "")
        return daemon.exit_code
    finally:
        os.close(instance.lock_fd)


def _init_mode(daemon, config, state, log):
    """usrsvcd --init: a boot of the container (initmode.py), stdout = - piped to us."""
    from ..proc import spawn
    from . import initmode
    from .console import Console

    initmode.prepare(state, config)
    if not config.main.usrsvcd_stdout and not config.main.usrsvcd_stderr:
        log.err = log.out  # one stream on our stdout, errors included (a container's log)
    daemon.init_mode = True
    daemon.implicit = initmode.implicit_requires(config)
    daemon.console = spawn.console = Console(log)
    log.event(None, "init_mode", "pid %d%s: oneshot jobs first, every program stopped at exit"
              % (os.getpid(), ", under the reaper pid %d" % os.getppid()))
