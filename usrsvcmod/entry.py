"""What both commands do around their run(): a sane start, exit codes for the unexpected.

A parent may hand us odd signal settings (``trap '' CHLD`` in bash, some
schedulers ignore SIGCHLD or block signals): they are put back first. A
reader that goes away (``usrsvc status all | head -1``) ends the command
quietly; a bug is reported plainly, with its traceback, as exit 254.
"""

import sys

from . import exitcodes


def _quiet_stdout():
    """The reader went away: point stdout at /dev/null so the exit flush stays quiet."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _sane_signals():
    """Undo what a hostile or careless parent left us.

    An ignored SIGCHLD makes the kernel reap our children at once, so waiting
    for the first child of a launch (or the detaching usrsvcd) fails with
    ChildProcessError although it worked; a blocked SIGTERM, SIGINT, SIGHUP or
    SIGUSR1 would leave usrsvcd deaf to stop, reopen and reread. Python itself
    has set SIGINT, SIGPIPE and SIGXFSZ as it wants them; we leave those.
    """
    import _signal as signal  # the C module: `signal` imports enum, a third of status NAME

    if signal.getsignal(signal.SIGCHLD) == signal.SIG_IGN:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT,
                                                signal.SIGHUP, signal.SIGUSR1))


def _sane_fds():
    """A parent that closed 0, 1 or 2 (``usrsvc start web >&-``): put /dev/null
    there, or the next file we open (a lock, a pidfile) would take that number
    and our output (or a service's) would land in it."""
    import os

    for fd, mode, stream in ((0, os.O_RDONLY, "stdin"), (1, os.O_WRONLY, "stdout"),
                             (2, os.O_WRONLY, "stderr")):
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        devnull = os.open(os.devnull, mode)
        if devnull != fd:
            os.dup2(devnull, fd)
            os.close(devnull)
        if getattr(sys, stream) is None:
            setattr(sys, stream, open(fd, "r" if fd == 0 else "w", closefd=False))


def main(name, run):
    """Run ``run(argv)`` for the command ``name`` and exit with its code."""
    _sane_fds()
    _sane_signals()
    try:
        code = run(sys.argv[1:])
    except KeyboardInterrupt:
        sys.stderr.write("%s: interrupted\n" % name)
        code = exitcodes.FAILURE
    except BrokenPipeError:
        _quiet_stdout()
        code = exitcodes.FAILURE
    except Exception:  # a bug: say so plainly, with the traceback for the report
        import traceback

        sys.stderr.write("%s: unexpected error (a bug; please report it):\n" % name)
        traceback.print_exc()
        code = exitcodes.UNKNOWN_FAILURE
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
    sys.exit(code)
