"""One adapter per service manager: config, commands, daemon pid.

Each adapter turns the same World (N programs, tokens, settle window) into
the peer's own config and answers the questions the measurements ask: which
argv is "status NAME", how is the manager restarted, where is its pid...
"""

import json
import os
import signal
import subprocess
import sys
import time

from . import procs
from .world import BenchError

TERM_TO_KILL = 8  # seconds between TERM and KILL, the same for every peer


def wait_for(predicate, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def read_pidfile(path):
    pid = read_pid(path)
    return pid if pid and procs.is_alive(pid) else None


def read_pid(path):
    """The pid a pidfile names (alive or not), or None."""
    try:
        with open(path) as handle:
            return int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o644)


class Peer:
    key = "peer"
    label = "peer"
    digit = 0
    is_ours = False
    parentless = False
    # a settle window the peer honours on start (supervisord startsecs...)
    has_settle = True
    # must the daemon be stopped while "stop all" is timed (else it restarts them)?
    startstop_without_daemon = False
    # period of the daemon's periodic pass (seconds; 0: none or below 1 s)
    pass_period = 0.0

    def __init__(self, bindir):
        self.bindir = bindir
        self.version = "?"

    def bin(self, name):
        return os.path.join(self.bindir, name)

    # -- lifecycle ---------------------------------------------------------
    def setup(self, world):
        raise NotImplementedError

    def bring_up(self, world):
        raise NotImplementedError

    def daemon_pid(self, world):
        raise NotImplementedError

    def start_daemon(self, world):
        raise NotImplementedError

    def stop_daemon(self, world):
        raise NotImplementedError

    def restart_manager(self, world):
        raise NotImplementedError

    def shutdown(self, world):
        try:
            if self.daemon_pid(world):
                self.stop_daemon(world)
        except (BenchError, subprocess.TimeoutExpired):
            pass

    def kill_manager_and_start(self, world):
        pid = self.daemon_pid(world)
        if not pid:
            raise BenchError(f"{self.key}: daemon not running before kill -9")
        world.tracker.kill(pid, signal.SIGKILL)
        wait_for(lambda: not procs.is_alive(pid), 10, what="daemon to die")
        self.after_kill(world)
        self.start_daemon(world)

    def after_kill(self, world):
        """Hook: what a user does between the kill and the new start."""

    def wait_daemon(self, world, timeout=60):
        return wait_for(lambda: self.daemon_pid(world), timeout,
                        what=f"{self.key} daemon pid")

    # -- commands (argv lists) ----------------------------------------------
    def status_one(self, world, name):
        raise NotImplementedError

    def status_all(self, world):
        raise NotImplementedError

    def start_all(self, world):
        raise NotImplementedError

    def stop_all(self, world):
        raise NotImplementedError

    def add_program(self, world, name):
        """Write config for one more program; return the reload argv."""
        raise NotImplementedError

    def service_pids(self, world):
        """name -> pid of each service, as the manager itself reports it.

        The mass crash kills these pids (after checking that each carries its
        service's token), so they must come from the manager's own status or
        pidfiles, never from a search of /proc by pattern.
        """
        raise NotImplementedError


