"""The way to a config file: opened first and checked as opened; every directory above it
(sshd's StrictModes) root's or ours and writable by nobody else.

In-process, on files this test creates under its tmp_path. "Another user" is uid
65534 (the tests run as root; those that need to give files away skip otherwise).
A swap "between the check and the open" is made deterministic by swapping, with
renameat2(RENAME_EXCHANGE) as an attacker would, right after the path was checked.
"""

import ctypes
import errno
import os

import pytest

from conftest import DirStore

from usrsvcmod.config import cache, cached, files, load, loader, safety
from usrsvcmod.errors import UnsafePathError

NOBODY = 65534
PROGRAM = "[Program:%s]\ncommand = /bin/sleep 1000\npidfile = /nonexistent/%s.pid\nstdout = x.log\n"
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files away")


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)
    return path


def exchange(one, two):
    """renameat2(AT_FDCWD, one, AT_FDCWD, two, RENAME_EXCHANGE): both names swap atomically."""
    libc = ctypes.CDLL(None, use_errno=True)
    at_fdcwd, rename_exchange = -100, 2
    if libc.renameat2(at_fdcwd, one.encode(), at_fdcwd, two.encode(), rename_exchange) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), one)


class Report:
    def __init__(self):
        self.errors = []

    def error(self, text):
        self.errors.append(text)


def read_errors(path):
    report = Report()
    parsed = files.read(path, report)
    assert parsed is None, "read %s" % path
    return report.errors


# --- safety.resolve: the directories on the way --------------------------------------------

def test_a_plain_path_resolves_to_itself(tmp_path):
    path = write(str(tmp_path / "a" / "usrsvc.cfg"), PROGRAM % ("p", "p"))
    assert safety.resolve(path) == os.path.realpath(path)


def test_symlinks_are_followed_the_way_the_kernel_does(tmp_path):
    real = write(str(tmp_path / "real" / "deep" / "usrsvc.cfg"), PROGRAM % ("p", "p"))
    os.symlink("real/deep", str(tmp_path / "link"))
    os.symlink("../link/../deep/usrsvc.cfg", str(tmp_path / "real" / "cfg"))
    assert safety.resolve(str(tmp_path / "real" / "cfg")) == os.path.realpath(real)
    assert "p" in load(str(tmp_path / "real" / "cfg")).programs


def test_a_symlink_loop_is_an_os_error(tmp_path):
    os.symlink("b", str(tmp_path / "a"))
    os.symlink("a", str(tmp_path / "b"))
    with pytest.raises(OSError) as caught:
        safety.resolve(str(tmp_path / "a"))
    assert caught.value.errno == errno.ELOOP


def test_a_world_writable_directory_above_is_refused_with_the_chmod(tmp_path):
    shared = tmp_path / "shared"
    path = write(str(shared / "me" / "usrsvc.cfg"), PROGRAM % ("p", "p"))
    os.chmod(str(shared), 0o777)
    with pytest.raises(UnsafePathError) as caught:
        safety.resolve(path)
    text = caught.value.problems[0]
    assert text.startswith(path + ": refused: directory %s (mode 0777, owner " % shared), text
    assert text.endswith("fix: chmod o-w %s" % shared), text


def test_an_unsafe_directory_behind_a_symlink_is_found(tmp_path):
    shared = tmp_path / "shared"
    write(str(shared / "usrsvc.cfg"), PROGRAM % ("p", "p"))
    os.chmod(str(shared), 0o777)
    os.symlink(str(shared / "usrsvc.cfg"), str(tmp_path / "usrsvc.cfg"))
    with pytest.raises(UnsafePathError) as caught:
        safety.resolve(str(tmp_path / "usrsvc.cfg"))
    assert "chmod o-w %s" % shared in caught.value.problems[0]


@needs_root
def test_a_directory_of_another_user_above_is_refused(tmp_path):
    theirs = tmp_path / "theirs"
    path = write(str(theirs / "usrsvc.cfg"), PROGRAM % ("p", "p"))
    os.chown(str(theirs), NOBODY, NOBODY)
    with pytest.raises(UnsafePathError) as caught:
        safety.resolve(path)
    text = caught.value.problems[0]
    assert "directory %s is owned by" % theirs in text and "uid %d" % NOBODY in text, text
    assert "chown root %s" % theirs in text, text


def test_group_writable_directory_of_a_shared_group_is_refused(tmp_path):
    import grp

    def private(gid):
        return safety._group_is_private(gid, os.geteuid()) or safety._group_is_private(gid, 0)

    shared = [g.gr_gid for g in grp.getgrall() if not private(g.gr_gid)]
    if not shared:
        pytest.skip("no group with other members on this machine")
    group = tmp_path / "group"
    path = write(str(group / "usrsvc.cfg"), PROGRAM % ("p", "p"))
    os.chown(str(group), -1, shared[0])
    os.chmod(str(group), 0o775)
    with pytest.raises(UnsafePathError) as caught:
        safety.resolve(path)
    assert "fix: chmod g-w %s" % group in caught.value.problems[0]


def test_a_sticky_directory_is_fine_when_what_is_below_is_ours(tmp_path):
    sticky = tmp_path / "sticky"
    path = write(str(sticky / "usrsvc.cfg"), PROGRAM % ("p", "p"))
    os.chmod(str(sticky), 0o1777)
    assert safety.resolve(path) == os.path.realpath(path)
    assert "p" in load(path).programs


