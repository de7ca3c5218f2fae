"""A process of another user that gained euid 0 (a setuid-root program, ``su``) is
not root's: usrsvc run by root neither adopts nor signals it, even when it has
the program's exact command line and the pidfile names it.

Its real uid is the other user's, its effective and saved uids are 0; a
process is ours only when all three are (procfs.ProcInfo.owned_by).
"""

import os
import sys

from conftest import SERVICE, alive, wait_for


def _uids(pid):
    with open("/proc/%d/status" % pid) as handle:
        line = [entry for entry in handle if entry.startswith("Uid:")][0]
    return [int(value) for value in line.split()[1:4]]


def _setuid_lookalike(env, uid):
    """Start, as root, the program's command line with real uid ``uid`` and euid/suid 0."""
    argv = [sys.executable, SERVICE, env.token, "--tag", "x"]
    code = "import os, sys; os.setresuid(%d, 0, 0); os.execv(sys.argv[1], sys.argv[1:])" % uid
    proc = env.spawn([sys.executable, "-c", code] + argv)
    assert wait_for(lambda: alive(proc.pid) and _uids(proc.pid) == [uid, 0, 0], timeout=10)
    with open("/proc/%d/cmdline" % proc.pid, "rb") as handle:
        assert handle.read().split(b"\0")[:-1] == [os.fsencode(a) for a in argv]
    return proc


def test_root_neither_adopts_nor_signals_a_setuid_process_of_another_user(env, make_user):
    user = make_user()
    env.write(env.program("x", env.service("--tag", "x"), scan_for_process="True"))
    lookalike = _setuid_lookalike(env, user.uid)

    status = env.run("status", "x", check=1)  # found by its command line: not ours
    assert "not running" in status.stdout, status.stdout
    assert "pid %d" % lookalike.pid not in status.stdout
    os.makedirs(os.path.join(env.home, "run"), exist_ok=True)
    with open(os.path.join(env.home, "run", "x.pid"), "w") as handle:
        handle.write("%d\n" % lookalike.pid)  # and even named by the pidfile
    status = env.run("status", "x", check=1)
    assert "not running" in status.stdout, status.stdout
    assert "belongs to uid %d" % user.uid in status.stdout + status.stderr

    env.run("stop", "x", check=0)
    assert alive(lookalike.pid), "usrsvc stop signalled another user's setuid process"

    started = env.run("start", "x", check=0)  # a copy of its own, not the lookalike
    own = env.track(env.pid_of("x"))
    assert own and own != lookalike.pid and _uids(own) == [0, 0, 0], started.stdout
    env.run("stop", "x", check=0)
    assert wait_for(lambda: not alive(own), timeout=10)
    assert alive(lookalike.pid)
