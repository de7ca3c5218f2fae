"""usrsvcd: argv -> the daemon (start/stop/restart/status/reread/checkconfig).

The only place, with cli.py, that prints and exits. Stopping or restarting
the daemon never touches a service.
"""

import json
import os
import signal
import sys
import time

from . import __version__, exitcodes
from .errors import ConfigError, DaemonRunning, UsageError, UsrsvcError

ACTIONS = ("start", "stop", "restart", "status", "reread", "checkconfig")
USAGE = """Usage: usrsvcd [start|stop|restart|status|reread|checkconfig] [options]

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

Options:
  -c, --config PATH   main config file (default: $USRSVC_CONFIG, else $HOME/usrsvc.cfg)
  --foreground        stay in the foreground (for systemd and tests)
  --debug             log more
  -h, --help          show this help and exit
  --version           show the version and exit
"""
STOP_TIMEOUT = 10.0


class Options:
    def __init__(self):
        self.action = "start"
        self.config = None
        self.foreground = False
        self.debug = False
        self.show = None


def parse(argv):
    opts, words, args = Options(), [], list(argv)
    while args:
        arg = args.pop(0)
        name, eq, value = arg.partition("=")
        if name in ("-c", "--config"):
            if not eq:
                if not args:
                    raise UsageError("option %s needs a value" % name)
                value = args.pop(0)
            opts.config = value
        elif arg == "--foreground":
            opts.foreground = True
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
        """The daemon's pidfile; with a broken config, the default one (so that
        a running daemon can still be found, stopped and asked about)."""
        if self._pidfile is not None:
            return self._pidfile
        try:
            configured = self.config.main.pidfile
        except ConfigError as error:
            if self.opts.action not in ("stop", "status"):
                raise
            self.err.write("usrsvcd: warning: the configuration is invalid (%d problem(s); see"
                           " usrsvcd checkconfig); looking for the daemon by its default pidfile\n"
                           % len(error.problems))
            configured = None
        self._pidfile = configured or os.path.join(self.state.path, "usrsvcd.pid")
        return self._pidfile

    def running_pid(self):
        """The live daemon's ProcInfo per its pidfile (same identity rule), or None.

        The default pidfile is looked for in every place the runtime state
        could have been when that daemon started (see RuntimeState.root).
        """
        paths = [self.pidfile]
        if self.pidfile == os.path.join(self.state.path, "usrsvcd.pid"):
            paths = [os.path.join(d, "usrsvcd.pid") for d in self.state.candidates()]
        for path in paths:
            info = self._daemon_in(path)
            if info is not None:
                return info
        return None

    def _daemon_in(self, path):
        from .proc import pidfile, procfs

        pid, written_at, _ = pidfile.read(path)
        if pid is None:
            return None
        info = procfs.read(pid)
        if info is None or info.zombie or info.uid != os.geteuid() or pid == os.getpid():
            return None
        if info.start_time > written_at + 1.0 or "usrsvcd" not in info.cmdline_text:
            return None
        return info

    def say(self, text):
        self.out.write(text + "\n")
        self.out.flush()


def _print_config_error(ctx, error):
    for line in error.warnings:
        ctx.err.write("usrsvcd: warning: %s\n" % line)
    ctx.err.write("usrsvcd: invalid configuration (%d problem%s):\n"
                  % (len(error.problems), "" if len(error.problems) == 1 else "s"))
    for line in error.problems:
        ctx.err.write("  %s\n" % line)
    return exitcodes.INVALID_CONFIG


def do_checkconfig(ctx):
    from . import preflight

    config = ctx.config
    for line in list(config.warnings) + preflight.check(config):
        ctx.err.write("usrsvcd: warning: %s\n" % line)
    for line in preflight.summary(config):
        ctx.say(line)
    return exitcodes.SUCCESS


