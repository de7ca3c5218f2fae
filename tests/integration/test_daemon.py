"""usrsvcd against real processes: keep alive, respect the user, survive itself."""

import os
import signal
import time

from conftest import alive, wait_for
from daemon_support import daemon, new_pid, same_for  # noqa: F401 (fixture)

MAIN = """[Main]
reconcile_interval = 0.5
monitor_interval = 0.2
"""


def config(env, *programs, main=MAIN):
    env.write(main + "".join(programs))


def test_autostart_and_restart_after_sigkill(env, daemon):
    config(env, env.program("a", env.service("--tag", "a")), env.program("b", env.service("--tag", "b")))
    proc = daemon.start()
    pid_a = new_pid(env, "a", None)
    pid_b = new_pid(env, "b", None)
    assert pid_a and pid_b
    with open("/proc/%d/stat" % pid_a) as handle:
        ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
    assert ppid != proc.pid, "the daemon must not be the parent of a service"
    os.kill(pid_a, signal.SIGKILL)
    again = new_pid(env, "a", pid_a)
    assert again and again != pid_a
    assert same_for(env, "b", pid_b, 0.3), "an unrelated program was disturbed"
    daemon.wait_logged("a exited")


def test_user_stop_is_respected_and_start_rearms(env, daemon):
    config(env, env.program("a", env.service()))
    daemon.start()
    pid = new_pid(env, "a", None)
    env.run("stop", "a", check=0)
    assert not alive(pid)
    time.sleep(1.5)  # three reconcile passes
    assert env.pid_of("a") is None
    assert not daemon.logged("a launched: restart")
    env.run("start", "a", check=0)
    pid2 = env.pid_of("a")
    assert wait_for(lambda: daemon.logged("a found_running") or daemon.logged("a adopted"), timeout=15)
    os.kill(pid2, signal.SIGKILL)
    assert new_pid(env, "a", pid2)


def test_services_survive_daemon_kill_stop_and_restart(env, daemon):
    config(env, env.program("a", env.service()), env.program("b", env.service("--tag", "x")))
    proc = daemon.start()
    pids = {name: new_pid(env, name, None) for name in "ab"}
    wait_for(lambda: daemon.logged("b started") and daemon.logged("a started"), timeout=10)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=5)
    assert all(alive(pid) for pid in pids.values())
    daemon.start()
    daemon.wait_logged("a found_running")
    assert not daemon.logged("launched: autostart", 3)
    result = daemon.cmd("stop")
    assert result.returncode == 0, result.stderr
    assert all(alive(pid) for pid in pids.values())
    result = daemon.cmd("start")
    assert result.returncode == 0, result.stderr
    result = daemon.cmd("restart")
    assert result.returncode == 0, result.stderr
    assert daemon.cmd("status").returncode == 0
    for name, pid in pids.items():
        assert same_for(env, name, pid, 0.2), "%s was disturbed" % name
    assert daemon.cmd("stop").returncode == 0
    assert daemon.cmd("status").returncode == 1
    assert all(alive(pid) for pid in pids.values())


def test_stop_ends_a_sigstopped_daemon_cleanly_not_by_sigkill(env, daemon):
    # found by the chaos soak: a stopped daemon never saw the SIGTERM and was
    # SIGKILLed at the timeout, its exit never logged
    config(env, env.program("a", env.service()))
    proc = daemon.start()
    pid = new_pid(env, "a", None)
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        result = daemon.cmd("stop")
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
    assert result.returncode == 0, result.stderr
    assert proc.wait(timeout=10) == 0, "usrsvcd was killed instead of exiting"
    assert daemon.logged("usrsvcd exited"), daemon.text()
    assert alive(pid)


def test_single_instance(env, daemon):
    config(env, env.program("a", env.service()))
    proc = daemon.start()
    result = daemon.cmd("start", "--foreground")
    assert result.returncode == 135, result
    assert str(proc.pid) in result.stderr
    result = daemon.cmd("start")
    assert result.returncode == 135


def test_bad_reread_keeps_old_config(env, daemon):
    config(env, env.program("a", env.service()))
    proc = daemon.start()
    pid = new_pid(env, "a", None)
    good = open(env.cfg).read()
    env.write(good + "[Program:broken]\ncommand = x\n")
    result = daemon.cmd("reread")
    assert result.returncode == 130
    assert "missing required key 'pidfile'" in result.stderr
    assert not daemon.logged("reload")
    proc.send_signal(signal.SIGUSR1)  # a raw signal: the daemon validates too
    daemon.wait_logged("reload_rejected")
    daemon.wait_logged("kept the previous configuration")
    os.kill(pid, signal.SIGKILL)
    assert new_pid(env, "a", pid), "old config must still be managed"


