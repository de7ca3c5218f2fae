"""usrsvc: argv -> actions -> text or JSON -> exit code. The only place that prints.

Arguments are parsed by hand: argparse alone costs a third of the time
``usrsvc status NAME`` may take.
"""

import sys

from . import exitcodes, frontend
from .errors import UsrsvcError
from .escape import one_line, printable

ACTIONS = ("start", "stop", "restart", "status", "update", "checkconfig", "logs")
USAGE = """Usage: usrsvc [options] start|stop|restart|status|update NAME|all
       usrsvc [options] checkconfig
       usrsvc [options] logs --rotate [--force] NAME...|all

Start, stop, restart or show the status of a program defined in the config,
or of every program with "all". Programs started here are not our children:
they keep running whatever happens to usrsvc or usrsvcd. "update" restarts
the running programs whose command, environment, directory, umask or log
files were edited since they were started (alone: every program).

"checkconfig" validates the whole config, lists its programs and warns about
what would fail at start (exit 0, or 130 if the config is invalid).

"logs --rotate" rotates the programs' logs that outgrew stdout_maxbytes or
stderr_maxbytes, as usrsvcd does (--force: every log, whatever its size).

Options:
  -c, --config PATH     main config file (default: $USRSVC_CONFIG, else $HOME/usrsvc.cfg)
  -P, --parallel        with several programs, act on all of them at once
  --json                print one JSON object per program (a JSON list)
  --lock-timeout SECS   give up (exit 11) if another usrsvc holds a lock this long (30)
  -h, --help            show this help and exit
  --version             show the version and exit
  --readme              print the full README

Exit codes: 0 success, 1 failure (e.g. status of a stopped program), 11 try
again, 130 invalid config, 131 invalid action, 132 program disabled, 133
program undefined, 136 insufficient permissions, 137 failed to launch.
"""


class Options:
    def __init__(self):
        self.config = None
        self.parallel = False
        self.json = False
        self.lock_timeout = None
        self.words = []
        self.show = None  # "help", "version", "readme"
        self.rotate = self.force = False  # logs --rotate [--force]


def parse(argv):
    """Options from argv; raises UsrsvcError(kind usage) on a bad option."""
    from .errors import UsageError

    opts = Options()
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--":
            opts.words.extend(args)
            break
        name, eq, value = arg.partition("=")
        if name in ("-c", "--config", "--lock-timeout"):
            if not eq:
                if not args:
                    raise UsageError("option %s needs a value" % name)
                value = args.pop(0)
            if name == "--lock-timeout":
                try:
                    opts.lock_timeout = float(value)
                except ValueError:
                    opts.lock_timeout = -1.0
                if not 0 <= opts.lock_timeout < 1e9:  # also refuses nan and inf
                    raise UsageError("--lock-timeout expects seconds >= 0, got %r" % value)
            else:
                opts.config = value
        elif arg in ("-P", "--parallel"):
            opts.parallel = True
        elif arg == "--json":
            opts.json = True
        elif arg in ("--rotate", "--force"):
            setattr(opts, arg[2:], True)
        elif arg in ("-h", "--help"):
            opts.show = "help"
        elif arg == "--version":
            opts.show = "version"
        elif arg == "--readme":
            opts.show = "readme"
        elif arg.startswith("-") and arg != "-":
            raise UsageError("unknown option %s" % arg)
        else:
            opts.words.append(arg)
    return opts


def _fmt_uptime(seconds):
    if seconds is None:
        return "-"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = "%d:%02d:%02d" % (hours, minutes, secs)
    return "%dd %s" % (days, text) if days else text


def _fmt_rss(kb):
    if kb is None:
        return "-"
    return "%.1f MiB" % (kb / 1024.0) if kb >= 1024 else "%d KiB" % kb


