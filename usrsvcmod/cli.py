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
       usrsvc [options] checkconfig [--keys]
       usrsvc completion bash|zsh|fish
       usrsvc [options] logs [NAME|all] [-n N] [-f] [--stdout|--stderr] [--since DURATION]
       usrsvc [options] logs --rotate [--force] NAME...|all

Start, stop, restart or show the status of a program defined in the config,
or of every program with "all". Programs started here are not our children:
they keep running whatever happens to usrsvc or usrsvcd. "update" restarts
the running programs whose command, environment, directory, umask or log
files were edited since they were started (alone: every program).

"checkconfig" validates the whole config, lists its programs and warns about
what would fail at start (exit 0, or 130 if the config is invalid); with
--keys it prints every config key instead: default, accepted values, meaning.
"completion SHELL" prints a completion script, e.g.
  usrsvc completion bash > ~/.local/share/bash-completion/completions/usrsvc

"logs" shows the last lines of programs' log files; -f follows them (see
"usrsvc logs --help").

"logs --rotate" rotates the programs' logs that outgrew stdout_maxbytes or
stderr_maxbytes, as usrsvcd does (--force: every log, whatever its size).

Options:
  -c, --config PATH     main config file (default: $USRSVC_CONFIG, else $HOME/usrsvc.cfg)
  -P, --parallel        with several programs, act on all of them at once
  --json                print one JSON object per program (a JSON list)
  --lock-timeout SECS   give up (exit 11) if another usrsvc holds a lock this long (30)
  --keys                with checkconfig: print the reference of every config key
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
        self.keys = False  # checkconfig --keys
        self.logs = None  # LogOptions, once a logs option is seen
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
        elif arg == "--keys":
            opts.keys = True
        elif _logs_option(opts, arg, args):
            pass
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


def _log_paths(result):
    """"\n  log: PATH (stdout and stderr)", or both files on one line."""
    if result.stderr == result.stdout:
        return "\n  log: %s (stdout and stderr)" % one_line(result.stdout)
    return "\n  logs: %s (stdout), %s (stderr)" % (one_line(result.stdout), one_line(result.stderr))


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


def render(results, as_json, several, logs=False):
    """JSON (escaped by json), or text with every control character that came
    from a process or a file escaped (see escape). ``logs``: one program's
    log files on a line of their own (status; the table stays as narrow)."""
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
        out.extend(_line(r) + (_log_paths(r) if logs else "") for r in results)
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


def run(argv, out=None, err=None):
    """The whole command; returns the exit code."""
    out = sys.stdout if out is None else out  # looked up now: entry.main may have
    err = sys.stderr if err is None else err  # replaced a closed stdout or stderr
    from .errors import InvalidAction, UsageError

    try:
        opts = parse(argv)
        if opts.show:
            return frontend.show("usrsvc", opts.show, LOGS_USAGE if opts.show == "help"
                                 and opts.words[:1] == ["logs"] else USAGE, out)
        if opts.force and not opts.rotate:
            raise UsageError("--force goes with --rotate: usrsvc logs --rotate --force NAME|all")
        if opts.words[:1] == ["logs"] and opts.rotate:
            return _rotate_logs(opts, out, err)
        if opts.words[:1] == ["logs"]:
            return _logs(opts, out, err)
        if opts.logs is not None:
            raise UsageError("-n, -f, --stdout, --stderr and --since are options of usrsvc logs")
        if opts.words[:1] == ["update"] and len(opts.words) == 1:
            opts.words.append("all")  # `usrsvc update` alone looks at every program
        if opts.words[:1] in (["completion"], ["__complete"]):
            return _completion(opts, out)
        if opts.keys and opts.words != ["checkconfig"]:
            raise UsageError("--keys goes with checkconfig: usrsvc checkconfig --keys")
        if opts.words[:1] == ["checkconfig"]:
            if len(opts.words) != 1:
                raise UsageError("checkconfig takes no program name (it checks the whole config)")
            return _checkconfig(opts, out, err)
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
        return frontend.report("usrsvc", error, err, LOGS_USAGE if "logs" in argv else USAGE)
    except KeyboardInterrupt:
        err.write("usrsvc: interrupted\n")
        return exitcodes.FAILURE


