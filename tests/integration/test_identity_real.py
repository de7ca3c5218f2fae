"""Issue 8: real services that retitle themselves, found by their launch record.

Every program here runs with the default ``proctitle_re`` (none is set):
redis-server, a Python service using setproctitle, gunicorn with two
workers in its own venv, node with ``process.title``, and an nginx whose
master is SIGKILLed while no usrsvcd runs. A confirmed launch is recorded
(pid, start time, session), so the program is found again whatever title
it gives itself, and the workers of a crashed master are ended by
``stop``/``start`` and named by ``status``.

These services lose the test's token from their argv when they retitle:
their pids are ``env.track``ed, and ``_sweep`` kills whatever still runs
in the test's private HOME (see conftest.pids_in_dir) should an assertion
fail before the pids were known.
"""

import http.client
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import alive, descendants, free_port, kill_in_dir, pids_with, port_free, wait_for
from daemon_support import daemon, same_for  # noqa: F401 (fixture)
from test_thirdparty import _binary, _redis_ping, nginx_world


@pytest.fixture(autouse=True)
def _sweep(env):
    yield
    kill_in_dir(env.home)


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _ping(port):
    try:
        return _redis_ping(port) == b"+PONG\r\n"
    except OSError:
        return False


def _get(port, path="/"):
    """(status, body) of a GET on the loopback port, or None."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()
    except (OSError, http.client.HTTPException):
        return None


def _started_pid(env, name, started):
    """The pid usrsvc wrote after a start that must have succeeded; tracked."""
    assert started.returncode == 0, (started.returncode, started.stdout, started.stderr,
                                     _log(env, name))
    pid = env.pid_of(name)
    assert pid and alive(pid), (pid, started.stdout, started.stderr)
    env.track(pid)
    assert "pid %d" % pid in started.stdout, started.stdout
    return pid


def _log(env, name):
    try:
        with open(os.path.join(env.home, "logs", name + ".log")) as handle:
            return handle.read()[-2000:]
    except OSError:
        return ""


# 1. redis-server -----------------------------------------------------------

def test_redis_with_the_default_proctitle_re_and_a_crash_under_usrsvcd(env, daemon):
    redis = _binary("redis-server")
    port = free_port()
    data = os.path.join(env.home, "redis", env.token)  # the token is in argv until redis retitles
    os.makedirs(data)
    command = "%s --port %d --bind 127.0.0.1 --save '' --appendonly no --dir %s" % (redis, port, data)
    env.write("[Main]\nreconcile_interval = 0.5\n"
              + env.program("redis", command, success_seconds="1", term_to_kill_seconds="5"))

    started = env.run("start", "redis")
    pid = _started_pid(env, "redis", started)
    assert wait_for(lambda: _ping(port), timeout=10)
    # the premise: redis retitled itself, so the default proctitle_re cannot match any more
    title = _cmdline(pid)
    assert "127.0.0.1:%d" % port in title and env.token not in title, title

    status = env.run("status", "redis", check=0)
    assert "pid %d" % pid in status.stdout, status.stdout

    env.run("stop", "redis", check=0)
    assert wait_for(lambda: port_free(port), timeout=10)
    assert wait_for(lambda: not alive(pid), timeout=10)
    assert env.pid_of("redis") is None
    env.run("status", "redis", check=1)

    # under usrsvcd: a crash is repaired with one launch, never a launch/kill loop
    first = _started_pid(env, "redis", env.run("start", "redis"))
    assert wait_for(lambda: _ping(port), timeout=10)
    daemon.start()
    daemon.wait_logged("(pid %d)" % first)  # it found the running program
    os.kill(first, signal.SIGKILL)
    assert wait_for(lambda: not alive(first), timeout=10)

    def restarted():
        pid = env.pid_of("redis")
        return pid if pid and pid != first and alive(pid) and _ping(port) else None

    again = wait_for(restarted, timeout=20)
    if env.pid_of("redis"):
        env.track(env.pid_of("redis"))
    assert again, daemon.text()
    # still the same process a few reconcile passes later, and one launch in all
    assert same_for(env, "redis", again, 3.0), daemon.text()
    assert _ping(port)
    assert daemon.text().count(" redis launched") == 1, daemon.text()
    assert " redis start_failed" not in daemon.text(), daemon.text()
    assert "pid %d" % again in env.run("status", "redis", check=0).stdout

    env.run("stop", "redis", check=0)
    assert wait_for(lambda: port_free(port), timeout=10)
    assert wait_for(lambda: not alive(again), timeout=10)


def _daemonized_redis(env, port):
    """redis-server that forks itself into the background (--daemonize yes: it
    leaves the launch's session with setsid) and retitles itself; its own
    pidfile (not usrsvc's) lets the test find it whatever happens."""
    redis = _binary("redis-server")
    data = os.path.join(env.home, "redis", env.token)
    os.makedirs(data)
    own = os.path.join(data, "redis.pid")
    return ("%s --port %d --bind 127.0.0.1 --save '' --appendonly no --dir %s --daemonize yes"
            " --pidfile %s" % (redis, port, data, own)), own


def _own_pid(env, path):
    try:
        with open(path) as handle:
            return env.track(int(handle.read().strip()))
    except (OSError, ValueError):
        return None


def test_redis_that_daemonizes_itself_is_found_with_the_default_proctitle_re(env):
    """usrsvc start is the subreaper of what it launches: the process a
    daemonizing launcher hands over when it exits (it left the launch's
    session) is the program, tracked by its launch record."""
    port = free_port()
    command, own = _daemonized_redis(env, port)
    env.write(env.program("redis", command, success_seconds="1", term_to_kill_seconds="5"))

    started = env.run("start", "redis")
    pid = _started_pid(env, "redis", started)
    assert wait_for(lambda: _ping(port), timeout=10)
    assert wait_for(lambda: _own_pid(env, own) == pid), (pid, _own_pid(env, own))
    assert "tracked by its launch record" in started.stdout, started.stdout
    assert "pid %d" % pid in env.run("status", "redis", check=0).stdout
    assert "already running" in env.run("start", "redis", check=0).stdout

    env.run("stop", "redis", check=0)
    assert wait_for(lambda: port_free(port), timeout=10)
    assert wait_for(lambda: not alive(pid), timeout=10)
    env.run("status", "redis", check=1)


def test_usrsvcd_says_how_to_run_a_daemonizing_service_it_cannot_follow(env, daemon):
    """usrsvcd is not the subreaper of its launches (it is never the parent of a
    service): a daemon that leaves the launch's session is not followed, and
    the failure says how to run it so that it is (foreground, or proctitle_re)."""
    port = free_port()
    command, own = _daemonized_redis(env, port)
    # a window long enough for redis to have left the session by its end even on a
    # loaded machine (at 1 s, a redis still starting up was once found in it, and
    # rightly counted as started)
    env.write(env.program("redis", command, success_seconds="4", restart_delay="30"))
    try:
        daemon.start()
        daemon.wait_logged("redis start_failed", timeout=30)
        assert "--daemonize no" in daemon.text() and "set proctitle_re" in daemon.text()
    finally:
        stray = wait_for(lambda: _own_pid(env, own), timeout=5)
        if stray:
            os.kill(stray, signal.SIGKILL)


# 2. a Python service that rewrites its own argv ----------------------------------

RETITLE = """import sys, time
import setproctitle
setproctitle.setproctitle("myworker-retitled " + sys.argv[1])
while True:
    time.sleep(60)
"""


def _app(env, name, text):
    """Write HOME/apps/NAME (the service's own code); returns its path."""
    apps = os.path.join(env.home, "apps")
    os.makedirs(apps, exist_ok=True)
    script = os.path.join(apps, name)
    with open(script, "w") as handle:
        handle.write(text)
    return script


def test_python_service_that_rewrites_its_argv(env):
    pytest.importorskip("setproctitle")
    script = _app(env, "myworker.py", RETITLE)
    env.write(env.program("worker", "%s %s %s" % (sys.executable, script, env.token),
                          success_seconds="1"))

    started = env.run("start", "worker")
    pid = _started_pid(env, "worker", started)
    assert _cmdline(pid) == "myworker-retitled %s" % env.token
    said = started.stdout + started.stderr
    assert "pid %d retitled itself to" % pid in said, said
    assert "myworker-retitled" in said and "tracked by its launch record" in said, said
    assert said.count("tracked by its launch record") == 1, said  # said once

    status = env.run("status", "worker", check=0)
    assert "pid %d" % pid in status.stdout, status.stdout
    assert "retitled itself" not in status.stdout + status.stderr  # said once, at the start
    assert "already running" in env.run("start", "worker", check=0).stdout
    assert pids_with(env.token) == [pid]  # no second copy

    env.run("stop", "worker", check=0)
    assert wait_for(lambda: not alive(pid), timeout=10)
    assert not pids_with(env.token)
    env.run("status", "worker", check=1)


HASH_TITLE = """import sys, time
import setproctitle
setproctitle.setproctitle("queue: worker #1 [a,b] (" + sys.argv[1] + ")")
while True:
    time.sleep(60)
"""


def test_a_wrong_proctitle_re_fails_with_137_and_quotes_one_to_paste(env):
    """With a proctitle_re set by hand that the live process does not match,
    the start fails (137), stops what it launched, and quotes a proctitle_re
    that, pasted into the config as printed, finds the service."""
    pytest.importorskip("setproctitle")
    script = _app(env, "queue.py", HASH_TITLE)
    command = "%s %s %s" % (sys.executable, script, env.token)
    env.write(env.program("queue", command, success_seconds="1", proctitle_re="^queue: nothing$"))

    failed = env.run("start", "queue", check=137)
    said = failed.stdout + failed.stderr
    title = "queue: worker #1 [a,b] (%s)" % env.token
    assert "runs '%s', which does not match proctitle_re" % title in said, said
    pasted = [line.strip() for line in said.splitlines()
              if line.strip().startswith("proctitle_re = ")]
    assert len(pasted) == 1, said
    assert wait_for(lambda: not pids_with(env.token), timeout=10)  # what it launched is stopped

    env.write(env.program("queue", command, success_seconds="1")
              + pasted[0] + "\n")
    pid = _started_pid(env, "queue", env.run("start", "queue"))
    assert _cmdline(pid) == title
    assert "pid %d" % pid in env.run("status", "queue", check=0).stdout
    env.run("stop", "queue", check=0)
    assert wait_for(lambda: not alive(pid), timeout=10)


def test_a_launcher_that_exits_0_leaving_a_retitled_child(env):
    """A forking launcher (a script that puts the service in the background and
    exits 0): the one process it left in the launch's session is the program,
    though its title matches nothing; status and stop find it by its record."""
    pytest.importorskip("setproctitle")
    script = _app(env, "myworker.py", RETITLE)
    launcher = _app(env, "launch.sh", "#!/bin/sh\n%s %s \"$1\" >/dev/null 2>&1 &\nexit 0\n"
                    % (sys.executable, script))
    os.chmod(launcher, 0o755)
    env.write(env.program("bg", "%s %s" % (launcher, env.token), success_seconds="1"))

    started = env.run("start", "bg")
    pid = _started_pid(env, "bg", started)
    assert _cmdline(pid) == "myworker-retitled %s" % env.token
    assert "tracked by its launch record" in started.stdout + started.stderr, started.stdout
    assert "pid %d" % pid in env.run("status", "bg", check=0).stdout
    assert "already running" in env.run("start", "bg", check=0).stdout
    assert pids_with(env.token) == [pid]

    env.run("stop", "bg", check=0)
    assert wait_for(lambda: not alive(pid), timeout=10)
    env.run("status", "bg", check=1)


# 3. gunicorn with two workers, in its own venv with setproctitle -----------------

APP = """def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello from gunicorn\\n"]
"""


@pytest.fixture(scope="session")
def gunicorn_venv(tmp_path_factory):
    """A venv holding gunicorn and setproctitle, made once per test session."""
    venv = str(tmp_path_factory.mktemp("gunicorn") / "venv")
    python3 = shutil.which("python3") or sys.executable
    python = os.path.join(venv, "bin", "python")
    steps = [("make a venv with %s" % python3, [python3, "-m", "venv", venv]),
             ("pip install gunicorn setproctitle (offline? no index?)",
              [python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
               "--retries", "2", "--timeout", "60", "gunicorn", "setproctitle"]),
             ("import gunicorn and setproctitle in the new venv",
              [python, "-c", "import gunicorn, setproctitle"])]
    for what, argv in steps:
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=900)
        except (OSError, subprocess.TimeoutExpired) as err:
            pytest.skip("cannot %s: %s" % (what, err))
        if done.returncode != 0:
            pytest.skip("cannot %s: %s" % (what, (done.stderr or done.stdout).strip()[-500:]))
    return venv


def gunicorn_program(env, venv):
    """A [Program:web] of gunicorn with two workers on a free loopback port; the port."""
    appdir = os.path.join(env.home, "app")
    os.makedirs(appdir)
    with open(os.path.join(appdir, "app.py"), "w") as handle:
        handle.write(APP)
    port = free_port()
    gunicorn = os.path.join(venv, "bin", "gunicorn")
    env.write(env.program("web", "%s -w 2 -b 127.0.0.1:%d app:app" % (gunicorn, port),
                          directory=appdir, success_seconds="1.5", term_to_kill_seconds="10"))
    return port


def test_gunicorn_with_two_workers_and_setproctitle(env, gunicorn_venv):
    port = gunicorn_program(env, gunicorn_venv)

    started = env.run("start", "web")
    master = _started_pid(env, "web", started)
    assert wait_for(lambda: _get(port), timeout=20), _log(env, "web")
    assert _get(port) == (200, b"hello from gunicorn\n")
    def two_workers():
        workers = [p for p in descendants([master]) if alive(p)]
        return workers if len(workers) == 2 else None

    workers = wait_for(two_workers, timeout=10)
    assert workers, (descendants([master]), _log(env, "web"))
    for pid in workers:
        env.track(pid)
    assert _cmdline(master).startswith("gunicorn: master [app:app]"), _cmdline(master)
    for pid in workers:
        assert _cmdline(pid).startswith("gunicorn: worker [app:app]"), _cmdline(pid)

    status = env.run("status", "web", check=0)
    assert "pid %d" % master in status.stdout, status.stdout

    env.run("stop", "web", check=0)
    assert wait_for(lambda: port_free(port), timeout=15)
    assert wait_for(lambda: not [p for p in [master] + workers if alive(p)], timeout=15)
    env.run("status", "web", check=1)


# 4. node with process.title -------------------------------------------------------

NODE_APP = """const http = require('http');
const port = parseInt(process.argv[2], 10);
process.title = 'nodeapp-retitled';
http.createServer((req, res) => {
  res.writeHead(200, {'Content-Type': 'text/plain'});
  res.end('hello from node\\n');
}).listen(port, '127.0.0.1');
"""


def test_node_with_process_title(env):
    node = shutil.which("node") or ("/usr/bin/node" if os.access("/usr/bin/node", os.X_OK) else None)
    if not node:
        pytest.skip("node is not installed")
    script = _app(env, "nodeapp.js", NODE_APP)
    port = free_port()
    env.write(env.program("nodeapp", "%s %s %d %s" % (node, script, port, env.token),
                          success_seconds="1"))

    started = env.run("start", "nodeapp")
    pid = _started_pid(env, "nodeapp", started)
    assert wait_for(lambda: _get(port), timeout=10), _log(env, "nodeapp")
    assert _get(port) == (200, b"hello from node\n")
    assert _cmdline(pid).startswith("nodeapp-retitled"), _cmdline(pid)

    status = env.run("status", "nodeapp", check=0)
    assert "pid %d" % pid in status.stdout, status.stdout

    env.run("stop", "nodeapp", check=0)
    assert wait_for(lambda: port_free(port), timeout=10)
    assert wait_for(lambda: not alive(pid), timeout=10)
    env.run("status", "nodeapp", check=1)


# 5. nginx master SIGKILLed with no daemon running ----------------------------------

def test_nginx_master_killed_without_a_daemon_then_stop_frees_the_port(env):
    # as root, nginx would run its workers as nobody: keep them ours, as they
    # are for a service account
    command, pidfile, port, _ = nginx_world(env, _as_us(), workers=2)
    env.write(env.program("nginx", command, autopid="False", pidfile=pidfile,
                          success_seconds="0.5", term_to_kill_seconds="5"))

    def up():
        """The master (from nginx's own pidfile) and its workers, once it serves."""
        if not _get(port):
            return None
        try:
            master = int(open(pidfile).read())
        except (OSError, ValueError):
            return None
        workers = [p for p in descendants([master]) if alive(p)]
        return (master, workers) if alive(master) and len(workers) == 2 else None

    started = env.run("start", "nginx")
    assert started.returncode == 0, (started.stdout, started.stderr)
    found = wait_for(up, timeout=15)
    assert found, (started.stdout, _read(pidfile))
    master, workers = found
    for pid in [master] + workers:
        env.track(pid)

    os.kill(master, signal.SIGKILL)  # no usrsvcd runs: nobody repairs this
    assert wait_for(lambda: not alive(master), timeout=10)
    assert all(alive(w) for w in workers)
    assert not port_free(port)  # the orphaned workers hold the port

    status = env.run("status", "nginx")
    assert status.returncode == 1, (status.stdout, status.stderr)
    said = status.stdout + status.stderr
    assert "leftover" in said, said
    for pid in workers:
        assert str(pid) in said, said
    assert all(alive(w) for w in workers)  # status only reports

    env.run("stop", "nginx", check=0)
    assert wait_for(lambda: port_free(port), timeout=10)
    assert wait_for(lambda: not any(alive(w) for w in workers), timeout=10)

    again = env.run("start", "nginx")
    assert again.returncode == 0, (again.stdout, again.stderr)
    found = wait_for(up, timeout=15)
    assert found, again.stdout
    new_master, new_workers = found
    for pid in [new_master] + new_workers:
        env.track(pid)
    assert new_master != master
    assert _get(port)[0] == 200
    env.run("stop", "nginx", check=0)
    assert wait_for(lambda: port_free(port), timeout=10)


def _as_us():
    """An nginx ``user`` line naming us when we are root (else nginx ignores it)."""
    if os.geteuid() != 0:
        return ""
    import grp
    import pwd

    return "user %s %s;\n" % (pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name)


def test_leftovers_of_another_user_are_never_signalled(env):
    """As root, nginx runs its workers as nobody: they sit in the recorded session
    but are another user's processes, so status does not count them and stop
    leaves them alone (the test ends them itself)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: nginx only switches its workers' user when run as root")
    os.chmod(env.home, 0o755)
    command, pidfile, port, _ = nginx_world(env, "user nobody nogroup;\n")
    env.write(env.program("nginx", command, autopid="False", pidfile=pidfile,
                          success_seconds="0.5"))
    env.run("start", "nginx", check=0)
    master = wait_for(lambda: int(_read(pidfile)) if _read(pidfile).strip().isdigit() else None)
    workers = wait_for(lambda: [p for p in descendants([master]) if alive(p)], timeout=10)
    assert workers and master
    for pid in [master] + workers:
        env.track(pid)
    assert all(os.stat("/proc/%d" % w).st_uid != 0 for w in workers)
    os.kill(master, signal.SIGKILL)
    assert wait_for(lambda: not alive(master), timeout=10)
    status = env.run("status", "nginx", check=1)
    assert "leftover process" not in status.stdout
    env.run("stop", "nginx", check=0)
    time.sleep(0.3)
    assert all(alive(w) for w in workers)  # not ours: never signalled
    for pid in workers:
        os.kill(pid, signal.SIGKILL)


def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except OSError as err:
        return str(err)
