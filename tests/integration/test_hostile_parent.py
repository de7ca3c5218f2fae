"""A parent that ignores SIGCHLD or blocks signals: both commands still work and say so.

bash's ``trap '' CHLD`` leaves SIGCHLD ignored across exec (dash's does not, so
bash is used); the kernel then reaps our children at once and any wait for
them fails. A blocked signal mask is inherited across exec too.
"""

import os
import shutil
import signal
import subprocess

import pytest

from conftest import _command, alive, wait_for
from daemon_support import daemon  # noqa: F401 (fixture)

BASH = shutil.which("bash")
needs_bash = pytest.mark.skipif(BASH is None, reason="bash is not installed")


def _sig_bits(pid, field):
    with open("/proc/%d/status" % pid) as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1], 16)
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def _has(bits, sig):
    return bool(bits & (1 << (sig - 1)))


def _ignoring_chld(env, command, *args):
    """Run an installed command from a bash that ignores SIGCHLD (exec: same process)."""
    line = "trap '' CHLD; exec \"$0\" \"$@\""
    return subprocess.run([BASH, "-c", line, _command(command)] + list(args), env=env.env,
                          cwd=env.home, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60)


@needs_bash
def test_the_trap_really_ignores_sigchld_across_exec(env):
    """The premise of the tests below: without it they could not fail."""
    proc = subprocess.run([BASH, "-c", "trap '' CHLD; exec cat /proc/self/status"],
                          capture_output=True, text=True, timeout=10)
    line = [entry for entry in proc.stdout.splitlines() if entry.startswith("SigIgn:")][0]
    assert _has(int(line.split()[1], 16), signal.SIGCHLD)


@needs_bash
def test_usrsvc_start_under_a_parent_ignoring_sigchld(env):
    env.write(env.program("x", env.service("--tag", "x")))
    proc = _ignoring_chld(env, "usrsvc", "start", "x")
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "x: started" in proc.stdout
    pid = env.track(env.pid_of("x"))
    assert pid and alive(pid)
    # the service itself gets SIGCHLD at its default, as every other signal
    assert not _has(_sig_bits(pid, "SigIgn"), signal.SIGCHLD)
    proc = _ignoring_chld(env, "usrsvc", "stop", "x")
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    assert wait_for(lambda: not alive(pid), timeout=10)


@needs_bash
def test_usrsvcd_start_under_a_parent_ignoring_sigchld(env, daemon):
    env.write("[Main]\nreconcile_interval = 0.5\n" + env.program("x", env.service("--tag", "x")))
    proc = _ignoring_chld(env, "usrsvcd", "start")
    daemon_pid = daemon.daemon_pidfile_pid()  # killed at teardown whatever happens below
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    assert "usrsvcd started, pid" in proc.stdout
    assert daemon_pid and alive(daemon_pid)
    assert not _has(_sig_bits(daemon_pid, "SigIgn"), signal.SIGCHLD)
    assert wait_for(lambda: env.pid_of("x") and alive(env.pid_of("x")), timeout=15)
    env.track(env.pid_of("x"))
    stopped = daemon.cmd("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert not alive(daemon_pid)


def _block_signals():
    signal.pthread_sigmask(signal.SIG_BLOCK, (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1,
                                              signal.SIGCHLD))


def test_usrsvcd_with_blocked_signals_still_hears_stop_and_reread(env, daemon):
    env.write("[Main]\nreconcile_interval = 0.5\n" + env.program("x", env.service("--tag", "x")))
    proc = subprocess.Popen([_command("usrsvcd"), "start", "--foreground"], env=env.env,
                            cwd=env.home, stdin=subprocess.DEVNULL, stdout=open(daemon.log, "a"),
                            stderr=subprocess.STDOUT, preexec_fn=_block_signals)
    daemon.procs.append(proc)
    daemon.wait_logged("usrsvcd started: pid %d" % proc.pid)
    assert not _has(_sig_bits(proc.pid, "SigBlk"), signal.SIGTERM)
    assert wait_for(lambda: env.pid_of("x") and alive(env.pid_of("x")), timeout=15)
    env.track(env.pid_of("x"))
    env.write("[Main]\nreconcile_interval = 0.5\n" + env.program("x", env.service("--tag", "x"))
              + env.program("y", env.service("--tag", "y")))
    reread = daemon.cmd("reread")
    assert reread.returncode == 0, (reread.stdout, reread.stderr)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert daemon.logged("signal received")
