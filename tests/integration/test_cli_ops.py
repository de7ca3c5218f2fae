"""The commands people reach for, against real processes: several names, patterns,
@group, did-you-mean, signal, reload, try-restart, pid, init, and output that reads
well (restart's two pids, one table for stop all, cut command lines, tree RSS).
"""

import json
import os
import signal
import sys

from conftest import alive, descendants, pids_with, wait_for

SIGSVC = """import os, signal, sys, time
log = sys.argv[2]
def note(num, frame):
    with open(log, "a") as handle:
        handle.write("%s %d\\n" % (signal.Signals(num).name, os.getpid()))
for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
    signal.signal(sig, note)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
while True:
    time.sleep(1)
"""


def sigsvc(env, name, **keys):
    """A program that writes each HUP/USR1/USR2 it gets into HOME/NAME.signals."""
    script = os.path.join(env.home, "sigsvc.py")
    with open(script, "w") as handle:
        handle.write(SIGSVC)
    log = os.path.join(env.home, name + ".signals")
    return env.program(name, "%s %s %s %s" % (sys.executable, script, env.token, log), **keys), log


def read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def three(env, **keys):
    env.write(env.program("web-1", env.service("--tag", "w1"), group="web", **keys)
              + env.program("web-2", env.service("--tag", "w2"), group="web", **keys)
              + env.program("api", env.service("--tag", "api"), **keys))


def running(env):
    return {name for name in ("web-1", "web-2", "api") if env.pid_of(name)
            and alive(env.pid_of(name))}


# several names, patterns, groups ------------------------------------------------------

def test_several_names_start_each_once(env):
    three(env)
    result = env.run("--json", "start", "web-1", "api", "web-1", check=0)
    assert [r["name"] for r in json.loads(result.stdout)] == ["web-1", "api"]
    assert running(env) == {"web-1", "api"}


def test_a_quoted_pattern_stops_the_programs_it_matches(env):
    three(env)
    env.run("start", "all", check=0)
    result = env.run("stop", "web*", check=0)
    assert "web-1" in result.stdout and "web-2" in result.stdout and "api" not in result.stdout
    assert running(env) == {"api"}


def test_a_group_mixed_with_a_name(env):
    three(env)
    env.run("start", "@web", check=0)
    assert running(env) == {"web-1", "web-2"}
    env.run("start", "api", check=0)
    before = {n: env.pid_of(n) for n in ("web-1", "web-2", "api")}
    env.run("restart", "@web", "api", check=0)
    after = {n: env.pid_of(n) for n in ("web-1", "web-2", "api")}
    assert all(after[n] != before[n] and alive(after[n]) for n in after), (before, after)


def test_a_pattern_that_matches_nothing_is_133_and_nothing_is_done(env):
    three(env)
    result = env.run("start", "api", "db*", check=133)
    assert "'db*' matches no program" in result.stderr and "web-1" in result.stderr
    assert not pids_with(env.token)


def test_an_unknown_name_says_did_you_mean(env):
    three(env)
    result = env.run("start", "apii", check=133)
    assert "did you mean 'api'?" in result.stderr and "Defined: web-1, web-2, api" in result.stderr
    result = env.run("stop", "@wbe", check=133)
    assert "did you mean '@web'?" in result.stderr
    assert not pids_with(env.token)


def test_one_failure_among_several_exits_1(env):
    env.write(env.program("good", env.service("--tag", "good"))
              + env.program("bad", env.service("--tag", "bad", "--exit", 3)))
    result = env.run("start", "good", "bad", check=137)  # the code they share, as for all
    env.run("stop", "all", check=0)
    env.write(env.program("good", env.service("--tag", "good"))
              + env.program("bad", env.service("--tag", "bad", "--exit", 3))
              + env.program("off", env.service("--tag", "off"), enabled="False"))
    result = env.run("start", "good", "bad", "off", check=1)  # 137 and 132: mixed
    assert "program is disabled" in result.stdout


def test_a_single_disabled_name_keeps_132(env):
    env.write(env.program("off", env.service(), enabled="False"))
    env.run("start", "off", check=132)
    env.run("try-restart", "off", check=132)


# signal, reload, try-restart, pid ------------------------------------------------------

