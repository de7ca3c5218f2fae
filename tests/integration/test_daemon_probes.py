"""[[Readiness]] and [[Liveness]] under usrsvcd, against real processes."""

import json
import os
import socket

from conftest import free_port, wait_for
from daemon_support import daemon, new_pid  # noqa: F401 (fixture)
from test_readiness import http_server

MAIN = "[Main]\nreconcile_interval = 0.5\nmonitor_interval = 0.2\n"


def state_of(env, name):
    result = env.run("--json", "status", name)
    try:
        return json.loads(result.stdout)[0]["state"]
    except (ValueError, LookupError):
        return None


def test_liveness_failures_show_unhealthy_then_restart_with_the_error_logged(env, daemon):
    broken = os.path.join(env.home, "broken")
    env.write(MAIN + env.program("a", env.service(), success_seconds="0.3")
              + "  [[Liveness]]\n  exec = test ! -e %s\n  interval = 0.4\n  failures = 4\n"
                "  after = 0\n" % broken)
    daemon.start()
    pid = new_pid(env, "a", None)
    assert pid and state_of(env, "a") == "running"
    open(broken, "w").close()
    assert wait_for(lambda: state_of(env, "a") == "unhealthy", timeout=15), daemon.text()
    os.unlink(broken)  # healthy again before the 4th failure: back to running, same pid
    assert wait_for(lambda: state_of(env, "a") == "running", timeout=15), daemon.text()
    assert env.pid_of("a") == pid
    open(broken, "w").close()
    assert new_pid(env, "a", pid, timeout=30), daemon.text()
    daemon.wait_logged("[[Liveness]] exec = test ! -e %s: 'test ! -e %s' exited with status 1"
                       % (broken, broken))
    daemon.wait_logged("4 failures in a row")
    os.unlink(broken)


def test_readiness_under_the_daemon_waits_starting_then_running(env, daemon):
    port = free_port()
    env.write(MAIN + env.program("web", http_server(env, port, 2), useshell="yes")
              + "  [[Readiness]]\n  http = http://127.0.0.1:%d/\n  interval = 0.2\n" % port)
    daemon.start()
    assert wait_for(lambda: state_of(env, "web") == "starting", timeout=15), daemon.text()
    daemon.wait_logged("ready: its http probe passed", timeout=30)
    assert wait_for(lambda: state_of(env, "web") == "running", timeout=15)
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass


def test_while_it_waits_to_be_ready_status_shows_the_probes_last_error(env, daemon):
    port = free_port()  # nothing listens there: the probe keeps failing
    env.write(MAIN + env.program("svc", env.service())
              + "  [[Readiness]]\n  tcp = 127.0.0.1:%d\n  timeout = 120\n  interval = 0.2\n" % port)
    daemon.start()

    def entry():
        result = env.run("--json", "status", "svc")
        try:
            return json.loads(result.stdout)[0]
        except (ValueError, LookupError):
            return {}

    assert wait_for(lambda: "waiting to be ready" in (entry().get("reason") or ""),
                    timeout=20), (entry(), daemon.text())
    found = entry()
    assert found["state"] == "starting"
    assert "tcp = 127.0.0.1:%d" % port in found["reason"] and "refused" in found["reason"]
    shown = env.run("status", "svc").stdout
    assert "waiting to be ready" in shown and "refused" in shown, shown


def test_readiness_timeout_under_the_daemon_fails_the_start_and_retries(env, daemon):
    port = free_port()
    env.write(MAIN + env.program("svc", env.service(), restart_delay="0.5")
              + "  [[Readiness]]\n  tcp = 127.0.0.1:%d\n  timeout = 1\n  interval = 0.2\n" % port)
    daemon.start()
    first = new_pid(env, "svc", None)
    assert first
    daemon.wait_logged("connection refused on 127.0.0.1:%d after 1s" % port, timeout=30)
    daemon.wait_logged("connection refused on 127.0.0.1:%d after 1s" % port, count=2, timeout=30)
    # what the failed start launched was stopped, never left running beside the retry
    assert wait_for(lambda: not os.path.exists("/proc/%d" % first), timeout=15)
