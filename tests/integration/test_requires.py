"""Init jobs and ordering against real processes: db (redis-server) -> migrate
(a oneshot script that needs db, writes a file, exits) -> web (python's
http.server), through the CLI and under usrsvcd."""

import http.client
import json
import os
import sys

import pytest

from conftest import alive, free_port, port_free, wait_for
from daemon_support import daemon  # noqa: F401 (fixture)
from test_thirdparty import _binary, _redis_ping


def _ping(port):
    try:
        return _redis_ping(port) == b"+PONG\r\n"
    except OSError:
        return False


def _serves(port):
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
        try:
            connection.request("GET", "/")
            return connection.getresponse().status == 200
        finally:
            connection.close()
    except OSError:
        return False


MIGRATE = """\
import socket, sys, time
port, out, code = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(b"PING\\r\\n")
assert s.recv(64) == b"+PONG\\r\\n"
print("migrated against", port, flush=True)
with open(out, "w") as handle:
    handle.write("schema v2\\n")
sys.exit(code)
"""


class Chain:
    """The three programs' config in the test's HOME; ``code`` is migrate's exit status."""

    def __init__(self, env, code=0, extra=""):
        self.env = env
        self.db_port, self.web_port = free_port(), free_port()
        self.marker = os.path.join(env.home, "migrated")
        script = os.path.join(env.home, "migrate.py")
        with open(script, "w") as handle:
            handle.write(MIGRATE)
        data = os.path.join(env.home, "redis", env.token)
        os.makedirs(data)
        redis = _binary("redis-server")
        text = extra
        text += env.program("db", "%s --port %d --bind 127.0.0.1 --save '' --appendonly no"
                            " --dir %s" % (redis, self.db_port, data), success_seconds="0.5")
        text += env.program("migrate", "%s %s %d %s %d %s" % (
            sys.executable, script, self.db_port, self.marker, code, env.token),
            pidfile="", type="oneshot", timeout="30").replace("pidfile = \n", "")
        text += "  [[Requires]]\n  db = started\n"
        www = os.path.join(env.home, "www-" + env.token)
        os.makedirs(www)
        text += env.program("web", "%s -m http.server %d --bind 127.0.0.1 --directory %s" % (
            sys.executable, self.web_port, www), success_seconds="0.5")
        text += "  [[Requires]]\n  migrate = done\n  db = ready\n"
        env.write(text)

    def down(self):
        assert wait_for(lambda: port_free(self.web_port) and port_free(self.db_port), timeout=15)


def test_start_brings_up_the_chain_in_order_and_stop_all_goes_the_other_way(env):
    chain = Chain(env)
    started = env.run("start", "web", check=0)
    lines = started.stdout.splitlines()
    names = [line.split(":")[0] for line in lines if not line.startswith(" ") and ": note:" not in line]
    assert names == ["db", "migrate", "web"], started.stdout
    assert "migrate: done (exit 0, " in started.stdout
    assert "'ready' with no [[Readiness]] in [Program:db]" in started.stderr
    assert _ping(chain.db_port) and _serves(chain.web_port)
    with open(chain.marker) as handle:
        assert handle.read() == "schema v2\n"

    status = env.run("status", "migrate", check=0)
    assert "migrate: done (exit 0, " in status.stdout
    every = env.run("--json", "status", "all", check=0)
    states = {r["name"]: r["state"] for r in json.loads(every.stdout)}
    assert states == {"db": "running", "migrate": "done", "web": "running"}

    # stop A stops only A, and names what still requires it
    stopped = env.run("stop", "db", check=0)
    assert "still running and requiring it: web (usrsvc stop --with-dependents db" \
        in stopped.stdout
    assert wait_for(lambda: port_free(chain.db_port), timeout=10)
    assert _serves(chain.web_port)
    # start again: migrate is done this boot, so it is not run again
    os.unlink(chain.marker)
    again = env.run("start", "web", check=0)
    assert "migrate: already done (exit 0" in again.stdout and "web: already running" \
        in again.stdout, again.stdout
    assert not os.path.exists(chain.marker)

    down = env.run("stop", "all", check=0)
    rows = [line.split()[0] for line in down.stdout.splitlines()[1:] if line.strip()]
    assert rows[:3] == ["web", "migrate", "db"], down.stdout
    chain.down()


