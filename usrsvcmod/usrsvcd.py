"""usrsvcd: argv -> the daemon (start/stop/restart/status/reread/checkconfig).

The only place, with cli.py, that prints and exits. Stopping or restarting
the daemon never touches a service.
"""

import json
import os
import sys
import time

from . import exitcodes, frontend
from .errors import ConfigError, UsageError, UsrsvcError
from .escape import one_line, printable

NAME = "usrsvcd"

ACTIONS = ("start", "stop", "restart", "status", "reread", "checkconfig", "passwd")
USAGE = """Usage: usrsvcd [start|stop|restart|status|reread|checkconfig|passwd] [options]

The optional daemon of usrsvc: it autostarts programs, restarts them when they
exit or break a monitor limit, sends email alerts and rereads its config on
SIGUSR1. It is never the parent of a service: stopping, killing or upgrading
it leaves every service running, and a new usrsvcd picks them all up as they are.

Actions (default: start):
  start        start the daemon (detached, unless --foreground); 135 if one runs
  stop         stop the daemon; services keep running
  restart      stop then start the daemon; services keep running
  status       exit 0 if the daemon runs, and show what it manages
  reread       validate the config, then tell the daemon to apply it
  checkconfig  validate the config and summarize it
  passwd       read a password (twice on a terminal, else one line of stdin) and
               print the http_password_hash line for [Main] (HTTP basic auth)

Options:
  -c, --config PATH   main config file (default: $USRSVC_CONFIG, else $HOME/usrsvc.cfg)
  --foreground        stay in the foreground (for systemd and tests)
  --init              container init mode (implied by --foreground as PID 1): reap
                      every process, run oneshot jobs first, stop every program
                      on SIGTERM, stdout = - to our stdout (implies --foreground)
  --debug             log more
  -h, --help          show this help and exit
  --version           show the version and exit
"""


class Options:
    def __init__(self):
        self.action = "start"
        self.config = None
        self.foreground = False
        self.init = False
        self.debug = False
        self.show = None


def parse(argv):
    opts, words, args = Options(), [], list(argv)
    while args:
        arg = args.pop(0)
        name, eq, value = arg.partition("=")
        if name in ("-c", "--config"):
            value = frontend.option_value(name, eq, value, args)
            opts.config = value
        elif arg == "--foreground":
            opts.foreground = True
        elif arg == "--init":
            opts.init = True
        elif arg == "--debug":
            opts.debug = True
        elif arg in ("-h", "--help"):
            opts.show = "help"
        elif arg == "--version":
            opts.show = "version"
        elif arg.startswith("-"):
            raise UsageError("unknown option %s" % arg)
        else:
            words.append(arg)
    if len(words) > 1:
        raise UsageError("expected at most one action")
    if words:
        if words[0] not in ACTIONS:
            from .errors import InvalidAction

            raise InvalidAction("invalid action %r; expected one of: %s" % (words[0], ", ".join(ACTIONS)))
        opts.action = words[0]
    return opts


class Context:
    """The config and runtime state a daemon action works on."""

    def __init__(self, opts, out, err):
        from .config import load, main_config_path
        from .state import RuntimeState

        self.opts = opts
        self.out = out
        self.err = err
        self.path = main_config_path(opts.config)
        self.load = lambda: load(self.path)
        self.state = RuntimeState(self.path)
        self._config = None
        self._pidfile = None

    @property
    def config(self):
        if self._config is None:
            self._config = self.load()
        return self._config

    @property
    def pidfile(self):
        """The daemon's pidfile; with a broken config, for stop and status, the
        default one (the daemon is found by its lock anyway)."""
        from .daemon import runner

        if self._pidfile is None:
            try:
                self._pidfile = runner.pidfile_path(self.config.main, self.state)
            except ConfigError as error:
                if self.opts.action not in ("stop", "status"):
                    raise
                frontend.warn(NAME, ["the configuration is invalid (%d problem(s); see usrsvcd"
                                     " checkconfig); looking for the daemon by its lock and its"
                                     " default pidfile" % len(error.problems)], self.err)
                self._pidfile = runner.default_pidfile(self.state)
        return self._pidfile

    def config_or_none(self, key):
        """A [Main] value, or None when the config cannot be read now."""
        try:
            return getattr(self.config.main, key)
        except (ConfigError, UsrsvcError):
            return None

    def find_daemon(self):
        """The running daemon's ProcInfo, or None (see runner.find_daemon)."""
        from .daemon import runner

        return runner.find_daemon(self.state, self.path, self.pidfile)

    def say(self, text):
        self.out.write(printable(text) + "\n")
        self.out.flush()


