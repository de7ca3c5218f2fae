"""Log rotation without being the parent: a real writer at full speed loses no line.

The writer is launched by usrsvc (so its stdout is the log, opened O_APPEND)
and writes numbered lines, one write each, as fast as it can. Concatenating
the backups oldest-first and the live file must give 1, 2, 3... with no
number missing or repeated.
"""

import json
import os
import subprocess
import sys

import pytest

from conftest import HERE, wait_for
from daemon_support import daemon  # noqa: F401 (fixture)

WRITER = os.path.join(HERE, "helpers", "numbered_writer.py")


def writer(env, *args):
    return " ".join([sys.executable, WRITER, env.token] + [str(a) for a in args])


def need_collapse_fs(path):
    from usrsvcmod.proc.rotate import fs_type

    kind = fs_type(path)
    if kind not in ("ext4", "xfs"):
        pytest.skip("%s is on %s; the lossless rotation needs ext4 or xfs (collapse range)"
                    % (path, kind))


def backups(log):
    """The backups of ``log``, oldest first."""
    directory, name = os.path.split(log)
    numbers = sorted((int(entry[len(name) + 1:]) for entry in os.listdir(directory)
                      if entry.startswith(name + ".") and entry[len(name) + 1:].isdigit()),
                     reverse=True)
    return ["%s.%d" % (log, number) for number in numbers]


def stream(log):
    data = b""
    for path in backups(log) + [log]:
        with open(path, "rb") as handle:
            data += handle.read()
    return data


def numbers_in(data):
    assert data.endswith(b"\n"), data[-40:]
    return [int(line) for line in data.split(b"\n")[:-1]]


def record(env, log):
    """(dev, ino, removed) of the log's rotation record, as a follower reads it."""
    from usrsvcmod.proc import logstate
    from usrsvcmod.state import RuntimeState

    state = RuntimeState(env.cfg, environ=env.env)
    try:
        return logstate.read(state, log)
    finally:
        state.close()


def stop(env, name):
    env.run("stop", name, check=0)


def test_twenty_rotations_by_usrsvc_lose_and_repeat_no_line(env):
    need_collapse_fs(env.home)
    log = os.path.join(env.home, "logs", "w.log")
    env.write(env.program("w", writer(env), stdout_maxbytes="64K", stdout_backups="1000"))
    env.run("start", "w", check=0)
    rotations, removed = 0, 0
    try:
        while rotations < 20:
            assert wait_for(lambda: os.path.getsize(log) > 64 * 1024, timeout=30)
            result, = json.loads(env.run("logs", "--rotate", "--json", "w", check=0).stdout)
            if result["rotated"]:
                assert result["method"] == "collapse", result
                assert result["removed"] % 4096 == 0, result
                rotations += 1
                removed += result["removed"]
    finally:
        stop(env, "w")
    st = os.stat(log)
    assert record(env, log) == (st.st_dev, st.st_ino, removed)
    assert len(backups(log)) == 20
    assert sum(os.path.getsize(path) for path in backups(log)) == removed
    found = numbers_in(stream(log))
    assert len(found) > 20 * 64 * 1024 // 8
    assert found == list(range(1, len(found) + 1))  # every number once, in order


def test_usrsvcd_rotates_on_its_timer_keeping_every_line(env, daemon):
    need_collapse_fs(env.home)
    log = os.path.join(env.home, "logs", "w.log")
    env.write("[Main]\nmonitor_interval = 0.1\n"
              + env.program("w", writer(env), stdout_maxbytes="128K", stdout_backups="1000"))
    daemon.start()
    try:
        daemon.wait_logged("w log_rotated: rotated %s" % log, count=5, timeout=60)
    finally:
        daemon.cleanup()
        stop(env, "w")
    assert len(backups(log)) >= 5
    found = numbers_in(stream(log))
    assert found == list(range(1, len(found) + 1))


def test_usrsvcd_rotates_a_log_over_its_limit_when_it_starts_the_program(env, daemon):
    log = os.path.join(env.home, "logs", "w.log")
    os.makedirs(os.path.dirname(log))
    with open(log, "wb") as handle:
        handle.write(b"".join(b"%d\n" % n for n in range(1, 30001)))  # 168,894 bytes
    # a timer that never fires in this test: only the start can rotate
    env.write("[Main]\nmonitor_interval = 3600\n"
              + env.program("w", env.service("--every", "60"), stdout_maxbytes="100K",
                            stdout_backups="2"))
    daemon.start()
    try:
        daemon.wait_logged("w log_rotated: rotated %s" % log)
    finally:
        daemon.cleanup()
        stop(env, "w")
    assert backups(log) == [log + ".1"]
    found = stream(log).split(b"\n")[:30000]
    assert found == [b"%d" % n for n in range(1, 30001)]


