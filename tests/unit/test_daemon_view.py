"""What usrsvc status adds from usrsvcd's snapshot (actions.with_daemon), without processes."""

import os

from usrsvcmod.actions import Result, with_daemon
from usrsvcmod.proc.procfs import ProcInfo

from test_record import program


def entry(**changes):
    values = {"state": "backoff", "restarts": 2, "last_exit": {"code": None, "signal": 15},
              "reason": "killed by signal 15 (SIGTERM)", "next_retry": 1796076881.0, "pid": None}
    values.update(changes)
    return values


def test_a_planned_start_is_shown_while_the_program_is_down():
    result = Result(program(), "stopped", None, "not running")
    with_daemon(result, entry())
    assert result.next_retry == 1796076881.0
    assert result.state == "backoff" and result.restarts == 2


def test_no_planned_start_is_shown_for_a_program_that_runs():
    """usrsvc restart while usrsvcd waited to restart it: status shows the new
    process, not 'next start at' from usrsvcd's snapshot of a moment ago."""
    me = ProcInfo(os.getpid(), os.getppid(), os.getsid(0), "S", 1700000000.0, os.geteuid(),
                  ["python3", "-m", "http.server"])
    result = Result(program(), "running", me, "running")
    with_daemon(result, entry())
    assert result.next_retry is None
    assert result.state == "running" and result.restarts == 2


class _Store:
    """The state directory's open_own() over one file (usrsvcd.view)."""

    def __init__(self, path):
        self.path = path

    def open_own(self, name):
        try:
            fd = os.open(os.path.join(self.path, name), os.O_RDONLY)
        except OSError:
            return None
        return fd, os.fstat(fd).st_size


def _daemon_alive(monkeypatch, alive=True):
    from usrsvcmod import actions

    def read(pid):
        if not alive:
            return None
        return ProcInfo(pid, 1, pid, "S", 1700000000.0, os.geteuid(), ["usrsvcd: usrsvc.cfg"])

    monkeypatch.setattr(actions.procfs, "read", read)


def _snapshot(count):
    return {"pid": 4321, "programs": {"p%d" % i: entry(restarts=i) for i in range(count)}}


def test_the_view_is_indexed_and_each_entry_reads_back_whole_or_one_at_a_time(tmp_path,
                                                                              monkeypatch):
    from usrsvcmod.actions import daemon_view
    from usrsvcmod.daemon.statefiles import view

    _daemon_alive(monkeypatch)
    (tmp_path / "usrsvcd.view").write_bytes(view(_snapshot(50)))
    for whole in (True, False):
        got = daemon_view(_Store(str(tmp_path)), whole=whole)
        try:
            assert [got.get("p%d" % i)["restarts"] for i in range(50)] == list(range(50))
            assert got.get("nothing") is None
        finally:
            got.close()


def test_a_view_of_a_dead_usrsvcd_or_a_damaged_view_is_none(tmp_path, monkeypatch):
    from usrsvcmod.actions import daemon_view
    from usrsvcmod.daemon.statefiles import view

    good = view(_snapshot(3))
    _daemon_alive(monkeypatch, alive=False)
    (tmp_path / "usrsvcd.view").write_bytes(good)
    assert daemon_view(_Store(str(tmp_path))) is None
    _daemon_alive(monkeypatch)
    for damaged in (b"", good[:4], good[:20], (1 << 40).to_bytes(8, "little") + good[8:],
                    b"\x00" * 8 + good[8:], len(b"junk").to_bytes(8, "little") + b"junk"):
        (tmp_path / "usrsvcd.view").write_bytes(damaged)
        for whole in (True, False):
            assert daemon_view(_Store(str(tmp_path)), whole=whole) is None, damaged[:30]
    # a truncated tail: the entries cut off read as unknown, never as garbage
    (tmp_path / "usrsvcd.view").write_bytes(good[:-5])
    got = daemon_view(_Store(str(tmp_path)))
    try:
        assert got.get("p0")["restarts"] == 0 and got.get("p2") is None
    finally:
        got.close()