def test_with_dependents_stops_them_first_and_no_deps_skips_requirements(env):
    chain = Chain(env)
    env.run("start", "web", check=0)
    stopped = env.run("stop", "--with-dependents", "db", check=0)
    names = [line.split(":")[0] for line in stopped.stdout.splitlines()
             if not line.startswith(" ") and ": note:" not in line]
    assert names == ["web", "migrate", "db"], stopped.stdout
    chain.down()
    # --no-deps: web alone, though nothing it requires runs
    alone = env.run("start", "--no-deps", "web", check=0)
    assert [line.split(":")[0] for line in alone.stdout.splitlines()] == ["web"]
    assert _serves(chain.web_port) and not _ping(chain.db_port)
    env.run("stop", "all", check=0)


def test_a_failing_oneshot_blocks_its_dependents_with_a_clear_message(env):
    chain = Chain(env, code=3)
    started = env.run("start", "web", check=137)
    assert "migrate: failed (exit 3, " in started.stdout
    assert "migrated against %d" % chain.db_port in started.stdout  # its log's last lines
    assert "web: not started: requirement migrate (done) does not hold: failed (exit 3" \
        in started.stdout, started.stdout
    assert port_free(chain.web_port)
    status = env.run("status", "migrate", check=1)
    assert "migrate: failed (exit 3, " in status.stdout
    env.run("stop", "all", check=0)
    chain.down()


def test_a_oneshot_over_its_timeout_is_stopped_and_failed(env):
    env.write(env.program("slow", "%s -c 'import time; time.sleep(30)' %s" % (
        sys.executable, env.token), pidfile="", type="oneshot",
                          timeout="0.5", term_to_kill_seconds="1").replace("pidfile = \n", ""))
    result = env.run("start", "slow", check=137)
    assert "slow: failed (killed by SIGTERM, " in result.stdout
    assert "ran over its timeout (0.5s) and was stopped" in result.stdout


def test_usrsvcd_walks_the_graph_and_keeps_a_oneshot_result_across_its_restart(env, daemon):
    chain = Chain(env, extra="[Main]\nreconcile_interval = 0.5\n")
    daemon.start()
    daemon.wait_logged("web waiting: waiting for migrate to finish with exit 0")
    daemon.wait_logged("migrate done: done (exit 0,", timeout=30)
    daemon.wait_logged("web autostarted", timeout=30)
    assert _ping(chain.db_port) and _serves(chain.web_port)
    text = daemon.text()
    assert text.index("db started") < text.index("migrate launched") \
        < text.index("migrate done") < text.index("web launched"), text
    status = env.run("status", "migrate", check=0)
    assert "migrate: done (exit 0, " in status.stdout

    # a usrsvcd restart does not run the job again: its result is runtime state
    os.unlink(chain.marker)
    proc = daemon.procs[-1]
    proc.terminate()
    proc.wait(timeout=15)
    daemon.start()
    daemon.wait_logged("migrate done: done (exit 0,", count=2)
    assert daemon.text().count("migrate launched") == 1
    assert not os.path.exists(chain.marker)

    # db crashes: web keeps running, db comes back
    db = env.pid_of("db")
    os.kill(db, 9)
    assert wait_for(lambda: env.pid_of("db") not in (None, db) and _ping(chain.db_port),
                    timeout=20)
    env.run("stop", "all", check=0)
    chain.down()


def test_usrsvcd_dependent_waits_through_its_requirement_being_down(env, daemon):
    """web requires db started; db is stopped by the user: web waits (never skipped),
    and starts once the user starts db."""
    chain = Chain(env, extra="[Main]\nreconcile_interval = 0.5\n")
    env.run("stop", "db", check=0)  # a user's stop: usrsvcd leaves db down
    daemon.start()
    daemon.wait_logged("migrate waiting: waiting for db to run")
    assert same_port_free(chain.web_port)
    env.run("start", "--no-deps", "db", check=0)
    daemon.wait_logged("web autostarted", timeout=30)
    assert _serves(chain.web_port)
    env.run("stop", "all", check=0)
    chain.down()


def same_port_free(port):
    return port_free(port)
