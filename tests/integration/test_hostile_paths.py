"""Another local user plants things where our pidfiles and logs go (issue items 3, 6, 9).

The attacker is a throw-away account (make_user); the shared directory is a
mode-1777 directory this test creates, standing in for /tmp; the files the
attacker wants overwritten are root-only files in the test's tmp_path.
usrsvc runs as root, as the one the attack is aimed at.
"""

import json
import os
import signal
import time

import pytest

from conftest import alive, pids_with, wait_for
from daemon_support import daemon  # noqa: F401 (fixture)

PRECIOUS = "precious: root-only data\n"


@pytest.fixture
def secret(tmp_path):
    """A root-only file the attacker would like us to write to."""
    path = tmp_path / "secret"
    path.write_text(PRECIOUS)
    os.chmod(path, 0o600)
    return str(path)


def plant(attacker, kind, path, target=None):
    """As the attacker: a stale pidfile, a directory, a symlink or a FIFO at ``path``."""
    argv = {"file": ["sh", "-c", 'echo 99999 > "$1"', "sh", path],
            "directory": ["mkdir", path],
            "symlink": ["ln", "-s", target or "/nonexistent", path],
            "fifo": ["mkfifo", path]}[kind]
    done = attacker.run(argv)
    assert done.returncode == 0, done.stderr
    st = os.lstat(path)
    assert st.st_uid == attacker.uid
    return st


def unchanged(path, st):
    now = os.lstat(path)
    return (now.st_ino, now.st_uid, now.st_mode) == (st.st_ino, st.st_uid, st.st_mode)


def pid_of_tag(env, tag):
    for pid in pids_with(env.token):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:
            continue
        if b"--tag" in argv and argv[argv.index(b"--tag") + 1] == tag.encode():
            return pid
    return None


def by_name(result):
    return {r["name"]: r for r in json.loads(result.stdout)}


# item 3: pidfiles that cannot be removed --------------------------------------------------------
@pytest.mark.parametrize("kind", ["file", "directory", "symlink", "fifo"])
@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_stop_all_stops_every_program_when_one_pidfile_was_planted(env, shared, attacker, secret,
                                                                    kind, parallel):
    pidfile = os.path.join(shared, "a.pid")
    env.write(env.program("a", env.service("--tag", "a"), pidfile=pidfile)
              + env.program("b", env.service("--tag", "b"))
              + env.program("c", env.service("--tag", "c")))
    env.run("start", "all", check=0)
    pids = {name: pid_of_tag(env, name) for name in "abc"}
    assert all(pids.values()), pids
    os.unlink(pidfile)  # a /tmp cleaner took ours; the attacker plants in its place
    st = plant(attacker, kind, pidfile, secret)

    status = env.run("--json", "status", "a", check=0)
    notes = by_name(status)["a"]["notes"]
    assert any(pidfile in note for note in notes), notes
    shown = env.run("status", "a", check=0)
    assert pidfile in shown.stdout + shown.stderr

    stopped = env.run("--json", "stop", "all", *(["-P"] if parallel else []), check=0)
    results = by_name(stopped)
    assert {name: r["state"] for name, r in results.items()} == dict.fromkeys("abc", "stopped")
    assert any("left pidfile %s in place" % pidfile in n for n in results["a"]["notes"]), results
    assert wait_for(lambda: not any(alive(pid) for pid in pids.values()), timeout=10)
    assert unchanged(pidfile, st)
    with open(secret) as handle:
        assert handle.read() == PRECIOUS

    # starting it again would mean a pidfile written where the attacker decides
    refused = env.run("start", "a", check=136)
    text = refused.stdout + refused.stderr
    assert "pidfile = %s" % pidfile in text and "Fix: set pidfile to" in text, text
    assert "uid %d" % attacker.uid in text, text
    assert pid_of_tag(env, "a") is None
    assert unchanged(pidfile, st)
    env.run("start", "b", check=0)  # the others are not affected


def test_a_stale_pidfile_of_another_user_is_a_note_not_a_crash(env, shared, attacker):
    pidfile = os.path.join(shared, "a.pid")
    env.write(env.program("a", env.service("--tag", "a"), pidfile=pidfile))
    st = plant(attacker, "file", pidfile)
    result = env.run("--json", "status", "a", check=1)
    notes = by_name(result)["a"]["notes"]
    assert any("stale pidfile %s" % pidfile in note for note in notes), notes
    env.run("stop", "a", check=0)
    assert unchanged(pidfile, st)
    with open(pidfile) as handle:
        assert handle.read() == "99999\n"


def test_a_pidfile_in_the_shared_directory_still_works_when_nobody_interferes(env, shared):
    pidfile = os.path.join(shared, "a.pid")
    env.write(env.program("a", env.service("--tag", "a"), pidfile=pidfile))
    env.run("start", "a", check=0)
    with open(pidfile) as handle:
        assert int(handle.read()) == pid_of_tag(env, "a")
    env.run("stop", "a", check=0)
    assert not os.path.lexists(pidfile)


# item 9: symlinks in shared directories ---------------------------------------------------------
def test_a_directory_symlink_in_place_of_the_pidfile_directory_is_refused(env, shared, attacker,
                                                                          tmp_path):
    rootdir = tmp_path / "rootonly"
    rootdir.mkdir(mode=0o700)
    link = os.path.join(shared, "x")
    st = plant(attacker, "symlink", link, str(rootdir))
    env.write(env.program("a", env.service("--tag", "a"), pidfile=os.path.join(link, "a.pid")))
    refused = env.run("start", "a", check=136)
    text = refused.stdout + refused.stderr
    assert "pidfile = %s/a.pid" % link in text and "symlink owned by uid %d" % attacker.uid in text
    assert "Fix: set pidfile to" in text, text
    assert os.listdir(rootdir) == [] and unchanged(link, st)
    assert pid_of_tag(env, "a") is None


