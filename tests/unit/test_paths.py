"""paths.open_dir: a walk of descriptors from / (openat with O_NOFOLLOW), every
directory on the way checked, symlinks followed only when ours or root's."""

import errno
import os

import pytest

from usrsvcmod.proc import paths, pidfile

OTHER = 54321  # a uid nobody on the test machine uses


def _need_root():
    if os.geteuid() != 0:
        pytest.skip("needs root (chown to another uid)")


def _same(fd, path):
    """The open directory ``fd`` is ``path`` (same inode), and the fd is closed."""
    try:
        st, want = os.fstat(fd), os.stat(path)
    finally:
        os.close(fd)
    return (st.st_dev, st.st_ino) == (want.st_dev, want.st_ino)


def _theirs(path, mode=0o755):
    os.mkdir(path, mode)
    os.chmod(path, mode)
    os.chown(path, OTHER, OTHER)
    return path


def _open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_a_plain_directory_and_root_itself(tmp_path):
    assert _same(paths.open_dir(str(tmp_path)), tmp_path)
    assert _same(paths.open_dir("/"), "/")


def test_the_last_directory_can_be_read_the_ones_on_the_way_only_walked(tmp_path):
    (tmp_path / "a").mkdir()
    fd = paths.open_dir(str(tmp_path / "a"))
    try:
        assert os.listdir(fd) == []  # a real O_RDONLY directory fd, not an O_PATH one
    finally:
        os.close(fd)


def test_our_own_symlink_is_followed_relative_and_absolute(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "rel").symlink_to("real")
    (tmp_path / "abs").symlink_to(real)
    (tmp_path / "chain").symlink_to("rel")
    for name in ("rel", "abs", "chain"):
        assert _same(paths.open_dir(str(tmp_path / name)), real), name
    (real / "sub").mkdir()
    assert _same(paths.open_dir(str(tmp_path / "abs" / "sub")), real / "sub")


def test_another_users_symlink_is_refused_on_the_way_and_at_the_end(tmp_path):
    _need_root()
    target = tmp_path / "target"
    (target / "sub").mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(target)
    os.lchown(link, OTHER, OTHER)
    for path in (link, link / "sub"):
        with pytest.raises(paths.Refused) as caught:
            paths.open_dir(str(path))
        assert "%s is a symlink owned by uid %d" % (link, OTHER) in caught.value.strerror
        assert "symlink" in caught.value.fix
    with pytest.raises(paths.Refused):  # nor is anything made through it
        paths.open_dir(str(link / "new"), create=True)
    assert sorted(os.listdir(target)) == ["sub"]


def test_a_root_symlink_is_followed_when_we_are_root(tmp_path):
    _need_root()
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    os.lchown(tmp_path / "link", 0, 0)
    assert _same(paths.open_dir(str(tmp_path / "link")), real)


def test_a_symlink_loop_ends_with_eloop(tmp_path):
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    (tmp_path / "self").symlink_to(".")  # not a loop by itself: self/self/... is tmp_path
    before = _open_fds()
    for path in (tmp_path / "a", tmp_path / "a" / "x"):
        with pytest.raises(OSError) as caught:
            paths.open_dir(str(path), create=True)
        assert caught.value.errno == errno.ELOOP and not isinstance(caught.value, paths.Refused)
    assert _open_fds() == before
    assert sorted(os.listdir(tmp_path)) == ["a", "b", "self"]
    assert _same(paths.open_dir(str(tmp_path / "self" / "self")), tmp_path)


def test_forty_symlinks_are_followed_forty_one_are_not(tmp_path):
    (tmp_path / "l0").symlink_to(".")
    for i in range(1, 41):
        (tmp_path / ("l%d" % i)).symlink_to("l%d" % (i - 1))
    assert _same(paths.open_dir(str(tmp_path / "l39")), tmp_path)  # 40 links
    with pytest.raises(OSError) as caught:
        paths.open_dir(str(tmp_path / "l40"))  # 41
    assert caught.value.errno == errno.ELOOP