def _line(result):
    if result.pid:
        text = "%s: %s, pid %d, uptime %s, rss %s: %s" % (
            result.name, result.message, result.pid, _fmt_uptime(result.uptime_s),
            _fmt_rss(result.rss_kb), one_line(result.cmdline))
    else:
        text = "%s: %s" % (result.name, result.message)
    extra = _daemon_facts(result)
    return text + ("\n  " + "; ".join(extra) if extra else "")


def _daemon_facts(result):
    """What usrsvcd knows (restarts, last exit, next retry), when it runs (from its
    snapshot, a file: one line each)."""
    import time

    facts = []
    if result.restarts:
        facts.append("restarts: %d" % result.restarts)
    if result.last_exit:
        when = result.last_exit.get("at")
        facts.append("last exit: %s%s" % (one_line(str(result.last_exit.get("text")
                                                        or _exit_text(result.last_exit))),
                                           time.strftime(" at %H:%M:%S", time.localtime(when))
                                           if when else ""))
    if result.next_retry:
        facts.append("next start at %s" % time.strftime("%H:%M:%S", time.localtime(result.next_retry)))
    return facts


def _exit_text(last_exit):
    if last_exit.get("code") is not None:
        return "exited with status %d" % last_exit["code"]
    return "killed by signal %s%s" % (last_exit.get("signal"),
                                      " (core dumped)" if last_exit.get("core") else "")


