"""``usrsvc checkconfig NAME``: a program as usrsvc will run it, every key
resolved ([DefaultSettings] merged, defaults filled in, paths expanded),
with every environment value masked.

The environment is shown by names and where each comes from (inherited or
passed, each env file, [[EnvCommand]], [[Env]]), never by value: the
config's own [[Env]] values are masked too, since this output is the kind
that gets pasted into a ticket. The EnvCommand is not run (it fetches
secrets, and may have side effects): its names are known only at a start.
"""

import os

from .config import spec

MASK = "********"
# fields of Program that are not keys, or shown in their own part below
_SKIPPED = {"name", "argv", "env", "monitoring", "source", "title_suffix", "proctitle_risky",
            "env_command"}


def render(program, environ=None):
    """The lines that describe ``program``."""
    environ = os.environ if environ is None else environ
    lines = ["[Program:%s]   # %s" % (program.name, program.source)]
    for key in spec.PROGRAM_KEYS:
        if key not in _SKIPPED and hasattr(program, key):
            lines.append("%s = %s" % (key, _text(key, getattr(program, key))))
    lines.append("    [[Env]]")
    lines.extend("    %s = %s" % (name, MASK) for name, _ in program.env)
    if program.env_command is not None:
        lines += ["    [[EnvCommand]]", "    command = %s" % program.env_command[0],
                  "    timeout = %s" % _number(program.env_command[1])]
    lines.append("    [[Monitoring]]")
    for key in spec.MONITOR_KEYS:
        lines.append("    %s = %s" % (key, _text(key, getattr(program.monitoring, key))))
    if program.requires:
        lines.append("    [[Requires]]")
        lines.extend("    %s = %s" % item for item in program.requires)
    for section in ("readiness", "liveness"):
        probe = getattr(program, section)
        if probe is not None:
            lines.append("    [[%s]]" % probe.section)
            lines.append("    %s = %s" % (probe.kind, probe.target))
            for key in ("interval", "probe_timeout", "timeout", "failures", "after"):
                value = getattr(probe, key)
                if value or key in ("interval", "probe_timeout"):
                    lines.append("    %s = %s" % (key, _number(value)))
    hooks = program.hooks
    moments = [m for m in ("pre_start", "post_start", "pre_stop", "post_stop")
               if getattr(hooks, m)]
    if moments:
        lines.append("    [[Hooks]]")
        lines.extend("    %s = %s" % (m, getattr(hooks, m)) for m in moments)
        lines.append("    timeout = %s" % _number(hooks.timeout))
    return lines + [""] + environment_lines(program, environ)


def environment_lines(program, environ):
    """Where each variable of the launch comes from, in the order they apply."""
    from .errors import ConfigError
    from .proc.envbuild import read_file

    out = ["# environment at launch, in the order it is built (names only, values masked):"]
    if program.inherit_env:
        out.append("#   1. inherited: the %d variables of the caller's environment"
                   % len(environ))
    elif program.env_pass:
        given = [n for n in program.env_pass if n in environ]
        missing = [n for n in program.env_pass if n not in environ]
        out.append("#   1. passed (env_pass): %s%s" % (", ".join(given) or "none",
                                                      "; not set here: " + ", ".join(missing)
                                                      if missing else ""))
    else:
        out.append("#   1. nothing inherited (inherit_env = False, no env_pass)")
    for entry in program.env_file:
        path = entry.lstrip("-")
        optional = " (optional)" if entry.startswith("-") else ""
        try:
            names = [name for name, _ in read_file(program, entry)]
            text = ", ".join(dict.fromkeys(names)) if names else "no variables"
            if not names and optional and not os.path.lexists(path):
                text = "missing, skipped"
        except ConfigError as err:
            text = "ERROR: %s" % err.message
        out.append("#   2. env_file %s%s: %s" % (path, optional, text))
    if program.env_command is not None:
        out.append("#   3. [[EnvCommand]]: its names are known at each start (not run here)")
    if program.env:
        out.append("#   4. [[Env]]: %s" % ", ".join(name for name, _ in program.env))
    return out


def _number(value):
    return ("%d" % value) if float(value).is_integer() else repr(value)


def _text(key, value):
    if value is None:
        return "stdout" if key == "stderr" else "(not set)"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if key in ("stop_signal", "reload_signal"):
        import signal

        try:
            return signal.Signals(value).name
        except ValueError:
            return str(value)
    if key == "umask":
        return "%03o" % value
    if isinstance(value, tuple):
        return ", ".join(value)
    return str(value)
