"""usrsvc signal and reload to real daemons: nginx (HUP re-reads its config, USR1 reopens
its logs) and gunicorn (HUP starts new workers). The master keeps its pid; what it does
on the signal is seen from outside: new worker pids, a changed answer, a new log file.
"""

import http.client
import os

from conftest import alive, descendants, port_free, wait_for
from test_identity_real import gunicorn_program, gunicorn_venv  # noqa: F401 (fixture)
from test_thirdparty import nginx_world


def _get(port):
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/")
        response = connection.getresponse()
        body = response.read().decode()
        connection.close()
        return body
    except OSError:
        return None


def _workers(master):
    return {pid for pid in descendants([master]) if alive(pid)}


def test_nginx_reload_rereads_its_config_and_usr1_reopens_its_logs(env):
    command, pidfile, port, root = nginx_world(env)
    env.write(env.program("nginx", command, autopid="False", pidfile=pidfile,
                          success_seconds="0.5", term_to_kill_seconds="5"))
    env.run("start", "nginx", check=0)
    master = int(open(pidfile).read())
    env.track(master)
    assert wait_for(lambda: _get(port) == "hello from %s\n" % env.token)
    old_workers = wait_for(lambda: _workers(master))
    assert old_workers

    conf = os.path.join(root, "%s.conf" % env.token)
    with open(conf) as handle:
        text = handle.read()
    with open(conf, "w") as handle:
        handle.write(text.replace("hello from", "reloaded by"))
    result = env.run("reload", "nginx", check=0)
    assert "sent SIGHUP to pid %d" % master in result.stdout
    assert wait_for(lambda: _get(port) == "reloaded by %s\n" % env.token, timeout=15)
    assert wait_for(lambda: _workers(master) and not _workers(master) & old_workers, timeout=15)
    assert alive(master) and int(open(pidfile).read()) == master
    for pid in _workers(master):
        env.track(pid)

    access = os.path.join(root, "access.log")
    os.rename(access, access + ".1")
    result = env.run("signal", "nginx", "usr1", check=0)
    assert "sent SIGUSR1 to pid %d" % master in result.stdout
    assert wait_for(lambda: os.path.exists(access), timeout=15)  # reopened: a new file
    env.run("stop", "nginx", check=0)
    assert wait_for(lambda: port_free(port), timeout=15)


def test_gunicorn_reload_starts_new_workers_under_the_same_master(env, gunicorn_venv):  # noqa: F811
    port = gunicorn_program(env, gunicorn_venv)
    env.run("start", "web", check=0)
    master = env.pid_of("web")
    env.track(master)
    assert wait_for(lambda: _get(port), timeout=20)
    old = wait_for(lambda: _workers(master) if len(_workers(master)) == 2 else None, timeout=15)
    assert old
    for pid in old:
        env.track(pid)

    result = env.run("reload", "web", check=0)
    assert "sent SIGHUP to pid %d" % master in result.stdout

    def renewed():
        now = _workers(master)
        return now if len(now) == 2 and not now & old else None

    new = wait_for(renewed, timeout=30)
    assert new, (old, _workers(master))
    for pid in new:
        env.track(pid)
    assert env.pid_of("web") == master and alive(master)
    assert _get(port) == "hello from gunicorn\n"
    status = env.run("--json", "status", "web", check=0)
    import json

    data = json.loads(status.stdout)[0]
    assert data["pid"] == master and data["rss_tree"] > data["rss_kb"]
    env.run("stop", "web", check=0)
    assert wait_for(lambda: port_free(port), timeout=15)