def _table(results):
    rows = [("NAME", "STATE", "PID", "UPTIME", "RSS", "COMMAND")]
    for r in results:
        rows.append((r.name, r.state.upper(), str(r.pid or "-"), _fmt_uptime(r.uptime_s),
                     _fmt_rss(r.rss_kb), one_line(r.cmdline) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + row[5]
             for row in rows]
    for r in results:
        if r.message and r.message not in ("running", "not running"):
            lines.append("%s: %s" % (r.name, r.message))
        facts = _daemon_facts(r)
        if facts:
            lines.append("%s: %s" % (r.name, "; ".join(facts)))
    return "\n".join(line.rstrip() for line in lines)


def render(results, as_json, several):
    """JSON (escaped by json), or text with every control character that came
    from a process or a file escaped (see escape)."""
    if as_json:
        import json

        return json.dumps([r.as_dict() for r in results], indent=2)
    out = []
    for r in results:
        for note in r.notes:
            out.append("%s: note: %s" % (r.name, note))
    if several:
        out.append(_table(results))
    else:
        out.extend(_line(r) for r in results)
    return printable("\n".join(out))


def exit_code(results):
    """0 if all succeeded; else the code they share; else 1."""
    codes = {r.code for r in results if not r.ok}
    if not codes:
        return exitcodes.SUCCESS
    return codes.pop() if len(codes) == 1 else exitcodes.FAILURE


def _select(config, name, action):
    from .errors import ProgramDisabled, ProgramUndefined

    if name == "all":
        programs = list(config.programs.values())
        if action in ("start", "restart", "update"):
            return [p for p in programs if p.enabled], True
        return programs, True
    program = config.programs.get(name)
    if program is None:
        from .config.loader import unknown_program

        raise ProgramUndefined(unknown_program(config, name))
    if not program.enabled and action in ("start", "restart", "update"):
        raise ProgramDisabled("program %s is disabled (enabled = False); only stop and status"
                              " are allowed" % name)
    return [program], False


def run(argv, out=sys.stdout, err=sys.stderr):
    """The whole command; returns the exit code."""
    from .errors import InvalidAction, UsageError

    try:
        opts = parse(argv)
        if opts.show:
            return frontend.show("usrsvc", opts.show, USAGE, out)
        if opts.words[:1] == ["update"] and len(opts.words) == 1:
            opts.words.append("all")  # `usrsvc update` alone looks at every program
        if opts.words[:1] == ["checkconfig"]:
            if len(opts.words) != 1:
                raise UsageError("checkconfig takes no program name (it checks the whole config)")
            return _checkconfig(opts, out, err)
        if opts.words[:1] == ["logs"] and opts.rotate:
            return _rotate_logs(opts, out, err)
        if opts.rotate or opts.force:
            raise UsageError("--rotate and --force go with the logs action: usrsvc logs --rotate"
                             " [--force] NAME|all")
        if len(opts.words) != 2:
            raise UsageError("expected an action and a program name (or all)")
        action, name = opts.words
        if action not in ACTIONS:
            raise InvalidAction("invalid action %r; expected one of: %s" % (action, ", ".join(ACTIONS)))
        return _act(opts, action, name, out, err)
    except UsrsvcError as error:
        return frontend.report("usrsvc", error, err, USAGE)
    except KeyboardInterrupt:
        err.write("usrsvc: interrupted\n")
        return exitcodes.FAILURE


def _checkconfig(opts, out, err):
    """Validate everything (never from the cache), summarize, warn about what would fail."""
    from . import preflight
    from .config import load
    from .errors import ConfigError

    try:
        config = load(opts.config)
    except ConfigError as error:
        return frontend.config_error("usrsvc", error, err)
    frontend.warn("usrsvc", list(config.warnings) + preflight.check(config), err)
    out.write(printable("\n".join(preflight.summary(config))) + "\n")
    return exitcodes.SUCCESS


def _rotate_logs(opts, out, err):
    """``usrsvc logs --rotate [--force] NAME...|all``: rotation without usrsvcd."""
    from . import rotation
    from .config import cached, main_config_path
    from .errors import ConfigError, UsageError
    from .state import RuntimeState

    names = opts.words[1:]
    if not names:
        raise UsageError("logs --rotate needs program names or all")
    path = main_config_path(opts.config)
    try:
        config = cached(path, None if "all" in names else set(names), RuntimeState(path))
    except ConfigError as error:
        return frontend.config_error("usrsvc", error, err)
    frontend.warn("usrsvc", config.warnings, err)
    programs = []
    for name in dict.fromkeys(names):
        programs.extend(p for p in _select(config, name, "logs")[0] if p not in programs)
    session = _rotation_session(config.main.path, opts.lock_timeout)
    results = rotation.rotate_logs(session, programs, force=opts.force)
    if opts.json:
        import json

        text = json.dumps([r.as_dict() for r in results], indent=2)
    else:
        text = printable("\n".join("%s: %s: %s" % (r.name, r.stream, r.message) for r in results))
    if text:
        out.write(text + "\n")
    return exit_code(results)


def _rotation_session(config_path, lock_timeout):
    from .actions import Session
    from .state import RuntimeState

    return Session(RuntimeState(config_path), lock_timeout)


def _act(opts, action, name, out, err):
    from . import actions
    from .config import cached, main_config_path
    from .errors import ConfigError
    from .state import RuntimeState

    path = main_config_path(opts.config)
    state = RuntimeState(path)  # status only reads it (launch records)
    try:  # the validated config is remembered in the runtime state directory
        config = cached(path, None if name == "all" else {name}, state)
    except ConfigError as error:
        return frontend.config_error("usrsvc", error, err)
    frontend.warn("usrsvc", config.warnings, err)
    programs, several = _select(config, name, action)
    if config.main.path != path:
        state = RuntimeState(config.main.path)
    session = actions.Session(state, opts.lock_timeout)
    if action != "status":  # a lock and a pidfd or two per program; the services keep the usual
        from .proc import fdlimit

        session.nofile = fdlimit.raise_soft()
    if action == "status":
        results = actions.status(session, programs, health=several)
    else:
        results = getattr(actions, action)(session, programs, parallel=opts.parallel)
    text = render(results, opts.json, several)
    if text:
        out.write(text + "\n")
    return exit_code(results)


def main():
    """Entry point of ``usrsvc`` (console_scripts and bin/usrsvc)."""
    from .entry import main as run_main

    run_main("usrsvc", run)