def _completion(opts, out):
    """``completion SHELL``: the script; ``__complete names`` (what the scripts call,
    at every TAB): program names, all, @groups, without parsing the config."""
    from . import completion
    from .errors import UsageError

    if opts.words[0] == "__complete":
        if opts.words[1:] != ["names"]:
            raise UsageError("__complete expects: names")
        words = completion.names(opts.config)
        out.write("".join(word + "\n" for word in words))
        return exitcodes.SUCCESS
    if len(opts.words) != 2 or opts.words[1] not in completion.SHELLS:
        raise UsageError("completion expects a shell: %s" % "|".join(completion.SHELLS))
    out.write(completion.script(opts.words[1]))
    return exitcodes.SUCCESS


def _checkconfig(opts, out, err):
    """Validate everything (never from the cache), summarize, warn about what would fail.
    With --keys: the key reference instead (no config needed)."""
    if opts.keys:
        from .config import keyref

        out.write(keyref.text())
        return exitcodes.SUCCESS
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
    text = render(results, opts.json, several, logs=action == "status")
    if text:
        out.write(text + "\n")
    return exit_code(results)


def main():
    """Entry point of ``usrsvc`` (console_scripts and bin/usrsvc)."""
    from .entry import main as run_main

    run_main("usrsvc", run)


# usrsvc logs ------------------------------------------------------------------------------
LOGS_USAGE = """Usage: usrsvc [options] logs [NAME|all] [-n N] [-f] [--stdout|--stderr]
                        [--since DURATION] [--json]

Show the last lines of programs' log files (their stdout and stderr files as
the config sets them); no daemon needed. "logs" alone means "logs all".

  -n, --lines N       the last N lines of each file (default 20; with --since and
                      no -n: every line since then); -n 0 with -f: new lines only
  -f, --follow        keep printing lines as they are written, until Ctrl-C (exit 0);
                      follows usrsvc's own log rotation without losing or repeating a
                      line, a file renamed away and created again (logrotate), and
                      says on stderr when someone else truncated a file
  --stdout, --stderr  only that stream's file
  --since DURATION    only lines written in the last 30s, 5m, 1h30m, 2d or N seconds
  --json              one JSON object per line: program, stream, time (ISO 8601
                      UTC), message

A program's two files are merged in time order, and with "all" every
program's lines are merged, each prefixed with its name (coloured on a
terminal, unless NO_COLOR is set). A line's time is the time it starts with
(ISO 8601 "2026-11-30T12:00:00Z", Python logging "2026-11-30 12:00:00,123",
nginx "2026/11/30 12:00:00" and "[30/Nov/2026:12:00:00 +0000]", syslog
"Nov 30 12:00:00"; local time unless it gives an offset); a line without one
takes the time of the nearest timed line above it (a traceback stays with
its message); a file with no timed line at all counts as written at its
modification time. Under -f, an untimed line's time is when it was read.

Exit codes: 0 success (also Ctrl-C under -f), 1 a log file is missing or
unreadable (named on stderr; the others are still shown), 11 a rotation held
a log's lock too long, 130 invalid config, 133 program undefined.
"""


class LogOptions:
    """What ``usrsvc logs`` was asked for."""

    def __init__(self):
        self.lines = None  # None: the default (20, or all with --since)
        self.follow = False
        self.streams = set()
        self.since = None  # seconds back