def test_signal_by_name_or_number_reaches_the_identified_process(env):
    text, log = sigsvc(env, "sig")
    env.write(text)
    env.run("start", "sig", check=0)
    pid = env.pid_of("sig")
    for word, name in (("HUP", "SIGHUP"), ("sigusr1", "SIGUSR1"), (str(int(signal.SIGUSR2)),
                                                                    "SIGUSR2")):
        result = env.run("signal", "sig", word, check=0)
        assert "sent %s to pid %d" % (name, pid) in result.stdout
        assert wait_for(lambda: "%s %d" % (name, pid) in read(log)), read(log)
    assert alive(pid) and env.pid_of("sig") == pid


def test_signal_to_a_stopped_program_is_1_not_running(env):
    text, log = sigsvc(env, "sig")
    env.write(text)
    result = env.run("signal", "sig", "HUP", check=1)
    assert "not running" in result.stdout


def test_signal_refuses_an_unknown_signal_and_a_missing_one(env):
    text, _ = sigsvc(env, "sig")
    env.write(text)
    result = env.run("signal", "sig", "RELOAD", check=1)
    assert "unknown signal 'RELOAD'" in result.stderr
    result = env.run("signal", "sig", check=1)
    assert "usrsvc signal NAME HUP" in result.stderr
    assert "Try 'usrsvc --help'" in result.stderr and "Usage:" not in result.stderr


def test_signal_takes_kills_dash_syntax_after_or_before_the_names(env):
    text, log = sigsvc(env, "sig")
    env.write(text)
    env.run("start", "sig", check=0)
    pid = env.pid_of("sig")
    result = env.run("signal", "sig", "-USR1", check=0)  # usrsvc signal web -9, as kill -9
    assert "sent SIGUSR1 to pid %d" % pid in result.stdout
    result = env.run("signal", "-%d" % signal.SIGHUP, "sig", check=0)
    assert "sent SIGHUP to pid %d" % pid in result.stdout
    assert wait_for(lambda: "SIGUSR1 %d" % pid in read(log) and "SIGHUP %d" % pid in read(log))
    result = env.run("signal", "sig", "-USR1", "-USR2", check=1)
    assert "one signal" in result.stderr and "SIGUSR2" not in read(log)
    result = env.run("signal", "sig", "-BOGUS", check=1)  # not a signal: still an option
    assert "unknown option -BOGUS" in result.stderr
    assert alive(pid)


def test_signal_in_supervisorctl_order_says_did_you_mean_and_sends_nothing(env):
    text, log = sigsvc(env, "sig")
    more, _ = sigsvc(env, "other")
    env.write(text + more)
    env.run("start", "sig", check=0)
    result = env.run("signal", "HUP", "sig", check=1)
    assert "did you mean: usrsvc signal sig HUP" in result.stderr, result.stderr
    result = env.run("signal", "usr1", "sig", "other", check=1)
    assert "did you mean: usrsvc signal sig other usr1" in result.stderr, result.stderr
    result = env.run("signal", "sig", "other", check=1)  # no signal at all: no guess
    assert "did you mean" not in result.stderr and "unknown signal 'other'" in result.stderr
    assert read(log) == "" and alive(env.pid_of("sig"))


def test_a_signal_that_ends_the_program_is_reported_as_such(env):
    text, log = sigsvc(env, "sig")
    env.write(text)
    env.run("start", "sig", check=0)
    pid = env.pid_of("sig")
    result = env.run("signal", "sig", "HUP", check=0)  # handled: it keeps running
    assert "sent SIGHUP to pid %d, uptime" % pid in result.stdout
    result = env.run("signal", "sig", "ALRM", check=0)  # not handled: its default ends it
    assert result.stdout == "sig: sent SIGALRM to pid %d; it exited\n" % pid, result.stdout
    assert not alive(pid)
    env.run("start", "sig", check=0)
    pid = env.pid_of("sig")
    [row] = json.loads(env.run("--json", "signal", "sig", "-9", check=0).stdout)
    assert (row["state"], row["pid"], row["rss_kb"]) == ("stopped", None, None), row
    assert row["message"] == "sent SIGKILL to pid %d; it exited" % pid
    assert not alive(pid)


def test_signal_never_reaches_a_process_that_fails_the_identity_rule(env):
    text, log = sigsvc(env, "sig")
    env.write(text)
    other = env.spawn([sys.executable, "-c", "import time; time.sleep(300)", env.token])
    assert wait_for(lambda: pids_with(env.token))
    os.makedirs(os.path.join(env.home, "run"), exist_ok=True)
    with open(os.path.join(env.home, "run", "sig.pid"), "w") as handle:
        handle.write("%d\n" % other.pid)
    env.run("signal", "sig", "TERM", check=1)
    assert other.poll() is None


