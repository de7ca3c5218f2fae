"""usrsvcd --init as the PID 1 of a PID namespace (unshare --pid --fork --mount-proc).

Real processes, run as root: the namespace's init is usrsvcd's reaper, its
child the daemon. Checked: orphans that exit are reaped (no zombie stays
under the namespace's PID 1), the oneshot job runs before the services that
require it, every line of the programs with ``stdout = -`` comes out of
usrsvcd's stdout as one JSON object, SIGTERM stops the services in reverse
dependency order and exits 0, a failing oneshot ends usrsvcd with 137, and
``stdout = -`` outside init mode is a config error (130).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import _command, wait_for

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="a PID namespace needs root"),
    pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare (util-linux) is missing"),
]

ORPHANS = "while :; do ( sleep 0.05 & ) ; sleep 0.1; done # {token}"


def _stat(pid):
    """(state, ppid) of ``pid`` from our own /proc, or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return fields[0].decode(), int(fields[1])


def _children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[1] == pid:
                found.append(int(entry))
    return found


class Namespace:
    """usrsvcd --init --foreground under unshare; its stdout and stderr captured."""

    def __init__(self, env, config, extra=(), unshare=True):
        self.env = env
        self.out_path = os.path.join(env.home, "init.out")
        self.err_path = os.path.join(env.home, "init.err")
        argv = [_command("usrsvcd"), "--init", "--foreground", "--config", config] + list(extra)
        if unshare:
            argv = ["unshare", "--pid", "--fork", "--mount-proc"] + argv
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(argv, env=env.env, cwd=env.home, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err)
        env.children.append(self.proc)  # killed at teardown if still there
        self._init = None if unshare else self.proc.pid

    def init_pid(self):
        """The namespace's PID 1 as we see it: unshare's only child."""
        if self._init is None:
            assert wait_for(lambda: _children(self.proc.pid) or self.proc.poll() is not None,
                            timeout=10)
            kids = _children(self.proc.pid)
            assert kids, self.text()
            self._init = kids[0]
            self.env.track(self._init)
        return self._init

    def text(self):
        with open(self.out_path) as out, open(self.err_path) as err:
            return out.read() + "\n--- stderr ---\n" + err.read()

    def records(self):
        """Every JSON line of usrsvcd's stdout (the consolidated stream)."""
        found = []
        with open(self.out_path) as out:
            for line in out:
                if line.strip():
                    found.append(json.loads(line))  # every line is JSON: a bad one fails here
        return found

    def events(self, event):
        return [r for r in self.records() if r.get("event") == event]

    def lines(self, program):
        return [r for r in self.records() if r.get("program") == program and "message" in r]

    def wait(self, predicate, timeout=30):
        assert wait_for(predicate, timeout=timeout), self.text()


def _config(env, setup_command, log_format="json"):
    token = env.token
    service = env.service
    return env.write("""\
        [Main]
        log_format = {fmt}

        [Program:setup]
        type = oneshot
        command = {setup}
        useshell = True
        stdout = -
        stderr = -
        timeout = 30

        [Program:alpha]
        command = {alpha}
        pidfile = {home}/run/alpha.pid
        autopid = True
        stdout = -
        success_seconds = 0.3
        term_to_kill_seconds = 5
        [[Requires]]
        setup = done

        [Program:beta]
        command = {beta}
        pidfile = {home}/run/beta.pid
        autopid = True
        stdout = -
        success_seconds = 0.3
        term_to_kill_seconds = 5
        [[Requires]]
        setup = done
        alpha = started

        [Program:orphans]
        command = {orphans}
        useshell = True
        pidfile = {home}/run/orphans.pid
        autopid = True
        stdout = {home}/logs/orphans.log
        success_seconds = 0.3
        term_to_kill_seconds = 5
        """.format(fmt=log_format, setup=setup_command, home=env.home,
                   alpha=service("--tag", "alpha"), beta=service("--tag", "beta"),
                   orphans=ORPHANS.format(token=token)))


def _setup(env, code=0):
    return ("echo setup-out {t}; echo setup-err {t} >&2; sleep 0.5; touch {home}/setup.done;"
            " exit {code}".format(t=env.token, home=env.home, code=code))


