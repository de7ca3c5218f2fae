"""[[Hooks]]: short commands run around a program's start and stop.

A hook is not a service: it is our own child (usrsvc's or usrsvcd's), run
by /bin/sh in a session of its own with the program's environment,
directory and umask, and reaped here. Its output (stdout and stderr) goes
through a pipe to the end of the program's stdout log, and its last lines
are kept for the message when it fails. It is bounded by the hooks'
``timeout``: at the deadline, or as soon as the hook itself exits, its
whole process group is killed, so nothing it started in the background
outlives it (a long-lived helper belongs in a [Program:NAME] of its own).

``run`` blocks until the hook is over: the CLI calls it in line, usrsvcd
in a worker thread whose result reaches the loop through ``submit``.
"""

import os
import signal
import time

MOMENTS = ("pre_start", "post_start", "pre_stop", "post_stop")
TAIL_LINES = 5
TAIL_BYTES = 4096
SHELL = "/bin/sh"
DRAIN = 0.5  # seconds to read what a finished hook's pipe still holds


class HookResult:
    """How one hook ended. ``ok``: it exited 0 within its time."""

    __slots__ = ("program", "moment", "status", "signal", "timed_out", "tail", "error",
                 "seconds")

    def __init__(self, program, moment):
        self.program, self.moment = program, moment
        self.status = self.signal = self.error = None
        self.timed_out = False
        self.tail = b""
        self.seconds = 0.0

    @property
    def ok(self):
        return self.error is None and not self.timed_out and self.status == 0

    def describe(self):
        """'pre_start hook failed: exit status 3; its last output: ...' (escaped)."""
        from ..escape import one_line

        if self.error is not None:
            why = "could not be run: %s" % self.error
        elif self.timed_out:
            why = "timed out after %gs (timeout = %g in [[Hooks]]); its process group was" \
                  " killed" % (self.seconds, self.program.hooks.timeout)
        elif self.signal is not None:
            why = "killed by signal %s" % _signal_name(self.signal)
        else:
            why = "exit status %d" % self.status
        text = "%s hook failed: %s" % (self.moment, why)
        lines = self.tail.decode("utf-8", "replace").strip().splitlines()[-TAIL_LINES:]
        if lines:
            text += "; its last output: " + " | ".join(one_line(line) for line in lines)
        return text


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def run(program, moment, pid=None, clock=time.monotonic):
    """Run ``program``'s ``moment`` hook to its end; a HookResult, or None
    when the program has no such hook. Never raises for the hook's own
    failures (they are in the result)."""
    command = getattr(program.hooks, moment)
    if not command:
        return None
    result = HookResult(program, moment)
    started = clock()
    try:
        log_fd = _open_log(program)
    except Exception as err:  # noqa: BLE001 - PermissionProblem and the like: said in the result
        result.error = getattr(err, "message", None) or str(err)
        return result
    try:
        _run(program, moment, command, pid, log_fd, result, started, clock)
    except OSError as err:
        result.error = "%s: %s" % (err.filename or "/bin/sh", err.strerror or err)
    finally:
        os.close(log_fd)
    result.seconds = round(clock() - started, 3)
    if not result.ok:
        _say(program, result.describe())
    return result


def _open_log(program):
    from .spawn import open_log

    return open_log(program.stdout, program, "stdout")


def _environment(program, moment, pid):
    from .spawn import helper_environment

    env = helper_environment(program)
    env["USRSVC_PROGRAM"] = program.name
    env["USRSVC_HOOK"] = moment
    if pid is not None:
        env["USRSVC_PID"] = str(pid)
    return env


def _run(program, moment, command, pid, log_fd, result, started, clock):
    import subprocess

    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    try:
        child = subprocess.Popen(
            [SHELL, "-c", command], stdin=subprocess.DEVNULL, stdout=write_fd,
            stderr=write_fd, cwd=program.directory, env=_environment(program, moment, pid),
            start_new_session=True, close_fds=True, restore_signals=True,
            umask=-1 if program.umask is None else program.umask)
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    try:
        _wait(child, read_fd, log_fd, result, started + program.hooks.timeout, clock)
    finally:
        os.close(read_fd)
        _end_group(child.pid)
        child.wait()
    if not result.timed_out:
        code = child.returncode
        result.status, result.signal = (code, None) if code >= 0 else (None, -code)


def _wait(child, read_fd, log_fd, result, deadline, clock):
    """Copy the hook's output to the log until it exits or the deadline passes."""
    import select

    pidfd = os.pidfd_open(child.pid)
    try:
        poller = select.poll()
        poller.register(read_fd, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        exited_at = None
        while True:
            now = clock()
            if exited_at is None and now >= deadline:
                result.timed_out = True
                return
            limit = deadline if exited_at is None else exited_at + DRAIN
            if now >= limit:
                return
            ready = dict(poller.poll(max(0.0, limit - now) * 1000))
            if ready.get(pidfd) and exited_at is None:
                exited_at = clock()
                poller.unregister(pidfd)
            if read_fd in ready:
                data = os.read(read_fd, 65536)
                if not data:
                    return  # every writer is gone
                _copy(log_fd, data)
                result.tail = (result.tail + data)[-TAIL_BYTES:]
    finally:
        os.close(pidfd)


def _copy(log_fd, data):
    try:
        while data:
            data = data[os.write(log_fd, data):]
    except OSError:
        pass  # a full disk loses hook output, never the hook's result


def _end_group(pgid):
    """Kill what is left of the hook's session (its group): while the hook's
    own process is not reaped its pid cannot name another group."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _say(program, text):
    """One line of ours in the program's log: why a hook failed."""
    from .spawn import open_log

    line = "%s usrsvc: [Program:%s] %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"),
                                             program.name, text)
    try:
        fd = open_log(program.stdout, program, "stdout")
    except Exception:  # noqa: BLE001 - the log is where it would have been said
        return
    try:
        _copy(fd, line.encode("utf-8", "replace"))
    finally:
        os.close(fd)


def before_start(programs):
    """pre_start of each program, in turn: (the programs to launch, [(program,
    why)] of those whose hook failed: they are not launched)."""
    go, refused = [], []
    for program in programs:
        result = run(program, "pre_start")
        if result is None or result.ok:
            go.append(program)
        else:
            refused.append((program, result.describe()))
    return go, refused


def note(program, moment, pid=None):
    """Run a post_start, pre_stop or post_stop hook; its failure as a note, else None.
    Such a failure is reported and logged but never undoes the action."""
    result = run(program, moment, pid)
    return None if result is None or result.ok else result.describe()
