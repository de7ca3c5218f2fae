"""Pidfiles: garbage means "not running", writes are atomic and never follow a symlink."""

import os
import threading

import pytest

from usrsvcmod.proc import pidfile

GARBAGE = [
    ("empty", b""),
    ("blank", b"   \n\n"),
    ("text", b"hello\n"),
    ("pid-and-text", b"123abc\n"),
    ("negative", b"-5\n"),
    ("zero", b"0\n"),
    ("huge", b"99999999999999999999999\n"),
    ("over-pid-max", b"4194305\n"),
    ("several-numbers", b"123 456\n"),
    ("several-lines", b"123\n456\n"),
    ("float", b"12.5\n"),
    ("hex", b"0x1f\n"),
    ("binary", bytes(range(256))),
    ("nul", b"\0\0\0\0"),
    ("utf8-digits", "١٢٣".encode()),  # Arabic-Indic digits: isdigit() but not a pid
    ("long-line", b"1" * 100000),
]


@pytest.mark.parametrize("name,data", GARBAGE, ids=[g[0] for g in GARBAGE])
def test_garbage_pidfile_reads_as_not_running(tmp_path, name, data):
    path = tmp_path / "p.pid"
    path.write_bytes(data)
    pid, mtime, reason = pidfile.read(str(path))
    assert pid is None and mtime is None
    assert reason and str(path) in reason


def test_missing_pidfile(tmp_path):
    assert pidfile.read(str(tmp_path / "none.pid")) == (None, None, "no pidfile")


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_pidfile_that_is_not_a_regular_file(tmp_path, kind):
    path = str(tmp_path / "p.pid")
    if kind == "directory":
        os.mkdir(path)
    else:
        os.mkfifo(path)  # must not block the reader
    pid, _, reason = pidfile.read(path)
    assert pid is None and "not a regular file" in reason


def test_valid_pidfile(tmp_path):
    path = tmp_path / "p.pid"
    path.write_bytes(b" 4242 \n")
    pid, mtime, reason = pidfile.read(str(path))
    assert (pid, reason) == (4242, None)
    assert mtime == os.stat(path).st_mtime


def test_pidfile_symlink_is_not_read_through(tmp_path):
    target = tmp_path / "target"
    target.write_text("%d\n" % os.getpid())
    link = tmp_path / "p.pid"
    link.symlink_to(target)
    pid, _, reason = pidfile.read(str(link))
    assert pid is None and reason


def test_write_is_atomic_and_leaves_no_temp(tmp_path):
    path = str(tmp_path / "sub" / "p.pid")
    pidfile.write(path, 1234)
    with open(path) as handle:
        assert handle.read() == "1234\n"
    pidfile.write(path, 5678)
    assert pidfile.read(path)[0] == 5678
    assert os.listdir(tmp_path / "sub") == ["p.pid"]


def test_write_never_goes_through_a_symlink(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "p.pid"
    link.symlink_to(victim)
    pidfile.write(str(link), 1234)
    assert victim.read_text() == "precious\n"
    assert not link.is_symlink()
    assert link.read_text() == "1234\n"


def test_write_does_not_follow_a_planted_temp_symlink(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    temp = tmp_path / (".p.pid.%d.tmp" % os.getpid())  # the name a predictable writer would use
    temp.symlink_to(victim)
    pidfile.write(str(tmp_path / "p.pid"), 1234)  # temp names are unpredictable now
    assert victim.read_text() == "precious\n"
    assert temp.is_symlink() and (tmp_path / "p.pid").read_text() == "1234\n"
    assert not [p for p in os.listdir(str(tmp_path)) if p.endswith(".tmp") and p != temp.name]


def test_remove_a_symlink_removes_the_link_only(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("1234\n")
    link = tmp_path / "p.pid"
    link.symlink_to(victim)
    pidfile.remove(str(link))
    assert not os.path.lexists(link)
    assert victim.read_text() == "1234\n"


def test_remove_with_expected_pid_keeps_a_newer_pid(tmp_path):
    path = str(tmp_path / "p.pid")
    pidfile.write(path, 111)
    assert pidfile.remove(path, expected_pid=222) is False
    assert pidfile.read(path)[0] == 111
    assert pidfile.remove(path, expected_pid=111) is True
    assert not os.path.exists(path)
    assert pidfile.remove(path) is False


def test_concurrent_readers_never_see_a_partial_file(tmp_path):
    path = str(tmp_path / "p.pid")
    pidfile.write(path, 100000)
    seen, stop = set(), threading.Event()

    def reader():
        while not stop.is_set():
            seen.add(pidfile.read(path)[0])

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for pid in range(100001, 100400):
            pidfile.write(path, pid)
    finally:
        stop.set()
        thread.join()
    assert None not in seen