def _zombies_stay_reaped(ns, init):
    """Orphans keep exiting under ``init`` for 3 s: none stays a zombie."""
    def zombies():
        return [p for p in _children(init) if (_stat(p) or ("?",))[0] == "Z"]

    seen = set()
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:  # about 30 orphans are made and end meanwhile
        now = set(zombies())
        assert not (now & seen), "zombies left unreaped under PID 1: %s\n%s" % (now & seen,
                                                                                 ns.text())
        seen = now
        time.sleep(0.4)
    assert len(zombies()) <= 2


@pytest.mark.parametrize("unshare", [True, False], ids=["pid1", "subreaper"])
def test_init_mode_reaps_orders_streams_and_stops(env, unshare):
    ns = Namespace(env, _config(env, _setup(env)), unshare=unshare)
    init = ns.init_pid()
    ns.wait(lambda: len(ns.events("stopped")) == 0 and len(ns.lines("beta")) >= 1)

    # ordering: the job's result came before either service was launched
    records = ns.records()
    done_at = next(i for i, r in enumerate(records)
                   if r.get("program") == "setup" and r.get("event") == "done")
    launched = [i for i, r in enumerate(records)
                if r.get("program") in ("alpha", "beta") and r.get("event") == "launched"]
    assert len(launched) == 2 and min(launched) > done_at, ns.text()
    assert os.path.exists(os.path.join(env.home, "setup.done"))

    # the consolidated stream: the programs' lines as JSON objects of their own
    for program, stream, text in (("setup", "stdout", "setup-out"),
                                  ("setup", "stderr", "setup-err"),
                                  ("alpha", "stdout", "service %s up pid" % env.token),
                                  ("beta", "stdout", "service %s up pid" % env.token)):
        got = [r for r in ns.lines(program) if r["stream"] == stream]
        assert any(r["message"].startswith(text) for r in got), (program, stream, ns.text())
        assert all(set(r) == {"program", "stream", "time", "message"} for r in got)

    # reaping: orphans keep exiting under the namespace's PID 1 (or the subreaper)
    assert ns.lines("orphans") == [] and env.pid_of("orphans")
    _zombies_stay_reaped(ns, init)

    # SIGTERM to the namespace's PID 1: the services go, dependents first, then exit 0
    alpha, beta = env.pid_of("alpha"), env.pid_of("beta")
    assert alpha and beta
    os.kill(init, signal.SIGTERM)
    assert ns.proc.wait(timeout=60) == 0, ns.text()
    stopping = [r["program"] for r in ns.events("stopping")]
    assert stopping.index("beta") < stopping.index("alpha") < stopping.index("setup"), ns.text()
    stopped = {r["program"]: r for r in ns.events("stopped")}
    assert stopped["alpha"]["reason"].startswith("stopped pid"), ns.text()
    assert stopped["beta"]["reason"].startswith("stopped pid"), ns.text()
    assert not ns.events("init_failed")
    assert wait_for(lambda: not any(_stat(p) for p in (alpha, beta)) or unshare, timeout=10)


def test_failing_oneshot_ends_init_with_137(env):
    ns = Namespace(env, _config(env, _setup(env, code=3)))
    ns.init_pid()
    assert ns.proc.wait(timeout=60) == 137, ns.text()
    assert ns.events("init_failed"), ns.text()
    assert not [r for r in ns.events("launched") if r["program"] in ("alpha", "beta")], ns.text()
    failed = [r for r in ns.events("failed") if r["program"] == "setup"]
    assert failed and "exit 3" in failed[0]["reason"], ns.text()


def test_text_format_prefixes_lines_with_the_name(env):
    ns = Namespace(env, _config(env, _setup(env), log_format="text"))
    init = ns.init_pid()
    ns.wait(lambda: "beta | service %s up pid" % env.token in ns.text())
    assert "setup | setup-err %s" % env.token in ns.text()
    os.kill(init, signal.SIGINT)
    assert ns.proc.wait(timeout=60) == 0, ns.text()


