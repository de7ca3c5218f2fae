"""usrsvc start/stop/restart against real processes, in a temporary HOME.

Every service carries the test's token; teardown kills what is left by pid.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

from conftest import alive, descendants, pids_with, wait_for


def proc_stat(pid):
    """(state, ppid, pgrp, sid) from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid, "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    return fields[0].decode(), int(fields[1]), int(fields[2]), int(fields[3])


def read_report(path):
    wait_for(lambda: os.path.exists(path) and open(path).read().count("\n") >= 8)
    report = {}
    with open(path) as handle:
        for line in handle:
            key, _, value = line.rstrip("\n").partition("=")
            report[key] = value
    return report


def test_start_detaches_the_service(env):
    env.write(env.program("svc", env.service()))
    started = env.popen("start", "svc")
    out, err = started.communicate(timeout=30)
    assert started.returncode == 0, (out, err)
    pid = env.pid_of("svc")
    assert pid and alive(pid)
    assert pids_with(env.token) == [pid]
    assert "svc: started, pid %d" % pid in out
    _, ppid, pgrp, sid = proc_stat(pid)
    # not our child, nor usrsvc's: its parent is init or the nearest subreaper
    assert ppid not in (os.getpid(), started.pid)
    assert ppid not in descendants([os.getpid()])
    # a session of its own, apart from ours and from usrsvc's
    assert sid != os.getsid(0) and sid != started.pid
    assert pgrp != os.getpgid(0)
    assert os.readlink("/proc/%d/fd/0" % pid) == "/dev/null"
    log = os.path.join(env.home, "logs", "svc.log")
    assert os.readlink("/proc/%d/fd/1" % pid) == log
    assert os.readlink("/proc/%d/fd/2" % pid) == log
    assert wait_for(lambda: "service %s up pid %d" % (env.token, pid) in open(log).read())
    status = env.run("status", "svc", check=0)
    assert "running, pid %d" % pid in status.stdout


def test_pidfile_holds_the_live_pid_and_stop_removes_it(env):
    env.write(env.program("svc", env.service()))
    env.run("start", "svc", check=0)
    pidfile = os.path.join(env.home, "run", "svc.pid")
    with open(pidfile) as handle:
        pid = int(handle.read())
    assert alive(pid) and pids_with(env.token) == [pid]
    assert env.token in open("/proc/%d/cmdline" % pid).read()
    stopped = env.run("stop", "svc", check=0)
    assert "stopped pid %d" % pid in stopped.stdout
    assert wait_for(lambda: not alive(pid), timeout=5)
    assert not os.path.exists(pidfile)
    status = env.run("status", "svc", check=1).stdout.splitlines()
    assert status[0] == "svc: not running (stopped with usrsvc stop)"
    assert status[1:] == ["  log: %s/logs/svc.log (stdout and stderr)" % env.home]


def test_service_survives_sigkill_of_the_session_that_started_it(env):
    env.write(env.program("svc", env.service()))
    setsid = shutil.which("setsid")
    script = "'%s' start svc >/dev/null; echo started; exec '%s' -c 'import time; time.sleep(600)' %s-session" % (
        env.usrsvc, sys.executable, env.token)
    argv = ([setsid] if setsid else []) + ["sh", "-c", script]
    session = subprocess.Popen(argv, env=env.env, cwd=env.home, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, text=True, start_new_session=not setsid)
    env.children.append(session)
    assert session.stdout.readline().strip() == "started"
    sid = session.pid
    assert os.getsid(sid) == sid
    pid = env.pid_of("svc")
    assert pid and alive(pid) and os.getsid(pid) != sid
    members = [p for p in map(int, filter(str.isdigit, os.listdir("/proc")))
               if alive(p) and _sid(p) == sid]
    assert session.pid in members
    os.killpg(sid, signal.SIGKILL)
    for member in members:
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass
    session.wait(timeout=10)
    assert wait_for(lambda: not [p for p in members if alive(p)], timeout=5)
    time.sleep(0.2)  # give a wrongly attached service the time to die with them
    assert alive(pid)
    assert "running, pid %d" % pid in env.run("status", "svc", check=0).stdout


