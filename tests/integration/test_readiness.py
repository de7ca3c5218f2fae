"""[[Readiness]] under usrsvc start: real servers, real probes.

start returns once the probe passes; it fails with 137 at the timeout or at
the process's death, quoting the probe's last error, and stops what it
launched.
"""

import os
import socket
import subprocess
import sys
import time

from conftest import alive, free_port, pids_with, wait_for
from test_thirdparty import nginx_world

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTIFY = os.path.join(HERE, "helpers", "notify_service.py")


def section(**keys):
    return "  [[Readiness]]\n" + "".join("  %s = %s\n" % item for item in keys.items())


def http_server(env, port, delay=0):
    """python -m http.server on 127.0.0.1:PORT after ``delay`` seconds (a slow boot)."""
    return ("%s -c \"import time,sys; time.sleep(%s); sys.argv=['x','--bind','127.0.0.1','%d'];"
            " import runpy; runpy.run_module('http.server', run_name='__main__')\" %s"
            % (sys.executable, delay, port, env.token))


def test_http_readiness_waits_for_a_real_http_server(env):
    port = free_port()
    env.write(env.program("web", http_server(env, port, 1.5), useshell="yes")
              + section(http="http://127.0.0.1:%d/" % port, interval="200ms", timeout="30s"))
    env.run("start", "web", check=0)
    # ready means it answers now, not "soon"
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    env.run("stop", "web", check=0)


def test_http_status_outside_the_accepted_ones_times_out_with_the_error(env):
    port = free_port()
    env.write(env.program("web", http_server(env, port), useshell="yes")
              + section(http="http://127.0.0.1:%d/missing" % port, timeout="3s",
                        interval="0.2"))
    failed = env.run("start", "web", check=137)
    assert "HTTP status 404" in failed.stdout + failed.stderr
    assert "after 3s" in failed.stdout + failed.stderr
    assert wait_for(lambda: not pids_with(env.token), 10)


def test_tcp_readiness_against_nginx(env):
    command, pidfile, port, root = nginx_world(env)
    env.write(env.program("nginx", command, autopid="False", pidfile=pidfile,
                          success_seconds="0.3", term_to_kill_seconds="5")
              + section(tcp="127.0.0.1:%d" % port, timeout="20s", interval="0.1"))
    env.run("start", "nginx", check=0)
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    env.run("stop", "nginx", check=0)


def test_timeout_fails_137_quoting_the_error_and_leaves_nothing_running(env):
    port = free_port()
    env.write(env.program("svc", env.service())
              + section(tcp="127.0.0.1:%d" % port, timeout="2s", interval="0.2"))
    failed = env.run("start", "svc", check=137)
    text = failed.stdout + failed.stderr
    assert "connection refused on 127.0.0.1:%d after 2s" % port in text, text
    assert "stopped what it launched" in text
    assert wait_for(lambda: not pids_with(env.token), 10)
    env.run("status", "svc", check=1)


def test_exec_probe_runs_in_the_program_directory_with_its_environment(env):
    work = os.path.join(env.home, "work")
    os.mkdir(work)
    env.write(env.program("svc", env.service(), directory=work)
              + "  [[Env]]\n  FLAG = go\n"
              + section(exec='test "$FLAG" = go && test -e started-%s' % env.token,
                        timeout="20s", interval="0.1"))
    proc = env.popen("start", "svc")
    time.sleep(1.0)
    assert proc.poll() is None  # still waiting: the probe fails so far
    open(os.path.join(work, "started-%s" % env.token), "w").close()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, (out, err)


def test_exec_probe_failure_quotes_its_exit_status_and_output(env):
    env.write(env.program("svc", env.service())
              + section(exec="echo not yet; exit 3", timeout="1s", interval="0.2"))
    failed = env.run("start", "svc", check=137)
    assert "exited with status 3: not yet" in failed.stdout + failed.stderr
    assert wait_for(lambda: not pids_with(env.token), 10)


def test_file_probe_wants_a_file_newer_than_the_launch(env):
    marker = os.path.join(env.home, "ready.flag")
    open(marker, "w").close()
    os.utime(marker, (time.time() - 3600, time.time() - 3600))  # left from an old run
    command = "sleep 1; touch %s; exec %s" % (marker, env.service())
    env.write(env.program("svc", "%s" % command, useshell="yes")
              + section(file=marker, timeout="20s", interval="0.1"))
    env.run("start", "svc", check=0)
    assert os.stat(marker).st_mtime > time.time() - 600
    env.run("stop", "svc", check=0)


