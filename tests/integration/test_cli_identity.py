"""The identity rule through the installed usrsvc: adoption, stale and garbage pidfiles.

A pidfile is believed only for a live, non-zombie process of this user,
started before the pidfile was written, whose command line matches
proctitle_re; anything else is never signalled.
"""

import os
import signal
import sys
import time

import pytest

from conftest import alive, pids_with, wait_for


def pidfile_path(env, name):
    return os.path.join(env.home, "run", "%s.pid" % name)


def write_pidfile(env, name, data):
    path = pidfile_path(env, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data if isinstance(data, bytes) else data.encode())
    return path


def by_hand(env, *args, **kwargs):
    """The program's own command line, started outside usrsvc."""
    proc = env.spawn([sys.executable, env.service().split(" ", 2)[1]] + [env.token] + list(args),
                     **kwargs)
    assert wait_for(lambda: alive(proc.pid) and env.token.encode()
                    in open("/proc/%d/cmdline" % proc.pid, "rb").read())
    return proc


def test_adopts_a_process_started_by_hand(env):
    env.write(env.program("svc", env.service()))
    hand = by_hand(env)
    status = env.run("status", "svc", check=0)
    assert "running, pid %d" % hand.pid in status.stdout
    assert "found pid %d by scan" % hand.pid in status.stdout
    assert env.pid_of("svc") is None  # status only looks: it writes nothing
    started = env.run("start", "svc", check=0)
    assert "already running" in started.stdout
    assert "adopted pid %d" % hand.pid in started.stdout
    assert env.pid_of("svc") == hand.pid  # start adopted it: written to the pidfile
    # now found from the pidfile, no note
    again = env.run("status", "svc", check=0)
    assert "scan" not in again.stdout and "pid %d" % hand.pid in again.stdout
    assert pids_with(env.token) == [hand.pid]
    env.run("stop", "svc", check=0)
    hand.wait(timeout=10)
    assert not pids_with(env.token)


def test_adoption_without_autopid_leaves_no_pidfile(env):
    env.write(env.program("svc", env.service(), autopid="no"))
    hand = by_hand(env)
    assert "running, pid %d" % hand.pid in env.run("status", "svc", check=0).stdout
    assert not os.path.exists(pidfile_path(env, "svc"))


def test_no_scan_means_no_adoption(env):
    env.write(env.program("svc", env.service(), scan_for_process="0"))
    by_hand(env)
    env.run("status", "svc", check=1)
    assert not os.path.exists(pidfile_path(env, "svc"))


def test_several_matches_take_the_oldest_and_warn(env):
    env.write(env.program("svc", env.service()))
    first = by_hand(env)
    time.sleep(0.05)
    second = by_hand(env)
    status = env.run("status", "svc", check=0)
    assert "running, pid %d" % first.pid in status.stdout
    assert "2 processes match" in status.stdout + status.stderr
    assert str(second.pid) in status.stdout + status.stderr


def test_scan_never_takes_the_shell_of_a_useshell_program(env):
    command = "%s ; echo done" % env.service()
    env.write(env.program("sh", command, useshell="on",
                          proctitle_re=r"service\.py %s$" % env.token))
    env.run("start", "sh", check=0)
    pid = env.pid_of("sh")
    shell = [p for p in pids_with(env.token) if p != pid]
    assert len(shell) == 1  # the wrapping shell is there too
    os.unlink(pidfile_path(env, "sh"))
    status = env.run("status", "sh", check=0)
    assert "running, pid %d" % pid in status.stdout
    write_pidfile(env, "sh", "%d\n" % shell[0])  # a pidfile naming the shell is stale
    status = env.run("status", "sh", check=0)
    assert "running, pid %d" % pid in status.stdout and "stale" in status.stdout
    env.run("stop", "sh", check=0)
    assert wait_for(lambda: not pids_with(env.token), timeout=5)


def test_stale_pidfile_of_another_users_process_is_never_signalled(env):
    if os.geteuid() != 0:
        pytest.skip("needs root to run a process as another user")
    # (a command another user can run: this Python may live under a private /root)
    argv = ["/bin/sh", "-c", "while :; do sleep 0.2; done", env.token]
    env.write(env.program("svc", "/bin/sh -c 'while :; do sleep 0.2; done' %s" % env.token,
                          term_to_kill_seconds="0.5"))
    # the very same command line, but another uid: only the uid tells them apart
    foreign = env.spawn(argv, user=65534, group=65534, extra_groups=[], cwd="/")
    assert wait_for(lambda: alive(foreign.pid) and os.stat("/proc/%d" % foreign.pid).st_uid == 65534)
    write_pidfile(env, "svc", "%d\n" % foreign.pid)
    status = env.run("status", "svc", check=1)
    assert "belongs to uid 65534" in status.stdout
    assert env.pid_of("svc") == foreign.pid  # status only looks
    stopped = env.run("stop", "svc", check=0)
    assert "not running" in stopped.stdout
    assert not os.path.exists(pidfile_path(env, "svc"))  # stale: removed by stop (autopid)
    assert alive(foreign.pid)
    env.run("start", "svc", check=0)
    ours = env.pid_of("svc")
    assert ours != foreign.pid and os.stat("/proc/%d" % ours).st_uid == os.geteuid()
    env.run("stop", "svc", check=0)
    assert not alive(ours)
    time.sleep(0.2)
    assert alive(foreign.pid) and foreign.poll() is None


