"""The exit status of real processes that are NOT our children, read from their pidfds.

Each test double-forks: a launcher (our child) forks the service and exits at
once, so init (or the nearest subreaper) inherits and reaps the service. The
service is ``/bin/sh -c SCRIPT TOKEN`` (the token is its $0, so it is in its
argv) and blocks reading its stdin until the test has opened its pidfd. Init
may reap lazily (1-2 s here), hence the generous deadline.
"""

import os
import select
import signal
import subprocess
import sys
import time

import pytest

from conftest import wait_for
from usrsvcmod.proc import exitinfo

REAP_DEADLINE = 15.0

LAUNCHER = r"""
import os, resource, sys
core, argv = sys.argv[1] == "core", sys.argv[2:]
execd, exec_w = os.pipe2(os.O_CLOEXEC)  # EOF once the service has exec'd
pid = os.fork()
if pid == 0:
    os.close(execd)
    os.setsid()
    limit = resource.getrlimit(resource.RLIMIT_CORE)[1] if core else 0
    resource.setrlimit(resource.RLIMIT_CORE, (limit, limit))
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.execv(argv[0], argv)
os.close(exec_w)
os.read(execd, 1)
print(pid, flush=True)
os._exit(0)
"""


@pytest.fixture(autouse=True)
def _needs_support():
    if not exitinfo.supported():
        pytest.skip("this kernel (%s) keeps no exit status on pidfds: PIDFD_INFO_EXIT needs "
                    "Linux 6.15+" % os.uname().release)


class Service:
    """A double-forked /bin/sh: its pid, our pidfd on it, the pipe to its stdin."""

    def __init__(self, pid, fd, stdin):
        self.pid, self.fd, self.stdin = pid, fd, stdin

    def go(self):
        """Let the script run past its ``read``."""
        self.stdin.write("go\n")
        self.stdin.close()

    def wait_exit(self, timeout=10):
        """Until the process has exited (zombie or reaped): its pidfd is readable."""
        ready, _, _ = select.select([self.fd], [], [], timeout)
        assert ready, "pid %d did not exit" % self.pid
        return time.time()

    def close(self):
        if self.fd is not None:
            try:
                signal.pidfd_send_signal(self.fd, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.close(self.fd)
            self.fd = None
        if not self.stdin.closed:
            self.stdin.close()


@pytest.fixture
def launch(token, tmp_path):
    made = []

    def start(script, core=False):
        launcher = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, "core" if core else "nocore", "/bin/sh", "-c", script,
             token],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=str(tmp_path), text=True)
        try:
            pid = int(launcher.stdout.readline())
            assert launcher.wait(timeout=10) == 0
        finally:
            if launcher.poll() is None:
                launcher.kill()
                launcher.wait()
            launcher.stdout.close()
        fd = os.pidfd_open(pid)
        service = Service(pid, fd, launcher.stdin)
        made.append(service)
        # the pidfd is on our service (not a recycled pid), and it is not our child
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            assert token.encode() in handle.read()
        with open("/proc/%d/stat" % pid, "rb") as handle:
            assert int(handle.read().rsplit(b")", 1)[1].split()[1]) != os.getpid()
        return service

    yield start
    for service in made:
        service.close()


def _zombie(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except OSError:
        return False


def _status_after_reap(service):
    exited = service.wait_exit()
    status = wait_for(lambda: exitinfo.read(service.fd), timeout=REAP_DEADLINE, interval=0.02)
    assert status is not None, "no exit status %.1f s after the exit of pid %d" % (
        REAP_DEADLINE, service.pid)
    assert status.at >= exited
    return status


def test_exit_code_of_a_double_forked_process(launch):
    service = launch("read line; exit 42")
    assert exitinfo.read(service.fd) is None  # alive
    service.go()
    service.wait_exit()
    # an unreaped zombie has no exit status yet (checked only while it surely was one)
    before = _zombie(service.pid)
    early = exitinfo.read(service.fd)
    if before and _zombie(service.pid):
        assert early is None
    status = _status_after_reap(service)
    assert (status.code, status.signal, status.core) == (42, None, False)
    assert status.describe() == "exited with status 42"
    assert status.as_json()["code"] == 42
    # it stays readable, and the same, as long as we hold the pidfd
    assert exitinfo.read(service.fd).code == 42


def test_exit_code_zero(launch):
    service = launch("read line; exit 0")
    service.go()
    status = _status_after_reap(service)
    assert (status.code, status.signal, status.core) == (0, None, False)
    assert status.describe() == "exited with status 0"


def test_killed_by_sigkill(launch):
    service = launch("read line; exit 3")
    signal.pidfd_send_signal(service.fd, signal.SIGKILL)
    status = _status_after_reap(service)
    assert (status.code, status.signal, status.core) == (None, 9, False)
    assert status.describe() == "killed by signal 9 (SIGKILL)"
    assert status.as_json() == {"signal": 9, "core": False, "at": round(status.at, 2)}


def test_segfault_without_core(launch):
    service = launch("read line; kill -SEGV $$")
    service.go()
    status = _status_after_reap(service)
    assert (status.code, status.signal, status.core) == (None, 11, False)


def test_segfault_with_core_dump(launch, tmp_path):
    with open("/proc/sys/kernel/core_pattern") as handle:
        pattern = handle.read().strip()
    if pattern.startswith("|") or "/" in pattern:
        pytest.skip("core_pattern %r does not write a core file into the working directory"
                    % pattern)
    service = launch("read line; kill -SEGV $$", core=True)
    with open("/proc/%d/limits" % service.pid) as handle:
        if "Max core file size        0 " in handle.read():
            pytest.skip("core dumps are not allowed here (hard RLIMIT_CORE is 0)")
    service.go()
    status = _status_after_reap(service)
    assert (status.code, status.signal, status.core) == (None, 11, True)
    assert status.describe() == "killed by signal 11 (SIGSEGV, core dumped)"
    assert any(name.startswith("core") for name in os.listdir(str(tmp_path)))