def test_dot_dot_in_a_symlink_is_the_physical_parent(tmp_path):
    # tmp/lnk -> real/inner, and in it l2 -> ../target: the kernel's answer is
    # real/target (the parent of inner), not tmp/target (a parent by name)
    (tmp_path / "real" / "inner").mkdir(parents=True)
    (tmp_path / "real" / "target").mkdir()
    (tmp_path / "target").mkdir()
    (tmp_path / "lnk").symlink_to("real/inner")
    (tmp_path / "real" / "inner" / "l2").symlink_to("../target")
    got = paths.open_dir(str(tmp_path / "lnk" / "l2"))
    assert _same(got, tmp_path / "real" / "target")
    (tmp_path / "up").symlink_to("/../../" + str(tmp_path).lstrip("/"))  # .. of / is /
    assert _same(paths.open_dir(str(tmp_path / "up")), tmp_path)


def test_dot_dot_in_the_path_itself_is_resolved_by_name(tmp_path):
    (tmp_path / "b").mkdir()
    assert _same(paths.open_dir(str(tmp_path / "nothere" / ".." / "b")), tmp_path / "b")


def test_dot_dot_into_another_users_directory_is_refused(tmp_path):
    _need_root()
    theirs = _theirs(str(tmp_path / "theirs"))
    mine = os.path.join(theirs, "mine")
    os.mkdir(mine)  # root's, inside theirs: they can rename it away and put a symlink there
    (tmp_path / "up").symlink_to(os.path.join(mine, ".."))
    with pytest.raises(paths.Refused, match="owned by uid %d" % OTHER):
        paths.open_dir(str(tmp_path / "up"))


def test_missing_directories_are_made_only_when_asked(tmp_path):
    want = tmp_path / "a" / "b" / "c"
    with pytest.raises(FileNotFoundError):
        paths.open_dir(str(want))
    assert os.listdir(tmp_path) == []
    assert _same(paths.open_dir(str(want), create=True), want)
    assert os.stat(want).st_uid == os.geteuid()


def test_a_file_on_the_way_is_not_a_directory_named_as_such(tmp_path):
    (tmp_path / "file").write_text("x")
    for create in (False, True):
        with pytest.raises(NotADirectoryError) as caught:
            paths.open_dir(str(tmp_path / "file" / "sub"), create=create)
        assert caught.value.filename == str(tmp_path / "file")


def test_another_users_directory_on_the_way_is_refused(tmp_path):
    _need_root()
    theirs = _theirs(str(tmp_path / "theirs"))
    os.mkdir(os.path.join(theirs, "mine"))  # ours, but they could swap it for a symlink
    with pytest.raises(paths.Refused) as caught:
        paths.open_dir(os.path.join(theirs, "mine"))
    text = caught.value.strerror
    assert "%s, on the way to %s/mine, is owned by uid %d" % (theirs, theirs, OTHER) in text
    with pytest.raises(paths.Refused):
        paths.open_dir(os.path.join(theirs, "new", "deeper"), create=True)
    assert os.listdir(theirs) == ["mine"]  # nothing made in their directory


def test_sticky_directories_may_be_passed_and_used_open_ones_may_not(tmp_path):
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    (sticky / "ours").mkdir()
    assert _same(paths.open_dir(str(sticky)), sticky)
    assert _same(paths.open_dir(str(sticky / "ours")), sticky / "ours")
    assert _same(paths.open_dir(str(sticky / "new"), create=True), sticky / "new")
    open_dir = tmp_path / "open"
    (open_dir / "ours").mkdir(parents=True)
    os.chmod(open_dir, 0o777)
    with pytest.raises(paths.Refused, match="not sticky") as caught:
        paths.open_dir(str(open_dir / "ours"))
    assert "on the way to" in caught.value.strerror and "chmod +t %s" % open_dir \
        in caught.value.fix
    with pytest.raises(paths.Refused, match="not sticky"):
        paths.open_dir(str(open_dir))


def test_a_symlink_planted_in_place_of_a_directory_being_made_is_not_followed(tmp_path,
                                                                              monkeypatch):
    _need_root()
    target = tmp_path / "target"
    target.mkdir()
    real_mkdir = os.mkdir

    def mkdir_then_plant(name, mode=0o777, *, dir_fd=None):
        real_mkdir(name, mode, dir_fd=dir_fd)
        os.rmdir(name, dir_fd=dir_fd)  # another user wins the race: a symlink of theirs
        os.symlink(str(target), name, dir_fd=dir_fd)
        os.chown(name, OTHER, OTHER, dir_fd=dir_fd, follow_symlinks=False)

    monkeypatch.setattr(os, "mkdir", mkdir_then_plant)
    with pytest.raises(paths.Refused, match="appeared as a symlink"):
        paths.open_dir(str(tmp_path / "new"), create=True)
    monkeypatch.undo()
    assert os.listdir(target) == []