@needs_root
def test_a_symlink_planted_in_a_sticky_directory_by_someone_else_is_refused(tmp_path):
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    os.chmod(str(sticky), 0o1777)
    mine = write(str(tmp_path / "mine.cfg"), PROGRAM % ("p", "p"))
    link = str(sticky / "usrsvc.cfg")
    os.symlink(mine, link)  # even pointing at a file of ours: its owner can re-point it
    os.lchown(link, NOBODY, NOBODY)
    with pytest.raises(UnsafePathError) as caught:
        safety.resolve(link)
    assert "symlink %s is owned by" % link in caught.value.problems[0]


@needs_root
def test_a_file_planted_in_a_sticky_directory_is_refused_once_open(tmp_path):
    sticky = tmp_path / "sticky"
    path = write(str(sticky / "usrsvc.cfg"), PROGRAM % ("evil", "evil"))
    os.chmod(str(sticky), 0o1777)
    os.chown(path, NOBODY, NOBODY)
    errors = read_errors(path)
    assert "is owned by uid %d" % NOBODY in errors[0], errors


# --- the check is made on what was opened ---------------------------------------------------

def _swap_after_resolve(monkeypatch, one, two):
    """Make the attacker's swap land right after the path was checked, before the open."""
    real_resolve = safety.resolve

    def resolve_then_swap(path, uid=None):
        resolved = real_resolve(path, uid)
        exchange(one, two)
        return resolved

    monkeypatch.setattr(safety, "resolve", resolve_then_swap)


@needs_root
def test_a_file_swapped_in_between_check_and_open_is_refused(tmp_path, monkeypatch):
    path = write(str(tmp_path / "usrsvc.cfg"), PROGRAM % ("mine", "mine"))
    theirs = write(str(tmp_path / "theirs.cfg"), PROGRAM % ("evil", "evil"))
    os.chown(theirs, NOBODY, NOBODY)
    _swap_after_resolve(monkeypatch, path, theirs)
    errors = read_errors(path)
    assert os.stat(path).st_uid == NOBODY  # the swap did happen before the open
    assert errors == [e for e in errors if "refused" in e and "uid %d" % NOBODY in e], errors
    assert len(errors) == 1


def test_a_symlink_swapped_in_as_the_last_component_is_not_followed(tmp_path, monkeypatch):
    path = write(str(tmp_path / "usrsvc.cfg"), PROGRAM % ("mine", "mine"))
    evil = write(str(tmp_path / "elsewhere" / "evil.cfg"), PROGRAM % ("evil", "evil"))
    link = str(tmp_path / "link.cfg")
    os.symlink(evil, link)
    _swap_after_resolve(monkeypatch, path, link)
    errors = read_errors(path)
    assert os.path.islink(path)  # the swap did happen before the open
    assert errors == ["%s: cannot read config file: %s" % (path, os.strerror(errno.ELOOP))]


def test_config_dir_is_listed_and_read_through_the_directory_that_was_checked(tmp_path, monkeypatch):
    main = write(str(tmp_path / "usrsvc.cfg"), "[Main]\nconfig_dir = conf.d\n")
    write(str(tmp_path / "conf.d" / "a.cfg"), PROGRAM % ("mine", "mine"))
    write(str(tmp_path / "planted" / "a.cfg"), PROGRAM % ("evil", "evil"))
    real_open_dir = loader.open_dir

    def open_then_swap(path):
        fd = real_open_dir(path)
        exchange(str(tmp_path / "conf.d"), str(tmp_path / "planted"))
        return fd

    monkeypatch.setattr(loader, "open_dir", open_then_swap)
    config = load(main)
    assert "evil" in (tmp_path / "conf.d" / "a.cfg").read_text()  # the swap did happen
    assert set(config.programs) == {"mine"}


def test_a_fifo_as_config_is_refused_without_waiting_for_a_writer(tmp_path):
    path = str(tmp_path / "usrsvc.cfg")
    os.mkfifo(path, 0o644)
    assert read_errors(path) == ["%s: expected a regular config file, found a FIFO" % path]


# --- the config cache ----------------------------------------------------------------------

def test_a_cache_hit_still_refuses_a_directory_made_unsafe(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "RACY", -10.0)  # the files here are seconds old at most
    (tmp_path / "state").mkdir(mode=0o700)
    home, dirs = tmp_path / "home", tmp_path / "dirs"
    main = write(str(home / "usrsvc.cfg"), "[Main]\nconfig_dir = %s/conf.d\n%s"
                 % (dirs, PROGRAM % ("p", "p")))
    write(str(dirs / "conf.d" / "q.cfg"), PROGRAM % ("q", "q"))
    cache_dir = DirStore(str(tmp_path / "state" / "key"))
    first = cached(main, None, cache_dir)
    monkeypatch.setattr(loader, "load_partial", lambda *a, **k: pytest.fail("parsed again"))
    assert cached(main, None, cache_dir).programs == first.programs  # a hit
    for unsafe in (home, dirs):  # above the main file, above config_dir: no stamp changes
        os.chmod(str(unsafe), 0o777)
        with pytest.raises(UnsafePathError) as caught:
            cached(main, None, cache_dir)
        assert "fix: chmod o-w %s" % unsafe in caught.value.problems[0]
        os.chmod(str(unsafe), 0o755)
    assert cached(main, None, cache_dir).programs == first.programs
