"""usrsvcd's kernel against real processes: the defects issue 9 names, and what it adds.

- repeated monitor restarts of a program with a child never lose it (a pidfd
  has one owner; a closed watch never signals);
- a restart looks first: a copy started by hand while the daemon lagged is
  adopted, never doubled;
- crash loops back off by default and maxrestarts counts short runs;
- disabling a running program leaves it running and says so;
- the exit status of a service that is not our child (Linux 6.15+).
"""

import json
import os
import signal
import sys
import time

from conftest import alive, pids_with, wait_for
from daemon_support import daemon, new_pid  # noqa: F401 (fixture)

MAIN = "[Main]\nreconcile_interval = 0.5\nmonitor_interval = 0.2\n"


def _status(daemon):
    shown = daemon.cmd("status")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    return shown.stdout


def test_monitor_restarts_of_a_program_with_a_child_never_lose_it(env, daemon):
    script = os.path.join(env.home, "toucher.sh")
    act = os.path.join(env.home, "act")
    with open(script, "w") as handle:
        handle.write("#!/bin/bash\ntouch %s\n%s -c 'import time; time.sleep(30)' %s\n"
                     % (act, sys.executable, env.token))
    os.chmod(script, 0o755)
    env.write(MAIN + env.program("t", "%s %s" % (script, env.token), success_seconds="0.2",
                                 term_to_kill_seconds="2")
              + "\t[[Monitoring]]\n\tmonitor_after = 0\n\tactivityfile = %s\n"
                "\tactivityfile_limit = 0.6\n" % act)
    daemon.start()
    daemon.wait_logged("t monitor_breach", count=6, timeout=40)
    pid = wait_for(lambda: env.pid_of("t") if env.pid_of("t") and alive(env.pid_of("t")) else None)
    assert pid, daemon.text()
    assert "internal_error" not in daemon.text()
    assert "Bad file descriptor" not in daemon.text()
    # the bash script and its sleep, nothing left over from earlier rounds
    assert wait_for(lambda: len(pids_with(env.token)) <= 2, timeout=10), pids_with(env.token)
    assert wait_for(lambda: str(env.pid_of("t")) in _status(daemon)), _status(daemon)


def test_a_restart_looks_first_and_adopts_a_copy_started_meanwhile(env, daemon):
    env.write(MAIN.replace("0.5", "3600") + env.program("svc", env.service()))
    proc = daemon.start()
    first = new_pid(env, "svc", None)
    assert first
    daemon.wait_logged("svc autostarted")  # said after its lock is let go, not before
    os.kill(proc.pid, signal.SIGSTOP)  # the loop lags (swap, a slow disk, SIGSTOP)
    try:
        os.kill(first, signal.SIGKILL)
        assert wait_for(lambda: not alive(first))
        env.run("start", "svc", check=0)  # the user starts it by hand meanwhile
        by_hand = env.pid_of("svc")
        assert by_hand != first
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    daemon.wait_logged("svc found_running")
    time.sleep(0.5)
    assert pids_with(env.token) == [by_hand]  # one copy, the user's
    assert "svc launched" not in daemon.text().split("svc found_running")[-1]


def test_a_crash_loop_backs_off_by_default(env, daemon):
    env.write(MAIN + env.program("bad", env.service("--exit", 3), success_seconds="0.3"))
    daemon.start()
    daemon.wait_logged("bad start_failed", count=3, timeout=20)
    launches = daemon.text().count("bad launched")
    assert launches == 3, daemon.text()  # 0 s, +1 s, +2 s: not every 0.5 s
    assert "bad backoff: next start in" in daemon.text()
    shown = env.run("status", "bad", check=1)
    assert "backoff" in shown.stdout, shown.stdout
    assert "next start at" in shown.stdout


def test_maxrestarts_counts_runs_that_die_soon_after_starting(env, daemon):
    env.write(MAIN + env.program("flaky", env.service("--exit", 1, "--after", 0.6),
                                 success_seconds="0.2", maxrestarts="3"))
    daemon.start()
    daemon.wait_logged("flaky gave_up", timeout=30)
    assert daemon.text().count("flaky launched") == 3, daemon.text()
    assert wait_for(lambda: "gave_up" in _status(daemon)), _status(daemon)
    shown = json.loads(env.run("--json", "status", "flaky", check=1).stdout)[0]
    assert shown["state"] == "gave_up"


def test_disabling_a_running_program_leaves_it_running_and_says_so(env, daemon):
    env.write(MAIN + env.program("svc", env.service()))
    daemon.start()
    pid = new_pid(env, "svc", None)
    env.write(MAIN + env.program("svc", env.service(), enabled="False"))
    assert daemon.cmd("reread").returncode == 0
    daemon.wait_logged("svc disabled: enabled = False: left running")
    assert alive(pid)
    assert wait_for(lambda: "disabled" in _status(daemon)), _status(daemon)
    os.kill(pid, signal.SIGKILL)
    time.sleep(1.5)
    assert not pids_with(env.token)  # not restarted: usrsvcd leaves it alone
    shown = env.run("status", "all", check=0)  # a disabled program down is no failure
    assert "DISABLED" in shown.stdout


def test_the_exit_status_of_a_service_that_is_not_our_child(env, daemon):
    from usrsvcmod.proc import exitinfo

    env.write(MAIN + env.program("ex", env.service("--exit", 42, "--after", 0.5),
                                 success_seconds="0.2", restart_delay_max="0"))
    daemon.start()
    if not exitinfo.supported():
        daemon.wait_logged("ex exit_status: exit status unknown (kernel < 6.15)")
        return
    daemon.wait_logged("ex exit_status: exited with status 42", timeout=20)
    assert "ex restarted: exited with status 42" in daemon.text()

    def last_exit():
        shown = json.loads(env.run("--json", "status", "ex").stdout)[0]
        return shown["last_exit"]

    found = wait_for(last_exit, timeout=10)
    assert found and found["code"] == 42 and "at" in found, found


FAILING = """#!/bin/sh
%(python)s -c 'import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", %(port)d)); s.listen(5); time.sleep(600)' %(token)s-server &
sleep 0.3
exit 3
"""


def test_a_failed_starts_leftovers_are_gone_before_the_next_attempt(env, daemon):
    """The launcher exits 3 within its window, leaving a server that holds the
    port: it must be ended before the retry, by usrsvcd and by usrsvc alike."""
    from conftest import free_port, port_free

    port = free_port()
    script = os.path.join(env.home, "failing.sh")
    with open(script, "w") as handle:
        handle.write(FAILING % {"python": sys.executable, "port": port, "token": env.token})
    os.chmod(script, 0o755)
    env.write(MAIN + env.program("f", "%s %s" % (script, env.token), success_seconds="1",
                                 term_to_kill_seconds="2", maxrestarts="2"))
    started = env.run("start", "f", check=137)
    assert "stopped what it launched" in started.stdout + started.stderr
    assert wait_for(lambda: port_free(port) and not pids_with(env.token), timeout=10)
    env.run("stop", "f", check=0)
    env.run("start", "f", check=137)  # clears the stop mark; fails the same way
    assert wait_for(lambda: port_free(port), timeout=10)
    daemon.start()
    daemon.wait_logged("f gave_up", timeout=30)
    text = daemon.text()
    assert text.count("f cleanup") >= 2, text  # each failed attempt's server was ended
    assert wait_for(lambda: port_free(port) and not pids_with(env.token), timeout=10), text
