"""Launch records: the file format, damaged files, and which settings changed."""

import os

import pytest

from usrsvcmod.config.model import Monitoring, Program
from usrsvcmod.proc import record
from usrsvcmod.proc.settle import _suggest
from usrsvcmod.proc.procfs import ProcInfo


def program(**changes):
    values = dict(
        name="web", command="/srv/web --port 80", argv=("/srv/web", "--port", "80"), useshell=False,
        pidfile="/tmp/x.pid", stdout="/tmp/x.log", stderr=None, enabled=True, autopid=True,
        scan_for_process=True, proctitle_re="x", autostart=True, autorestart=True, maxrestarts=0,
        restart_delay=0.0, restart_delay_max=0.0, success_seconds=2.0, term_to_kill_seconds=8.0,
        inherit_env=True, email_alerts=(), directory="/srv", umask=None, stop_signal=15,
        stdout_maxbytes=0, stdout_backups=10, stderr_maxbytes=0, stderr_backups=10,
        kill_descendants=True, env=(("SECRET", "hunter2-very-secret"),),
        monitoring=Monitoring(monitor_after=30.0, rss_limit=0, activityfile=None,
                              activityfile_limit=120.0, rss_scope="process"),
        source="/tmp/usrsvc.cfg", title_suffix="/srv/web --port 80", proctitle_risky=False,
        reload_signal=1, group=None, logger=None,
        type="service", timeout=300.0, requires=())
    values.update(changes)
    return Program(**values)


def info(pid=4242, start=1700000000.25, cmdline=("redis-server", "127.0.0.1:6379")):
    return ProcInfo(pid, 1, 4241, "S", start, os.geteuid(), list(cmdline))


def test_round_trip_keeps_every_field():
    made = record.make(program(), info(), 1700000000.24, sid=4241)
    back = record.LaunchRecord.loads(made.dumps())
    assert (back.pid, back.start_time, back.sid, back.launched_at) == (4242, 1700000000.25, 4241,
                                                                     1700000000.24)
    assert back.keys == made.keys and back.title == "redis-server 127.0.0.1:6379"
    assert back.changed(program()) == []


@pytest.mark.parametrize("edit, keys", [
    ({"command": "/srv/web --port 81", "argv": ("/srv/web", "--port", "81")}, ["command"]),
    ({"command": "/srv/web  --port 80"}, []),  # the same words: no change
    ({"env": (("B", "2"), ("A", "1"))}, ["env"]),
    ({"env": (("SECRET", "other"),)}, ["env"]),
    ({"directory": "/tmp", "umask": 0o22}, ["directory", "umask"]),
    ({"success_seconds": 9.0, "autorestart": False}, []),  # not a launch setting
])
def test_changed_names_the_launch_settings_edited(edit, keys):
    made = record.make(program(), info(), None, sid=1)
    assert made.changed(program(**edit)) == keys


def test_env_order_is_no_change():
    made = record.make(program(env=(("A", "1"), ("B", "2"))), info(), None, sid=1)
    assert made.changed(program(env=(("B", "2"), ("A", "1")))) == []


def test_environment_values_are_never_written():
    data = record.make(program(), info(), None, sid=1).dumps()
    assert b"hunter2" not in data and b"SECRET" not in data


@pytest.mark.parametrize("data", [
    b"", b"garbage", b"usrsvc-launch 1\npid x\n", b"usrsvc-launch 2\npid 5\n",
    b"usrsvc-launch 1\npid 5\nstart_time 1.0\n",  # incomplete
    b"usrsvc-launch 1\npid -3\nstart_time 1.0\nsid 1\nlaunched_at 1.0\nat 1.0\n",
    b"\xff\xfe\x00" * 30,
])
def test_damaged_records_mean_no_record(data):
    assert record.LaunchRecord.loads(data) is None


