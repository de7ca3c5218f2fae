"""``logger = COMMAND``: a program's output through a FIFO to a logger process.

Neither the service nor its logger is our child, so the pipe between them
cannot be one made by a common parent: it is a FIFO in the program's
private runtime state directory (``<quoted name>.logfifo``, mode 0600).

- The service gets the FIFO opened O_RDWR as its stdout (and stderr unless
  that has a file of its own). Opening O_RDWR never blocks, and as the
  service itself holds a read side it never gets SIGPIPE or EPIPE: while no
  logger runs its writes fill the pipe buffer and then block. No line is
  lost; the service waits.
- The logger gets the FIFO opened O_RDWR as its stdin, so it never reads
  EOF: it outlives the service's restarts (a logger that exits at EOF, as
  s6-log does, would otherwise end whenever the service does). Its own
  stdout and stderr go to the program's ``stdout`` file, where a logger's
  complaints land. It runs through ``/bin/sh -c 'exec COMMAND'`` (``~`` and
  ``$VARS`` work, and the process is the logger itself, not a shell), in
  the program's directory and environment, in a session of its own.
- It is found again by a launch record of its own (``<quoted name>.logger``
  next to the program's ``.launch``), never by a scan: its command line is
  no business of ``proctitle_re``.
- Stopping ends the service first, then waits (a short grace) until the
  logger has read everything the pipe holds, then sends it SIGTERM.
"""

import os
import stat

from ..errors import LaunchError, PermissionProblem

KIND = "logger"  # the kind of its launch record in the state directory
FIFO_KIND = "logfifo"
WINDOW = 0.5  # seconds a fresh logger must live to count as started
DRAIN = 5.0  # seconds at most to wait for the logger to empty the pipe on stop
SHELL = "/bin/sh"


def fifo_name(state, program):
    return state._file(FIFO_KIND, program.name)


def companion(program):
    """The logger as a Program of its own (for spawn, kill and records)."""
    argv = (SHELL, "-c", "exec " + program.logger)
    return program.replace(command=program.logger, argv=argv, useshell=True, stderr=None,
                           autopid=False, scan_for_process=False, logger=None,
                           title_suffix=None, proctitle_re="", stop_signal=15)