# ---------------------------------------------------------------------------
class UsrsvcStyle(Peer):
    """usrsvc 1.5.13 and ours share a config format (config-compatible)."""

    parentless = True

    def program_section(self, world, name, argv):
        return (
            f"[Program:{name}]\n"
            f"command = {' '.join(argv)}\n"
            f"pidfile = {world.path('pids', name + '.pid')}\n"
            f"stdout = {world.path('logs', name + '.log')}\n"
            f"success_seconds = {world.settle}\n"
            f"term_to_kill_seconds = {TERM_TO_KILL}\n"
            "autostart = True\n"
            "autorestart = True\n"
            "restart_delay = 0\n\n"
        )

    def setup(self, world):
        write(world.path("usrsvc.cfg"),
              "[Main]\n"
              f"config_dir = {world.path('usrsvc.d')}\n"
              f"pidfile = {world.path('usrsvcd.pid')}\n"
              f"usrsvcd_stdout = {world.path('logs', 'usrsvcd.log')}\n"
              "usrsvcd_stderr = stdout\n")
        body = "".join(self.program_section(world, name, world.program_argv(name))
                       for name in world.names)
        write(world.path("usrsvc.d", "programs.cfg"), body)

    def usrsvc(self, *args):
        return [self.bin("usrsvc"), *args]

    def usrsvcd(self, *args):
        return [self.bin("usrsvcd"), *args]

    def daemon_pid(self, world):
        return read_pidfile(world.path("usrsvcd.pid"))

    def start_daemon(self, world):
        # 1.5.13's start keeps the caller's stdout open: never a pipe we read.
        log = world.path("logs", "usrsvcd-cli.log")
        with open(log, "ab") as out:
            proc = world.tracker.popen(self.usrsvcd("start"), env=world.env, cwd=world.home,
                                       stdout=out, stderr=out, start_new_session=True)
        code = proc.wait(timeout=60)
        world.tracker.spawned.discard(proc.pid)
        if code != 0:
            raise BenchError(f"{self.key}: usrsvcd start exited {code} (see {log})")
        return self.wait_daemon(world)

    def stop_daemon(self, world):
        world.run(self.usrsvcd("stop"), timeout=60, stdout=subprocess.DEVNULL)
        wait_for(lambda: not self.daemon_pid(world), 30, what="usrsvcd to stop")

    def restart_manager(self, world):
        log = world.path("logs", "usrsvcd-cli.log")
        with open(log, "ab") as out:
            world.run(self.usrsvcd("restart"), timeout=60, stdout=out, stderr=out)
        return self.wait_daemon(world)

    def status_one(self, world, name):
        return self.usrsvc("status", name)

    def status_all(self, world):
        return self.usrsvc("status", "all")

    def start_all(self, world):
        return self.usrsvc("start", "all", "--parallel")

    def stop_all(self, world):
        return self.usrsvc("stop", "all", "--parallel")

    def service_pids(self, world):
        return {name: read_pid(world.path("pids", name + ".pid")) for name in world.names}

    def add_program(self, world, name):
        write(world.path("usrsvc.d", f"zz_{name}.cfg"),
              self.program_section(world, name, [world.sleep, world.tokens[name]]))
        return self.usrsvcd("reread")


class Ours(UsrsvcStyle):
    key = "ours"
    label = "usrsvc (this checkout)"
    digit = 1
    is_ours = True
    pass_period = 15.0  # [Main] reconcile_interval default

    def program_section(self, world, name, argv):
        # Crash-loop backoff off: by default a second crash within success_seconds
        # + 60 s waits 1 s, 2 s, ...; supervisord, circus and pm2 restart a crash of
        # a program that was running at once, and the crash measurements (a random
        # service every few seconds, every service every few seconds) time the
        # restart path, not the backoff policy.
        return super().program_section(world, name, argv) \
            .replace("restart_delay = 0\n", "restart_delay = 0\nrestart_delay_max = 0\n")

    def bring_up(self, world):
        code, _s, out = world.run(self.start_all(world), timeout=900)
        if code != 0:
            raise BenchError(f"ours: start all exited {code}:\n"
                             + out.decode("utf-8", "replace")[-2000:])
        world.wait_all_alive()
        self.start_daemon(world)