@pytest.mark.parametrize("key", ["stdout", "stderr"])
@pytest.mark.parametrize("kind", ["symlink", "file"])
def test_a_log_file_planted_by_another_user_is_refused(env, shared, attacker, secret, key, kind):
    log = os.path.join(shared, "a.log")
    st = plant(attacker, kind, log, secret)
    env.write(env.program("a", env.service("--tag", "a"), **{key: log}))
    refused = env.run("start", "a", check=136)
    text = refused.stdout + refused.stderr
    assert "%s = %s" % (key, log) in text and "Fix: set %s to" % key in text, text
    assert pid_of_tag(env, "a") is None
    assert unchanged(log, st)
    with open(secret) as handle:
        assert handle.read() == PRECIOUS


def test_a_log_directory_owned_by_another_user_is_refused(env, shared, attacker):
    theirs = os.path.join(shared, "logs")
    plant(attacker, "directory", theirs)
    env.write(env.program("a", env.service("--tag", "a"), stdout=os.path.join(theirs, "a.log")))
    refused = env.run("start", "a", check=136)
    assert "owned by uid %d" % attacker.uid in refused.stdout + refused.stderr
    assert os.listdir(theirs) == [] and pid_of_tag(env, "a") is None


# item 6: a FIFO as the log file -----------------------------------------------------------------
def test_a_fifo_log_is_refused_at_once(env, shared, attacker):
    log = os.path.join(shared, "a.log")
    plant(attacker, "fifo", log)
    env.write(env.program("a", env.service("--tag", "a"), stdout=log))
    started = time.monotonic()
    refused = env.run("start", "a", check=136, timeout=30)  # a hang fails here
    text = refused.stdout + refused.stderr
    assert "FIFO" in text and "stdout = %s" % log in text and "Fix: " in text, text
    assert time.monotonic() - started < 30
    assert pid_of_tag(env, "a") is None


def test_a_fifo_log_does_not_freeze_usrsvcd(env, shared, attacker, daemon):
    log = os.path.join(shared, "fifo.log")
    plant(attacker, "fifo", log)
    env.write("[Main]\nreconcile_interval = 0.5\n"
              + env.program("fifo", env.service("--tag", "fifo"), stdout=log)
              + env.program("crash", env.service("--tag", "crash", "--exit", "1", "--after", "1"),
                            success_seconds="0.3", restart_delay="0.2", restart_delay_max="0.5"))
    daemon.start()
    daemon.wait_logged("fifo start_failed", timeout=30)
    assert "FIFO" in daemon.text()
    # the crashing program is restarted again and again meanwhile
    daemon.wait_logged("crash restarted", count=3, timeout=60)
    status = env.run("status", "crash", timeout=30)
    assert status.returncode in (0, 1)
    assert "internal_error" not in daemon.text(), daemon.text()


# usrsvcd with a pidfile it can neither write nor remove ---------------------------------------
def test_usrsvcd_manages_a_program_whose_pidfile_was_planted_and_says_so_once(env, shared,
                                                                             attacker, daemon):
    pidfile = os.path.join(shared, "a.pid")
    st = plant(attacker, "file", pidfile)
    env.write("[Main]\nreconcile_interval = 0.5\n"
              + env.program("a", env.service("--tag", "a"), pidfile=pidfile))
    daemon.start()
    first = wait_for(lambda: pid_of_tag(env, "a"), timeout=20)
    assert first, daemon.text()
    daemon.wait_logged("cannot write pidfile %s" % pidfile)
    time.sleep(2.5)  # five reconcile passes
    assert daemon.text().count("cannot write pidfile %s" % pidfile) == 1, daemon.text()
    os.kill(first, signal.SIGKILL)
    again = wait_for(lambda: (pid_of_tag(env, "a") or 0) not in (0, first)
                     and pid_of_tag(env, "a"), timeout=20)
    assert again, daemon.text()
    assert "internal_error" not in daemon.text(), daemon.text()
    assert unchanged(pidfile, st)
    with open(pidfile) as handle:
        assert handle.read() == "99999\n"


def test_a_fifo_in_place_of_usrsvcds_own_log_does_not_freeze_it(env, shared, attacker, daemon):
    log = os.path.join(shared, "usrsvcd.log")
    plant(attacker, "fifo", log)
    env.write("[Main]\nreconcile_interval = 0.5\nusrsvcd_stdout = %s\n" % log
              + env.program("crash", env.service("--tag", "crash", "--exit", "1", "--after", "1"),
                            success_seconds="0.3", restart_delay="0.2", restart_delay_max="0.5"))
    proc = daemon.start()  # its events stay on the stdout it was given
    daemon.wait_logged("log_error", timeout=30)
    assert "FIFO" in daemon.text(), daemon.text()
    daemon.wait_logged("crash restarted", timeout=60)
    proc.send_signal(signal.SIGHUP)  # logrotate's reopen meets the FIFO again
    daemon.wait_logged("log_error", count=2, timeout=30)
    daemon.wait_logged("crash restarted", count=3, timeout=60)
    assert proc.poll() is None and "internal_error" not in daemon.text(), daemon.text()
