"""usrsvc: argv -> actions -> text or JSON -> exit code. The only place that prints.

Arguments are parsed by hand: argparse alone costs a third of the time
``usrsvc status NAME`` may take.
"""

import sys

from . import exitcodes, frontend
from .errors import UsrsvcError
from .escape import one_line, printable

ACTIONS = ("start", "stop", "restart", "status", "update", "checkconfig", "logs", "signal",
           "reload", "try-restart", "pid", "init")
USAGE = """Usage: usrsvc [options] start|stop|restart|try-restart|reload|pid NAME...
       usrsvc [options] status|update [NAME...]
       usrsvc [options] signal NAME... SIGNAL
       usrsvc [options] logs [NAME...] [-n N] [-f] [--stdout|--stderr] [--since DURATION]
       usrsvc [options] logs --rotate [--force] NAME...
       usrsvc [options] checkconfig [--keys | NAME...]
       usrsvc [options] init
       usrsvc completion bash|zsh|fish
       usrsvc [options] -H [USER@]HOST[,...] status|start|stop|restart|logs [NAME...]

Start, stop, restart or show the status of programs defined in the config.
NAME is a program's name, several names, a shell pattern ('web*', quoted),
@GROUP (the programs with group = GROUP) or all. Programs started here are
not our children: they keep running whatever happens to usrsvc or usrsvcd.
"status" alone means "status all". "update" restarts the running programs
whose command, environment, directory, umask or log files were edited since
they were started (alone: every program). "try-restart" restarts only the
programs that are running. "signal" sends SIGNAL (HUP, SIGHUP, 1, or -HUP,
-9 as kill takes it) to each program's process; "reload" sends its
reload_signal (HUP unless set). "pid" prints the pid (exit 1 if not running).

"checkconfig" validates the whole config, lists its programs and warns about
what would fail at start (exit 0, or 130 if the config is invalid); with
--keys it prints every config key instead: default, accepted values, meaning;
with NAME... it prints those programs as they will run, every key resolved and
every environment value masked.
"init" writes a commented starter config with one example program (never over
an existing file). "completion SHELL" prints a completion script, e.g. (bash
needs the bash-completion package):
  mkdir -p ~/.local/share/bash-completion/completions
  usrsvc completion bash > ~/.local/share/bash-completion/completions/usrsvc

"-H" runs the command on each host with that host's installed usrsvc, over
your own ssh (keys, agent, ~/.ssh/config), and merges the answers into one
table with a HOST column ($USRSVC_SSH replaces the ssh command).

"logs" shows the last lines of programs' log files; -f follows them, --since
DURATION keeps the recent ones, --json prints one object per line (see
"usrsvc logs --help"). "logs --rotate" rotates the programs' logs that
outgrew stdout_maxbytes or stderr_maxbytes, as usrsvcd does (--force: every
log, whatever its size).

Options:
  -c, --config PATH     main config file (default: $USRSVC_CONFIG, else $HOME/usrsvc.cfg)
  -P, --parallel        with several programs, act on all of them at once
  --json                JSON output: a list with one object per program (logs:
                        one object per line)
  --lock-timeout SECS   give up (exit 11) if another usrsvc holds a lock this long (30)
  --no-deps             start/restart: do not bring up the programs' [[Requires]] first
  --with-dependents     stop: stop the running programs that require it first
  --keys                with checkconfig: print the reference of every config key
  -H, --host [USER@]HOST[,...]
                        run status, start, stop, restart or logs on these hosts
                        over ssh, at most 16 at once (-H again adds hosts)
  --remote-command CMD  with -H: the usrsvc to run on the hosts, as the remote
                        shell reads it (default: $USRSVC_REMOTE_COMMAND, else
                        usrsvc on the remote PATH)
  -h, --help            show this help and exit
  --version             show the version and exit
  --readme              print the full README

Exit codes: 0 success, 1 failure (e.g. status of a stopped program), 11 try
again, 130 invalid config, 131 invalid action, 132 program disabled, 133
program undefined, 136 insufficient permissions, 137 failed to launch.
More: man usrsvc, man 5 usrsvc.cfg, man 8 usrsvcd.
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
        self.no_deps = self.with_dependents = False  # start --no-deps, stop --with-dependents
        self.hosts = []  # -H values, as given (remote.parse_hosts splits them)
        self.remote_command = None  # --remote-command


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
        if arg.startswith("-H") and len(arg) > 2 and not eq:
            name, eq, value = "-H", "=", arg[2:]  # -Hweb1, as ssh-style tools take it
        if name in ("-H", "--host", "--remote-command"):
            value = frontend.option_value(name, eq, value, args)
            if name == "--remote-command":
                opts.remote_command = value
            else:
                opts.hosts.append(value)
        elif name in ("-c", "--config", "--lock-timeout"):
            value = frontend.option_value(name, eq, value, args)
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
        elif arg in ("--no-deps", "--with-dependents"):
            setattr(opts, arg[2:].replace("-", "_"), True)
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
        elif opts.words[:1] == ["signal"] and _dashed_signal(arg):
            opts.words.append(arg)  # kill's syntax: usrsvc signal web -9 (or -HUP)
        elif arg.startswith("-") and arg != "-":
            raise UsageError("unknown option %s" % arg)
        else:
            opts.words.append(arg)
    return opts


def _dashed_signal(arg):
    """True for -9, -HUP, -SIGUSR1: a signal as kill(1) takes it."""
    return len(arg) > 1 and arg[0] == "-" and arg[1] != "-" and _is_signal(arg[1:])


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
        named = result.message.endswith("pid %d" % result.pid)  # restart: "..., started pid N"
        text = "%s: %s%s, uptime %s, rss %s, tree %s: %s" % (
            result.name, result.message, "" if named else ", pid %d" % result.pid,
            _fmt_uptime(result.uptime_s), _fmt_rss(result.rss_kb), _fmt_rss(result.rss_tree),
            one_line(result.cmdline))
    else:
        text = "%s: %s" % (result.name, result.message)
    extra = _daemon_facts(result)
    return text + ("\n  " + "; ".join(extra) if extra else "")


def _log_paths(result):
    """"\n  log: PATH (stdout and stderr)", or both files on one line; with a
    logger, what it is and whether it runs."""
    if result.logger:
        return _logger_paths(result)
    if result.stderr == result.stdout:
        return "\n  log: %s (stdout and stderr)" % one_line(result.stdout)
    return "\n  logs: %s (stdout), %s (stderr)" % (one_line(result.stdout), one_line(result.stderr))


def _logger_paths(result):
    logger = result.logger
    streams = "stdout and stderr" if result.stderr == result.stdout else "stdout"
    text = "\n  logger: %s%s: %s (reads its %s)" % (
        logger["state"], ", pid %d" % logger["pid"] if logger["pid"] else "",
        one_line(logger["command"]), streams)
    if result.stderr != result.stdout:
        text += "\n  stderr log: %s" % one_line(result.stderr)
    return text + "\n  logger's own messages: %s" % one_line(result.stdout)


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


RESULT_WIDTH = 72  # a longer (or multi-line) result is cut in the table and given in full below


def _table(results, action="status", width=None, hosts=False):
    """One table; the command line, last, cut to ``width`` columns (None: not cut).

    ``status`` shows uptime and memory and, below the table, the messages that
    say more than the STATE column; any other action shows what it did in a
    RESULT column instead (below only what does not fit there), and leaves out
    the columns no row fills (``stop all``: no pid, no command). ``hosts``: rows
    of several hosts (remote.Row), a HOST column first."""
    status = action == "status"
    heads = ("NAME", "STATE", "PID", "UPTIME", "RSS", "TREE") if status else \
        ("NAME", "STATE", "PID", "RESULT")
    heads = ("HOST",) + heads if hosts else heads
    rows, below = [], []
    for r in results:
        first = (r.message or "").split("\n", 1)[0]
        name = (one_line(r.name) or "-") if hosts else r.name  # a host's row may have none
        label = ("%s %s" % (one_line(r.host), name) if r.name is not None else one_line(r.host)) \
            if hosts else r.name
        if status:
            row = (name, r.state.upper(), str(r.pid or "-"), _fmt_uptime(r.uptime_s),
                   _fmt_rss(r.rss_kb), _fmt_rss(r.rss_tree))
            if r.message and r.message not in ("running", "not running"):
                below.append("%s: %s" % (label, r.message))
        else:
            cell = first if len(first) <= RESULT_WIDTH else first[:RESULT_WIDTH - 3] + "..."
            row = (name, r.state.upper(), str(r.pid or "-"), one_line(cell) or "-")
            if cell != r.message:
                below.append("%s: %s" % (label, r.message))
        row = (one_line(r.host),) + row if hosts else row
        rows.append(row + (one_line(r.cmdline) or "-",))
        facts = _daemon_facts(r)
        if facts:
            below.append("%s: %s" % (label, "; ".join(facts)))
    rows.insert(0, heads + ("COMMAND",))
    fixed = 3 if hosts else 2  # the columns every table keeps
    keep = [i for i in range(len(rows[0]))
            if status or i < fixed or any(row[i] != "-" for row in rows[1:])]
    rows = [[row[i] for i in keep] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(keep) - 1)]
    lines = []
    for row in rows:
        head = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])) + "  "
        lines.append((head + _cut(row[-1], width and width - len(head))).rstrip())
    return "\n".join(lines + below)


def _cut(text, width):
    from .progress import cut

    return cut(text, max(width, 12)) if width is not None else text


def render(results, as_json, several, action="status", width=None, logs=False):
    """JSON (escaped by json), or text with every control character that came
    from a process or a file escaped (see escape). ``width``: the terminal's, to
    cut the table's command lines (JSON and one-line output keep them whole).
    ``logs``: one program's log files on a line of their own (status; the
    table stays as narrow)."""
    if as_json:
        return json_list([r.as_dict() for r in results])
    out = []
    for r in results:
        for note in r.notes:
            out.append("%s: note: %s" % (r.name, note))
    if several:
        out.append(_table(results, action, width))
    else:
        out.extend(_line(r) + (_log_paths(r) if logs else "") for r in results)
    return printable("\n".join(out))


def json_list(items):
    """``json.dumps(items, indent=2)`` for a list of dicts, byte for byte, at a
    fraction of its cost: json's C encoder does not indent, so json.dumps with
    an indent runs in Python (0.2 s for ``--json status all`` of 10,000).
    A dict whose values are all scalars or empty (the usual result) goes
    through the C encoder with the indented separators; any other through
    json.dumps with its indent, shifted one level in."""
    import json

    if not items:
        return "[]"
    flat = json.JSONEncoder(separators=(",\n    ", ": ")).encode
    parts = []
    for item in items:
        if item and type(item) is dict and _flat(item):
            parts.append("  {\n    " + flat(item)[1:-1] + "\n  }")
        else:  # JSON strings hold no raw newline: each "\n" starts a line to shift
            parts.append("  " + json.dumps(item, indent=2).replace("\n", "\n  "))
    return "[\n" + ",\n".join(parts) + "\n]"


def _flat(item):
    """No value of ``item`` is a non-empty list or dict."""
    for value in item.values():
        if value and type(value) in (dict, list, tuple):
            return False
    return True


def exit_code(results):
    """0 if all succeeded; else the code they share; else 1."""
    codes = {r.code for r in results if not r.ok}
    if not codes:
        return exitcodes.SUCCESS
    return codes.pop() if len(codes) == 1 else exitcodes.FAILURE


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
        if opts.hosts or opts.remote_command is not None:
            return _on_hosts(opts, out, err)
        if opts.force and not opts.rotate:
            raise UsageError("--force goes with --rotate: usrsvc logs --rotate --force NAME|all")
        if opts.words[:1] == ["logs"] and opts.rotate:
            return _rotate_logs(opts, out, err)
        if opts.words[:1] == ["logs"]:
            return _logs(opts, out, err)
        if opts.logs is not None:
            raise UsageError("-n, -f, --stdout, --stderr and --since are options of usrsvc logs")
        if opts.words in (["update"], ["status"]):
            opts.words.append("all")  # `usrsvc status` alone looks at every program
        if opts.words[:1] in (["completion"], ["__complete"]):
            return _completion(opts, out)
        if opts.keys and opts.words != ["checkconfig"]:
            raise UsageError("--keys goes with checkconfig: usrsvc checkconfig --keys")
        if opts.rotate or opts.force:
            raise UsageError("--rotate and --force go with the logs action: usrsvc logs --rotate"
                             " [--force] NAME|all")
        if opts.words[:1] in (["checkconfig"], ["init"]):
            if len(opts.words) != 1 and opts.words[0] == "init":
                raise UsageError("%s takes no program name" % opts.words[0])
            return (_checkconfig if opts.words[0] == "checkconfig" else _init)(opts, out, err)
        if not opts.words:
            raise UsageError("expected an action and a program name (or all)")
        action, names, signum = opts.words[0], opts.words[1:], None
        if action not in ACTIONS:
            raise InvalidAction("invalid action %r; expected one of: %s" % (action, ", ".join(ACTIONS)))
        if action == "signal":
            signum = _signal_words(names)
        if not names:
            raise UsageError("expected a program name after %s (or several, 'PATTERN*',"
                             " @GROUP or all)" % action)
        return _act(opts, action, names, out, err, signum)
    except UsrsvcError as error:
        return frontend.report("usrsvc", error, err,
                               "usrsvc logs --help" if "logs" in argv else "usrsvc --help")
    except KeyboardInterrupt:
        err.write("\nusrsvc: interrupted\n")
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


def _signal_words(names):
    """The signal of ``usrsvc signal``, taken out of ``names``: the one -SIG word
    (kill's syntax, anywhere), else the last word. A signal given first, as
    supervisorctl orders it, gets a "did you mean"."""
    from .errors import UsageError

    dashed = [word for word in names if word.startswith("-")]
    if len(dashed) > 1:
        raise UsageError("signal takes one signal, got %s" % " ".join(dashed))
    if dashed:
        names.remove(dashed[0])
        return _signal_arg(dashed[0][1:])
    if len(names) < 2:
        raise UsageError("signal expects the program name(s), then the signal:"
                         " usrsvc signal NAME HUP")
    try:
        return _signal_arg(names[-1])
    except UsrsvcError as error:
        if _is_signal(names[0]):
            raise UsrsvcError("%s; did you mean: usrsvc signal %s %s (the program names"
                              " first, then the signal)" % (error.message, " ".join(names[1:]),
                                                            names[0])) from None
        raise
    finally:
        names.pop()


def _is_signal(word):
    from .config.spec import signal_number

    try:
        signal_number(word)
    except ValueError:
        return False
    return True


def _signal_arg(word):
    """A signal number from HUP, SIGHUP, sighup or 1; UsrsvcError (exit 1) otherwise."""
    from .config.spec import signal_number

    try:
        return signal_number(word)
    except ValueError:
        raise UsrsvcError("unknown signal %r: give a name (HUP, SIGUSR1, term) or a number"
                         " (see kill -l)" % word) from None


def _init(opts, out, err):
    """Write a commented starter config (never over an existing file)."""
    from . import starter
    from .config import main_config_path

    path = starter.write(main_config_path(opts.config))
    given = "" if opts.config is None else " --config " + printable(path)
    out.write("wrote %s (mode 0600) with one example program. Next:\n"
              "    usrsvc%s checkconfig\n    usrsvc%s start all\n%s\n"
              % (printable(path), given, given, starter.unit_hint()))
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
    from .initmode import warnings as console_warnings

    frontend.warn("usrsvc", list(config.warnings) + preflight.check(config)
                  + console_warnings(config.programs.values()), err)
    if len(opts.words) > 1:  # checkconfig NAME...: those programs, resolved, values masked
        from . import effective
        from .selection import select_programs

        chosen = select_programs(config, opts.words[1:], "checkconfig").programs
        out.write(printable("\n\n".join("\n".join(effective.render(p)) for p in chosen)) + "\n")
        return exitcodes.SUCCESS
    out.write(printable("\n".join(preflight.summary(config))) + "\n")
    return exitcodes.SUCCESS


def _rotate_logs(opts, out, err):
    """``usrsvc logs --rotate [--force] NAME...|all``: rotation without usrsvcd."""
    from . import rotation
    from .config import cached, main_config_path
    from .errors import ConfigError, UsageError
    from .state import RuntimeState

    from .selection import needs_all, select_programs

    names = opts.words[1:]
    if not names:
        raise UsageError("logs --rotate needs program names or all")
    path = main_config_path(opts.config)
    try:
        config = cached(path, None if needs_all(names) else set(names), RuntimeState(path))
    except ConfigError as error:
        return frontend.config_error("usrsvc", error, err)
    frontend.warn("usrsvc", config.warnings, err)
    programs = select_programs(config, names, "logs").programs
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


def _act(opts, action, names, out, err, signum=None):
    from . import actions
    from .config import cached, main_config_path
    from .errors import ConfigError
    from .selection import needs_all, select_programs
    from .state import RuntimeState

    path = main_config_path(opts.config)
    state = RuntimeState(path)  # status only reads it (launch records)
    try:  # the validated config is remembered in the runtime state directory
        config = cached(path, None if needs_all(names) else set(names), state)
        if action in ("start", "stop", "restart") and not needs_all(names):
            config = _whole(path, state, config)  # [[Requires]] reach other programs
    except ConfigError as error:
        return frontend.config_error("usrsvc", error, err)
    frontend.warn("usrsvc", config.warnings, err)
    chosen = select_programs(config, names, action)
    programs, several = chosen.programs, chosen.several
    if action in ("start", "restart", "try-restart", "update"):
        try:  # stdout = -: only usrsvcd --init, their parent, can give them that pipe
            _refuse_console(opts, config, programs)
        except ConfigError as error:
            return frontend.config_error("usrsvc", error, err)
    if config.main.path != path:
        state = RuntimeState(config.main.path)
    session = actions.Session(state, opts.lock_timeout)
    session.config = config  # [[Requires]] walk the whole graph (ordering.py)
    if action in ("status", "pid"):
        results = actions.status(session, programs, health=several)
        if action == "pid":
            return _pids(results, opts.json, several, out, err)
    else:  # a lock and a pidfd or two per program; the services keep the usual
        from .proc import fdlimit

        session.nofile = fdlimit.raise_soft()
        results = _run_action(opts, session, action, programs, several, out, signum)
    text = render(results, opts.json, several, action, _width(out) if several else None,
                  logs=action == "status")
    if text:
        out.write(text + "\n")
    return exit_code(results)


def _refuse_console(opts, config, programs):
    """ConfigError (130) when a program this command would launch (its
    requirements too) has stdout or stderr = -."""
    from .initmode import piped, refuse

    if not any(piped(p) for p in config.programs.values()):
        return
    names = {p.name for p in programs}
    if not getattr(opts, "no_deps", False):
        from .config import deps

        names = deps.closure(config.programs, names)
    refuse([config.programs[n] for n in config.programs if n in names])


def _whole(path, state, partial):
    """Every program (the graph of [[Requires]]), when the whole config is valid;
    else the named ones, as before."""
    from .config import cached
    from .errors import ConfigError

    try:
        return cached(path, None, state)
    except ConfigError:
        return partial


def _width(out):
    import os

    from .progress import terminal_width

    return terminal_width(out, os.environ)


def _run_action(opts, session, action, programs, several, out, signum):
    """The action itself, with the progress line on a terminal for several programs."""
    from . import actions

    if action in ("signal", "reload"):
        return actions.send_signal(session, _services(action, programs), signum)
    progress = _progress(opts, out) if several and action in ("start", "stop", "restart") else None
    if progress is not None:
        session.progress = progress
    try:
        ordered = _ordered(opts, session, action, programs)
        if ordered is not None:
            return ordered
        return getattr(actions, action.replace("-", "_"))(session, programs,
                                                          parallel=opts.parallel)
    finally:
        if progress is not None:
            progress.close()


def _ordered(opts, session, action, programs):
    """start/stop/restart through ordering.py when the config has [[Requires]] or
    oneshot jobs; None when the plain actions do (nothing changes for others)."""
    from . import ordering

    config = session.config
    if not ordering.involved(config):
        return None
    if action == "start":
        return ordering.start(session, config, programs, opts.parallel, opts.no_deps)
    if action == "stop":
        return ordering.stop(session, config, programs, opts.parallel, opts.with_dependents)
    if action == "restart":
        return ordering.restart(session, config, programs, opts.parallel, opts.no_deps)
    services = _services(action, programs)
    if len(services) == len(programs):
        return None
    from . import actions  # several: the oneshot jobs are left out

    return getattr(actions, action.replace("-", "_"))(session, services, parallel=opts.parallel)


def _services(action, programs):
    """The programs an action for services applies to: oneshot jobs are left out
    (InvalidAction, exit 131, when that leaves none)."""
    services = [p for p in programs if not p.oneshot]
    if programs and not services:
        from .errors import InvalidAction

        raise InvalidAction("%s does not apply to oneshot jobs (%s); use start, stop, restart"
                            " or status" % (action, ", ".join(p.name for p in programs)))
    return services


def _progress(opts, out):
    """A Progress when ``out`` is a terminal that can redraw a line, else None."""
    import os

    if opts.json or os.environ.get("TERM") in (None, "", "dumb"):
        return None
    try:
        if not out.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    from .progress import Progress

    return Progress(out, _width(out))


def _pids(results, as_json, several, out, err):
    """``pid``: the pid alone on stdout (NAME PID lines for several); a program that
    is not running is said on stderr and makes the exit code 1."""
    if as_json:
        import json

        out.write(json.dumps([{"name": r.name, "pid": r.pid} for r in results], indent=2) + "\n")
    for r in results:
        if r.pid and not as_json:
            out.write("%s %d\n" % (printable(r.name), r.pid) if several else "%d\n" % r.pid)
        elif not r.pid:
            err.write("usrsvc: %s: %s\n" % (printable(r.name), printable(r.message)))
    return exitcodes.SUCCESS if all(r.pid for r in results) else exitcodes.FAILURE


# usrsvc -H ------------------------------------------------------------------------------------
def _on_hosts(opts, out, err):
    """``-H HOST[,...]``: the command on every host over ssh (see remote), one
    merged table (or JSON with a ``host`` field); the usual exit code rule over
    every host, an unreachable one counting as a failure (1)."""
    import os

    from . import remote
    from .errors import UsageError

    words = _host_words(opts)
    hosts = remote.parse_hosts(opts.hosts)
    ssh = remote.ssh_argv(os.environ)
    line = remote.command_line(remote.remote_command(opts.remote_command, os.environ),
                               remote.remote_words(words[0], words[1:], opts.config,
                                                   _passed_options(opts)))
    if not hosts:
        raise UsageError("-H expects [USER@]HOST[,...]")
    runs = remote.run_all(hosts, lambda host: remote.ssh_call(ssh, host, line))
    if words[0] == "logs":
        return _host_logs(runs, opts.json, out, err)
    rows, codes = [], []
    for run in runs:
        found, warnings, code = remote.rows_of(run)
        rows += found
        codes.append(code)
        for warning in warnings:
            err.write("usrsvc: %s: %s\n" % (one_line(run.host), printable(warning)))
    if opts.json:
        import json

        out.write(json.dumps([row.as_dict() for row in rows], indent=2) + "\n")
    else:
        notes = ["%s %s: note: %s" % (one_line(row.host), one_line(row.name), note)
                 for row in rows for note in row.notes]
        out.write(printable("\n".join(notes + [_table(rows, words[0], _width(out), hosts=True)]))
                  + "\n")
    return remote.exit_code(codes)


def _host_words(opts):
    """The action and names of a -H command (status and logs alone: all); UsageError
    for what -H does not do."""
    from . import remote
    from .errors import UsageError

    if not opts.hosts:
        raise UsageError("--remote-command goes with -H [USER@]HOST[,...]")
    words = list(opts.words)
    if words in (["status"], ["logs"]):
        words.append("all")
    if not words:
        raise UsageError("expected an action after -H HOST: %s" % "|".join(remote.ACTIONS))
    if words[0] not in remote.ACTIONS:
        raise UsageError("-H runs %s on the hosts, not %r (run it on one host with: ssh HOST"
                         " usrsvc %s ...)" % ("|".join(remote.ACTIONS), words[0], words[0]))
    if len(words) < 2:
        raise UsageError("expected a program name after %s (or several, 'PATTERN*', @GROUP"
                         " or all)" % words[0])
    if opts.keys or opts.rotate or opts.force:
        raise UsageError("--keys, --rotate and --force do not go with -H")
    if opts.logs is not None and (words[0] != "logs" or opts.logs.follow):
        raise UsageError("-f does not go with -H (follow one host's logs with: ssh HOST usrsvc"
                         " logs -f NAME)" if opts.logs.follow else
                         "-n, --stdout, --stderr and --since are options of usrsvc logs")
    return words


def _passed_options(opts):
    """The options given here that the remote usrsvc takes too, as its words."""
    words = ["--parallel"] if opts.parallel else []
    if opts.lock_timeout is not None:
        words += ["--lock-timeout", repr(opts.lock_timeout)]
    words += ["--no-deps"] if opts.no_deps else []
    words += ["--with-dependents"] if opts.with_dependents else []
    logs = opts.logs
    if logs is not None:
        words += ["-n", str(logs.lines)] if logs.lines is not None else []
        words += ["--since", repr(logs.since)] if logs.since is not None else []
        words += ["--" + stream for stream in sorted(logs.streams)]
    return words


def _host_logs(runs, as_json, out, err):
    """``-H ... logs``: each host's lines in turn (in its own time order), prefixed
    with the host and the program; or one JSON object a line, with ``host``."""
    from . import remote

    found, codes = [], []
    for run in runs:
        lines, problems, code = remote.log_lines_of(run)
        found += lines
        codes.append(code)
        for problem in problems:
            err.write("usrsvc: %s: %s\n" % (one_line(run.host), printable(problem)))
    if as_json:
        import json

        out.write("".join(json.dumps(line) + "\n" for line in found))
    else:
        cells = [(_text(line, "host"), _text(line, "program"), _text(line, "message"))
                 for line in found]
        hosts = max((len(host) for host, _, _ in cells), default=0)
        names = max((len(name) for _, name, _ in cells), default=0)
        out.write("".join("%s %s | %s\n" % (host.ljust(hosts), name.ljust(names), message)
                          for host, name, message in cells))
    return remote.exit_code(codes)


def _text(line, key):
    """A field of a remote log line, on one line with its control characters escaped."""
    value = line.get(key)
    return one_line(value) if isinstance(value, str) else "-"


def main():
    """Entry point of ``usrsvc`` (console_scripts and bin/usrsvc)."""
    from .entry import main as run_main

    run_main("usrsvc", run)


# usrsvc logs ------------------------------------------------------------------------------
LOGS_USAGE = """Usage: usrsvc [options] logs [NAME...] [-n N] [-f] [--stdout|--stderr]
                        [--since DURATION] [--json]
       usrsvc [options] logs --rotate [--force] NAME...

Show the last lines of programs' log files (their stdout and stderr files as
the config sets them); no daemon needed. NAME is a program's name, several
names, a shell pattern ('web*', quoted), @GROUP or all; "logs" alone means
"logs all".

  -n, --lines N       the last N lines of each file (default 20; with --since and
                      no -n: every line since then); -n 0 with -f: new lines only
  -f, --follow        keep printing lines as they are written, until Ctrl-C (exit 0);
                      follows usrsvc's own log rotation without losing or repeating a
                      line, a file renamed away and created again (logrotate), and
                      says on stderr when someone else truncated a file
  --stdout, --stderr  only that stream's file
  --since DURATION    only lines written in the last 30s, 5m, 1h30m, 2d or N seconds
  --json              one JSON object per line (not a list): program, stream,
                      time (ISO 8601 UTC), message
  --rotate            rotate the logs that outgrew stdout_maxbytes or
                      stderr_maxbytes now, as usrsvcd does (needs NAME... or all)
  --force             with --rotate: rotate every log, whatever its size

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
More: man usrsvc (sections READING LOGS and LOG ROTATION).
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
    value = frontend.option_value(name, eq, value, args)
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