def _logs_option(opts, arg, args):
    """Take one ``usrsvc logs`` option from argv (``arg``, ``args`` the rest);
    False when ``arg`` is none of them."""
    from .errors import UsageError

    name, eq, value = arg.partition("=")
    if name.startswith("-n") and not name.startswith("--") and len(name) > 2 and not eq:
        name, eq, value = "-n", "=", name[2:]  # -n50, as tail takes it
    if name not in ("-n", "--lines", "-f", "--follow", "--stdout", "--stderr", "--since"):
        return False
    logs = opts.logs = opts.logs or LogOptions()
    if name in ("-f", "--follow", "--stdout", "--stderr"):
        if eq:
            raise UsageError("option %s takes no value" % name)
        if name in ("-f", "--follow"):
            logs.follow = True
        else:
            logs.streams.add(name[2:])
        return True
    if not eq:
        if not args:
            raise UsageError("option %s needs a value" % name)
        value = args.pop(0)
    if name == "--since":
        from .logtime import parse_duration

        try:
            logs.since = parse_duration(value)
        except ValueError as error:
            raise UsageError("--since: %s" % error) from None
    elif not value.isdigit() or len(value) > 12:
        raise UsageError("%s expects a number of lines (0 or more), got %r" % (name, value))
    else:
        logs.lines = int(value)
    return True


def _select_names(config, names, action):
    """The programs named (each NAME or all, in order, once each) and whether
    several were asked for."""
    chosen, several = {}, len(names) > 1
    for name in names:
        programs, many = _select(config, name, action)
        several = several or many
        chosen.update((p.name, p) for p in programs)
    return list(chosen.values()), several


def _logs(opts, out, err):
    """``usrsvc logs``: read (and with -f follow) log files; print; exit code."""
    import os
    import time

    from . import logs
    from .config import cached, main_config_path
    from .errors import ConfigError
    from .state import RuntimeState

    want = opts.logs or LogOptions()
    names = opts.words[1:] or ["all"]
    path = main_config_path(opts.config)
    state = RuntimeState(path)
    try:
        config = cached(path, None if "all" in names else set(names), state)
    except ConfigError as error:
        return frontend.config_error("usrsvc", error, err)
    frontend.warn("usrsvc", config.warnings, err)
    programs, several = _select_names(config, names, "logs")
    if config.main.path != path:
        state = RuntimeState(config.main.path)
    files, problems = logs.files_of(programs, tuple(s for s in logs.STREAMS
                                                    if s in want.streams or not want.streams))
    count = want.lines if want.lines is not None or want.since is not None else 20
    now = time.time()
    since = None if want.since is None else now - want.since
    style = logs.Style([p.name for p in programs], several,
                       logs.wants_colour(out, os.environ))
    if want.follow:
        return _follow(files, state, count, since, now, style, opts.json, problems, out, err)
    lines, unreadable = logs.read(files, count, since, now)
    _print_lines(lines, style, opts.json, out)
    for problem in problems + unreadable:
        err.write("usrsvc: %s\n" % printable(problem))
    return exitcodes.FAILURE if problems or unreadable else exitcodes.SUCCESS


def _follow(files, state, count, since, now, style, as_json, problems, out, err):
    """-f: the last lines, then new ones as they come, until Ctrl-C (exit 0)."""
    from .logfollow import begin

    follower = None
    try:
        follower, lines, notes, unreadable = begin(files, state, count, since, now)
        for problem in problems + unreadable:
            err.write("usrsvc: %s\n" % printable(problem))
        if problems or unreadable:
            return exitcodes.FAILURE
        for note in notes:
            err.write("usrsvc: %s\n" % printable(note))
        _print_lines(lines, style, as_json, out)
        for lines, notes in follower.passes():
            for note in notes:
                err.write("usrsvc: %s\n" % printable(note))
            err.flush()
            _print_lines(lines, style, as_json, out)
    except KeyboardInterrupt:
        return exitcodes.SUCCESS
    finally:
        if follower is not None:
            follower.close()


def _print_lines(lines, style, as_json, out):
    """Lines as text for people (escaped, see logs.Style) or JSON objects."""
    if as_json:
        import json

        text = "".join(json.dumps(line.as_dict()) + "\n" for line in lines)
    else:
        text = "".join(style.format(line) + "\n" for line in lines)
    out.write(text)
    out.flush()
