"""Another local user swaps or redirects a directory on the way to our pidfiles and logs.

The two findings of the security review (directory opening): a directory of
the attacker's swapped with their symlink while we check and open it (a race,
renameat2 RENAME_EXCHANGE in a loop), and a symlink of theirs in place of the
pidfile's directory when the pidfile is read or removed (no race needed).
The shared directory is a mode-1777 directory this test creates (standing in
for /tmp); the directory the attacker aims at is a root-only directory in the
test's tmp_path. usrsvc runs as root, the one the attack is aimed at.
"""

import os
import subprocess

import pytest

from conftest import pids_with
from daemon_support import daemon  # noqa: F401 (fixture)

STALE = "999999\n"  # no such process: a pidfile usrsvc would consider stale

# as the attacker: swap two names of theirs (a directory and a symlink) until the deadline
SWAPPER = r"""
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
a, b, seconds = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + seconds
print("ready", flush=True)
swaps = 0
while time.monotonic() < deadline:
    if libc.renameat2(-100, a, -100, b, 2) != 0:  # AT_FDCWD, RENAME_EXCHANGE
        sys.exit("renameat2: " + os.strerror(ctypes.get_errno()))
    swaps += 1
print(swaps, flush=True)
"""
RACE_SECONDS = 4


@pytest.fixture
def target(tmp_path):
    """A root-only directory the attacker wants our files in, holding a root-owned
    file with a stale pid (the attacker wants it removed)."""
    path = tmp_path / "T"
    path.mkdir()
    os.chmod(path, 0o755)
    (path / "victim.pid").write_text(STALE)
    return str(path)


def as_attacker(attacker, *argv):
    done = attacker.run(list(argv))
    assert done.returncode == 0, done.stderr


def swapping(attacker, shared, target):
    """The attacker's directory ``pd`` and symlink ``pdlink`` -> target, swapped in a
    loop for RACE_SECONDS (then the swapper stops by itself); returns (Popen, pd)."""
    pd, link = os.path.join(shared, "pd"), os.path.join(shared, "pdlink")
    as_attacker(attacker, "mkdir", pd)
    as_attacker(attacker, "ln", "-s", target, link)
    proc = attacker.popen(["/usr/bin/python3", "-c", SWAPPER, pd, link, str(RACE_SECONDS)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc, pd


def swaps_done(proc):
    out, err = proc.communicate(timeout=RACE_SECONDS + 30)
    assert proc.returncode == 0, err
    return int(out.split()[-1])


def landed(target):
    """What reached the target directory besides its own file (removed: counted once)."""
    found = []
    for name in os.listdir(target):
        if name != "victim.pid":
            found.append(name)
            os.unlink(os.path.join(target, name))
    return found


def test_racing_swaps_on_the_way_never_put_a_pidfile_or_log_in_roots_directory(
        shared, attacker, target):
    from usrsvcmod.errors import PermissionProblem
    from usrsvcmod.proc import pidfile, spawn

    proc, pd = swapping(attacker, shared, target)
    tries, wins = 0, []
    while proc.poll() is None:
        tries += 1
        try:
            pidfile.write(os.path.join(pd, "app.pid"), 4242)
        except OSError:  # paths.Refused: their directory, or their symlink
            pass
        try:
            os.close(spawn.open_log(os.path.join(pd, "app.log")))
        except PermissionProblem:
            pass
        if pidfile.read(os.path.join(pd, "victim.pid"))[0] is not None:
            wins.append("read victim.pid")
        pidfile.remove(os.path.join(pd, "victim.pid"))
        pidfile.remove(os.path.join(pd, "victim.pid"), expected_pid=999999)
        wins += landed(target)
        if not os.path.exists(os.path.join(target, "victim.pid")):
            wins.append("removed victim.pid")
            with open(os.path.join(target, "victim.pid"), "w") as handle:
                handle.write(STALE)
    swaps = swaps_done(proc)
    print("%d swaps, %d tries, %d won" % (swaps, tries, len(wins)))
    assert swaps > 100 and tries > 20, (swaps, tries)  # the race was really run
    assert wins == [], "%d of %d tries won: %s" % (len(wins), tries, sorted(set(wins)))
    assert sorted(os.listdir(target)) == ["victim.pid"]
    with open(os.path.join(target, "victim.pid")) as handle:
        assert handle.read() == STALE
    theirs = os.path.join(shared, "pdlink") if os.path.islink(pd) else pd
    assert os.listdir(theirs) == []  # nothing in the attacker's own directory either


def test_usrsvcd_never_writes_its_pidfile_through_a_swapped_directory(env, shared, attacker,
                                                                     target, daemon):
    pd = os.path.join(shared, "pd")
    env.write("[Main]\npidfile = %s/usrsvcd.pid\nreconcile_interval = 0.5\n" % pd
              + env.program("a", env.service("--tag", "a")))
    proc, _ = swapping(attacker, shared, target)
    usrsvcd = daemon.start()  # it writes its pidfile, then tries again at every reconcile
    assert usrsvcd.poll() is None, daemon.text()
    swaps = swaps_done(proc)
    assert swaps > 100, swaps
    assert sorted(os.listdir(target)) == ["victim.pid"], daemon.text()
    daemon.wait_logged("cannot write %s/usrsvcd.pid" % pd)
    assert "internal_error" not in daemon.text() and usrsvcd.poll() is None, daemon.text()
    assert pids_with(env.token), "the daemon should still have started its program"


def test_a_symlink_in_place_of_the_pidfile_directory_removes_nothing(env, shared, attacker,
                                                                     target):
    link = os.path.join(shared, "pd2")
    as_attacker(attacker, "ln", "-s", target, link)
    pidfile = os.path.join(link, "victim.pid")
    env.write(env.program("app", env.service("--tag", "app"), pidfile=pidfile))
    victim = os.path.join(target, "victim.pid")

    stopped = env.run("stop", "app", check=0)
    assert os.path.exists(victim), stopped.stdout + stopped.stderr
    status = env.run("status", "app")
    text = status.stdout + status.stderr
    assert "symlink owned by uid %d" % attacker.uid in text and "Traceback" not in text, text

    refused = env.run("start", "app", check=136)
    text = refused.stdout + refused.stderr
    assert "pidfile = %s" % pidfile in text and "symlink owned by uid %d" % attacker.uid in text
    assert "Fix: set pidfile to" in text, text
    assert sorted(os.listdir(target)) == ["victim.pid"]
    with open(victim) as handle:
        assert handle.read() == STALE
    assert not pids_with(env.token)  # refused before anything was started