def test_no_descriptor_is_left_open_whatever_happens(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "a").symlink_to("a")
    before = _open_fds()
    for path in ("file/sub", "a", "missing/x", "."):
        try:
            os.close(paths.open_dir(str(tmp_path / path)))
        except OSError:
            pass
    assert _open_fds() == before


# pidfile: read, trusted, remove go through the checked directory, never make it
def _their_link_to_a_root_directory(tmp_path):
    target = tmp_path / "target"
    target.mkdir(mode=0o755)
    (target / "app.pid").write_text("999999\n")
    link = tmp_path / "link"
    link.symlink_to(target)
    os.lchown(link, OTHER, OTHER)
    return target, str(link / "app.pid")


def test_pidfile_read_and_remove_refuse_another_users_directory_symlink(tmp_path):
    _need_root()
    target, path = _their_link_to_a_root_directory(tmp_path)
    pid, mtime, reason = pidfile.read(path)
    assert pid is None and mtime is None
    assert reason.startswith("pidfile %s unreadable: " % path)
    assert "symlink owned by uid %d" % OTHER in reason
    assert not pidfile.trusted(path)
    for expected in (None, 999999):
        note = pidfile.remove(path, expected_pid=expected)
        assert note.startswith("left pidfile %s in place: " % path), note
        assert "symlink owned by uid %d" % OTHER in note and "Fix: set pidfile to" in note
    assert (target / "app.pid").read_text() == "999999\n"


def test_pidfile_read_and_remove_never_make_the_directory(tmp_path):
    path = str(tmp_path / "a" / "b" / "app.pid")
    assert pidfile.read(path) == (None, None, "no pidfile")
    assert pidfile.remove(path) is None and pidfile.remove(path, expected_pid=5) is None
    assert not pidfile.trusted(path)
    assert os.listdir(tmp_path) == []


def test_pidfile_through_our_own_symlink_is_read_trusted_and_removed(tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o755)
    os.chmod(real, 0o755)
    (tmp_path / "run").symlink_to("real")
    path = str(tmp_path / "run" / "app.pid")
    pidfile.write(path, 4242)
    assert pidfile.read(path)[0] == 4242 and pidfile.trusted(path)
    assert pidfile.remove(path, expected_pid=4242) is None
    assert os.listdir(real) == []


def test_held_dirs_walk_a_directory_once_and_hand_out_copies(tmp_path, monkeypatch):
    walks = []
    real = paths._walk
    monkeypatch.setattr(paths, "_walk", lambda d, c: walks.append(d) or real(d, c))
    before = _open_fds()
    with paths.held_dirs():
        first = paths.open_dir(str(tmp_path))
        second = paths.open_dir(str(tmp_path))
        assert first != second  # each caller owns (and closes) its own fd
        assert _same(first, tmp_path) and _same(second, tmp_path)
        assert walks == [str(tmp_path)]
        with paths.held_dirs():  # nested: the outer one stays in charge
            assert _same(paths.open_dir(str(tmp_path)), tmp_path)
        assert walks == [str(tmp_path)]
    assert _open_fds() == before  # the held copies are closed with the block
    assert _same(paths.open_dir(str(tmp_path)), tmp_path)
    assert walks == [str(tmp_path)] * 2  # outside the block: walked every time


def test_held_dirs_hold_a_few_and_walk_the_rest(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "HELD_MAX", 2)
    dirs = [tmp_path / str(i) for i in range(4)]
    for each in dirs:
        each.mkdir()
    before = _open_fds()
    with paths.held_dirs():
        for _ in range(2):
            for each in dirs:
                assert _same(paths.open_dir(str(each)), each)
        assert _open_fds() == before + 2
    assert _open_fds() == before


def test_held_dirs_never_hold_a_refused_directory(tmp_path):
    _need_root()
    bad = _theirs(str(tmp_path / "theirs"))
    with paths.held_dirs():
        for _ in range(2):
            with pytest.raises(paths.Refused):
                paths.open_dir(bad)
