"""Log files: opened only as a regular file of ours (or /dev/null), never through a
symlink, never blocking on a FIFO, never in a directory another user controls."""

import os
import socket
import stat

import pytest

from usrsvcmod.errors import PermissionProblem
from usrsvcmod.proc import spawn

OTHER = 54321  # a uid nobody on the test machine uses


def _refused(path, key="stdout"):
    with pytest.raises(PermissionProblem) as caught:
        spawn.open_log(str(path), key=key)
    message = caught.value.message
    assert str(path) in message and "Fix: " in message, message
    return message


def test_a_new_log_file_gets_a_blocking_append_descriptor(tmp_path):
    fd = spawn.open_log(str(tmp_path / "logs" / "a.log"))
    try:
        import fcntl

        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        assert not flags & os.O_NONBLOCK and flags & os.O_APPEND
        assert stat.S_ISREG(os.fstat(fd).st_mode)
    finally:
        os.close(fd)


def test_dev_null_still_works():
    os.close(spawn.open_log(os.devnull))


def test_a_fifo_is_refused_at_once_with_or_without_a_reader(tmp_path):
    path = tmp_path / "a.log"
    os.mkfifo(path)
    assert "FIFO" in _refused(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert "FIFO" in _refused(path, "stderr")
    finally:
        os.close(reader)


def test_a_socket_and_a_device_are_refused(tmp_path):
    path = tmp_path / "a.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        assert "socket" in _refused(path)
    assert "device" in _refused("/dev/zero")


def test_a_symlink_is_never_appended_through(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    os.chmod(victim, 0o600)
    link = tmp_path / "a.log"
    link.symlink_to(victim)
    message = _refused(link)
    assert "symlink" in message and "set stdout to the file itself" in message
    assert victim.read_text() == "precious\n"
    dangling = tmp_path / "b.log"
    dangling.symlink_to(tmp_path / "nothing")
    _refused(dangling)
    assert not (tmp_path / "nothing").exists()


def test_another_users_log_file_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to plant a file of another uid")
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    path = shared / "a.log"
    path.write_text("")
    os.chown(path, OTHER, OTHER)
    assert "uid %d" % OTHER in _refused(path)
    assert path.read_text() == ""


def test_a_directory_of_another_user_or_open_to_all_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to plant a directory of another uid")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chown(theirs, OTHER, OTHER)
    assert "owned by uid %d" % OTHER in _refused(theirs / "a.log")
    assert os.listdir(theirs) == []
    everyone = tmp_path / "everyone"
    everyone.mkdir()
    os.chmod(everyone, 0o777)
    assert "not sticky" in _refused(everyone / "a.log")


def test_a_directory_in_place_of_the_file_still_says_so(tmp_path):
    message = _refused(tmp_path)
    assert "is a directory" in message