def test_reread_adds_program_and_leaves_removed_running(env, daemon):
    config(env, env.program("a", env.service()))
    daemon.start()
    pid_a = new_pid(env, "a", None)
    config(env, env.program("b", env.service("--tag", "b")))
    result = daemon.cmd("reread")
    assert result.returncode == 0, result.stderr
    assert new_pid(env, "b", None)
    daemon.wait_logged("a removed")
    assert same_for(env, "a", pid_a, 0.5), "a removed program is left running"
    os.kill(pid_a, signal.SIGKILL)
    time.sleep(1.0)
    assert not daemon.logged("a launched: restart")


def test_maxrestarts_gives_up(env, daemon):
    config(env, env.program("a", env.service("--exit", 3), maxrestarts=3, success_seconds=1))
    daemon.start()
    daemon.wait_logged("a gave_up", timeout=20)
    assert daemon.text().count("a launched") == 3
    time.sleep(1.0)
    assert daemon.text().count("a launched") == 3


def test_backoff_spaces_attempts(env, daemon):
    config(env, env.program("a", env.service("--exit", 1), restart_delay=0.2,
                            restart_delay_max=1.6, success_seconds=1))
    daemon.start()
    daemon.wait_logged("a launched", count=5, timeout=30)
    # the waits between a failure and the next launch grow (the time a failing start
    # takes depends on the machine's load, so it is not part of the measure)
    failed, waits = None, []
    for line in daemon.text().splitlines():
        clock = line.split()[1] if len(line.split()) > 1 else ""
        if " a start_failed" in line or " a launched" in line:
            h, m, s = clock.split(":")
            stamp = int(h) * 3600 + int(m) * 60 + float(s)
            if " a start_failed" in line:
                failed = stamp
            elif failed is not None:
                waits.append(stamp - failed)
                failed = None
    assert len(waits) >= 3, daemon.text()
    assert waits[-1] > waits[0] * 1.4, waits  # grows, generously
    assert waits[-1] >= 1.2, waits


def test_rss_limit_restarts(env, daemon):
    program = env.program("a", env.service("--rss-mb", 40), success_seconds=0.5)
    program += "[[Monitoring]]\nmonitor_after = 0\nrss_limit = 20000\n"
    config(env, program)
    daemon.start()
    pid = new_pid(env, "a", None)
    assert new_pid(env, "a", pid, timeout=20)
    daemon.wait_logged("rss_limit: RSS")


def test_activityfile_restarts(env, daemon):
    activity = os.path.join(env.home, "activity")
    program = env.program("a", env.service(), success_seconds=0.3)
    program += "[[Monitor]]\nmonitor_after = 0\nactivityfile = %s\nactivityfile_limit = 0.5\n" % activity
    config(env, program)
    daemon.start()
    pid = new_pid(env, "a", None)
    assert new_pid(env, "a", pid, timeout=20)
    daemon.wait_logged("activityfile: %s is missing" % activity)


def test_activityfile_kept_fresh_is_left_alone(env, daemon):
    activity = os.path.join(env.home, "activity")
    program = env.program("a", env.service("--touch", activity, "--every", 0.1))
    program += "[[Monitoring]]\nmonitor_after = 0\nactivityfile = %s\nactivityfile_limit = 2\n" % activity
    config(env, program)
    daemon.start()
    pid = new_pid(env, "a", None)
    assert same_for(env, "a", pid, 2.0)


def test_sigterm_is_prompt(env, daemon):
    config(env, env.program("a", env.service()))
    proc = daemon.start()
    pid = new_pid(env, "a", None)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=5)
    assert time.monotonic() - started < 3.0  # generous; idle exit is immediate
    assert alive(pid)


def test_sd_notify_ready_and_stopping(env, daemon, tmp_path):
    import socket

    config(env, env.program("a", env.service()))
    address = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(15)
    try:
        environ = dict(env.env, NOTIFY_SOCKET=address)
        proc = daemon.start(environ=environ)
        messages = [sock.recv(4096).decode()]
        assert "READY=1" in messages[0]
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        messages.append(sock.recv(4096).decode())
        assert any("STOPPING=1" in m for m in messages), messages
    finally:
        sock.close()


def test_detached_start_returns_with_stdout_pipe_open(env, daemon):
    import subprocess

    config(env, env.program("a", env.service()))
    proc = subprocess.Popen([daemon.usrsvcd, "start"], env=env.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=20)  # returns only when every writer closed the pipe
    assert proc.returncode == 0, err
    assert b"usrsvcd started" in out
    assert new_pid(env, "a", None)
    assert daemon.daemon_pidfile_pid()
    assert daemon.cmd("status").returncode == 0
    assert daemon.cmd("stop").returncode == 0
    assert env.pid_of("a") and alive(env.pid_of("a"))


