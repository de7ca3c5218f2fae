"""``logger = COMMAND``: output through a FIFO to a parentless logger process.

A real writer of numbered lines (one write each, at full speed) and a real
logger (tests/helpers/splice_logger.py, which appends its stdin to a file)
are started by the installed usrsvc; the logger's file must hold 1, 2, 3...
with no number missing or repeated, across the logger being SIGTERMed and
SIGKILLed while the writer runs (usrsvcd restarts it), and across a stop.
"""

import json
import os
import signal
import sys

from conftest import HERE, alive, pids_with, wait_for
from daemon_support import daemon  # noqa: F401 (fixture)

WRITER = os.path.join(HERE, "helpers", "numbered_writer.py")
LOGGER = os.path.join(HERE, "helpers", "splice_logger.py")
LINES = 600000


def config(env, out, limit=0, **keys):
    command = "%s %s %s --limit %d" % (sys.executable, WRITER, env.token, limit)
    logger = "%s %s %s %s" % (sys.executable, LOGGER, env.token, out)
    env.write(env.program("w", command, logger=logger, **keys))


def numbers(path):
    with open(path, "rb") as handle:
        data = handle.read()
    assert data.endswith(b"\n"), data[-40:]
    return [int(line) for line in data.split(b"\n")[:-1]]


def status(env):
    return json.loads(env.run("--json", "status", "w").stdout)[0]


def lines_in(path):
    try:
        with open(path, "rb") as handle:
            return handle.read().count(b"\n")
    except OSError:
        return 0


def ppid(pid):
    with open("/proc/%d/stat" % pid) as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])


def test_start_status_stop_with_a_logger_loses_no_line(env):
    out = os.path.join(env.home, "out.log")
    config(env, out)
    started = env.run("start", "w", check=0)
    assert "started its logger, pid" in started.stdout
    data = status(env)
    assert data["state"] == "running" and data["logger"]["state"] == "running"
    service, logger = data["pid"], data["logger"]["pid"]
    assert ppid(logger) != os.getpid() and ppid(service) != os.getpid()
    text = env.run("status", "w", check=0).stdout
    assert "logger: running, pid %d" % logger in text
    assert wait_for(lambda: lines_in(out) > 1000)
    said = env.run("logs", "w", check=0)
    assert "written by its logger" in said.stderr and said.stdout == ""
    stopped = env.run("stop", "w", check=0)
    assert "stopped its logger, pid %d" % logger in stopped.stdout
    assert "SIGKILL" not in stopped.stdout
    assert not alive(service) and not alive(logger)
    got = numbers(out)
    assert got == list(range(1, len(got) + 1))
    data = status(env)
    assert data["state"] == "stopped_by_user" and data["logger"]["state"] == "stopped"


def test_a_logger_that_fails_at_once_is_a_clear_error(env):
    env.write(env.program("w", env.service(), logger="no-such-logger-%s -b ~/logs" % env.token))
    failed = env.run("start", "w", check=137)
    assert "logger of w exited at once" in failed.stdout + failed.stderr
    assert "no-such-logger" in failed.stdout + failed.stderr
    assert "not found" in failed.stdout + failed.stderr
    assert not pids_with(env.token)  # the service was not launched
    env.run("status", "w", check=1)


def test_usrsvcd_restarts_a_killed_logger_and_no_line_is_lost(env, daemon):  # noqa: F811
    out = os.path.join(env.home, "out.log")
    config(env, out, LINES, autorestart="False")
    daemon.start()
    daemon.wait_logged("logger_started")
    first = wait_for(lambda: status(env).get("logger", {}).get("pid"))
    writer = status(env)["pid"]
    for sig, count in ((signal.SIGTERM, 2), (signal.SIGKILL, 3)):
        assert wait_for(lambda: lines_in(out) > 1000)
        assert alive(writer) and lines_in(out) < LINES, "the writer ended before the kill"
        os.kill(first, sig)
        daemon.wait_logged("logger_started", count)
        again = wait_for(lambda: (status(env)["logger"]["pid"] or first) != first and
                         status(env)["logger"]["pid"])
        assert again and alive(again)
        first = again
    assert wait_for(lambda: lines_in(out) >= LINES, timeout=120), lines_in(out)
    assert numbers(out) == list(range(1, LINES + 1))
    assert "logger_exited" in daemon.text()


def test_a_separate_stderr_keeps_its_file_and_start_revives_a_dead_logger(env):
    out, err = os.path.join(env.home, "out.log"), os.path.join(env.home, "logs", "w.err")
    logger = "%s %s %s %s" % (sys.executable, LOGGER, env.token, out)
    command = "echo to-stdout; echo to-stderr >&2; exec %s" % env.service()
    env.write(env.program("w", command, useshell="True", stderr=err, logger=logger))
    env.run("start", "w", check=0)
    assert wait_for(lambda: lines_in(out) >= 1)
    with open(out) as handle:
        assert handle.readline() == "to-stdout\n", open(out).read()
    with open(err) as handle:
        assert handle.read().startswith("to-stderr\n")
    first = status(env)["logger"]["pid"]
    os.kill(first, signal.SIGKILL)
    assert wait_for(lambda: status(env)["logger"]["state"] == "stopped")
    again = env.run("start", "w", check=0)
    assert "already running" in again.stdout and "started its logger" in again.stdout
    assert status(env)["logger"]["pid"] not in (None, first)
    env.run("stop", "w", check=0)
    assert not pids_with(env.token)
