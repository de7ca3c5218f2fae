"""Found by the review of issue 12: a dependent restarted while its requirement died in
the same moment; restart_every changed by a reread; a log probe with stdout = -."""

import os
import signal

import pytest

from conftest import alive, wait_for
from daemon_support import daemon, new_pid  # noqa: F401 (fixture)

from usrsvcmod.config import load
from usrsvcmod.errors import ConfigError

MAIN = "[Main]\nreconcile_interval = 0.5\nmonitor_interval = 0.2\n"


def test_a_dependent_killed_with_its_requirement_waits_for_it_to_be_ready(env, daemon):
    ready = os.path.join(env.home, "db-ready")
    open(ready, "w").close()
    env.write(MAIN + env.program("db", env.service("--tag", "db"), success_seconds="0.2")
              + "  [[Readiness]]\n  exec = test -f %s\n  interval = 0.1\n  timeout = 60s\n"
              % ready
              + env.program("web", env.service("--tag", "web"), success_seconds="0.2")
              + "  [[Requires]]\n  db = ready\n")
    daemon.start()
    daemon.wait_logged("web autostarted", timeout=30)
    db, web = env.pid_of("db"), env.pid_of("web")
    os.unlink(ready)  # db will not be ready again until the file is back
    os.kill(web, signal.SIGKILL)  # web's exit is seen first, db's a moment later
    os.kill(db, signal.SIGKILL)
    assert new_pid(env, "db", db, timeout=15)
    assert not new_pid(env, "web", web, timeout=3), daemon.text()  # waits for db
    open(ready, "w").close()
    assert new_pid(env, "web", web, timeout=30), daemon.text()


def test_restart_every_added_by_a_reread_applies_to_the_running_process(env, daemon):
    program = env.program("svc", env.service())
    env.write(MAIN + program)
    daemon.start()
    first = new_pid(env, "svc", None)
    assert first
    env.write(MAIN + program + "restart_every = 2s\n")
    assert daemon.cmd("reread").returncode == 0
    daemon.wait_logged("planned_restart", timeout=20)
    assert new_pid(env, "svc", first, timeout=15)


def test_a_log_probe_needs_a_stdout_file(env):
    env.write(env.program("web", env.service(), stdout="-")
              + "  [[Readiness]]\n  log = Serving\n")
    with pytest.raises(ConfigError) as caught:
        load(env.cfg)
    assert "stdout = - has none" in str(caught.value)


def test_checkconfig_name_shows_every_subsection_of_the_program(env):
    env.write(env.program("db", env.service("--tag", "db"))
              + env.program("web", env.service("--tag", "web"))
              + "  [[Requires]]\n  db = started\n  [[Readiness]]\n  tcp = 127.0.0.1:8000\n"
              + "  [[Liveness]]\n  http = http://127.0.0.1:8000/\n"
              + "  [[Hooks]]\n  pre_start = echo hi\n")
    out = env.run("checkconfig", "web", check=0).stdout
    for line in ("[[Requires]]", "db = started", "[[Readiness]]", "tcp = 127.0.0.1:8000",
                 "[[Liveness]]", "http = http://127.0.0.1:8000/", "[[Hooks]]",
                 "pre_start = echo hi"):
        assert line in out, out