def read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def test_usrsvcd_renames_and_reopens_its_own_log(env, daemon):
    own = os.path.join(env.home, "usrsvcd-own.log")
    env.write("[Main]\nmonitor_interval = 0.1\nreconcile_interval = 0.5\n"
              "usrsvcd_stdout = %s\nusrsvcd_log_maxbytes = 600\n" % own
              + env.program("w", env.service("--every", "60")))
    daemon.start("--debug", ready=lambda proc: "usrsvcd started" in read(own))
    try:
        assert wait_for(lambda: os.path.exists(own + ".2"), timeout=30), os.listdir(env.home)
    finally:
        daemon.cleanup()
        stop(env, "w")
    kept = backups(own)
    assert "usrsvcd started" in read(kept[0])  # the first file is the oldest backup
    assert "log_rotated: %s renamed to .1 and reopened (5 kept)" % own in read(own + ".1")


def test_rotate_refuses_a_symlink_in_the_logs_place(env):
    log = os.path.join(env.home, "logs", "w.log")
    target = os.path.join(env.home, "elsewhere.txt")
    os.makedirs(os.path.dirname(log))
    with open(target, "wb") as handle:
        handle.write(b"x\n" * 10000)
    os.symlink(target, log)
    env.write(env.program("w", env.service(), stdout_maxbytes="1K"))
    proc = env.run("logs", "--rotate", "w", check=136)
    assert "cannot rotate %s" % log in proc.stdout and "symlink" in proc.stdout
    assert os.path.getsize(target) == 20000 and not os.path.exists(log + ".1")


def test_rotate_without_a_limit_says_so_and_force_rotates(env):
    need_collapse_fs(env.home)
    log = os.path.join(env.home, "logs", "w.log")
    os.makedirs(os.path.dirname(log))
    with open(log, "wb") as handle:
        handle.write(b"".join(b"%d\n" % n for n in range(1, 5001)))
    env.write(env.program("w", env.service()))
    proc = env.run("logs", "--rotate", "w", check=0)
    assert "no stdout_maxbytes set; not rotated" in proc.stdout
    proc = env.run("logs", "--rotate", "--force", "w", check=0)
    assert "rotated %s: 20480 bytes to %s.1" % (log, log) in proc.stdout
    assert stream(log) == b"".join(b"%d\n" % n for n in range(1, 5001))
    env.run("logs", "--force", "w", check=1)  # --force alone is a usage error, not a rotation


# -- a filesystem that cannot collapse: tmpfs on this kernel --------------------------------------
@pytest.fixture
def tmpfs(tmp_path):
    """A tmpfs mounted in the test's own directory (root only), unmounted after."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    point = tmp_path / "tmpfs"
    point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0755", "tmpfs",
                           str(point)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip("cannot mount a tmpfs here: %s" % done.stderr.strip())
    from usrsvcmod.proc.rotate import probe

    fd = os.open(str(point), os.O_RDONLY | os.O_DIRECTORY)
    try:
        if probe(fd):
            pytest.skip("tmpfs collapses files on this kernel: no filesystem without it here")
    finally:
        os.close(fd)
    yield str(point)
    subprocess.run(["umount", str(point)], check=True)


def test_checkconfig_warns_that_copytruncate_can_lose_lines(env, tmpfs):
    env.write(env.program("t", env.service(), stdout=tmpfs + "/t.log", stdout_maxbytes="10M")
              + env.program("free", env.service("--tag", "2"), stdout=tmpfs + "/free.log")
              + env.program("e", env.service("--tag", "3"), stdout_maxbytes="10M"))
    proc = env.run("checkconfig", check=0)
    warned = [line for line in proc.stderr.splitlines() if "copy-and-truncate" in line]
    assert len(warned) == 1, proc.stderr
    assert "[Program:t] stdout = %s/t.log: tmpfs" % tmpfs in warned[0]
    assert "can lose the lines" in warned[0]


def test_copytruncate_fallback_keeps_order_and_measures_its_loss(env, tmpfs):
    log = tmpfs + "/w.log"
    env.write(env.program("w", writer(env), stdout=log, stdout_maxbytes="64K",
                          stdout_backups="1000"))
    env.run("start", "w", check=0)
    rotations = 0
    try:
        while rotations < 20:
            assert wait_for(lambda: os.path.getsize(log) > 64 * 1024, timeout=30)
            result, = json.loads(env.run("logs", "--rotate", "--json", "w", check=0).stdout)
            if result["rotated"]:
                assert result["method"] == "copytruncate"
                assert "tmpfs cannot collapse" in result["message"]
                rotations += 1
    finally:
        stop(env, "w")
    every = numbers_in(stream(log))
    # a truncate in the middle of a write can also tear a line (its rest joins the next
    # one: "493679493680", a number the writer never wrote): at most one or two a round
    found, torn = [], 0
    for n in every:
        if found and n <= found[-1] or n > 10 ** 7:
            torn += 1
            continue
        found.append(n)
    assert torn <= 2 * rotations + 2, torn  # otherwise in order, none twice: losses only
    lost = found[-1] - len(found)
    print("\ncopy-and-truncate on tmpfs, 20 rotations: %d of %d lines lost, %d torn"
          % (lost, found[-1], torn))
