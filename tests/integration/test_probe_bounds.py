"""Probes and hooks stay bounded, whatever the target does, and a secret store that
is down never keeps a program from stopping (found by a review of issue 12)."""

import os
import socket
import subprocess
import threading
import time

from conftest import alive, wait_for

from usrsvcmod.config import load
from usrsvcmod.proc import probes
from usrsvcmod.proc.probes import ProbeTarget


def _program(env, name, extra=""):
    env.write(env.program(name, env.service()) + extra)
    return load(env.cfg).programs[name]


def _probe(program, **keys):
    from usrsvcmod.config.model import Probe

    values = dict(section="Liveness", kind="exec", target="true", http_status=((200, 399),),
                  interval=0.3, probe_timeout=0.3, timeout=0.0, failures=3, after=0.0)
    values.update(keys)
    return Probe(**values)


def test_an_exec_probe_whose_grandchild_holds_its_output_does_not_pile_up(env):
    program = _program(env, "ex")
    probe = _probe(program, target="setsid sh -c 'sleep 600' %s & sleep 600" % env.token)
    target = ProbeTarget(program, os.getpid(), 0.0)
    before = threading.active_count()
    began = time.monotonic()
    for _ in range(6):
        ok, error = probes.bounded(probe, target)
        assert not ok and error
    assert time.monotonic() - began < 30
    assert wait_for(lambda: threading.active_count() <= before + 1, timeout=10), \
        threading.enumerate()
    # no shell of the probe is left unreaped (zombies of ours), once the threads end
    assert wait_for(lambda: not _zombies(), timeout=10), _zombies()


def _zombies():
    states = subprocess.run(["ps", "--ppid", str(os.getpid()), "-o", "stat="],
                            capture_output=True, text=True).stdout.split()
    return [z for z in states if z.startswith("Z")]


def test_an_http_probe_against_a_trickling_server_gives_up_at_its_timeout(env):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    stop = threading.Event()

    def trickle():
        while not stop.is_set():
            try:
                server.settimeout(0.2)
                conn, _ = server.accept()
            except OSError:
                continue
            threading.Thread(target=_drip, args=(conn, stop), daemon=True).start()

    threading.Thread(target=trickle, daemon=True).start()
    try:
        program = _program(env, "web")
        probe = _probe(program, kind="http", target="http://127.0.0.1:%d/" % port,
                       probe_timeout=0.5)
        began = time.monotonic()
        ok, error = probes.bounded(probe, ProbeTarget(program, os.getpid(), 0.0))
        assert not ok, error
        assert time.monotonic() - began < 5
    finally:
        stop.set()
        server.close()


def _drip(conn, stop):
    try:
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-A: ")
        while not stop.is_set():
            conn.sendall(b"a")
            time.sleep(0.2)
    except OSError:
        pass
    finally:
        conn.close()


def _script(env, name, body):
    path = os.path.join(env.home, name)
    with open(path, "w") as handle:
        handle.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o700)
    return path


def test_a_secret_store_down_never_keeps_a_program_from_stopping(env):
    down = os.path.join(env.home, "vault-down")
    fetch = _script(env, "fetch.sh", "test -e %s && exit 1\necho SECRET2=hunter2\n" % down)
    marker = os.path.join(env.home, "prestop-ran")
    env.write(env.program("ef", env.service("--tag", "ef"))
              + "  [[EnvCommand]]\n  command = %s\n" % fetch
              + "  [[Hooks]]\n  pre_stop = touch %s\n" % marker
              + env.program("ex", env.service("--tag", "ex")))
    env.run("start", "ef", "ex", check=0)
    pids = [env.pid_of("ef"), env.pid_of("ex")]
    open(down, "w").close()  # the secret store goes down
    result = env.run("stop", "all", check=0)
    assert wait_for(lambda: not any(alive(p) for p in pids), timeout=10), result.stdout
    assert os.path.exists(marker)  # the pre_stop hook ran, without the secrets


def test_the_secret_command_runs_once_per_start_not_per_probe_or_hook(env):
    count = os.path.join(env.home, "count")
    fetch = _script(env, "fetch.sh", "echo x >> %s\necho TOKEN=abc\n" % count)
    env.write(env.program("web", env.service(), success_seconds="0.3")
              + "  [[EnvCommand]]\n  command = %s\n" % fetch
              + "  [[Hooks]]\n  pre_start = test \"$TOKEN\" = abc\n"
              + "  post_start = test \"$TOKEN\" = abc\n"
              + "  [[Readiness]]\n  exec = sleep 0.4; test \"$TOKEN\" = abc\n"
              + "  interval = 0.2\n  timeout = 20s\n")
    env.run("start", "web", check=0)
    with open(count) as handle:
        assert len(handle.read().split()) == 1
    env.run("stop", "web", check=0)