def test_files_others_could_write_or_symlinks_are_ignored(tmp_path):
    path = str(tmp_path / "web.launch")
    made = record.make(program(), info(), None, sid=1)
    record.write_file(path, made)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert record.read_file(path).pid == 4242
    os.chmod(path, 0o622)
    assert record.read_file(path) is None
    os.chmod(path, 0o600)
    link = str(tmp_path / "link.launch")
    os.symlink(path, link)
    assert record.read_file(link) is None
    assert [n for n in os.listdir(str(tmp_path)) if n.endswith(".tmp")] == []


def test_suggested_proctitle_re_pastes_into_a_config_as_is():
    import re

    text = _suggest(info(cmdline=("gunicorn:", "master", "[app:app]")), True).strip()
    assert text == r"proctitle_re = ^gunicorn: master \[app:app\]$"
    assert re.search(text.split(" = ", 1)[1], "gunicorn: master [app:app]")


@pytest.mark.parametrize("title", [
    "svc: a,b #1 \"q\" 'x' (y) $HOME \\d ~/x [z] {n} a+b? |c| ^e$",
    "redis-server 127.0.0.1:6379",
    "worker\ttab and a\x1bescape",
    "long " + "x" * 400,
])
def test_suggested_proctitle_re_survives_the_config_loader(tmp_path, title):
    """Pasted after ``proctitle_re = `` in a real config file, the suggestion
    loads unchanged (a ``#`` would start a comment) and matches the title."""
    import re

    from usrsvcmod.config import load

    line = _suggest(info(cmdline=title.split(" ")), True).strip()
    assert "#" not in line and "\n" not in line
    cfg = tmp_path / "usrsvc.cfg"
    cfg.write_text("[Program:web]\ncommand = /bin/sleep 1000\npidfile = %s/x.pid\nstdout = /dev/null\n%s\n"
                   % (tmp_path, line))
    os.chmod(str(cfg), 0o644)
    loaded = load(str(cfg)).programs["web"].proctitle_re
    assert loaded == line.split(" = ", 1)[1]
    assert re.search(loaded, title)
    assert not re.search(loaded, "x" + title[1:])


def test_retitled_note_quotes_the_title_as_it_is():
    from usrsvcmod.proc.settle import _retitled

    said = _retitled(program(), info(cmdline=("svc:", "C:\\dir", "it's")))
    assert "'svc: C:\\dir it's'" in said


def _recorded_with(monkeypatch, glance_uid, read_uids):
    """identity._recorded of a record of pid 4242 at tick 100, /proc faked: the stat
    file owned by ``glance_uid``, the status file saying ``read_uids``."""
    from usrsvcmod.proc import identity, procfs

    read = []
    monkeypatch.setattr(procfs, "glance", lambda pid: ProcInfo(
        pid, 1, 4241, "S", 1700000000.25, glance_uid, None, ticks=100, threads=1))
    monkeypatch.setattr(procfs, "read", lambda pid: read.append(pid) or ProcInfo(
        pid, 1, 4241, "S", 1700000000.25, read_uids[1], ["redis-server"], read_uids, 100))
    monkeypatch.setattr(procfs, "read_cmdline", lambda pid: ["redis-server"])
    made = record.LaunchRecord(4242, 1700000000.25, 4241, 1700000000.25, 1700000000.5, {},
                               "redis-server", 100, 100, 101)
    return identity._recorded(program(), made), read


def test_a_recorded_process_is_confirmed_from_its_stat_file_alone(monkeypatch):
    me = os.geteuid()
    found, read = _recorded_with(monkeypatch, me, (me, me, me))
    assert found.pid == 4242 and found.cmdline == ["redis-server"] and read == []


def test_an_undumpable_recorded_process_is_judged_by_its_status_file(monkeypatch):
    """Its /proc files are root's (ssh-agent makes itself so): its real, effective
    and saved uids decide, as for any process."""
    me, other = os.geteuid(), os.geteuid() + 1
    stranger = me + 1 if me == 0 else 0
    found, read = _recorded_with(monkeypatch, stranger, (me, me, me))
    assert found is not None and found.pid == 4242 and read == [4242]
    found, read = _recorded_with(monkeypatch, stranger, (other, me, me))
    assert found is None and read == [4242]
