"""Launches through the zygote (proc/zygote.py): a small helper process forks the
first child of each launch, so a big caller (usrsvcd with thousands of pidfds, a
parallel start holding a lock per program) does not pay for copying itself."""

import os
import signal

import pytest

from conftest import alive, wait_for
from daemon_support import daemon, new_pid  # noqa: F401 (fixture)

from usrsvcmod.config import load
from usrsvcmod.proc import procfs, spawn, zygote


@pytest.fixture
def helper():
    made = zygote.start()
    assert made is not None
    yield made
    zygote.stop()
    assert zygote.current() is None


def _program(env, name="svc"):
    env.write(env.program(name, env.service("--tag", name)))
    return load(env.cfg).programs[name]


def test_a_launch_through_the_zygote_never_forks_the_caller(env, helper, monkeypatch):
    program = _program(env)

    def no_fork():
        raise AssertionError("the caller forked although the zygote was there")

    monkeypatch.setattr(os, "fork", no_fork)
    launch = spawn.launch(program)
    assert launch.middle is None  # the zygote's child, reaped by the zygote
    info = procfs.read(launch.pid)
    assert info is not None and info.sid == launch.pid  # a session of its own
    assert wait_for(lambda: procfs.read(launch.pid).ppid != helper.pid)  # orphaned at once
    assert env.token in " ".join(info.cmdline)


def test_an_exec_failure_comes_back_through_the_zygote(env, helper):
    env.write(env.program("bad", "/nonexistent/%s/cmd" % env.token))
    program = load(env.cfg).programs["bad"]
    with pytest.raises(spawn.LaunchError) as caught:
        spawn.launch(program)
    assert "/nonexistent/" in str(caught.value)


def test_a_dead_zygote_means_a_fork_of_our_own(env, helper):
    program = _program(env)
    os.kill(helper.pid, signal.SIGKILL)
    assert wait_for(lambda: procfs.read(helper.pid) is None
                    or procfs.read(helper.pid).zombie)
    launch = spawn.launch(program)  # the send fails: the caller forks itself
    assert alive(launch.pid)
    assert zygote.current() is None
    if launch.middle:
        spawn.reap([launch.middle], block=True)


def test_start_all_parallel_and_usrsvcd_launch_through_the_zygote(env, daemon):
    env.env["USRSVC_ZYGOTE"] = "1"
    env.write("[Main]\nreconcile_interval = 0.5\n"
              + "".join(env.program("p%d" % i, env.service("--tag", "p%d" % i))
                        for i in range(3)))
    result = env.run("start", "all", "-P")
    assert result.returncode == 0, result.stderr
    pids = [env.pid_of("p%d" % i) for i in range(3)]
    for pid in pids:
        info = procfs.read(pid)
        assert info.ppid == 1 and info.sid == pid
    proc = daemon.start()
    os.kill(pids[0], signal.SIGKILL)
    again = new_pid(env, "p0", pids[0], timeout=15)
    assert again and procfs.read(again).sid == again, daemon.text()
    helpers = [p for p in procfs.children(proc.pid)
               if "usrsvcmod.proc import zygote" in procfs.read(p).cmdline_text]
    assert len(helpers) == 1, daemon.text()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert wait_for(lambda: procfs.read(helpers[0]) is None, timeout=10)
    assert alive(pids[1]) and alive(again)  # the services outlive usrsvcd, as always