def open_fifo(state, program, flags=os.O_RDWR):
    """The program's FIFO, made if missing, opened (never blocking: O_RDWR)
    without following a symlink; it must be a FIFO of ours that nobody else
    can open. PermissionProblem (exit 136) otherwise."""
    dir_fd, name = state.dirfd(), fifo_name(state, program)
    try:
        try:
            os.mkfifo(name, 0o600, dir_fd=dir_fd)
        except FileExistsError:
            pass
        fd = os.open(name, flags | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError as err:
        raise PermissionProblem("cannot open the logger pipe %s/%s of program %s: %s. Fix: remove"
                                " it (usrsvc makes it again)" % (state.path, name, program.name,
                                                                  err.strerror or err),
                                path=state.path) from None
    st = os.fstat(fd)
    if not stat.S_ISFIFO(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        os.close(fd)
        raise PermissionProblem("%s/%s is not a private FIFO of yours: the output of program %s"
                                " is not sent there. Fix: remove it (usrsvc makes it again)"
                                % (state.path, name, program.name), path=state.path)
    import fcntl

    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return fd


def service_streams(state):
    """The ``streams`` hook of spawn.launch_many for services with a logger:
    /dev/null in, the FIFO out (and err, unless stderr has its own file)."""
    from . import spawn

    def streams(program):
        if not program.logger:
            return None
        fifo = open_fifo(state, program)
        try:
            null_fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
            err_fd = fifo if program.stderr is None else spawn.open_log(program.stderr, program,
                                                                         "stderr")
        except BaseException:
            os.close(fifo)
            raise
        return null_fd, fifo, err_fd

    return streams


def find(state, program):
    """ProcInfo of the program's running logger (by its launch record), or None."""
    from . import identity, procfs

    record = state.read_record(program.name, KIND) if state is not None else None
    if record is None or (record.boot and record.boot != procfs.boot_id()):
        return None
    info = procfs.read(record.pid)
    if info is None or info.zombie or not info.owned_by(os.geteuid()):
        return None
    if not identity._same_start(info, record.ticks, record.start_time):
        return None
    return info


def start(state, program, nofile=None, clock=None, window=WINDOW):
    """Launch the logger unless it runs (the caller holds the program's lock);
    returns (ProcInfo, started?). LaunchError (exit 137) when it cannot be
    executed or dies within ``window`` seconds, with its last words (usrsvcd
    passes 0: it never blocks its loop, and sees a quick death by pidfd)."""
    import time

    from . import record, spawn

    info = find(state, program)
    if info is not None:
        return info, False
    clock = clock or time.monotonic
    logger = companion(program)

    def streams(_):
        fifo = open_fifo(state, program)
        try:
            out = spawn.open_log(program.stdout, program, "stdout")
        except BaseException:
            os.close(fifo)
            raise
        return fifo, out, out

    offsets = spawn.log_offsets(logger)
    try:
        launch = spawn.launch(logger, nofile=nofile,
                              streams=streams)
    except LaunchError as err:
        raise LaunchError("logger of %s not started: %s" % (program.name, err.message),
                          **err.fields) from None
    if launch.middle:
        spawn.reap([launch.middle], block=True)
    info = _survives(launch, clock, window)
    if info is None:
        raise LaunchError(_died(program, launch, offsets), pid=launch.pid)
    state.write_record(program.name, record.make(logger, info, launch.start_time, launch.sid,
                                                 launch.ticks), KIND)
    return info, True


def _survives(launch, clock, window):
    """The launched logger's ProcInfo if it is alive ``window`` seconds on, else None."""
    import time

    from . import procfs

    deadline = clock() + window
    while True:
        info = procfs.read(launch.pid)
        if info is None or info.zombie:
            return None
        if clock() >= deadline:
            return info
        time.sleep(0.02)


def _died(program, launch, offsets):
    from . import spawn

    how = spawn.exit_status(launch.pid)  # ours to reap when usrsvc is its subreaper
    tail = spawn.log_tail(companion(program), offsets)
    text = "logger of %s exited at once%s (%s: [Program:%s] logger = %s)" % (
        program.name, ", " + how if how else "", program.source, program.name, program.logger)
    if tail:
        text += "\n  its last words (in %s):\n    %s" % (program.stdout, "\n    ".join(tail))
    return text + "\n  the service was not started. Fix: run the logger command by hand to see" \
                  " why it stops"


def pending_bytes(state, program):
    """Bytes in the FIFO not yet read by the logger (0 when there is no FIFO)."""
    import fcntl
    import struct
    import termios

    try:
        fd = os.open(fifo_name(state, program), os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC
                     | os.O_NOFOLLOW, dir_fd=state.dirfd())
    except OSError:
        return 0
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return 0
        return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    finally:
        os.close(fd)


def drain(state, program, info, clock=None, limit=DRAIN):
    """Wait (up to ``limit`` seconds) for the logger to read what the pipe holds;
    returns the bytes left."""
    import time

    from . import procfs

    clock = clock or time.monotonic
    deadline = clock() + limit
    while True:
        left = pending_bytes(state, program)
        if not left or clock() >= deadline or not procfs.alive(info.pid, info.start_time):
            return left
        time.sleep(0.02)


def stop(state, program):
    """End the logger (drained first): (pid, note) or None when none ran.
    The caller holds the program's lock and has stopped the service."""
    from . import kill

    info = find(state, program)
    if info is None:
        state.clear_record(program.name, KIND)
        return None
    left = drain(state, program, info)
    target = kill.StopTarget(program, info, 15, program.term_to_kill_seconds)
    kill.stop_many([target])
    if target.error:
        return info.pid, "logger pid %d: %s" % (info.pid, target.error)
    state.clear_record(program.name, KIND)
    note = "stopped its logger, pid %d%s" % (
        info.pid, " (SIGKILL after %gs)" % program.term_to_kill_seconds if target.killed else "")
    if left:
        note += " (%d bytes it had not read in %gs were left in the pipe)" % (left, DRAIN)
    return info.pid, note
