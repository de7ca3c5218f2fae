"""Starting usrsvcd: one instance per config, detached or in the foreground.

The instance lock is an flock on ``usrsvcd.lock`` in the runtime state
directory, taken before detaching and inherited by the daemon, so two
simultaneous starts cannot both win. The detaching command waits (briefly)
for the daemon to say it is up, through a pipe the daemon closes; the
caller's stdout is never held open.
"""

import errno
import fcntl
import os
import sys

from .. import exitcodes
from ..errors import DaemonRunning
from ..proc import pidfile
from .core import Daemon
from .log import EventLog

READY_TIMEOUT = 30.0


def _take_lock(ctx):
    path = os.path.join(ctx.state.ensure(), "usrsvcd.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        os.close(fd)
        if err.errno in (errno.EAGAIN, errno.EACCES):
            info = ctx.running_pid()
            raise DaemonRunning("usrsvcd is already running for %s (pid %s)"
                                % (ctx.path, info.pid if info else "unknown"))
        raise
    return fd


def start(ctx):
    config = ctx.config  # validated before anything else happens
    info = ctx.running_pid()
    if info is not None:
        raise DaemonRunning("usrsvcd is already running for %s (pid %d)" % (ctx.path, info.pid))
    lock_fd = _take_lock(ctx)
    if ctx.opts.foreground:
        return _serve(ctx, config, lock_fd, None)
    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(read_fd)
            _detach_and_serve(ctx, config, lock_fd, write_fd)
        finally:
            os._exit(0)
    os.close(write_fd)
    os.close(lock_fd)
    os.waitpid(child, 0)
    report = _read_all(read_fd)
    if report.startswith("up "):
        ctx.say("usrsvcd started, pid %s; log: %s" % tuple(report[3:].split(" ", 1)))
        return exitcodes.SUCCESS
    ctx.err.write("usrsvcd: failed to start: %s\n" % (report or "no word from the daemon"))
    return exitcodes.UNKNOWN_FAILURE


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


def _detach_and_serve(ctx, config, lock_fd, report_fd):
    import daemon

    umask = os.umask(0o022)
    os.umask(umask)
    context = daemon.DaemonContext(
        working_directory=os.environ.get("HOME") or "/",
        umask=umask,
        files_preserve=[lock_fd, report_fd],
        detach_process=True,
        signal_map={},
        prevent_core=False,  # its RLIMIT_CORE would pass on to every service it starts
    )
    with context:
        _serve(ctx, config, lock_fd, report_fd)


def _serve(ctx, config, lock_fd, report_fd):
    """Run the daemon in this process until SIGTERM; returns the exit code."""
    import setproctitle

    main = config.main
    stdout_path = main.usrsvcd_stdout
    if report_fd is not None and not stdout_path:
        stdout_path = os.path.join(ctx.state.path, "usrsvcd.log")
    log = EventLog(main.log_format, stdout_path, main.usrsvcd_stderr or (stdout_path and "stdout"),
                   ctx.opts.debug)
    setproctitle.setproctitle("usrsvcd: %s" % ctx.path)
    own_pidfile = ctx.pidfile
    try:
        pidfile.write(own_pidfile, os.getpid())
    except OSError as err:
        log.error(None, "pidfile_error", "cannot write %s: %s" % (own_pidfile, err.strerror))
    daemon = Daemon(config, log, ctx.state, ctx.load)
    if report_fd is not None:
        os.write(report_fd, ("up %d %s" % (os.getpid(), stdout_path)).encode())
        os.close(report_fd)
    try:
        daemon.run()
    finally:
        pidfile.remove(own_pidfile, expected_pid=os.getpid())
        os.close(lock_fd)
        log.event(None, "exited")
    sys.stdout.flush()
    return exitcodes.SUCCESS