def test_reload_sends_the_programs_reload_signal(env):
    text, log = sigsvc(env, "a")
    more, log_b = sigsvc(env, "b", reload_signal="USR2")
    env.write(text + more)
    env.run("start", "a", "b", check=0)
    result = env.run("reload", "a", "b", check=0)
    assert "sent SIGHUP" in result.stdout and "sent SIGUSR2" in result.stdout
    assert wait_for(lambda: "SIGHUP %d" % env.pid_of("a") in read(log))
    assert wait_for(lambda: "SIGUSR2 %d" % env.pid_of("b") in read(log_b))


def test_try_restart_restarts_only_what_runs(env):
    three(env)
    env.run("start", "api", check=0)
    before = env.pid_of("api")
    result = env.run("try-restart", "all", check=0)
    assert env.pid_of("api") != before and alive(env.pid_of("api"))
    assert running(env) == {"api"}
    assert "not running, left alone" in result.stdout
    result = env.run("try-restart", "web-1", check=0)
    assert "web-1: not running, left alone" in result.stdout and running(env) == {"api"}


def test_pid_prints_the_pid_or_exits_1(env):
    three(env)
    env.run("start", "api", check=0)
    result = env.run("pid", "api", check=0)
    assert result.stdout == "%d\n" % env.pid_of("api") and result.stderr == ""
    result = env.run("pid", "web-1", check=1)
    assert result.stdout == "" and "web-1: not running" in result.stderr
    result = env.run("pid", "api", "web-1", check=1)
    assert result.stdout == "api %d\n" % env.pid_of("api")
    assert json.loads(env.run("--json", "pid", "api", check=0).stdout) == [
        {"name": "api", "pid": env.pid_of("api")}]


# init ---------------------------------------------------------------------------------

def test_init_writes_a_starter_that_checks_and_starts_as_written(env):
    result = env.run("status", "all", check=130)
    assert "usrsvc init" in result.stderr
    result = env.run("init", check=0)
    assert env.cfg in result.stdout and "systemctl --user enable --now usrsvcd" in result.stdout
    assert "loginctl enable-linger" in result.stdout
    assert "systemd/install.sh --user" in result.stdout  # as the README: no root for the unit
    assert "sudo systemd/install.sh" not in result.stdout
    assert os.stat(env.cfg).st_mode & 0o777 == 0o600
    text = read(env.cfg)
    assert "usrsvc checkconfig --keys" in text and "man 5 usrsvc.cfg" in text
    assert "--readme" not in text  # the key reference left the README for docs/ and man
    assert [line for line in text.splitlines() if line.startswith("[Program:")] == [
        "[Program:example]"] and text.startswith("#")
    env.run("checkconfig", check=0)
    try:
        started = env.run("start", "all", check=0)
        assert "example" in started.stdout and "RUNNING" in started.stdout
        env.run("status", "example", check=0)
    finally:
        pid = env.pid_of("example")
        if pid:
            env.track(pid)
    env.run("stop", "example", check=0)
    assert not alive(pid)


def test_init_never_overwrites(env):
    env.write("# mine\n")
    result = env.run("init", check=1)
    assert "already exists" in result.stderr and "not overwritten" in result.stderr
    assert read(env.cfg) == "# mine\n"


def test_init_with_config_path_and_through_no_symlink(env):
    path = os.path.join(env.home, "other.cfg")
    result = env.run("--config", path, "init", check=0)
    assert "--config %s checkconfig" % path in result.stdout
    env.run("--config", path, "checkconfig", check=0)
    target = os.path.join(env.home, "target")
    link = os.path.join(env.home, "link.cfg")
    os.symlink(target, link)
    env.run("--config", link, "init", check=1)
    assert not os.path.exists(target)


# output ---------------------------------------------------------------------------------

