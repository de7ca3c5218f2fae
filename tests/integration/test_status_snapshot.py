"""``usrsvc status`` while usrsvcd runs: its snapshot (usrsvcd.view) adds what only
the daemon knows (restarts, last exit), never who runs. A program killed,
restarted or stopped by hand since the snapshot, a snapshot left by a dead
usrsvcd, a launch record whose pid now names another process: status says
what runs now, by the identity rule."""

import json
import os
import signal
import sys

from conftest import alive, wait_for
from daemon_support import daemon  # noqa: F401 (fixture)

MAIN = "[Main]\nreconcile_interval = 0.5\n"


def _setup(env, daemon, names=("a", "b", "c")):
    env.write(MAIN + "".join(env.program(n, env.service("--tag", n)) for n in names))
    proc = daemon.start()
    for name in names:  # settled: usrsvcd holds a program's lock through its start window
        daemon.wait_logged("%s started" % name, timeout=30)
    # up, and usrsvcd's snapshot names them all (restarts is only known from it)
    assert wait_for(lambda: all(r["state"] == "running" and r["restarts"] is not None
                                for r in _status_all(env)), timeout=30), _status_all(env)
    return proc, {r["name"]: r["pid"] for r in _status_all(env)}


def _status_all(env):
    shown = env.run("--json", "status", "all")
    assert shown.returncode in (0, 1), shown.stderr
    return json.loads(shown.stdout)


def _status(env, name):
    shown = env.run("--json", "status", name)
    return json.loads(shown.stdout)


def _kill(env, pid):
    with open("/proc/%d/cmdline" % pid, "rb") as handle:
        assert env.token.encode() in handle.read()  # ours: never a stranger
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not alive(pid))


def test_what_was_done_by_hand_since_the_snapshot_is_what_status_shows(env, daemon):
    proc, pids = _setup(env, daemon)
    os.kill(proc.pid, signal.SIGSTOP)  # its snapshot stays as it is now
    try:
        _kill(env, pids["a"])
        env.run("restart", "b", check=0)
        env.run("stop", "c", check=0)
        new_b = env.pid_of("b")
        assert new_b and new_b != pids["b"]
        for shown in (_status_all(env), [_status(env, n)[0] for n in "abc"]):
            by_name = {r["name"]: r for r in shown}
            # not running; usrsvcd's frozen word may still say what it was doing
            assert by_name["a"]["pid"] is None and by_name["a"]["state"] != "running"
            assert by_name["b"]["pid"] == new_b and by_name["b"]["state"] == "running"
            assert by_name["c"]["pid"] is None and by_name["c"]["state"] == "stopped_by_user"
            assert by_name["a"]["restarts"] == 0  # the snapshot was read: it adds, never decides
            assert not {r["pid"] for r in shown} & {pids["a"], pids["b"], pids["c"]}
    finally:
        os.kill(proc.pid, signal.SIGCONT)


def test_the_snapshot_of_a_dead_usrsvcd_is_not_read(env, daemon):
    proc, pids = _setup(env, daemon, ("a", "b"))
    proc.kill()
    proc.wait(timeout=10)
    _kill(env, pids["a"])
    by_name = {r["name"]: r for r in _status_all(env)}
    assert by_name["a"]["pid"] is None and by_name["a"]["state"] == "stopped"
    assert by_name["b"]["pid"] == pids["b"] and by_name["b"]["state"] == "running"
    assert by_name["a"]["restarts"] is None and by_name["b"]["restarts"] is None
    text = env.run("status", "all", check=1).stdout
    assert "restarts" not in text and "\na     STOPPED  -" in text


def test_a_launch_record_names_a_process_only_with_its_exact_start_time(env):
    """A recorded pid now held by another process (it started at another time) is
    not the program; with the start time the record gives, it is (rule 6)."""
    from usrsvcmod.proc import procfs
    from usrsvcmod.proc.record import LaunchRecord
    from usrsvcmod.state import RuntimeState

    env.write(env.program("a", env.service("--tag", "a"), scan_for_process="no"))
    stranger = env.spawn([sys.executable, "-c", "import time; time.sleep(3600)", env.token])
    assert wait_for(lambda: alive(stranger.pid) and env.token.encode()
                    in open("/proc/%d/cmdline" % stranger.pid, "rb").read())  # exec'd
    info = procfs.read(stranger.pid)
    state = RuntimeState(env.cfg, environ=env.env)
    for ticks, shown in ((info.ticks - 100, None), (info.ticks + 1, None),
                         (info.ticks, stranger.pid)):
        state.write_record("a", LaunchRecord(
            stranger.pid, info.start_time, info.sid, info.start_time, info.start_time, {},
            "sleep", ticks, ticks, ticks + 1, procfs.boot_id()))
        for result in (_status(env, "a")[0], _status_all(env)[0]):
            assert result["pid"] == shown, (ticks, info.ticks, result)
    state.clear_record("a")
    assert alive(stranger.pid)  # status never signals anything
