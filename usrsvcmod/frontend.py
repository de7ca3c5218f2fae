"""What both front ends, usrsvc and usrsvcd, print the same way.

--help, --version and --readme; a ConfigError (its warnings, then every
problem); any other UsrsvcError, with the exit code exitcodes.code_for()
gives it. Messages quote what came from processes and files (log tails,
command lines): their control characters are escaped (see escape). Each
function takes the command's name and the stream to write to and returns
the exit code, so a front end's run() stays argv -> action -> text -> code.
Cheap to import: ``usrsvc status NAME`` loads it.
"""

from . import __version__, exitcodes
from .escape import printable


def show(name, what, usage, out):
    """``--help`` (``usage``), ``--version`` or ``--readme``; exit 0."""
    if what == "help":
        out.write(usage)
    elif what == "version":
        out.write("%s %s\n" % (name, __version__))
    else:
        out.write(readme())
    return exitcodes.SUCCESS


def readme():
    """The README: the installed package's long description, else the checkout's file."""
    import os

    try:
        from importlib.metadata import metadata

        text = metadata("usrsvc").get_payload()
        if text and text.strip():
            return text
    except Exception:  # metadata missing in an odd install: fall back below
        pass
    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")
    try:
        with open(here) as handle:
            return handle.read()
    except OSError:
        return "README not found; see the project's README.md\n"


def warn(name, lines, err):
    for line in lines:
        err.write("%s: warning: %s\n" % (name, printable(line)))


def config_error(name, error, err):
    """A ConfigError: its warnings, then "invalid configuration (N problems):" and each one."""
    warn(name, error.warnings, err)
    count = len(error.problems)
    err.write("%s: invalid configuration (%d problem%s):\n" % (name, count, "" if count == 1 else "s"))
    for line in error.problems:
        err.write("  %s\n" % printable(line))
    return exitcodes.INVALID_CONFIG


def report(name, error, err, help_command):
    """Any other UsrsvcError on one line (a usage error followed by where the help is,
    ``help_command``: the whole usage would bury the one line that matters); its
    exit code."""
    from .errors import UsageError

    if isinstance(error, UsageError):
        err.write("%s: %s\nTry '%s' for more information.\n"
                  % (name, printable(error.message), help_command))
    else:
        err.write("%s: %s\n" % (name, printable(error.message)))
    return exitcodes.code_for(error)


def option_value(name, eq, value, args):
    """The value of option ``name``: after its '=' (``eq``), else the next word of
    ``args`` (taken from it); UsageError when there is none."""
    if eq:
        return value
    if not args:
        from .errors import UsageError

        raise UsageError("option %s needs a value" % name)
    return args.pop(0)