def _sid(pid):
    try:
        return os.getsid(pid)
    except OSError:
        return None


def test_start_when_running_is_success_and_keeps_the_pid(env):
    env.write(env.program("svc", env.service()))
    env.run("start", "svc", check=0)
    pid = env.pid_of("svc")
    again = env.run("start", "svc", check=0)
    assert "already running" in again.stdout
    assert pids_with(env.token) == [pid]


def test_stop_when_not_running_is_success(env):
    env.write(env.program("svc", env.service()))
    assert "not running" in env.run("stop", "svc", check=0).stdout


def test_restart_gives_a_new_process(env):
    env.write(env.program("svc", env.service()))
    env.run("start", "svc", check=0)
    first = env.pid_of("svc")
    env.run("restart", "svc", check=0)
    second = env.pid_of("svc")
    assert second != first and alive(second) and not alive(first)
    assert pids_with(env.token) == [second]


def test_restart_of_a_stopped_program_starts_it(env):
    env.write(env.program("svc", env.service()))
    env.run("restart", "svc", check=0)
    assert alive(env.pid_of("svc"))


def test_early_exit_fails_fast_with_status_and_log(env):
    env.write(env.program("dies", env.service("--exit", 3), success_seconds="10"))
    began = time.monotonic()
    result = env.run("start", "dies", check=137)
    elapsed = time.monotonic() - began
    assert elapsed < 5, "sat out the 10 s window (%.1fs)" % elapsed
    text = result.stdout + result.stderr
    assert "exited with status 3" in text
    assert "service %s exiting with 3" % env.token in text  # the log's last lines
    assert not pids_with(env.token)
    assert env.pid_of("dies") is None


def test_killed_by_signal_inside_the_window_fails_fast(env):
    env.write(env.program("killed", "/bin/sh -c 'kill -9 $$' %s" % env.token, success_seconds="10"))
    began = time.monotonic()
    result = env.run("start", "killed", check=137)
    assert time.monotonic() - began < 5
    assert "SIGKILL" in result.stdout + result.stderr


def test_exec_failure_is_reported_at_once(env):
    env.write(env.program("missing", "/nonexistent/usrsvc-test-binary %s" % env.token,
                          success_seconds="10"))
    began = time.monotonic()
    result = env.run("start", "missing", check=137)
    assert time.monotonic() - began < 5
    assert "No such file or directory" in result.stdout + result.stderr
    script = os.path.join(env.home, "not-executable.sh")
    with open(script, "w") as handle:
        handle.write("#!/bin/sh\nsleep 60\n")
    os.chmod(script, 0o644)
    env.write(env.program("noexec", "%s %s" % (script, env.token), success_seconds="10"))
    result = env.run("start", "noexec", check=137)
    assert "Permission denied" in result.stdout + result.stderr


def test_term_ignoring_service_gets_sigkill(env):
    env.write(env.program("stubborn", env.service("--ignore-term"), term_to_kill_seconds="0.5"))
    env.run("start", "stubborn", check=0)
    pid = env.pid_of("stubborn")
    began = time.monotonic()
    result = env.run("stop", "stubborn", check=0)
    assert time.monotonic() - began < 5
    assert "SIGKILL" in result.stdout
    assert not alive(pid) and not pids_with(env.token)


def test_stop_signal_is_configurable(env):
    # TERM is ignored, INT is not: no SIGKILL needed
    env.write(env.program("int", env.service("--ignore-term"), stop_signal="INT",
                          term_to_kill_seconds="5"))
    env.run("start", "int", check=0)
    pid = env.pid_of("int")
    began = time.monotonic()
    result = env.run("stop", "int", check=0)
    assert time.monotonic() - began < 4
    assert "SIGKILL" not in result.stdout
    assert not alive(pid)


def test_descendants_of_a_stopped_service_are_gone(env):
    env.write(env.program("parent", env.service("--children", 3)))
    env.run("start", "parent", check=0)
    assert wait_for(lambda: len(pids_with(env.token)) == 4)
    result = env.run("stop", "parent", check=0)
    assert "3 descendants ended" in result.stdout
    assert wait_for(lambda: not pids_with(env.token), timeout=5)


