"""Launch records and sessions, through the installed commands.

- a crashed master's worker (another command line, same launch session) is
  named by ``status`` and ended by ``start`` before the new launch, so the port
  is free for the new worker;
- with ``autopid = False``, a pidfile the service rewrote itself (a handover
  like nginx's binary upgrade, to a retitled process) is trusted because the
  new pid lives in the launched session and started after the launch;
- usrsvcd: ``usrsvc status`` and ``usrsvcd status`` agree on an edited program,
  and ``restart_on_change`` restarts it on a reread (off by default).
"""

import json
import os
import signal
import socket
import sys


from conftest import HERE, alive, descendants, free_port, pids_with, port_free, wait_for
from daemon_support import daemon, new_pid, same_for  # noqa: F401 (fixture)

MASTER = os.path.join(HERE, "helpers", "master.py")


def _master(env, port, *extra):
    return " ".join([sys.executable, MASTER, env.token, "--port", str(port)] + list(extra))


def _answer(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            return sock.recv(64).decode()
    except OSError:
        return ""


def _workers(env, master):
    return [p for p in descendants([master]) if alive(p)]


def test_start_ends_the_workers_of_a_crashed_master_first(env):
    port = free_port()
    env.write(env.program("svc", _master(env, port)))
    env.run("start", "svc", check=0)
    master = env.pid_of("svc")
    worker = wait_for(lambda: _workers(env, master) and _answer(port) and _workers(env, master)[0])
    assert worker, "the worker never answered"
    os.kill(master, signal.SIGKILL)
    assert wait_for(lambda: not alive(master))
    assert alive(worker) and _answer(port) == "worker %d\n" % worker  # it holds the port

    status = env.run("status", "svc", check=1)
    assert "1 leftover process of its last run holds on: pid %d" % worker in status.stdout
    as_json = json.loads(env.run("--json", "status", "svc", check=1).stdout)[0]
    assert as_json["leftover_pids"] == [worker] and as_json["state"] == "stopped"

    started = env.run("start", "svc", check=0)
    assert "ended 1 leftover process of its last run: pid %d first" % worker in started.stdout
    assert not alive(worker)
    new_master = env.pid_of("svc")
    assert new_master != master
    assert wait_for(lambda: _answer(port).startswith("worker ") and _answer(port) != "worker %d\n"
                    % worker)
    env.run("stop", "svc", check=0)
    assert wait_for(lambda: port_free(port))
    assert not pids_with(env.token)


def test_autopid_false_trusts_a_handover_inside_the_launched_session(env):
    port = free_port()
    pidfile = os.path.join(env.home, "run", "svc.pid")
    os.makedirs(os.path.dirname(pidfile))
    env.write(env.program("svc", _master(env, port, "--pidfile", pidfile), autopid="False",
                          pidfile=pidfile))
    env.run("start", "svc", check=0)
    old = env.pid_of("svc")
    assert wait_for(lambda: _answer(port))
    os.kill(old, signal.SIGUSR2)  # hand over to a retitled child that rewrites the pidfile
    new = wait_for(lambda: env.pid_of("svc") if env.pid_of("svc") != old else None)
    assert new and wait_for(lambda: not alive(old))
    assert wait_for(lambda: b"upgraded-master" in open("/proc/%d/cmdline" % new, "rb").read())

    status = env.run("status", "svc", check=0)
    assert "running, pid %d" % new in status.stdout
    env.run("stop", "svc", check=0)
    assert not alive(new)
    assert wait_for(lambda: port_free(port))

    # the same pidfile naming a retitled process outside any recorded launch is not trusted
    hand = env.spawn([sys.executable, "-c", "import setproctitle, time\n"
                      "setproctitle.setproctitle('upgraded-master %s')\ntime.sleep(60)" % env.token])
    assert wait_for(lambda: b"upgraded-master" in open("/proc/%d/cmdline" % hand.pid, "rb").read())
    with open(pidfile, "w") as handle:
        handle.write("%d\n" % hand.pid)
    status = env.run("status", "svc", check=1)
    assert "does not match proctitle_re" in status.stdout
    env.run("stop", "svc", check=0)
    assert alive(hand.pid)


def test_usrsvc_and_usrsvcd_agree_on_an_edited_program(env, daemon):
    env.write(env.program("svc", env.service("--tag", "one")))
    daemon.start()
    pid = new_pid(env, "svc", None)
    assert pid
    env.write(env.program("svc", env.service("--tag", "two")))
    status = env.run("status", "svc", check=0)
    assert "running (config changed since start: command), pid %d" % pid in status.stdout
    reread = daemon.cmd("reread")
    assert reread.returncode == 0, reread.stdout + reread.stderr
    daemon.wait_logged("svc changed")
    assert same_for(env, "svc", pid, 1.0)  # restart_on_change is off: left running
    shown = daemon.cmd("status")
    assert "svc" in shown.stdout and str(pid) in shown.stdout, shown.stdout
    assert env.pid_of("svc") == pid
    assert "pid %d" % pid in env.run("status", "svc", check=0).stdout


def test_restart_of_an_edited_program_while_usrsvcd_runs(env, daemon):
    """usrsvc restart after an edit, with usrsvcd running: the old process (and
    its port) goes, the new command runs once, usrsvcd takes the new process as
    it is (no second launch, no restart counted) and both tools show it."""
    port_a, port_b = free_port(), free_port()
    while port_b == port_a:
        port_b = free_port()
    env.write("[Main]\nreconcile_interval = 0.5\n"
              + env.program("svc", env.service("--port", port_a), success_seconds="0.5"))
    daemon.start()
    old = new_pid(env, "svc", None)
    assert old and wait_for(lambda: not port_free(port_a), timeout=10)
    env.write("[Main]\nreconcile_interval = 0.5\n"
              + env.program("svc", env.service("--port", port_b), success_seconds="0.5"))
    assert "config changed since start: command" in env.run("status", "svc", check=0).stdout

    restarted = env.run("restart", "svc", check=0)
    assert wait_for(lambda: not alive(old), timeout=10), restarted.stdout
    assert wait_for(lambda: port_free(port_a), timeout=10)
    new = env.pid_of("svc")
    assert new and new != old and alive(new), restarted.stdout
    assert wait_for(lambda: not port_free(port_b), timeout=10)
    daemon.wait_logged("(pid %d)" % new)  # usrsvcd found it
    assert same_for(env, "svc", new, 2.0), daemon.text()  # a few reconcile passes
    assert pids_with(env.token) == [new], daemon.text()  # no second copy
    assert daemon.text().count(" svc launched") == 1, daemon.text()  # its autostart only
    status = env.run("status", "svc", check=0).stdout
    assert "pid %d" % new in status and "next start" not in status, status
    assert "config changed" not in status and "restarts" not in status, status
    shown = daemon.cmd("status").stdout
    assert str(new) in shown and "restarts" not in shown, shown


def test_restart_on_change_restarts_edited_programs_on_reread(env, daemon):
    main = "[Main]\nrestart_on_change = True\n"
    env.write(main + env.program("svc", env.service("--tag", "one"))
              + env.program("other", env.service("--tag", "other")))
    daemon.start()
    pid = new_pid(env, "svc", None)
    other = new_pid(env, "other", None)
    assert pid and other
    env.write(main + env.program("svc", env.service("--tag", "two"))
              + env.program("other", env.service("--tag", "other"), success_seconds="0.4"))
    reread = daemon.cmd("reread")
    assert reread.returncode == 0, reread.stdout + reread.stderr
    fresh = new_pid(env, "svc", pid)
    assert fresh, daemon.text()
    assert not alive(pid)
    assert b"--tag\x00two" in open("/proc/%d/cmdline" % fresh, "rb").read()
    assert "config changed since start (command)" in daemon.text()
    # success_seconds is not a launch setting: "other" keeps running untouched
    assert env.pid_of("other") == other and alive(other)
    assert "config changed" not in env.run("status", "svc", check=0).stdout

    # an edit that cannot start (command not found) is not applied: it keeps running
    env.write(main + env.program("svc", "no-such-program-%s --tag three" % env.token)
              + env.program("other", env.service("--tag", "other"), success_seconds="0.4"))
    reread = daemon.cmd("reread")
    assert reread.returncode == 0, reread.stdout + reread.stderr
    daemon.wait_logged("its new settings would not start")
    assert same_for(env, "svc", fresh, 1.0), daemon.text()
    assert "not found in PATH" in daemon.text()


def test_a_recycled_session_id_never_makes_another_program_a_leftover(env):
    """alpha's launch session id comes back as the session of beta's launch (pid
    reuse, forced here through ns_last_pid): alpha's status must not call beta a
    leftover, and alpha's start must not end it."""
    last_pid = "/proc/sys/kernel/ns_last_pid"
    if os.geteuid() != 0 or not os.access(last_pid, os.W_OK):
        import pytest

        pytest.skip("needs root to choose the next pid (ns_last_pid)")
    env.write(env.program("alpha", env.service("--tag", "alpha"))
              + env.program("beta", env.service("--tag", "beta"), autorestart="False"))
    env.run("start", "alpha", check=0)
    alpha = env.pid_of("alpha")
    assert os.getsid(alpha) == alpha  # the program leads its own session
    os.kill(alpha, signal.SIGKILL)
    assert wait_for(lambda: not alive(alpha))
    beta = None
    for _ in range(40):  # beta's program must get alpha's old pid
        with open(last_pid, "w") as handle:
            handle.write(str(alpha - 4))
        env.run("start", "beta", check=0)
        beta = env.pid_of("beta")
        if beta == alpha:
            break
        env.run("stop", "beta", check=0)
    if beta != alpha:
        import pytest

        pytest.skip("could not make the pid come back")
    status = env.run("status", "alpha", check=1)
    assert "leftover process" not in status.stdout, status.stdout
    env.run("start", "alpha", check=0)
    assert alive(beta), "alpha's start ended beta"
    env.run("stop", "all", check=0)


def test_no_leftovers_are_ended_with_kill_descendants_off(env):
    port = free_port()
    env.write(env.program("svc", _master(env, port), kill_descendants="False"))
    env.run("start", "svc", check=0)
    master = env.pid_of("svc")
    worker = wait_for(lambda: _workers(env, master) and _workers(env, master)[0])
    os.kill(master, signal.SIGKILL)
    assert wait_for(lambda: not alive(master))
    assert "leftover process" not in env.run("status", "svc", check=1).stdout
    env.run("stop", "svc", check=0)
    assert alive(worker)
    env.track(worker)


def test_a_damaged_record_never_breaks_a_command(env):
    env.write(env.program("svc", env.service()))
    env.run("start", "svc", check=0)
    pid = env.pid_of("svc")
    state = [os.path.join(root, name) for root, _, files in os.walk(env.env["XDG_RUNTIME_DIR"])
             for name in files if name == "svc.launch"]
    assert len(state) == 1
    os.unlink(state[0])
    os.mkdir(state[0])  # a directory where the record should be
    assert "pid %d" % pid in env.run("status", "svc", check=0).stdout  # by pidfile
    env.run("stop", "svc", check=0)  # no traceback (Env.run checks)
    assert not alive(pid)
    env.run("start", "svc", check=0)
    env.run("stop", "svc", check=0)


def test_a_scan_never_adopts_another_programs_recorded_process(env):
    same = env.service("--tag", "same")
    env.write(env.program("one", same) + env.program("two", same))  # one proctitle_re for both
    env.run("start", "one", check=0)
    one = env.pid_of("one")
    status = env.run("status", "two", check=1)
    assert "pid %d" % one not in status.stdout
    env.run("stop", "two", check=0)
    assert alive(one)
    env.run("stop", "one", check=0)
