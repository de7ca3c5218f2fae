"""nginx (forking, own pidfile) and redis (foreground) kept alive by usrsvcd through a crash."""

import http.client
import os
import signal

from conftest import alive, descendants, free_port, port_free, wait_for
from daemon_support import daemon  # noqa: F401 (fixture)
from test_thirdparty import _binary, _redis_ping, nginx_world

MAIN = "[Main]\nreconcile_interval = 0.5\n"


def _get(port):
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/")
        response = connection.getresponse()
        return response.status == 200 and response.read()
    except OSError:
        return False


def test_nginx_is_brought_back_after_its_master_is_killed(env, daemon):
    command, pidfile, port, _ = nginx_world(env)
    env.write(MAIN + env.program("nginx", command, autopid="False", pidfile=pidfile,
                                 success_seconds="0.5"))
    daemon.start()
    assert wait_for(lambda: _get(port), timeout=15), daemon.text()
    daemon.wait_logged("nginx started")
    master = int(open(pidfile).read())
    workers = descendants([master])
    for pid in [master] + workers:
        env.track(pid)
    os.kill(master, signal.SIGKILL)  # the workers are orphaned, holding the port
    daemon.wait_logged("nginx leftovers")
    assert wait_for(lambda: not any(alive(w) for w in workers), timeout=10)
    daemon.wait_logged("nginx started", count=2, timeout=20)
    new_master = int(open(pidfile).read())
    assert new_master != master
    for pid in [new_master] + descendants([new_master]):
        env.track(pid)
    assert wait_for(lambda: _get(port), timeout=10), daemon.text()
    env.run("stop", "nginx", check=0)
    assert wait_for(lambda: port_free(port), timeout=10)


def test_redis_is_brought_back_after_a_crash(env, daemon):
    redis = _binary("redis-server")
    port = free_port()
    data = os.path.join(env.home, "redis")
    os.makedirs(data)
    command = ("%s --port %d --bind 127.0.0.1 --save \"\" --appendonly no --daemonize no"
               " --dir %s --proc-title-template \"redis {listen-addr} %s\"" % (redis, port, data, env.token))
    env.write(MAIN + env.program("redis", command, success_seconds="0.5",
                                 proctitle_re=r"^redis 127\.0\.0\.1:%d %s$" % (port, env.token)))
    daemon.start()
    assert wait_for(lambda: env.pid_of("redis"), timeout=15), daemon.text()
    pid = env.pid_of("redis")
    env.track(pid)
    assert wait_for(lambda: not port_free(port))
    assert _redis_ping(port) == b"+PONG\r\n"
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: env.pid_of("redis") not in (None, pid), timeout=15), daemon.text()
    again = env.pid_of("redis")
    env.track(again)
    assert wait_for(lambda: not port_free(port), timeout=10)
    assert _redis_ping(port) == b"+PONG\r\n"
    env.run("stop", "redis", check=0)
    assert wait_for(lambda: port_free(port), timeout=10)
