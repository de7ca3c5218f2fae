"""usrsvcd finds its running daemon by the instance lock and its exact title, whatever
its pidfile or its config says, and never takes a process that merely mentions it."""

import os
import subprocess
import sys

from conftest import alive
from daemon_support import daemon  # noqa: F401 (fixture)

from usrsvcmod.daemon import runner
from usrsvcmod.proc import pidfile
from usrsvcmod.state import RuntimeState

# no periodic reconcile during a test: it would repair the pidfile these tests break
MAIN = "[Main]\nreconcile_interval = 3600\n"

# holds an flock on argv[1] until killed; its argv mentions the daemon's title
LOCKER = ("import fcntl, os, sys, time\n"
          "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
          "fcntl.flock(fd, fcntl.LOCK_EX)\n"
          "print('locked', flush=True)\n"
          "time.sleep(600)\n")


def state_dir(env):
    return RuntimeState(env.cfg, environ=env.env).ensure()


def program(env):
    return env.program("a", env.service(), autostart="False")


def assert_found(daemon, proc):
    status = daemon.cmd("status")
    assert status.returncode == 0, (status.stdout, status.stderr)
    assert "usrsvcd is running, pid %d," % proc.pid in status.stdout


def assert_stopped(daemon, proc):
    stop = daemon.cmd("stop")
    assert stop.returncode == 0, (stop.stdout, stop.stderr)
    assert "usrsvcd stopped (pid %d)" % proc.pid in stop.stdout
    assert proc.wait(timeout=15) is not None  # the daemon is gone (our child: reaped here)


def assert_not_found(daemon):
    status = daemon.cmd("status")
    assert status.returncode == 1, (status.stdout, status.stderr)
    assert "usrsvcd is not running" in status.stdout
    stop = daemon.cmd("stop")
    assert stop.returncode == 0, (stop.stdout, stop.stderr)
    assert stop.stdout.startswith("usrsvcd is not running"), stop.stdout


def test_a_daemon_whose_pidfile_was_emptied_is_found_by_its_lock(env, daemon):
    env.write(MAIN + program(env))
    proc = daemon.start()
    path = os.path.join(state_dir(env), "usrsvcd.pid")
    assert pidfile.read(path)[0] == proc.pid
    open(path, "w").close()
    assert_found(daemon, proc)
    start = daemon.cmd("start")
    assert start.returncode == 135, (start.stdout, start.stderr)
    assert "usrsvcd is already running for %s (pid %d)" % (env.cfg, proc.pid) in start.stderr
    reread = daemon.cmd("reread")
    assert reread.returncode == 0, (reread.stdout, reread.stderr)
    assert "usrsvcd (pid %d) applied the new configuration" % proc.pid in reread.stdout
    assert_stopped(daemon, proc)
    assert_not_found(daemon)


def test_a_broken_file_in_config_dir_does_not_hide_the_daemon(env, daemon):
    confd = os.path.join(env.home, "conf.d")
    os.makedirs(confd)
    own_pidfile = os.path.join(env.home, "run", "usrsvcd.pid")
    env.write(MAIN + "config_dir = %s\npidfile = %s\n" % (confd, own_pidfile) + program(env))
    proc = daemon.start()
    assert pidfile.read(own_pidfile)[0] == proc.pid
    env.write("[Program:broken\ncommand = x\n", os.path.join(confd, "broken.cfg"))
    assert_found(daemon, proc)
    reread = daemon.cmd("reread")
    assert reread.returncode == 130, (reread.stdout, reread.stderr)  # refused, nothing signalled
    assert_stopped(daemon, proc)


def test_a_process_that_only_mentions_the_daemon_is_never_taken_for_it(env, daemon):
    env.write(MAIN + program(env))
    state = state_dir(env)
    log = os.path.join(state, "usrsvcd.log")
    open(log, "a").close()
    marker = os.path.join(env.home, env.token)  # puts the token in tail's argv
    open(marker, "w").close()
    mention = "x usrsvcd: %s" % env.cfg
    tail = env.spawn(["tail", "-f", log, marker])
    sleeper = env.spawn([sys.executable, "-c", "import time; time.sleep(600)", mention, env.token])
    locker = env.spawn([sys.executable, "-c", LOCKER, os.path.join(state, "usrsvcd.lock"), mention,
                        env.token], stdout=subprocess.PIPE)
    assert locker.stdout.readline() == b"locked\n"
    assert locker.pid in runner.lock_holders([os.path.join(state, "usrsvcd.lock")])
    path = os.path.join(state, "usrsvcd.pid")
    for decoy in (tail, sleeper, locker):
        pidfile.write(path, decoy.pid)  # written after its start, as a daemon's would be
        assert_not_found(daemon)
    assert all(alive(p.pid) for p in (tail, sleeper, locker)), "a decoy was signalled"

    locker.kill()
    locker.wait(timeout=10)
    proc = daemon.start()  # the real one, among the other two
    assert_found(daemon, proc)
    assert_stopped(daemon, proc)
    assert alive(tail.pid) and alive(sleeper.pid), "a decoy was signalled"


def test_repair_pidfile_rewrites_only_a_pidfile_that_does_not_hold_the_pid(tmp_path):
    path = str(tmp_path / "run" / "usrsvcd.pid")
    assert runner.repair_pidfile(path, 4242)  # missing, in a missing directory
    assert pidfile.read(path)[0] == 4242
    inode = os.stat(path).st_ino
    assert not runner.repair_pidfile(path, 4242)
    assert os.stat(path).st_ino == inode, "a right pidfile is left alone"
    for junk in ("", "\n", "garbage\n", "999\n", "4242 4243\n"):
        with open(path, "w") as handle:
            handle.write(junk)
        assert runner.repair_pidfile(path, 4242), junk
        assert pidfile.read(path)[0] == 4242
    target = tmp_path / "elsewhere"
    target.write_text("1\n")
    os.unlink(path)
    os.symlink(str(target), path)
    assert runner.repair_pidfile(path, 4242)
    assert not os.path.islink(path) and pidfile.read(path)[0] == 4242
    assert target.read_text() == "1\n", "written through a symlink"
    assert not [name for name in os.listdir(str(tmp_path / "run")) if name.endswith(".tmp")]