def test_stale_pidfile_of_an_unrelated_process_is_never_signalled(env):
    env.write(env.program("svc", env.service(), scan_for_process="false"))
    other = env.spawn([sys.executable, "-c", "import time; time.sleep(600)", env.token + "-other"])
    assert wait_for(lambda: alive(other.pid))
    write_pidfile(env, "svc", "%d\n" % other.pid)
    status = env.run("status", "svc", check=1)
    assert "does not match proctitle_re" in status.stdout
    write_pidfile(env, "svc", "%d\n" % other.pid)
    env.run("stop", "svc", check=0)
    env.run("restart", "svc", check=0)
    time.sleep(0.2)
    assert alive(other.pid) and other.poll() is None
    assert env.pid_of("svc") != other.pid


def test_pidfile_older_than_its_process_is_a_reused_pid(env):
    env.write(env.program("svc", env.service(), scan_for_process="off"))
    hand = by_hand(env)
    path = write_pidfile(env, "svc", "%d\n" % hand.pid)
    hour_ago = time.time() - 3600
    os.utime(path, (hour_ago, hour_ago))
    status = env.run("status", "svc", check=1)
    assert "started after the pidfile was written" in status.stdout
    write_pidfile(env, "svc", "%d\n" % hand.pid)
    os.utime(path, (hour_ago, hour_ago))
    env.run("stop", "svc", check=0)
    time.sleep(0.2)
    assert alive(hand.pid)


def test_pidfile_of_a_zombie_means_not_running(env):
    env.write(env.program("svc", env.service(), scan_for_process="no"))
    hand = by_hand(env)
    write_pidfile(env, "svc", "%d\n" % hand.pid)
    assert "running, pid %d" % hand.pid in env.run("status", "svc", check=0).stdout
    os.kill(hand.pid, signal.SIGKILL)
    assert wait_for(lambda: not alive(hand.pid))  # a zombie: we have not reaped it
    write_pidfile(env, "svc", "%d\n" % hand.pid)
    status = env.run("status", "svc", check=1)
    assert "zombie" in status.stdout
    env.run("stop", "svc", check=0)


