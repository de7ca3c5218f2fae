"""Running usrsvcd in tests: foreground under our control, killed by pid after."""

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import _command, alive, wait_for


class DaemonRunner:
    def __init__(self, env):
        self.env = env
        self.usrsvcd = _command("usrsvcd")
        self.procs = []
        self.log = os.path.join(env.home, "usrsvcd.out")

    def start(self, *extra, environ=None, ready=None):
        """``usrsvcd start --foreground``; returns the Popen once its log says started.

        ``ready(proc)`` replaces the check when the log goes elsewhere.
        """
        handle = open(self.log, "a")
        proc = subprocess.Popen([self.usrsvcd, "start", "--foreground"] + list(extra),
                                env=environ or self.env.env, cwd=self.env.home,
                                stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT)
        handle.close()
        self.procs.append(proc)
        ready = ready or (lambda p: self.logged("usrsvcd started: pid %d" % p.pid))
        assert wait_for(lambda: ready(proc) or proc.poll() is not None, timeout=15), self.text()
        return proc

    def cmd(self, *args, timeout=60):
        return subprocess.run([self.usrsvcd] + list(args), env=self.env.env, cwd=self.env.home,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)

    def text(self):
        try:
            with open(self.log) as handle:
                return handle.read()
        except OSError:
            return ""

    def logged(self, fragment, count=1):
        return self.text().count(fragment) >= count

    def wait_logged(self, fragment, count=1, timeout=15):
        assert wait_for(lambda: self.logged(fragment, count), timeout=timeout), \
            "%r not logged %d time(s):\n%s" % (fragment, count, self.text())

    def daemon_pidfile_pid(self):
        """The pid in the daemon's pidfile if it is a usrsvcd of this HOME's config."""
        state = os.path.join(self.env.env["XDG_RUNTIME_DIR"], "usrsvc")
        for root, _, files in os.walk(state):
            if "usrsvcd.pid" in files:
                try:
                    with open(os.path.join(root, "usrsvcd.pid")) as handle:
                        pid = int(handle.read())
                    with open("/proc/%d/cmdline" % pid, "rb") as handle:
                        if self.env.cfg.encode() in handle.read():
                            return pid
                except (OSError, ValueError):
                    pass
        return None

    def cleanup(self):
        pids = [p.pid for p in self.procs if p.poll() is None]
        detached = self.daemon_pidfile_pid()
        if detached:
            pids.append(detached)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        wait_for(lambda: not any(alive(pid) for pid in pids), timeout=5)


def new_pid(env, name, old, timeout=15):
    """Wait until the program's pidfile names a live pid other than ``old``."""
    def check():
        pid = env.pid_of(name)
        return pid if pid and pid != old and alive(pid) else None

    return wait_for(check, timeout=timeout)


def same_for(env, name, pid, seconds):
    """True if ``pid`` stays the program's live pid for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if env.pid_of(name) != pid or not alive(pid):
            return False
        time.sleep(0.05)
    return True


PYTHON = sys.executable


@pytest.fixture
def daemon(env):
    runner = DaemonRunner(env)
    yield runner
    runner.cleanup()