def test_restart_says_which_pid_it_stopped_and_which_it_started(env):
    env.write(env.program("svc", env.service()))
    env.run("start", "svc", check=0)
    old = env.pid_of("svc")
    result = env.run("restart", "svc", check=0)
    new = env.pid_of("svc")
    assert "svc: stopped pid %d (stop signal), started pid %d, uptime" % (old, new) \
        in result.stdout, result.stdout
    data = json.loads(env.run("--json", "restart", "svc", check=0).stdout)[0]
    assert data["stopped_pid"] == new and data["pid"] == env.pid_of("svc")
    env.run("stop", "svc", check=0)
    result = env.run("restart", "svc", check=0)
    assert "svc: was not running, started pid %d" % env.pid_of("svc") in result.stdout


def test_stop_all_prints_one_table_and_nothing_twice(env):
    three(env)
    env.run("start", "all", check=0)
    pids = {n: env.pid_of(n) for n in ("web-1", "web-2", "api")}
    result = env.run("stop", "all", check=0)
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "RESULT"], result.stdout
    assert len(lines) == 4, result.stdout
    for line, name in zip(lines[1:], ("web-1", "web-2", "api")):
        assert line.split()[:2] == [name, "STOPPED"]
        assert "stopped pid %d (stop signal)" % pids[name] in line


def test_long_command_lines_are_cut_in_the_table_only(env):
    long_tag = "x" * 300
    env.write(env.program("long", env.service("--tag", long_tag))
              + env.program("short", env.service("--tag", "s")))
    result = env.run("start", "all", env={"COLUMNS": "100"}, check=0)
    table = result.stdout.splitlines()
    assert all(len(line) <= 100 for line in table), table
    assert any(line.endswith("...") for line in table)
    status = env.run("status", "all", env={"COLUMNS": "100"}, check=0)
    assert all(len(line) <= 100 for line in status.stdout.splitlines())
    assert long_tag in env.run("status", "all", check=0).stdout  # a pipe: not cut
    assert long_tag in env.run("status", "long", env={"COLUMNS": "100"}, check=0).stdout
    data = json.loads(env.run("--json", "status", "all", env={"COLUMNS": "100"}, check=0).stdout)
    assert long_tag in data[0]["cmdline"]


def test_descendants_ended_counts_only_those_we_signalled(env):
    # sh waits on its last child; both children outlive sh's SIGTERM: we end both
    env.write(env.program("sh", "sleep 301 & sleep 302; : %s" % env.token, useshell="True"))
    env.run("start", "sh", check=0)
    result = env.run("stop", "sh", check=0)
    assert "2 descendants ended" in result.stdout, result.stdout
    # a master whose workers exit with it: nothing of ours was needed
    code = ("import os, signal, sys, time\n"
            "kids = []\n"
            "for _ in range(2):\n"
            "    kid = os.fork()\n"
            "    if kid == 0:\n"
            "        signal.signal(signal.SIGTERM, lambda *a: os._exit(0))\n"
            "        while True: time.sleep(1)\n"
            "    kids.append(kid)\n"
            "def bye(*a):\n"
            "    for k in kids: os.kill(k, signal.SIGTERM)\n"
            "    for k in kids: os.waitpid(k, 0)\n"
            "    sys.exit(0)\n"
            "signal.signal(signal.SIGTERM, bye)\n"
            "while True: time.sleep(1)\n")
    script = os.path.join(env.home, "master.py")
    with open(script, "w") as handle:
        handle.write(code)
    env.write(env.program("master", "%s %s %s" % (sys.executable, script, env.token)))
    env.run("start", "master", check=0)
    master = env.pid_of("master")
    assert wait_for(lambda: len(descendants([master])) == 2)
    result = env.run("stop", "master", check=0)
    assert "stopped pid %d (stop signal)" % master in result.stdout
    assert "descendant" not in result.stdout, result.stdout


def test_status_shows_the_rss_of_the_whole_tree(env):
    env.write(env.program("tree", env.service("--children", 3)))
    env.run("start", "tree", check=0)
    pid = env.pid_of("tree")
    assert wait_for(lambda: len(descendants([pid])) == 3)
    data = json.loads(env.run("--json", "status", "tree", check=0).stdout)[0]
    # three more Python interpreters: several MiB each on top of the main one
    assert data["rss_tree"] >= data["rss_kb"] + 3 * 2048, data
    line = env.run("status", "tree", check=0).stdout
    assert ", rss " in line and ", tree " in line
    table = env.run("status", "all", check=0).stdout.splitlines()
    assert table[0].split()[:6] == ["NAME", "STATE", "PID", "UPTIME", "RSS", "TREE"]