def do_status(ctx):
    info = ctx.running_pid()
    if info is None:
        ctx.say("usrsvcd is not running (pidfile %s)" % ctx.pidfile)
        return exitcodes.FAILURE
    ctx.say("usrsvcd is running, pid %d, up %ds" % (info.pid, time.time() - info.start_time))
    if ctx.opts.debug:
        ctx.say("runtime state: %s" % ctx.state.path)
    try:
        with open(os.path.join(ctx.state.path, "usrsvcd.status")) as handle:
            status = json.load(handle)
    except (OSError, ValueError):
        return exitcodes.SUCCESS
    ctx.say("config files: %s" % ", ".join(status.get("files", ())))
    programs = status.get("programs", {})
    ctx.say("programs managed: %d" % len(programs))
    for name, entry in programs.items():
        pid = entry.get("pid")
        ctx.say("  %-20s %-16s %s" % (name, entry.get("state"), "pid %d" % pid if pid else ""))
    return exitcodes.SUCCESS


def _wait_gone(info, timeout):
    from .proc import procfs

    deadline = time.monotonic() + timeout
    while procfs.alive(info.pid, info.start_time):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def do_stop(ctx):
    info = ctx.running_pid()
    if info is None:
        ctx.say("usrsvcd is not running")
        return exitcodes.SUCCESS
    try:
        os.kill(info.pid, signal.SIGTERM)
        if not _wait_gone(info, STOP_TIMEOUT):
            os.kill(info.pid, signal.SIGKILL)  # it owns no service: nothing is lost
            _wait_gone(info, 5.0)
    except ProcessLookupError:
        pass  # it exited on its own meanwhile
    ctx.say("usrsvcd stopped (pid %d); services left running" % info.pid)
    return exitcodes.SUCCESS


def do_reread(ctx):
    ctx.config  # validate first: on error nothing is signalled
    info = ctx.running_pid()
    if info is None:
        ctx.say("configuration is valid; usrsvcd is not running, nothing to reread")
        return exitcodes.SUCCESS
    path = os.path.join(ctx.state.path, "usrsvcd.reload")
    before = _read_json(path).get("generation") if _read_json(path).get("pid") == info.pid else 0
    os.kill(info.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 15.0
    while time.monotonic() < deadline:
        report = _read_json(path)
        if report.get("pid") == info.pid and (report.get("generation") or 0) > (before or 0):
            if report.get("status") == "ok":
                ctx.say("usrsvcd (pid %d) applied the new configuration" % info.pid)
                return exitcodes.SUCCESS
            ctx.err.write("usrsvcd rejected the configuration and kept the old one:\n")
            for line in report.get("problems", ()):
                ctx.err.write("  %s\n" % line)
            return exitcodes.INVALID_CONFIG
        time.sleep(0.02)
    ctx.err.write("usrsvcd (pid %d) did not confirm the reread in 15s\n" % info.pid)
    return exitcodes.FAILURE


def _read_json(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def do_start(ctx):
    from .daemon import runner

    return runner.start(ctx)


def do_restart(ctx):
    ctx.config  # a broken config must not leave us with no daemon at all
    do_stop(ctx)
    return do_start(ctx)


def run(argv, out=sys.stdout, err=sys.stderr):
    try:
        opts = parse(argv)
        if opts.show == "help":
            out.write(USAGE)
            return exitcodes.SUCCESS
        if opts.show == "version":
            out.write("usrsvcd %s\n" % __version__)
            return exitcodes.SUCCESS
        ctx = Context(opts, out, err)
        try:
            return globals()["do_" + opts.action](ctx)
        except ConfigError as error:
            return _print_config_error(ctx, error)
    except UsageError as error:
        err.write("usrsvcd: %s\n\n%s" % (error.message, USAGE))
        return exitcodes.FAILURE
    except DaemonRunning as error:
        err.write("usrsvcd: %s\n" % error.message)
        return exitcodes.DAEMON_RUNNING
    except UsrsvcError as error:
        err.write("usrsvcd: %s\n" % error.message)
        return exitcodes.code_for(error)


def main():
    """Entry point of ``usrsvcd`` (console_scripts and bin/usrsvcd)."""
    from .entry import main as run_main

    run_main("usrsvcd", run)