def do_checkconfig(ctx):
    from . import preflight

    config = ctx.config
    if not ctx.opts.init:
        from .initmode import refuse

        refuse(config.programs.values())
    frontend.warn(NAME, list(config.warnings) + preflight.check(config), ctx.err)
    for line in preflight.summary(config):
        ctx.say(line)
    return exitcodes.SUCCESS


def do_status(ctx):
    info = ctx.find_daemon()
    if info is None:
        ctx.say("usrsvcd is not running (pidfile %s)" % ctx.pidfile)
        return exitcodes.FAILURE
    ctx.say("usrsvcd is running, pid %d, up %ds" % (info.pid, time.time() - info.start_time))
    if ctx.opts.debug:
        ctx.say("runtime state: %s" % ctx.state.path)
    try:
        status = json.loads(ctx.state.read("usrsvcd.status") or b"")
    except ValueError:
        return exitcodes.SUCCESS
    api = status.get("api") or {}
    if api.get("socket"):
        ctx.say("API socket: %s" % one_line(str(api["socket"])))
    if api.get("http"):
        ctx.say("API and web page: http%s://%s/" % (
            "s" if ctx.config_or_none("http_tls_cert") else "", one_line(str(api["http"]))))
    ctx.say("config files: %s" % ", ".join(one_line(str(f)) for f in status.get("files", ())))
    programs = status.get("programs", {})
    ctx.say("programs managed: %d" % len(programs))
    for name, entry in programs.items():
        for line in _program_lines(name, entry):
            ctx.say(line)
    return exitcodes.SUCCESS


def _program_lines(name, entry):
    """One program of the daemon's snapshot: state, pid, uptime, restarts, last
    exit, next start, the reason of its last change, and its logs. Its texts
    (a reason quotes a command line) are put on one line each (see escape)."""
    pid, now = entry.get("pid"), time.time()
    head = "  %-20s %-16s" % (one_line(name), one_line(str(entry.get("state"))))
    if pid:
        started = entry.get("started_at")
        head += " pid %d" % pid + (", up %ds" % (now - started) if started else "")
    facts = []
    if entry.get("restarts"):
        facts.append("restarts %d" % entry["restarts"])
    last = entry.get("last_exit")
    if entry.get("last_exit_text"):
        when = last.get("at") if isinstance(last, dict) else None
        facts.append("last exit: %s%s" % (one_line(str(entry["last_exit_text"])), time.strftime(
            " at %H:%M:%S", time.localtime(when)) if when else ""))
    if entry.get("next_retry"):
        facts.append("next start at %s" % time.strftime("%H:%M:%S",
                                                        time.localtime(entry["next_retry"])))
    lines = [head + ("  " + "; ".join(facts) if facts else "")]
    if entry.get("reason") and not pid:
        lines.append("      %s" % one_line(str(entry["reason"])))
    logs = [p for p in dict.fromkeys((entry.get("stdout"), entry.get("stderr"))) if p]
    if logs:
        lines.append("      logs: %s" % ", ".join(one_line(str(p)) for p in logs))
    return lines


def do_stop(ctx):
    from .daemon import runner

    info = ctx.find_daemon()
    if info is None:
        ctx.say("usrsvcd is not running")
        return exitcodes.SUCCESS
    init = _under_reaper(info.pid)
    # in init mode it stops every program first: give it time for their graces
    runner.stop(info, runner.STOP_TIMEOUT * 6 if init else runner.STOP_TIMEOUT)
    ctx.say("usrsvcd stopped (pid %d); %s" % (info.pid, "init mode: its programs were stopped"
                                              " with it" if init else "services left running"))
    return exitcodes.SUCCESS


