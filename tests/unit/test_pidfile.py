"""Pidfiles: garbage means "not running", writes are atomic and never follow a symlink."""

import os
import threading

import pytest

from usrsvcmod.proc import paths, pidfile

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
    assert pidfile.remove(path, expected_pid=222) is None  # not ours to remove, not a problem
    assert pidfile.read(path)[0] == 111
    assert pidfile.remove(path, expected_pid=111) is None
    assert not os.path.exists(path)
    assert pidfile.remove(path) is None


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


# someone else's files in shared directories (as root: chown stands in for another user) ------
OTHER = 54321  # a uid nobody on the test machine uses


def _need_root():
    if os.geteuid() != 0:
        pytest.skip("planting a file owned by another uid needs root")


def _sticky(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    return shared


@pytest.mark.parametrize("kind", ["file", "directory", "symlink", "fifo"])
def test_remove_leaves_what_another_user_planted_and_says_so(tmp_path, kind):
    _need_root()
    shared = _sticky(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("1234\n")
    path = shared / "p.pid"
    {"file": lambda: path.write_text("1234\n"), "directory": path.mkdir,
     "symlink": lambda: path.symlink_to(victim), "fifo": lambda: os.mkfifo(path)}[kind]()
    os.lchown(path, OTHER, OTHER)
    note = pidfile.remove(str(path), expected_pid=1234)
    assert note and str(path) in note and "uid %d" % OTHER in note
    assert os.path.lexists(path) and victim.read_text() == "1234\n"


@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink"])
def test_remove_never_unlinks_what_it_could_not_read(tmp_path, kind):
    victim = tmp_path / "victim"
    victim.write_text("1234\n")
    path = tmp_path / "p.pid"
    {"directory": path.mkdir, "symlink": lambda: path.symlink_to(victim),
     "fifo": lambda: os.mkfifo(path)}[kind]()
    note = pidfile.remove(str(path), expected_pid=1234)
    assert note and "left" in note and str(path) in note
    assert os.path.lexists(path) and victim.read_text() == "1234\n"


def test_write_refuses_another_users_file_in_a_sticky_directory(tmp_path):
    _need_root()
    shared = _sticky(tmp_path)
    path = shared / "p.pid"
    path.write_text("99999\n")
    os.chown(path, OTHER, OTHER)
    with pytest.raises(paths.Refused) as caught:
        pidfile.write(str(path), 1234)
    assert path.read_text() == "99999\n" and os.stat(path).st_uid == OTHER
    text = pidfile.refusal(str(path), caught.value)
    assert "uid %d" % OTHER in text and "Fix: set pidfile to" in text


def test_write_in_a_sticky_directory_when_the_name_is_free(tmp_path):
    shared = _sticky(tmp_path)
    pidfile.write(str(shared / "p.pid"), 1234)
    assert pidfile.read(str(shared / "p.pid"))[0] == 1234


def test_write_refuses_a_directory_owned_by_another_user(tmp_path):
    _need_root()
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, OTHER, OTHER)
    with pytest.raises(paths.Refused, match="owned by uid %d" % OTHER):
        pidfile.write(str(theirs / "p.pid"), 1234)
    assert os.listdir(theirs) == []


def test_write_refuses_a_world_writable_directory_that_is_not_sticky(tmp_path):
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    os.chmod(open_dir, 0o777)
    with pytest.raises(paths.Refused, match="not sticky"):
        pidfile.write(str(open_dir / "p.pid"), 1234)


def test_write_refuses_a_directory_symlink_of_another_user(tmp_path):
    _need_root()
    shared = _sticky(tmp_path)
    target = tmp_path / "rootonly"
    target.mkdir(mode=0o700)
    link = shared / "x"
    link.symlink_to(target)
    os.lchown(link, OTHER, OTHER)
    with pytest.raises(paths.Refused, match="symlink owned by uid %d" % OTHER):
        pidfile.write(str(link / "p.pid"), 1234)
    assert os.listdir(target) == []
    with pytest.raises(paths.Refused):  # nor below it, through a directory to be made
        pidfile.write(str(link / "sub" / "p.pid"), 1234)
    assert os.listdir(target) == []


def test_write_follows_our_own_directory_symlink(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "run").symlink_to(real)
    pidfile.write(str(tmp_path / "run" / "p.pid"), 1234)
    assert (real / "p.pid").read_text() == "1234\n"


def test_made_directories_are_checked_one_by_one(tmp_path):
    shared = _sticky(tmp_path)
    pidfile.write(str(shared / "a" / "b" / "p.pid"), 1234)
    assert (shared / "a" / "b" / "p.pid").read_text() == "1234\n"
    assert oct(os.stat(shared / "a").st_mode & 0o777) == oct(0o755 & ~_umask())


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_dirs_walks_a_directory_once_and_reads_each_pidfile_in_it(tmp_path, monkeypatch):
    from usrsvcmod.proc import paths as paths_module

    walks = []
    real = paths_module.open_dir
    monkeypatch.setattr(paths_module, "open_dir", lambda d, *a: walks.append(d) or real(d, *a))
    for pid in (11, 12):
        (tmp_path / ("%d.pid" % pid)).write_text("%d\n" % pid)
    dirs = pidfile.Dirs()
    try:
        assert [pidfile.read(str(tmp_path / ("%d.pid" % p)), dirs)[0] for p in (11, 12)] == [11, 12]
        assert pidfile.read(str(tmp_path / "none.pid"), dirs) == (None, None, "no pidfile")
        assert walks == [str(tmp_path)]
    finally:
        dirs.close()
    assert dirs._fds == {}


def test_dirs_refuses_every_pidfile_of_a_refused_directory(tmp_path):
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    (open_dir / "p.pid").write_text("1234\n")
    os.chmod(open_dir, 0o777)
    dirs = pidfile.Dirs()
    try:
        for _ in range(2):  # the first refusal, and the same again from the kept answer
            pid, _, reason = pidfile.read(str(open_dir / "p.pid"), dirs)
            assert pid is None and "not sticky" in reason
            assert pidfile.read(str(open_dir / "p.pid")) == (pid, None, reason)
    finally:
        dirs.close()