def test_descendants_of_a_stopped_shell_service_are_gone(env):
    # the shell stays (a command follows), the service has children of its own,
    # and a background sleeper hangs off the shell
    command = ("%s -c 'import time; time.sleep(600)' %s-bg & %s --children 2 ; echo done"
               % (sys.executable, env.token, env.service()))
    env.write(env.program("shelled", command, useshell="True",
                          proctitle_re=r"service\.py %s --children 2$" % env.token))
    env.run("start", "shelled", check=0)
    pid = env.pid_of("shelled")
    cmdline = open("/proc/%d/cmdline" % pid).read().split("\0")
    assert cmdline[1:] == [os.path.join(os.path.dirname(cmdline[1]), "service.py"), env.token,
                           "--children", "2", ""]  # the service, not its shell
    # shell + background sleeper + service + 2 children
    assert wait_for(lambda: len(pids_with(env.token)) == 5), pids_with(env.token)
    env.run("stop", "shelled", check=0)
    assert wait_for(lambda: not pids_with(env.token), timeout=5), pids_with(env.token)


def test_useshell_exec_service(env):
    command = "TESTVAR=from-shell exec %s" % env.service()
    env.write(env.program("exec", command, useshell="yes"))
    env.run("start", "exec", check=0)
    pid = env.pid_of("exec")
    assert pids_with(env.token) == [pid]
    assert b"TESTVAR=from-shell" in open("/proc/%d/environ" % pid, "rb").read()
    env.run("stop", "exec", check=0)
    assert not pids_with(env.token)


def test_forking_daemon_with_its_own_pidfile_is_a_success(env):
    own = os.path.join(env.home, "run", "forker.pid")
    os.makedirs(os.path.dirname(own), exist_ok=True)
    env.write(env.program("forker", env.service("--fork", "--pidfile", own), autopid="False",
                          pidfile=own))
    result = env.run("start", "forker", check=0)
    assert wait_for(lambda: env.pid_of("forker"))
    pid = env.pid_of("forker")
    assert alive(pid) and pids_with(env.token) == [pid]
    assert "pid %d" % pid in result.stdout  # the daemon, not the launcher that exited
    assert "running, pid %d" % pid in env.run("status", "forker", check=0).stdout
    env.run("stop", "forker", check=0)
    assert not pids_with(env.token)


def test_forking_daemon_found_by_scan_without_pidfile(env):
    env.write(env.program("forker", env.service("--fork"), autopid="False"))
    env.run("start", "forker", check=0)
    [pid] = pids_with(env.token)
    assert "running, pid %d" % pid in env.run("status", "forker", check=0).stdout
    env.run("stop", "forker", check=0)
    assert not pids_with(env.token)


def test_eight_concurrent_starts_give_one_process(env):
    env.write(env.program("once", env.service(), success_seconds="0.5"))
    runs = [env.popen("start", "once") for _ in range(8)]
    outputs = [run.communicate(timeout=60) for run in runs]
    codes = [run.returncode for run in runs]
    assert codes == [0] * 8, list(zip(codes, outputs))
    assert sum("started, pid" in out for out, _ in outputs) == 1
    assert sum("already running" in out for out, _ in outputs) == 7
    pids = pids_with(env.token)
    assert len(pids) == 1 and pids == [env.pid_of("once")]


def test_concurrent_start_and_stop_leave_a_consistent_state(env):
    env.write(env.program("flip", env.service()))
    runs = [env.popen(action, "flip") for action in ("start", "stop") * 4]
    for run in runs:
        run.communicate(timeout=60)
        assert run.returncode == 0
    pids = pids_with(env.token)
    assert len(pids) <= 1
    assert (env.pid_of("flip") in pids) if pids else env.pid_of("flip") is None


def test_parallel_start_and_stop_of_several(env):
    names = ["p%d" % i for i in range(4)]
    env.write("".join(env.program(n, env.service("--tag", n), success_seconds="0.5") for n in names))
    result = env.run("start", "all", "--parallel", check=0)
    pids = {n: env.pid_of(n) for n in names}
    assert all(pid and alive(pid) for pid in pids.values())
    assert len(set(pids.values())) == 4 and sorted(pids_with(env.token)) == sorted(pids.values())
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATE", "PID", "RESULT", "COMMAND"]
    for name in names:
        assert any(line.split()[:3] == [name, "RUNNING", str(pids[name])] for line in lines)
    env.run("stop", "all", "-P", check=0)
    assert not pids_with(env.token)
    assert all(env.pid_of(n) is None for n in names)