def test_console_output_outside_init_mode_is_a_config_error(env):
    env.write(env.program("web", env.service(), stdout="-"))
    proc = env.run("start", "web", check=130)
    assert "[Program:web] stdout = -" in proc.stderr and "usrsvcd --init" in proc.stderr
    assert not os.path.exists(os.path.join(env.home, "-"))
    daemon = subprocess.run([_command("usrsvcd"), "start", "--foreground"], env=env.env,
                            cwd=env.home, stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, timeout=60)
    assert daemon.returncode == 130, (daemon.stdout, daemon.stderr)
    assert "stdout = -" in daemon.stderr and "Traceback" not in daemon.stderr
    checked = subprocess.run([_command("usrsvcd"), "checkconfig"], env=env.env, cwd=env.home,
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 130, (checked.stdout, checked.stderr)
    env.run("status", "web", check=1)  # looking is fine: nothing is launched
    warned = env.run("checkconfig", check=0)
    assert "[Program:web] stdout = -: only usrsvcd --init can start it" in warned.stderr


def test_invalid_config_in_init_mode_exits_130(env):
    env.write("[Program:web]\npidfile = %s/web.pid\nstdout = -\n" % env.home)  # no command
    ns = Namespace(env, env.cfg)
    assert ns.proc.wait(timeout=60) == 130, ns.text()
    assert "[Program:web]" in ns.text() and "command" in ns.text()
    assert "Traceback" not in ns.text()


def test_redis_logs_into_the_json_stream_and_stops_on_sigterm(env):
    from conftest import free_port, port_free
    from test_thirdparty import _binary, _redis_ping

    redis = _binary("redis-server")
    port = free_port()
    data = os.path.join(env.home, "redis")
    os.makedirs(data)
    command = ("%s --port %d --bind 127.0.0.1 --save \"\" --appendonly no --daemonize no"
               " --dir %s --proc-title-template \"redis {listen-addr} %s\""
               % (redis, port, data, env.token))
    env.write("[Main]\nlog_format = json\n" + env.program(
        "redis", command, stdout="-", autopid="True", success_seconds="0.5",
        proctitle_re=r"^redis 127\.0\.0\.1:%d %s$" % (port, env.token)))
    ns = Namespace(env, env.cfg)
    init = ns.init_pid()
    ns.wait(lambda: any("Ready to accept connections" in r["message"]
                        for r in ns.lines("redis")))
    assert _redis_ping(port) == b"+PONG\r\n"
    os.kill(init, signal.SIGTERM)
    assert ns.proc.wait(timeout=60) == 0, ns.text()
    assert port_free(port)
    # redis said goodbye on its stdout before usrsvcd exited: the last lines are kept
    assert any("ready to exit, bye bye" in r["message"].lower() for r in ns.lines("redis")), \
        ns.text()


def test_usrsvcd_stop_ends_init_mode_and_says_the_programs_went(env):
    env.write("[Main]\nlog_format = json\n" + env.program(
        "web", env.service("--tag", "web"), stdout="-", autopid="True"))
    ns = Namespace(env, env.cfg, unshare=False)
    ns.wait(lambda: any(r.get("event") == "started" and r.get("program") == "web"
                        for r in ns.records()))
    pid = env.pid_of("web")
    stopped = subprocess.run([_command("usrsvcd"), "stop", "--config", env.cfg], env=env.env,
                             cwd=env.home, stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, timeout=120)
    assert stopped.returncode == 0, stopped
    assert "init mode: its programs were stopped with it" in stopped.stdout, stopped
    assert ns.proc.wait(timeout=60) == 0, ns.text()
    assert wait_for(lambda: _stat(pid) is None, timeout=10), ns.text()


def test_a_oneshot_that_ends_at_once_has_its_exit_status(env):
    """A job that exits before usrsvcd could watch it: the reaper, which collected
    its status, tells it (it was "exit status unknown" and the container failed)."""
    for attempt in range(3):
        env.write("[Main]\nlog_format = json\n"
                  "[Program:pre]\ntype = oneshot\ncommand = /bin/true %s\nstdout = -\n"
                  % env.token + env.program("svc", env.service("--tag", "svc"),
                                             stdout="-")
                  + "  [[Requires]]\n  pre = done\n")
        ns = Namespace(env, env.cfg)
        init = ns.init_pid()
        ns.wait(lambda: [r for r in ns.events("launched") if r["program"] == "svc"])
        assert not ns.events("init_failed"), ns.text()
        os.kill(init, signal.SIGTERM)
        assert ns.proc.wait(timeout=60) == 0, ns.text()
