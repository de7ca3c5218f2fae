"""Container init mode (``usrsvcd --init``): what the rest of usrsvc must know.

Everywhere else usrsvc is never a service's parent, so it has no pipe to
give a service: ``stdout = -`` (or ``stderr = -``), meaning "to usrsvcd's
own stdout", is a configuration error outside init mode (exit 130), said
before anything is launched. Under ``usrsvcd --init`` the daemon holds one
pipe per program and stream and copies each line to its stdout
(daemon/console.py); ``proc/spawn.open_log`` hands out its write end.
"""

from .errors import ConfigError

CONSOLE = "-"  # the value of stdout/stderr meaning "usrsvcd's own stdout"


def piped(program):
    """True when ``program`` writes to usrsvcd's stdout (stdout or stderr = -)."""
    return program.stdout == CONSOLE or program.stderr == CONSOLE


def problem(program, key=None):
    """The line naming file, section and key, and the fix."""
    key = key or ("stdout" if program.stdout == CONSOLE else "stderr")
    return ("%s: [Program:%s] %s = -: output to usrsvcd's stdout needs usrsvcd as the"
            " program's parent, which it is only in container init mode (usrsvcd --init"
            " --foreground, or as PID 1). Fix: set %s to a log file, or run the programs"
            " under usrsvcd --init" % (program.source, program.name, key, key))


def refuse(programs):
    """ConfigError (130) for the programs that write to '-', if any."""
    problems = [problem(p) for p in programs if piped(p)]
    if problems:
        raise ConfigError(problems)


def warnings(programs):
    """usrsvc checkconfig: the config is valid, but only usrsvcd --init can start these."""
    return ["%s: [Program:%s] %s = -: only usrsvcd --init can start it (its output goes to"
            " usrsvcd's stdout); usrsvc start refuses it (exit 130)"
            % (p.source, p.name, "stdout" if p.stdout == CONSOLE else "stderr")
            for p in programs if piped(p)]
