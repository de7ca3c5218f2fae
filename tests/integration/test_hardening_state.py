"""The runtime state directory under attack: another user's XDG_RUNTIME_DIR, a
pre-created /tmp/usrsvc-UID, a directory removed under a running usrsvcd
(a tmp cleaner) and re-made by someone else, state of an earlier boot.

The attacker and the victim are throw-away accounts (make_user); a test only
ever touches /tmp/usrsvc-UID for the throw-away uid it created.
"""

import fcntl
import os
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import _command, alive, wait_for
from daemon_support import DaemonRunner

from usrsvcmod.daemon import runner
from usrsvcmod.proc import procfs
from usrsvcmod.state import RuntimeState


@pytest.fixture
def daemon(env):
    made = DaemonRunner(env)
    yield made
    made.cleanup()


def _victim_setup(user, token, home_env=None, **keys):
    """A config of ``user`` in its home with one program, returned with its environment."""
    cfg = os.path.join(user.home, "usrsvc.cfg")
    lines = ["[Main]", "reconcile_interval = 1", "[Program:svc]",
             "command = /bin/sh -c 'sleep 3600' %s" % token, "pidfile = %s/svc.pid" % user.home,
             "stdout = %s/svc.log" % user.home, "success_seconds = 0.2"] + ["%s = %s" % item for item in keys.items()]
    with open(cfg, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chown(cfg, user.uid, user.gid)
    os.chmod(cfg, 0o600)
    environ = user.environ({"HOME": home_env or user.home, "USRSVC_CONFIG": cfg})
    return cfg, environ


def test_another_users_xdg_runtime_dir_is_never_used(env, make_user):
    attacker = make_user()
    theirs = os.path.join(attacker.home, "xdg")
    attacker.run(["mkdir", "-m", "700", theirs])
    env.write(env.program("svc", env.service()))
    result = env.run("start", "svc", check=0, env={"XDG_RUNTIME_DIR": theirs})
    assert os.listdir(theirs) == [], result.stdout
    state = RuntimeState(env.cfg, environ=dict(env.env, XDG_RUNTIME_DIR=theirs))
    assert not state.path.startswith(theirs)
    assert os.stat(state.path).st_uid == os.geteuid()
    assert os.stat(state.path).st_mode & 0o777 == 0o700
    env.run("stop", "svc", check=0, env={"XDG_RUNTIME_DIR": theirs})


def test_state_of_an_earlier_boot_is_not_read_and_is_removed(env):
    if os.path.isdir("/run/user/%d" % os.geteuid()):
        pytest.skip("/run/user/UID exists here: the home fallback is not used")
    env.write(env.program("svc", env.service()))
    without_xdg = {"XDG_RUNTIME_DIR": None}
    state = RuntimeState(env.cfg, environ=dict((k, v) for k, v in env.env.items()
                                               if k != "XDG_RUNTIME_DIR"))
    boot = os.path.basename(os.path.dirname(state.path))
    assert boot == "boot-" + procfs.boot_id()
    old = os.path.join(env.home, ".cache", "usrsvc", "boot-0123")
    os.makedirs(os.path.join(old, state.key), mode=0o700)
    with open(os.path.join(old, state.key, "svc.stopped"), "w") as handle:
        handle.write("1\n")
    env.run("start", "svc", check=0, env=without_xdg)
    assert os.path.isdir(state.path)
    assert not os.path.exists(old)
    for level in (os.path.dirname(state.path), state.path):
        assert os.stat(level).st_mode & 0o777 == 0o700, level
    env.run("stop", "svc", check=0, env=without_xdg)
    assert os.path.exists(os.path.join(state.path, "svc.stopped"))


def test_a_precreated_tmp_dir_cannot_lock_out_a_service_account(make_user, token):
    victim, attacker = make_user(), make_user()
    usrsvc = victim.command("usrsvc")
    shared = "/tmp/usrsvc-%d" % victim.uid
    assert not os.path.exists(shared)
    try:
        made = attacker.run(["mkdir", "-m", "777", shared])
        assert made.returncode == 0, made.stderr
        cfg, environ = _victim_setup(victim, token)
        result = victim.run([usrsvc, "start", "svc"], env=environ)
        assert result.returncode == 0, (result.stdout, result.stderr)
        assert os.listdir(shared) == []
        key = RuntimeState(cfg, environ=environ).key
        path = os.path.join(victim.home, ".cache", "usrsvc", "boot-" + procfs.boot_id(), key)
        st = os.stat(path)
        assert (st.st_uid, st.st_mode & 0o777) == (victim.uid, 0o700)
        assert victim.run([usrsvc, "stop", "svc"], env=environ).returncode == 0
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_usrsvcd_makes_a_removed_state_directory_again_and_keeps_its_lock(env, daemon):
    env.write("[Main]\nreconcile_interval = 1\n" + env.program("svc", env.service()))
    proc = daemon.start()
    daemon.wait_logged("svc")
    state = RuntimeState(env.cfg, environ=env.env)
    lock = os.path.join(state.path, runner.LOCK)
    assert runner.lock_holders([lock]) == [proc.pid]
    shutil.rmtree(state.path)  # a tmp cleaner
    # until it is made again, a second daemon is still refused (found by its title)
    second = daemon.cmd("start")
    assert second.returncode == 135, (second.stdout, second.stderr)
    assert "pid %d" % proc.pid in second.stdout + second.stderr
    assert wait_for(lambda: runner.lock_holders([lock]) == [proc.pid], timeout=15), daemon.text()
    pidfile = os.path.join(state.path, runner.PIDFILE)
    assert wait_for(lambda: _read(pidfile) == str(proc.pid), timeout=15), daemon.text()
    assert daemon.cmd("start").returncode == 135
    assert proc.poll() is None
    # and it still honours a stop made after that
    assert env.run("stop", "svc", check=0)
    assert os.path.exists(os.path.join(state.path, "svc.stopped"))


def _read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError:
        return None


def test_a_state_directory_re_made_by_another_user_is_refused(make_user, token, tmp_path):
    """The daemon's /tmp fallback removed by a cleaner and re-made by an attacker with a
    planted stop mark, a held lock and a symlink for the status file: the daemon
    honours none of them, still restarts a crashed service, writes through no symlink;
    usrsvc refuses the directory with 130 where it would write there."""
    victim, attacker = make_user(), make_user()
    usrsvcd, usrsvc = victim.command("usrsvcd"), victim.command("usrsvc")
    shared = "/tmp/usrsvc-%d" % victim.uid
    assert not os.path.exists(shared)
    holder = daemon_pid = None
    try:
        cfg, environ = _victim_setup(victim, token, home_env="/")  # HOME unusable: /tmp
        key = RuntimeState(cfg, environ=environ).key
        started = victim.run([usrsvcd, "start"], env=environ)
        assert started.returncode == 0, (started.stdout, started.stderr)
        pidfile = os.path.join(victim.home, "svc.pid")
        assert wait_for(lambda: _read(pidfile), timeout=15)
        first = int(_read(pidfile))
        precious = os.path.join(victim.home, "precious")
        with open(precious, "w") as handle:
            handle.write("keep me\n")
        os.chown(precious, victim.uid, victim.gid)
        os.chmod(precious, 0o600)

        # the attacker is faster than the daemon (which makes the directory again at
        # once, as soon as it looks): the daemon is held still meanwhile
        daemon_pid = int(_read(os.path.join(shared, key, runner.PIDFILE)))
        os.kill(daemon_pid, signal.SIGSTOP)
        shutil.rmtree(shared)  # the cleaner
        plant = (
            "import fcntl, os, sys, time\n"
            "d = %r; k = os.path.join(d, %r)\n"
            "os.mkdir(d); os.chmod(d, 0o777); os.mkdir(k); os.chmod(k, 0o777)\n"
            "open(os.path.join(k, 'svc.stopped'), 'w').close()\n"
            "os.symlink(%r, os.path.join(k, 'usrsvcd.status'))\n"
            "fd = os.open(os.path.join(k, 'svc.lock'), os.O_RDWR | os.O_CREAT, 0o666)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('planted', flush=True)\n"
            "time.sleep(60)\n" % (shared, key, precious))
        holder = attacker.popen(["/usr/bin/python3", "-c", plant, token], stdout=subprocess.PIPE,
                                text=True)
        assert holder.stdout.readline().strip() == "planted"
        os.kill(daemon_pid, signal.SIGCONT)
        os.kill(first, signal.SIGKILL)
        assert wait_for(lambda: _read(pidfile) and int(_read(pidfile)) != first
                        and alive(int(_read(pidfile))), timeout=30), "not restarted"
        with open(precious) as handle:
            assert handle.read() == "keep me\n"
        # status only reads (and trusts nothing there); stop needs the lock: refused
        status = victim.run([usrsvc, "status", "svc"], env=environ)
        assert status.returncode == 0, (status.stdout, status.stderr)
        stop = victim.run([usrsvc, "stop", "svc"], env=environ)
        assert stop.returncode == 130, (stop.stdout, stop.stderr)
        assert shared in stop.stderr and "another user" in stop.stderr
        assert "Traceback" not in stop.stderr
    finally:
        if daemon_pid is not None:
            os.kill(daemon_pid, signal.SIGCONT)
        if holder is not None:
            holder.kill()
            holder.wait()
        victim.run([usrsvcd, "stop"], env=dict(environ))
        shutil.rmtree(shared, ignore_errors=True)


def test_a_cache_directory_that_is_our_own_symlink_is_followed(env, tmp_path):
    if os.path.isdir("/run/user/%d" % os.geteuid()):
        pytest.skip("/run/user/UID exists here: the home fallback is not used")
    scratch = tmp_path / "scratch"
    scratch.mkdir(mode=0o700)
    os.symlink(str(scratch), os.path.join(env.home, ".cache"))
    env.write(env.program("svc", env.service()))
    without_xdg = {"XDG_RUNTIME_DIR": None}
    env.run("start", "svc", check=0, env=without_xdg)
    assert os.path.isdir(os.path.join(str(scratch), "usrsvc", "boot-" + procfs.boot_id()))
    env.run("stop", "svc", check=0, env=without_xdg)


def test_closed_stdout_and_a_missing_home(env, daemon):
    env.write(env.program("svc", env.service()))
    # a parent that closed stdout: the start still works, nothing lands in our files
    result = subprocess.run("exec %s start svc >&-" % env.usrsvc, shell=True, env=env.env,
                            cwd=env.home, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    env.run("stop", "svc", check=0)
    # usrsvcd detached with HOME=/nonexistent (service accounts): it sits in /
    started = daemon.cmd("start")  # with this HOME: works
    assert started.returncode == 0, started.stderr
    assert daemon.cmd("stop").returncode == 0
    environ = dict(env.env, HOME="/nonexistent")
    started = subprocess.run([daemon.usrsvcd, "--config", env.cfg, "start"], env=environ,
                             cwd="/", capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, (started.stdout, started.stderr)
    stopped = subprocess.run([daemon.usrsvcd, "--config", env.cfg, "stop"], env=environ,
                             cwd="/", capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 0, (stopped.stdout, stopped.stderr)