def _under_reaper(pid):
    """True when the daemon ``pid`` runs in init mode (its parent is the reaper)."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            ppid = int(handle.read().rsplit(b")", 1)[1].split()[1])
        with open("/proc/%d/cmdline" % ppid, "rb") as handle:
            return handle.read().startswith(b"usrsvcd: init (reaper of pid %d)" % pid)
    except (OSError, ValueError, IndexError):
        return False


def do_reread(ctx):
    from .daemon import runner

    ctx.config  # validate first: on error nothing is signalled
    info = ctx.find_daemon()
    if info is None:
        ctx.say("configuration is valid; usrsvcd is not running, nothing to reread")
        return exitcodes.SUCCESS
    answer = runner.reread(ctx.state, info)
    if answer is None:
        ctx.err.write("usrsvcd (pid %d) did not confirm the reread in %ds\n"
                      % (info.pid, runner.REREAD_TIMEOUT))
        return exitcodes.FAILURE
    status, problems = answer
    if status == "ok":
        ctx.say("usrsvcd (pid %d) applied the new configuration" % info.pid)
        return exitcodes.SUCCESS
    ctx.err.write("usrsvcd rejected the configuration and kept the old one:\n")
    for line in problems:
        ctx.err.write("  %s\n" % printable(str(line)))
    return exitcodes.INVALID_CONFIG


def do_start(ctx):
    init = ctx.opts.action == "start" and initmode_wanted(ctx.opts)
    if init:  # first: the reaper stays small (its exit status is the daemon's, 130 too)
        from .daemon import initmode

        initmode.become_init()  # the reaper stays behind; we are the daemon, its child
    from .daemon import runner

    config = ctx.config  # validated before anything else happens
    if not init:
        from .initmode import refuse

        refuse(config.programs.values())
    started = runner.start(ctx.path, config, ctx.state, ctx.load,
                           foreground=ctx.opts.foreground, debug=ctx.opts.debug, init=init)
    if isinstance(started, runner.Started):
        ctx.say("usrsvcd started, pid %d; log: %s" % (started.pid, started.log))
        return exitcodes.SUCCESS
    return started or exitcodes.SUCCESS


def initmode_wanted(opts):
    import os

    return bool(opts.init or (opts.foreground and os.getpid() == 1))


def do_passwd(ctx):
    """Print the [Main] line of a salted hash of a password read from the terminal
    (twice) or from stdin's first line; the password itself is never stored."""
    from .api.auth import hash_password

    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Password for usrsvcd's web page and API: ")
        if first != getpass.getpass("The same again: "):
            ctx.err.write("usrsvcd: the two passwords differ; nothing changed\n")
            return exitcodes.FAILURE
    else:
        first = sys.stdin.readline().rstrip("\r\n")
    if len(first) < 8:
        ctx.err.write("usrsvcd: a password needs 8 characters or more\n")
        return exitcodes.FAILURE
    ctx.say("http_password_hash = %s" % hash_password(first))
    return exitcodes.SUCCESS


def do_restart(ctx):
    ctx.config  # a broken config must not leave us with no daemon at all
    do_stop(ctx)
    return do_start(ctx)


def run(argv, out=None, err=None):
    out = sys.stdout if out is None else out  # looked up now: entry.main may have
    err = sys.stderr if err is None else err  # replaced a closed stdout or stderr
    try:
        opts = parse(argv)
        if opts.show:
            return frontend.show(NAME, opts.show, USAGE, out)
        ctx = Context(opts, out, err)
        try:
            return globals()["do_" + opts.action](ctx)
        except ConfigError as error:
            return frontend.config_error(NAME, error, err)
    except UsrsvcError as error:
        return frontend.report(NAME, error, err, "usrsvcd --help")


def main():
    """Entry point of ``usrsvcd`` (console_scripts and bin/usrsvcd)."""
    from .entry import main as run_main

    run_main(NAME, run)