def test_parallel_stop_waits_for_the_slowest_not_the_sum(env):
    names = ["slow%d" % i for i in range(3)]
    env.write("".join(env.program(n, env.service("--ignore-term", "--tag", n),
                                  term_to_kill_seconds="1.5") for n in names))
    env.run("start", "all", "-P", check=0)
    began = time.monotonic()
    env.run("stop", "all", "--parallel", check=0)
    elapsed = time.monotonic() - began
    assert elapsed < 4.0, "one after the other would take 4.5 s (took %.1fs)" % elapsed
    assert not pids_with(env.token)


def test_sequential_all_acts_on_every_program(env):
    names = ["s%d" % i for i in range(3)]
    env.write("".join(env.program(n, env.service("--tag", n)) for n in names))
    env.run("start", "all", check=0)
    assert len(pids_with(env.token)) == 3
    status = env.run("status", "all", check=0)
    assert sum(" RUNNING " in line for line in status.stdout.splitlines()) == 3
    env.run("stop", "all", check=0)
    assert not pids_with(env.token)
    # every program is down because the user stopped it: a health check passes
    shown = env.run("status", "all", check=0)
    assert sum(" STOPPED_BY_USER " in line for line in shown.stdout.splitlines()) == 3
    env.run("start", "all", check=0)
    os.kill(env.pid_of("s0"), signal.SIGKILL)
    assert wait_for(lambda: len(pids_with(env.token)) == 2)
    env.run("status", "all", check=1)  # one that should run does not: a failure


def test_stop_is_remembered_and_start_clears_it(env):
    from usrsvcmod.state import RuntimeState

    env.write(env.program("svc", env.service()))
    state = RuntimeState(env.cfg, environ=env.env)
    env.run("start", "svc", check=0)
    assert not state.is_stopped("svc")
    env.run("stop", "svc", check=0)
    assert state.is_stopped("svc")
    assert state.path.startswith(os.path.join(env.home, "xdg", "usrsvc"))
    assert os.stat(state.path).st_mode & 0o777 == 0o700
    env.run("start", "svc", check=0)
    assert not state.is_stopped("svc")


def test_term_ignoring_descendants_get_sigkill_too(env):
    # SIG_IGN survives exec: the service resets its own TERM, its children do not
    command = "trap '' TERM; exec %s --children 2" % env.service()
    env.write(env.program("deaf", command, useshell="True", term_to_kill_seconds="0.5"))
    env.run("start", "deaf", check=0)
    assert wait_for(lambda: len(pids_with(env.token)) == 3)
    began = time.monotonic()
    env.run("stop", "deaf", check=0)
    assert time.monotonic() - began < 8
    assert wait_for(lambda: not pids_with(env.token), timeout=5), pids_with(env.token)


def test_zero_success_seconds(env):
    env.write(env.program("quick", env.service(), success_seconds="0"))
    env.run("start", "quick", check=0)
    assert alive(env.pid_of("quick"))



def test_parallel_start_waits_out_the_windows_together(env):
    names = ["w%02d" % i for i in range(20)]
    env.write("".join(env.program(n, env.service("--tag", n), success_seconds="1") for n in names))
    began = time.monotonic()
    env.run("start", "all", "-P", check=0)
    elapsed = time.monotonic() - began
    assert elapsed < 10, "20 one-second windows one after the other take 20 s (took %.1fs)" % elapsed
    assert len(pids_with(env.token)) == 20
    env.run("stop", "all", "-P", check=0)
    assert not pids_with(env.token)


def test_forking_daemon_with_autopid_gets_its_pidfile_written(env):
    env.write(env.program("forker", env.service("--fork")))
    result = env.run("start", "forker", check=0)
    [pid] = pids_with(env.token)
    assert env.pid_of("forker") == pid and "pid %d" % pid in result.stdout
    env.run("stop", "forker", check=0)
    assert not pids_with(env.token)