def test_checkconfig_and_reread_without_daemon(env, daemon):
    config(env, env.program("a", env.service()))
    result = daemon.cmd("checkconfig")
    assert result.returncode == 0 and "a " in result.stdout
    assert daemon.cmd("reread").returncode == 0
    assert daemon.cmd("stop").returncode == 0
    assert daemon.cmd("status").returncode == 1
    env.write("[Program:x]\ncommand = y\n")
    assert daemon.cmd("checkconfig").returncode == 130
    assert daemon.cmd("start").returncode == 130


def test_json_log_lines_and_sighup_reopens(env, daemon):
    import json

    log = os.path.join(env.home, "d.log")
    config(env, env.program("a", env.service()),
           main=MAIN + "log_format = json\nusrsvcd_stdout = %s\nusrsvcd_stderr = stdout\n" % log)
    proc = daemon.start(ready=lambda p: os.path.exists(log) and "pid %d," % p.pid in open(log).read())
    pid = new_pid(env, "a", None)
    assert wait_for(lambda: os.path.exists(log) and '"program": "a", "event": "started"' in open(log).read(),
                    timeout=10)
    records = [json.loads(line) for line in open(log)]
    started = [r for r in records if r["program"] == "a" and r["event"] == "started"]
    assert started and started[0]["pid"] == pid
    assert set(started[0]) >= {"time", "ts", "program", "event", "reason", "pid"}
    assert started[0]["time"].endswith("Z") and "T" in started[0]["time"]
    os.rename(log, log + ".1")  # what logrotate does
    proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: os.path.exists(log) and "logs_reopened" in open(log).read(), timeout=10)
    status = daemon.cmd("status")
    assert status.returncode == 0 and "a" in status.stdout and "running" in status.stdout


def test_program_rearmed_by_usrsvc_start_is_restarted_even_if_it_dies_at_once(env, daemon):
    config(env, env.program("a", env.service()), main="[Main]\nreconcile_interval = 0.5\n")
    daemon.start()
    pid = new_pid(env, "a", None)
    env.run("stop", "a", check=0)
    daemon.wait_logged("a stopped")
    env.run("start", "a", check=0)
    again = env.pid_of("a")
    os.kill(again, signal.SIGKILL)  # before the daemon ever saw it running
    assert new_pid(env, "a", again, timeout=15), daemon.text()
    assert pid != again


def test_crash_ends_only_the_programs_own_descendants(env, daemon):
    import subprocess
    import sys

    from conftest import descendants, pids_with

    # a hand-started service and a bystander share a session whose leader is gone
    bystander = "%s -c 'import time; time.sleep(600)' bystander-%s" % (sys.executable, env.token)
    service = env.service("--children", 1)
    subprocess.run(["setsid", "sh", "-c", "%s & %s &" % (service, bystander)], env=env.env, check=True)
    assert wait_for(lambda: len(pids_with(env.token)) >= 3)
    config(env, env.program("a", service))
    daemon.start()
    daemon.wait_logged("a adopted")
    pid = env.pid_of("a")
    assert wait_for(lambda: descendants([pid]))
    child = descendants([pid])[0]
    others = pids_with("bystander-" + env.token)
    assert others
    time.sleep(1.0)  # two reconcile passes note the family
    os.kill(pid, signal.SIGKILL)
    assert new_pid(env, "a", pid)
    assert wait_for(lambda: not alive(child), timeout=10), "its own worker must be ended"
    assert all(alive(p) for p in others), "a bystander in the same session must be left alone"


def test_stop_all_then_start_all_at_once_never_races_the_daemon(env, daemon):
    base = int(env.token[-6:], 16) * 1000  # sleep takes no extra words: a unique number instead
    names = ["p%d" % i for i in range(100)]
    config(env, *[env.program(n, "sleep %d" % (base + i), success_seconds="0.5")
                  for i, n in enumerate(names)], main="[Main]\nreconcile_interval = 30\n")
    daemon.start()
    daemon.wait_logged(" started:", count=100, timeout=60)
    launched = daemon.text().count(" launched")
    env.run("stop", "all", "-P", check=0)
    env.run("start", "all", "-P", check=0)  # while usrsvcd may still be reading the exits
    pids = [env.track(env.pid_of(n)) for n in names]
    time.sleep(1.5)
    assert daemon.text().count(" launched") == launched, daemon.text()[-3000:]
    assert all(pid and alive(pid) for pid in pids)
    env.run("stop", "all", "-P", check=0)
