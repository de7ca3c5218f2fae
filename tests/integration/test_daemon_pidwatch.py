"""usrsvcd learns of a pidfile rewritten by hand from inotify, in the same moment,
not at its next periodic pass (reconcile_interval is an hour in these tests)."""

import os
import signal

from conftest import alive, wait_for
from daemon_support import daemon, new_pid  # noqa: F401 (fixture)

MAIN = "[Main]\nreconcile_interval = 3600\n"


def _write_pid(path, pid):
    tmp = path + ".new"
    with open(tmp, "w") as handle:
        handle.write("%d\n" % pid)
    os.rename(tmp, path)


def test_a_damaged_pidfile_is_repaired_at_once(env, daemon):
    env.write(MAIN + env.program("a", env.service("--tag", "a")))
    daemon.start()
    first = new_pid(env, "a", None)
    assert first
    daemon.wait_logged("a started")
    path = os.path.join(env.home, "run", "a.pid")
    # a decoy of ours (the same command line) named in the pidfile: the launch
    # record still names the program's process, so the pidfile is put right
    decoy = env.spawn(env.service("--tag", "a"), start_new_session=True)
    _write_pid(path, decoy.pid)
    assert wait_for(lambda: env.pid_of("a") == first, timeout=20), daemon.text()
    os.unlink(path)
    assert wait_for(lambda: env.pid_of("a") == first, timeout=20)
    with open(path, "w") as handle:
        handle.write("garbage\n")
    assert wait_for(lambda: env.pid_of("a") == first, timeout=20)
    assert alive(first) and alive(decoy.pid)
    assert not daemon.logged("a launched: restart")


def test_a_removed_pidfile_directory_falls_back_to_the_pass_and_is_watched_again(env, daemon):
    """The directory holding the pidfiles goes and comes back: usrsvcd keeps the
    program (its pidfd still says it runs) and watches the new directory."""
    env.write(MAIN.replace("3600", "1") + env.program("a", env.service("--tag", "a")))
    daemon.start()
    pid = new_pid(env, "a", None)
    assert pid
    run = os.path.join(env.home, "run")
    os.rename(run, run + ".old")
    os.makedirs(run, mode=0o755)
    # the next passes rewrite the pidfile in the new directory (autopid), and nothing restarts
    assert wait_for(lambda: env.pid_of("a") == pid, timeout=20)
    assert alive(pid)
    assert not daemon.logged("a launched: restart")
    os.kill(pid, signal.SIGKILL)
    assert new_pid(env, "a", pid, timeout=20)