class Usrsvc15(UsrsvcStyle):
    key = "usrsvc-1.5.13"
    label = "usrsvc 1.5.13"
    digit = 2
    startstop_without_daemon = True
    pass_period = 5.0  # its main loop sleeps 2 + 2 + 1 s

    def bring_up(self, world):
        if world.n <= 10:
            world.run(self.start_all(world), timeout=600)
        else:
            self.prelaunch(world)
        world.wait_all_alive()
        self.start_daemon(world)

    def prelaunch(self, world):
        """Launch the services detached ourselves; 1.5.13 adopts them by pidfile."""
        entries = [{"argv": world.program_argv(name),
                    "log": world.path("logs", name + ".log"),
                    "pidfile": world.path("pids", name + ".pid")} for name in world.names]
        helper = os.path.join(os.path.dirname(os.path.abspath(__file__)), "detach.py")
        proc = world.tracker.popen([sys.executable, helper], env=world.env, cwd=world.home,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        out, _ = proc.communicate(json.dumps(entries).encode(), timeout=300)
        world.tracker.spawned.discard(proc.pid)
        if proc.returncode != 0 or len(out.split()) != len(entries):
            raise BenchError("usrsvc 1.5.13: could not pre-launch the services")


# ---------------------------------------------------------------------------
class Supervisord(Peer):
    key = "supervisord"
    label = "supervisord"
    digit = 3

    def conf(self, world):
        return world.path("supervisord.conf")

    def program_section(self, world, name, argv):
        return (
            f"[program:{name}]\n"
            f"command={' '.join(argv)}\n"
            f"startsecs={max(1, round(world.settle))}\n"
            "autostart=true\n"
            "autorestart=true\n"
            f"stopwaitsecs={TERM_TO_KILL}\n"
            f"stdout_logfile={world.path('logs', name + '.log')}\n"
            "redirect_stderr=true\n\n"
        )

    def setup(self, world):
        write(self.conf(world),
              "[unix_http_server]\n"
              f"file={world.path('supervisor.sock')}\n\n"
              "[supervisord]\n"
              f"logfile={world.path('logs', 'supervisord.log')}\n"
              f"pidfile={world.path('supervisord.pid')}\n"
              f"childlogdir={world.path('logs')}\n"
              "minfds=8192\n\n"
              "[rpcinterface:supervisor]\n"
              "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
              "[supervisorctl]\n"
              f"serverurl=unix://{world.path('supervisor.sock')}\n\n"
              "[include]\n"
              f"files = {world.path('supervisor.d', '*.conf')}\n")
        body = "".join(self.program_section(world, name, world.program_argv(name))
                       for name in world.names)
        write(world.path("supervisor.d", "programs.conf"), body)

    def ctl(self, *args, world):
        return [self.bin("supervisorctl"), "-c", self.conf(world), *args]

    def daemon_pid(self, world):
        return read_pidfile(world.path("supervisord.pid"))

    def start_daemon(self, world):
        world.run([self.bin("supervisord"), "-c", self.conf(world)], timeout=60, check=True)
        return self.wait_daemon(world)

    def bring_up(self, world):
        self.start_daemon(world)
        world.wait_all_alive(timeout=120 + world.n * 0.2)

    def stop_daemon(self, world):
        pid = self.daemon_pid(world)
        world.run(self.ctl("shutdown", world=world), timeout=120)
        if pid:
            wait_for(lambda: not procs.is_alive(pid), 120, what="supervisord to exit")

    def restart_manager(self, world):
        world.run(self.ctl("reload", world=world), timeout=120)
        time.sleep(0.5)
        return self.wait_daemon(world)

    def after_kill(self, world):
        try:
            os.unlink(world.path("supervisor.sock"))
        except OSError:
            pass

    def status_one(self, world, name):
        return self.ctl("status", name, world=world)

    def status_all(self, world):
        return self.ctl("status", world=world)

    def start_all(self, world):
        return self.ctl("start", "all", world=world)

    def stop_all(self, world):
        return self.ctl("stop", "all", world=world)

    def service_pids(self, world):
        # "p0001   RUNNING   pid 1234, uptime 0:00:05"; exits 3 when one is not running
        _code, _s, out = world.run(self.ctl("status", world=world), timeout=300)
        pids = {}
        for line in out.decode("utf-8", "replace").splitlines():
            fields = line.split()
            if len(fields) >= 4 and fields[1] == "RUNNING" and fields[2] == "pid":
                pids[fields[0]] = int(fields[3].rstrip(","))
        return pids

    def add_program(self, world, name):
        write(world.path("supervisor.d", f"zz_{name}.conf"),
              self.program_section(world, name, [world.sleep, world.tokens[name]]))
        return self.ctl("update", world=world)


# ---------------------------------------------------------------------------
class Circus(Peer):
    key = "circus"
    label = "circus"
    digit = 4
    has_settle = False

    def conf(self, world):
        return world.path("circus.ini")

    def endpoint(self, world):
        return "ipc://" + world.path("circus-ctl.sock")

    def watcher_section(self, world, name, argv):
        return (
            f"[watcher:{name}]\n"
            f"cmd = {argv[0]}\n"
            f"args = {' '.join(argv[1:])}\n"
            "numprocesses = 1\n"
            "copy_env = True\n"
            f"graceful_timeout = {TERM_TO_KILL}\n\n"
        )

    def write_conf(self, world, names):
        head = ("[circus]\n"
                f"endpoint = {self.endpoint(world)}\n"
                f"pubsub_endpoint = ipc://{world.path('circus-pub.sock')}\n"
                "statsd = False\n"
                f"pidfile = {world.path('circusd.pid')}\n"
                f"logoutput = {world.path('logs', 'circusd.log')}\n\n")
        body = "".join(self.watcher_section(world, name, self.argv_of(world, name))
                       for name in names)
        write(self.conf(world), head + body)

    @staticmethod
    def argv_of(world, name):
        if name.startswith("added"):
            return [world.sleep, world.tokens[name]]
        return world.program_argv(name)

    def setup(self, world):
        self.write_conf(world, world.names)

    def ctl(self, *args, world):
        return [self.bin("circusctl"), "--endpoint", self.endpoint(world), "--timeout", "60", *args]

    def daemon_pid(self, world):
        return read_pidfile(world.path("circusd.pid"))

    def start_daemon(self, world):
        world.run([self.bin("circusd"), "--daemon", self.conf(world)], timeout=120, check=True)
        return self.wait_daemon(world)

    def bring_up(self, world):
        self.start_daemon(world)
        world.wait_all_alive(timeout=120 + world.n * 0.2)

    def stop_daemon(self, world):
        pid = self.daemon_pid(world)
        world.run(self.ctl("quit", world=world), timeout=120)
        if pid:
            wait_for(lambda: not procs.is_alive(pid), 120, what="circusd to exit")

    def restart_manager(self, world):
        self.stop_daemon(world)
        return self.start_daemon(world)

    def after_kill(self, world):
        # circusd refuses to start over its own stale pidfile: remove it by hand
        try:
            os.unlink(world.path("circusd.pid"))
        except OSError:
            pass

    def status_one(self, world, name):
        return self.ctl("status", name, world=world)

    def status_all(self, world):
        return self.ctl("status", world=world)

    def start_all(self, world):
        return self.ctl("start", world=world)

    def stop_all(self, world):
        return self.ctl("stop", world=world)

    def service_pids(self, world):
        # circusctl answers one watcher per process; one client asks them all
        helper = os.path.join(os.path.dirname(os.path.abspath(__file__)), "circus_pids.py")
        code, _s, out = world.run([self.bin("python"), helper, self.endpoint(world),
                                   *world.names], timeout=300, stderr=subprocess.DEVNULL)
        if code != 0:
            raise BenchError(f"circus: {helper} exited {code}")
        listed = json.loads(out.decode())
        return {name: pids[0] for name, pids in listed.items() if len(pids) == 1}

    def add_program(self, world, name):
        names = list(world.names) + [n for n in world.tokens if n.startswith("added")]
        self.write_conf(world, names)
        return self.ctl("reloadconfig", world=world)


# ---------------------------------------------------------------------------
class PM2(Peer):
    key = "pm2"
    label = "pm2"
    digit = 5
    has_settle = False

    def app(self, world, name, argv):
        return {"name": name, "script": argv[0], "args": argv[1:], "interpreter": "none",
                "autorestart": True, "kill_timeout": TERM_TO_KILL * 1000,
                "out_file": world.path("logs", name + ".log"),
                "error_file": world.path("logs", name + ".log"),
                "merge_logs": True}

    def setup(self, world):
        apps = [self.app(world, name, world.program_argv(name)) for name in world.names]
        write(world.path("ecosystem.json"), json.dumps({"apps": apps}, indent=1))

    def pm2(self, *args):
        return [self.bin("pm2"), *args]

    def daemon_pid(self, world):
        return read_pidfile(world.path(".pm2", "pm2.pid"))

    def start_daemon(self, world):
        # after a kill -9 a user brings pm2 back with resurrect (from "pm2 save")
        world.run(self.pm2("resurrect"), timeout=600, check=True)
        return self.wait_daemon(world)

    def bring_up(self, world):
        world.run(self.pm2("start", world.path("ecosystem.json")), timeout=900, check=True)
        world.wait_all_alive(timeout=120 + world.n * 0.5)
        world.run(self.pm2("save"), timeout=300, check=True)
        self.wait_daemon(world)

    def stop_daemon(self, world):
        world.run(self.pm2("kill"), timeout=300)

    def restart_manager(self, world):
        world.run(self.pm2("kill"), timeout=300, check=True)
        return self.start_daemon(world)

    def status_one(self, world, name):
        return self.pm2("describe", name)

    def status_all(self, world):
        return self.pm2("jlist")

    def start_all(self, world):
        return self.pm2("start", "all")

    def stop_all(self, world):
        return self.pm2("stop", "all")

    def service_pids(self, world):
        _code, _s, out = world.run(self.pm2("jlist"), timeout=300, stderr=subprocess.DEVNULL)
        text = out.decode("utf-8", "replace")
        try:
            apps = json.loads(text[text.index("["):])
        except ValueError as err:
            raise BenchError(f"pm2: jlist did not give JSON: {err}") from None
        return {app["name"]: app.get("pid") for app in apps
                if app.get("pm2_env", {}).get("status") == "online"}

    def add_program(self, world, name):
        path = world.path(f"{name}.json")
        write(path, json.dumps({"apps": [self.app(world, name, [world.sleep, world.tokens[name]])]}))
        return self.pm2("start", path)


# ---------------------------------------------------------------------------
class Floor(Peer):
    """Not a peer: a 40-line pidfd supervisor giving the crash-recovery floor."""

    key = "floor"
    label = "floor (pidfd + posix_spawn)"
    digit = 6
    has_settle = False

    def __init__(self, python):
        super().__init__("")
        self.python = python
        self.version = "-"
        self.proc = None

    def setup(self, world):
        pass

    def bring_up(self, world):
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "floor_supervisor.py")
        token_file = world.path("floor.tokens")
        write(token_file, "".join(world.tokens[name] + "\n" for name in world.names))
        self.proc = world.spawn_logged([self.python, script, world.path("floor.pid"), token_file],
                                       "floor.log")
        world.wait_all_alive()
        self.wait_daemon(world)

    def daemon_pid(self, world):
        return read_pidfile(world.path("floor.pid"))

    def service_pids(self, world):
        """The floor keeps no status: its services are its children."""
        daemon = self.daemon_pid(world)
        children = procs.children(daemon) if daemon else []
        by_token = {world.index.match(procs.cmdline(pid)): pid for pid in children}
        return {name: by_token.get(token) for name, token in world.tokens.items()}

    def shutdown(self, world):
        if self.proc is not None:
            world.tracker.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            world.tracker.spawned.discard(self.proc.pid)
            self.proc = None
