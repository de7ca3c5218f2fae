"""Real third-party daemons under usrsvc: nginx (forking, own pidfile) and redis (foreground).

Each is started by the installed usrsvc in a temporary HOME, must answer on
a loopback port, and after ``usrsvc stop`` the port is free and nothing of
it is left. Skipped (with the reason) where the binary is not installed;
.ci/run installs Debian's nginx and redis-server.
"""

import http.client
import os
import shutil
import socket

import pytest

from conftest import alive, descendants, free_port, pids_with, port_free, wait_for


def _binary(name):
    found = shutil.which(name) or next(
        (p for p in ("/usr/sbin/" + name, "/usr/bin/" + name) if os.access(p, os.X_OK)), None)
    if not found:
        pytest.skip("%s is not installed (Debian package %s)" % (name, name))
    return found


NGINX_CONF = """daemon on;
master_process on;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 32; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "hello from {token}\\n"; }}
    }}
}}
"""


def nginx_world(env, head="", workers=1):
    """An nginx config in HOME/nginx (daemon on, its own pid directive, loopback):
    returns (the program's command, its pidfile, its port, its root). The
    config file's name carries the token, which shows in the master's title."""
    nginx = _binary("nginx")
    root = os.path.join(env.home, "nginx")
    os.makedirs(root)
    port = free_port()
    conf = os.path.join(root, "%s.conf" % env.token)
    with open(conf, "w") as handle:
        handle.write(head + NGINX_CONF.format(root=root, port=port, token=env.token)
                     .replace("worker_processes 1;", "worker_processes %d;" % workers))
    command = "%s -e %s/error.log -p %s/ -c %s" % (nginx, root, root, conf)
    return command, os.path.join(root, "nginx.pid"), port, root


def test_nginx_forking_daemon_with_its_own_pidfile(env):
    command, pidfile, port, root = nginx_world(env)
    env.write(env.program("nginx", command, autopid="False", pidfile=pidfile,
                          success_seconds="0.5", term_to_kill_seconds="5"))

    started = env.run("start", "nginx")
    assert started.returncode == 0, (started.stdout, started.stderr, _tail(root))
    assert wait_for(lambda: os.path.exists(pidfile))
    master = int(open(pidfile).read())
    env.track(master)
    assert alive(master)
    assert "nginx: master process" in open("/proc/%d/cmdline" % master).read()
    assert "pid %d" % master in started.stdout  # the master, not the launcher that exited
    workers = descendants([master])
    assert workers, "nginx started no worker"
    for pid in workers:
        env.track(pid)

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", "/")
    response = connection.getresponse()
    assert response.status == 200
    assert response.read().decode() == "hello from %s\n" % env.token
    connection.close()

    status = env.run("status", "nginx", check=0)
    assert "running, pid %d" % master in status.stdout

    env.run("stop", "nginx", check=0)
    assert wait_for(lambda: port_free(port), timeout=10)
    assert wait_for(lambda: not [p for p in [master] + workers if alive(p)], timeout=10)
    assert not pids_with(env.token)
    env.run("status", "nginx", check=1)


def _tail(root):
    try:
        with open(os.path.join(root, "error.log")) as handle:
            return handle.read()[-2000:]
    except OSError:
        return ""


def _redis_ping(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64)


def test_redis_in_the_foreground(env):
    redis = _binary("redis-server")
    port = free_port()
    data = os.path.join(env.home, "redis")
    os.makedirs(data)
    # redis rewrites its title; the template keeps the token in it, and the
    # anchored proctitle_re must match the padded title /proc shows
    command = ("%s --port %d --bind 127.0.0.1 --save \"\" --appendonly no --daemonize no"
               " --dir %s --proc-title-template \"redis {listen-addr} %s\"" % (redis, port, data, env.token))
    env.write(env.program("redis", command, success_seconds="0.5", term_to_kill_seconds="5",
                          proctitle_re=r"^redis 127\.0\.0\.1:%d %s$" % (port, env.token)))

    started = env.run("start", "redis")
    assert started.returncode == 0, (started.stdout, started.stderr)
    pid = env.pid_of("redis")
    env.track(pid)
    assert alive(pid)
    assert open("/proc/%d/cmdline" % pid).read().startswith("redis 127.0.0.1:%d %s" % (port, env.token))
    assert wait_for(lambda: not port_free(port))
    assert _redis_ping(port) == b"+PONG\r\n"
    assert "running, pid %d" % pid in env.run("status", "redis", check=0).stdout

    env.run("stop", "redis", check=0)
    assert wait_for(lambda: port_free(port), timeout=10)
    assert wait_for(lambda: not alive(pid), timeout=10)
    assert not pids_with(env.token)
    assert env.pid_of("redis") is None
