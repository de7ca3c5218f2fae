"""usrsvcd's snapshot writer (a fork, from WRITER_PROGRAMS programs up): what the
child sees, keeps open and writes, and how the loop hears that it is done."""

import json
import os
import select
import signal
import types

import pytest

from usrsvcmod.daemon import core
from usrsvcmod.proc.watch import HAVE_PIDFD, ExitWatcher

pytestmark = pytest.mark.skipif(not HAVE_PIDFD, reason="the writer is used only with pidfds")


class Program:
    """A program whose view() is taken in the writer: it reports the writer's state."""

    def view(self):
        return {"fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
                "sigterm_default": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
                "title": open("/proc/self/cmdline", "rb").read().split(b"\0")[0].decode()}


class State:
    def __init__(self, path):
        self.path = str(path)
        self.fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)

    def dirfd(self):
        return self.fd


class Log:
    def __init__(self):
        self.errors = []

    def error(self, name, event, text):
        self.errors.append((event, text))


@pytest.fixture
def daemon(tmp_path):
    state = State(tmp_path)
    fake = types.SimpleNamespace(
        state=state, log=Log(), watcher=ExitWatcher(), writer=None, write_again=False,
        config=types.SimpleNamespace(files=["/x/usrsvc.cfg"]), programs={"a": Program()},
        published=0, api=None)
    fake.snapshot = lambda pid=None: core.Daemon.snapshot(fake, pid)
    fake._writer_done = lambda revents: core.Daemon._writer_done(fake, revents)
    fake._publish_now = lambda: pytest.fail("nothing was left to write")
    lock = os.open(str(tmp_path / "held.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fake.lock = lock
    yield fake
    os.close(lock)
    os.close(state.fd)
    fake.watcher.close()


def run_writer(daemon):
    old = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        assert core.Daemon._write_in_child(daemon) is True
    finally:
        signal.signal(signal.SIGTERM, old)
    pid, fd = daemon.writer
    for _ in range(100):  # the pidfd becomes readable when the writer exits
        daemon.watcher.wait(0.1)
        if daemon.watcher.io_ready:
            break
    [(callback, revents)] = daemon.watcher.io_ready
    daemon.watcher.io_ready = []
    callback(revents)
    assert daemon.writer is None
    with pytest.raises(OSError):
        os.fstat(fd)  # the loop closed the writer's pidfd
    return pid


def test_the_writer_sees_the_programs_names_the_daemon_and_keeps_nothing_open(daemon, tmp_path):
    pid = run_writer(daemon)
    assert pid != os.getpid()
    status = json.loads((tmp_path / "usrsvcd.status").read_text())
    assert status["pid"] == os.getpid()  # the daemon's pid, not the writer's
    seen = status["programs"]["a"]
    # 0-2, the state directory, and listdir's own descriptor: not the lock, pidfds, sockets
    assert daemon.lock not in seen["fds"]
    assert len(set(seen["fds"]) - {0, 1, 2, daemon.state.fd}) == 1
    assert seen["sigterm_default"] is True
    # never the daemon's exact title (find_daemon trusts that alone)
    assert seen["title"] == "usrsvcd snapshot writer (of pid %d)" % os.getpid()
    assert (tmp_path / "usrsvcd.view").exists()
    assert daemon.log.errors == []
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped


def test_the_api_addresses_are_in_the_written_status(daemon, tmp_path):
    daemon.api = types.SimpleNamespace(describe=lambda: {"socket": "/s", "http": None})
    run_writer(daemon)
    status = json.loads((tmp_path / "usrsvcd.status").read_text())
    assert status["api"] == {"socket": "/s", "http": None}
    assert status["files"] == ["/x/usrsvc.cfg"] and list(status["programs"]) == ["a"]


def test_a_writer_that_cannot_write_is_logged_by_the_loop(daemon, tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    daemon.state.fd, old = os.open(str(gone), os.O_RDONLY | os.O_DIRECTORY), daemon.state.fd
    os.rmdir(gone)  # files can no longer be created in it: ENOENT
    try:
        run_writer(daemon)
    finally:
        os.close(daemon.state.fd)
        daemon.state.fd = old
    [(event, text)] = daemon.log.errors
    assert event == "state_error" and "usrsvcd.status" in text


def test_what_changed_while_it_wrote_is_written_after_it(daemon):
    again = []
    daemon._publish_now = lambda: again.append(1)
    daemon.write_again = True
    run_writer(daemon)
    assert again == [1] and daemon.write_again is False


def test_on_the_way_out_a_stuck_writer_is_killed_after_the_wait(daemon, monkeypatch):
    """A writer that never ends (a hung filesystem) cannot keep usrsvcd from exiting."""
    import time

    monkeypatch.setattr(Program, "view", lambda self: time.sleep(3600))
    assert core.Daemon._write_in_child(daemon) is True
    pid, _ = daemon.writer
    started = time.monotonic()
    core.Daemon.wait_writer(daemon, timeout=0.5)
    assert time.monotonic() - started < 30
    assert daemon.writer is None
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    [(event, text)] = daemon.log.errors  # killed by SIGKILL: said, not hidden
    assert event == "state_error" and "signal 9" in text