def _logs(opts, out, err):
    """``usrsvc logs``: read (and with -f follow) log files; print; exit code."""
    import os
    import time

    from . import logs
    from .config import cached, main_config_path
    from .errors import ConfigError
    from .state import RuntimeState

    from .selection import needs_all, select_programs

    want = opts.logs or LogOptions()
    names = opts.words[1:] or ["all"]
    path = main_config_path(opts.config)
    state = RuntimeState(path)
    try:
        config = cached(path, None if needs_all(names) else set(names), state)
    except ConfigError as error:
        return frontend.config_error("usrsvc", error, err)
    frontend.warn("usrsvc", config.warnings, err)
    chosen = select_programs(config, names, "logs")
    programs, several = chosen.programs, chosen.several
    if config.main.path != path:
        state = RuntimeState(config.main.path)
    files, problems = logs.files_of(programs, tuple(s for s in logs.STREAMS
                                                    if s in want.streams or not want.streams))
    told = logs.logger_notes(programs, want.streams or logs.STREAMS)
    for note in told:
        err.write("usrsvc: %s\n" % printable(note))
    if told and not files and not problems:
        return exitcodes.SUCCESS  # nothing of ours to show: said where it goes
    count = want.lines if want.lines is not None or want.since is not None else 20
    now = time.time()
    since = None if want.since is None else now - want.since
    style = logs.Style([p.name for p in programs], several,
                       logs.wants_colour(out, os.environ))
    if want.follow:
        return _follow(files, state, count, since, now, style, opts.json, problems, out, err)
    notes = []
    lines, unreadable = logs.read(files, count, since, now, notes)
    _print_lines(lines, style, opts.json, out)
    for problem in notes + problems + unreadable:
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