def hold_lock(env, name):
    """Take program ``name``'s lock as another usrsvc would; returns the fd."""
    import fcntl

    from usrsvcmod.state import RuntimeState

    state = RuntimeState(env.cfg, environ=env.env)
    state.ensure()
    fd = os.open(os.path.join(state.path, "%s.lock" % name), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_usrsvc_itself_is_never_taken_for_a_program(env):
    env.write(env.program("svc", "/bin/sleep 1000 %s" % env.token,
                          proctitle_re="usrsvc --lock-timeout 20 start other$")
              + env.program("other", env.service()))
    fd = hold_lock(env, "other")
    try:
        waiting = env.popen("--lock-timeout", "20", "start", "other")
        assert wait_for(lambda: "--lock-timeout" in open("/proc/%d/cmdline" % waiting.pid).read())
        status = env.run("status", "svc", check=1)  # the scan skips the waiting usrsvc
        write_pidfile(env, "svc", "%d\n" % waiting.pid)
        status = env.run("status", "svc", check=1)
        assert "usrsvc itself" in status.stdout
        env.run("stop", "svc", check=0)
        assert waiting.poll() is None
    finally:
        os.close(fd)
    waiting.communicate(timeout=30)
    assert waiting.returncode == 0


GARBAGE = [b"", b"\n", b"abc\n", b"-1\n", b"0\n", b"99999999999\n", b"123 456\n", b"1\n2\n",
           b"\xff\xfe\x00\x01binary", b"1" * 5000]


@pytest.mark.parametrize("data", GARBAGE, ids=["empty", "newline", "text", "negative", "zero",
                                               "huge", "two-numbers", "two-lines", "binary", "long"])
def test_garbage_pidfile_means_not_running(env, data):
    env.write(env.program("svc", env.service()))
    write_pidfile(env, "svc", data)
    env.run("status", "svc", check=1)
    env.run("stop", "svc", check=0)
    write_pidfile(env, "svc", data)
    env.run("start", "svc", check=0)
    pid = env.pid_of("svc")
    assert pid and alive(pid) and pids_with(env.token) == [pid]
    with open(pidfile_path(env, "svc"), "rb") as handle:
        assert handle.read() == b"%d\n" % pid


def test_pidfile_that_is_a_directory(env):
    env.write(env.program("svc", env.service()))
    os.makedirs(pidfile_path(env, "svc"))
    result = env.run("status", "svc", check=1)
    assert "not a regular file" in result.stdout + result.stderr
    env.run("start", "svc", check=0)  # a directory is never replaced...
    assert os.path.isdir(pidfile_path(env, "svc"))
    assert "pidfile" in env.run("start", "svc").stdout  # ...and the note says why


def test_pidfile_symlink_is_never_written_through(env):
    victim = os.path.join(env.home, "victim")
    with open(victim, "w") as handle:
        handle.write("precious\n")
    env.write(env.program("svc", env.service()))
    link = pidfile_path(env, "svc")
    os.makedirs(os.path.dirname(link))
    os.symlink(victim, link)
    env.run("status", "svc", check=1)
    env.run("start", "svc", check=0)
    assert open(victim).read() == "precious\n"
    assert not os.path.islink(link) and env.pid_of("svc") in pids_with(env.token)
    env.run("stop", "svc", check=0)
    os.symlink(victim, link)
    env.run("stop", "svc", check=0)
    assert open(victim).read() == "precious\n"


def test_symlink_to_a_live_pid_is_not_believed(env):
    env.write(env.program("svc", env.service(), scan_for_process="no"))
    hand = by_hand(env)
    target = os.path.join(env.home, "elsewhere.pid")
    with open(target, "w") as handle:
        handle.write("%d\n" % hand.pid)
    os.makedirs(os.path.join(env.home, "run"))
    os.symlink(target, pidfile_path(env, "svc"))
    env.run("status", "svc", check=1)
    env.run("stop", "svc", check=0)
    assert alive(hand.pid)


def test_retitled_service_matches_an_anchored_proctitle_re(env):
    # setproctitle pads the old argv area with NULs (as redis and nginx do)
    title = "mysvc worker %s" % env.token
    env.write(env.program("titled", env.service("--title", title.replace(" ", "_")),
                          proctitle_re="^%s$" % title.replace(" ", "_")))
    env.run("start", "titled", check=0)
    pid = env.pid_of("titled")
    assert "running, pid %d" % pid in env.run("status", "titled", check=0).stdout
    os.unlink(pidfile_path(env, "titled"))
    assert "running, pid %d" % pid in env.run("status", "titled", check=0).stdout  # by scan
    env.run("stop", "titled", check=0)
    assert not alive(pid)


def test_status_all_reads_many_programs_at_once(env):
    names = ["m%02d" % i for i in range(20)]
    env.write("".join(env.program(n, env.service("--tag", n)) for n in names[:2])
              + "".join(env.program(n, "/bin/true %s %s" % (env.token, n)) for n in names[2:]))
    env.run("start", "m00", check=0)
    hand = by_hand(env, "--tag", "m01")
    result = env.run("status", "all", check=1)
    rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[1:]
            if line.split() and line.split()[0] in names}
    assert rows["m00"] == "RUNNING" and rows["m01"] == "RUNNING"
    assert all(rows[n] == "STOPPED" for n in names[2:])
    assert env.pid_of("m01") is None  # found by scan; status writes nothing
    assert "already running" in env.run("start", "m01", check=0).stdout
    assert env.pid_of("m01") == hand.pid  # start adopted it


class _CountingTable:
    """Wraps identity.ProcessTable to count full scans of /proc (nothing is faked)."""

    def __init__(self, monkeypatch):
        from usrsvcmod.proc import identity

        self.built = 0
        real = identity.ProcessTable

        def counting(*args, **kwargs):
            self.built += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(identity, "ProcessTable", counting)


def _cli(env, monkeypatch, *argv):
    import io

    from usrsvcmod import cli

    for key in ("HOME", "XDG_RUNTIME_DIR"):
        monkeypatch.setenv(key, env.env[key])
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_status_with_a_valid_pidfile_scans_nothing(env, monkeypatch):
    env.write(env.program("svc", env.service()))
    env.run("start", "svc", check=0)
    scans = _CountingTable(monkeypatch)
    code, out, _ = _cli(env, monkeypatch, "status", "svc")
    assert code == 0 and "pid %d" % env.pid_of("svc") in out
    assert scans.built == 0


def test_status_all_scans_once_for_every_program(env, monkeypatch):
    names = ["p%03d" % i for i in range(200)]
    env.write("".join(env.program(n, "/bin/sleep 1000 %s %s" % (env.token, n)) for n in names)
              + env.program("live", env.service()))
    env.run("start", "live", check=0)
    os.unlink(pidfile_path(env, "live"))  # found again by the scan
    scans = _CountingTable(monkeypatch)
    code, out, _ = _cli(env, monkeypatch, "status", "all")
    assert code == 1
    assert scans.built == 1
    assert sum(" STOPPED " in line for line in out.splitlines()) == 200
    assert any(line.startswith("live ") and " RUNNING " in line for line in out.splitlines())
    assert env.pid_of("live") is None  # status never rewrites a pidfile
