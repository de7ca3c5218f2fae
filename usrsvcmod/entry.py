"""What both commands do around their run(): exit codes for the unexpected.

A reader that goes away (``usrsvc status all | head -1``) ends the command
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


def main(name, run):
    """Run ``run(argv)`` for the command ``name`` and exit with its code."""
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