def test_log_probe_waits_for_a_real_server_ready_line(env):
    redis = "/usr/bin/redis-server"
    port = free_port()
    env.write(env.program(
        "redis", "%s --port %d --bind 127.0.0.1 --save '' --appendonly no --dir %s"
        " --unixsocket %s/redis-%s.sock" % (redis, port, env.home, env.home, env.token),
        success_seconds="0.2") + section(log="Ready to accept connections", timeout="30s",
                                         interval="0.1"))
    env.run("start", "redis", check=0)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"PING\r\n")
        assert sock.recv(64).startswith(b"+PONG")
    env.run("stop", "redis", check=0)


def test_log_probe_ignores_lines_written_before_the_launch(env):
    log = os.path.join(env.home, "logs", "svc.log")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, "w") as handle:
        handle.write("server is READY\n")  # an old run's line
    env.write(env.program("svc", env.service())
              + section(log="READY", timeout="1s", interval="0.2"))
    failed = env.run("start", "svc", check=137)
    assert "no new line of" in failed.stdout + failed.stderr


def test_death_before_ready_fails_at_once(env):
    env.write(env.program("svc", env.service("--exit", "0", "--after", "1"),
                          success_seconds="0.2")
              + section(tcp="127.0.0.1:%d" % free_port(), timeout="60s", interval="0.1"))
    started = time.monotonic()
    failed = env.run("start", "svc", check=137)
    assert time.monotonic() - started < 50  # not the 60 s timeout
    assert "exited before it was ready" in failed.stdout + failed.stderr


def test_notify_ready_from_the_service_and_from_its_child(env):
    for name, extra in (("own", ""), ("kid", " --from-child")):
        command = "%s %s %s 0.5%s" % (sys.executable, NOTIFY, env.token, extra)
        env.write(env.program(name, command) + section(notify="yes", timeout="20s",
                                                       interval="0.1"))
        env.run("start", name, check=0)
        env.run("stop", name, check=0)


def test_notify_from_a_process_that_is_not_its_descendant_is_ignored(env):
    env.write(env.program("svc", env.service())
              + section(notify="yes", timeout="3s", interval="0.2"))
    proc = env.popen("start", "svc")
    address = None
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        while proc.poll() is None:
            if address is None:  # the name the launch got (it ends in a random part)
                address = _notify_socket(env)
            try:
                if address is not None:
                    sock.sendto(b"READY=1", address)
            except OSError:
                pass  # already closed
            time.sleep(0.1)
    out, err = proc.communicate(timeout=30)
    assert address is not None and address.startswith("\0usrsvc-notify/")
    assert proc.returncode == 137, (out, err)
    assert "was ignored" in out + err and "READY=1 from pid %d" % os.getpid() in out + err
    assert wait_for(lambda: not pids_with(env.token), 10)


def _notify_socket(env):
    """The abstract NOTIFY_SOCKET in the environment of the test's service, or None."""
    for pid in pids_with(env.token):
        try:
            with open("/proc/%d/environ" % pid, "rb") as handle:
                for item in handle.read().split(b"\0"):
                    if item.startswith(b"NOTIFY_SOCKET=@"):
                        return "\0" + item[len(b"NOTIFY_SOCKET=@"):].decode()
        except OSError:
            continue
    return None


def test_the_notify_socket_name_cannot_be_taken_first(env):
    """Another process binding the name a program's NOTIFY_SOCKET would have had
    (it is guessable from the program's name) does not make the start fail."""
    from usrsvcmod.proc import sdnotify

    class Named:
        name = "svc"

    squatter = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    squatter.bind("\0" + sdnotify.address(Named)[1:])
    try:
        command = "%s %s %s 0.5" % (sys.executable, NOTIFY, env.token)
        env.write(env.program("svc", command) + section(notify="yes", timeout="20s",
                                                        interval="0.1"))
        env.run("start", "svc", check=0)
    finally:
        squatter.close()
    env.run("stop", "svc", check=0)
