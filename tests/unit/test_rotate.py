"""The rotation engine on real files in the test's directory: alignment, backups, the record."""

import os

import pytest

from usrsvcmod.config import keydoc, load, spec
from usrsvcmod.errors import ConfigError
from usrsvcmod.proc import logstate, rotate
from usrsvcmod.state import RuntimeState

BLOCK = 4096


@pytest.mark.parametrize("text, expected", [
    ("0", 0), ("1024", 1024), ("512K", 512 * 1024), ("100M", 100 * 1024 ** 2),
    ("2G", 2 * 1024 ** 3), ("10kb", 10 * 1024), ("2GiB", 2 * 1024 ** 3), (" 1.5M ", 1572864),
])
def test_sizes_accept_plain_bytes_and_k_m_g(text, expected):
    assert spec.size(text) == expected


@pytest.mark.parametrize("text", ["", "K", "-1", "ten", "1X", "1KK", "nan", "1e30G"])
def test_a_bad_size_says_what_is_expected(text):
    with pytest.raises(ValueError, match="e.g. 512K, 100M, 2G"):
        spec.size(text)


def test_new_keys_load_and_a_bad_one_is_named(tmp_path):
    cfg = tmp_path / "usrsvc.cfg"
    cfg.write_text("[Main]\nusrsvcd_log_maxbytes = 1M\n[Program:p]\ncommand = /bin/true\n"
                   "pidfile = %s/p.pid\nstdout = %s/p.log\nstdout_maxbytes = 100M\n"
                   "stderr_backups = 3\n" % (tmp_path, tmp_path))
    config = load(str(cfg))
    program = config.programs["p"]
    assert (program.stdout_maxbytes, program.stdout_backups) == (100 * 1024 ** 2, 10)
    assert (program.stderr_maxbytes, program.stderr_backups) == (0, 3)
    assert config.main.usrsvcd_log_maxbytes == 1024 ** 2
    cfg.write_text(cfg.read_text().replace("= 100M", "= 100 lines"))
    with pytest.raises(ConfigError) as caught:
        load(str(cfg))
    assert "stdout_maxbytes" in str(caught.value) and "512K" in str(caught.value)


def test_every_rotation_key_is_documented():
    for key in ("stdout_maxbytes", "stdout_backups", "stderr_maxbytes", "stderr_backups"):
        assert keydoc.PROGRAM[key]
    assert keydoc.MAIN["usrsvcd_log_maxbytes"]


@pytest.mark.parametrize("size, cut", [(0, 0), (1, 0), (4096, 0), (4097, 4096), (8192, 4096),
                                       (10000, 8192)])
def test_the_cut_is_block_aligned_and_never_reaches_the_end(size, cut):
    assert rotate.aligned_cut(size, BLOCK) == cut


def test_backup_names_go_from_newest_to_oldest():
    assert rotate.backup_names("app.log", 3) == ["app.log.1", "app.log.2", "app.log.3"]


@pytest.fixture
def state(tmp_path):
    xdg = tmp_path / "xdg"
    xdg.mkdir(mode=0o700)
    made = RuntimeState(str(tmp_path / "usrsvc.cfg"), environ={"XDG_RUNTIME_DIR": str(xdg)})
    yield made
    made.close()


def lines(first, last):
    return b"".join(b"%07d\n" % n for n in range(first, last + 1))


def write(path, data, mode="wb"):
    with open(path, mode) as handle:
        handle.write(data)


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def can_collapse(directory):
    fd = os.open(str(directory), os.O_RDONLY | os.O_DIRECTORY)
    try:
        return rotate.probe(fd)
    finally:
        os.close(fd)


def test_collapse_keeps_the_stream_and_shifts_backups(tmp_path, state):
    if not can_collapse(tmp_path):
        pytest.skip("%s (%s) cannot collapse" % (tmp_path, rotate.fs_type(str(tmp_path))))
    log = str(tmp_path / "app.log")
    rotator = rotate.Rotator(state)
    written, removed = b"", 0
    for round_ in range(4):
        chunk = lines(round_ * 2000 + 1, round_ * 2000 + 2000)  # 16,000 bytes
        write(log, chunk, "ab")
        written += chunk
        outcome = rotator.rotate(log, 8192, 2)
        assert outcome.method == "collapse" and outcome.backup == log + ".1"
        assert outcome.removed % BLOCK == 0 and 0 < len(written) - removed - outcome.removed
        removed += outcome.removed
        st = os.stat(log)
        assert logstate.read(state, log) == (st.st_dev, st.st_ino, removed)
        backup = os.stat(log + ".1")  # the record names the backup it made
        assert logstate.read_backup(state, log) == (backup.st_dev, backup.st_ino)
    assert sorted(os.listdir(tmp_path)) == ["app.log", "app.log.1", "app.log.2", "xdg"]
    kept = read(log + ".2") + read(log + ".1") + read(log)
    assert written.endswith(kept)  # the oldest backups were dropped, nothing else
    assert len(kept) == len(written) - (removed - os.path.getsize(log + ".1")
                                        - os.path.getsize(log + ".2"))


def test_a_log_within_its_limit_is_left_alone(tmp_path, state):
    log = str(tmp_path / "app.log")
    write(log, lines(1, 1000))
    assert rotate.Rotator(state).rotate(log, 8000, 3) is None
    assert read(log) == lines(1, 1000) and not os.path.exists(log + ".1")
    assert rotate.Rotator(state).rotate(str(tmp_path / "missing.log"), 0, 3, force=True) is None


def test_without_backups_the_head_is_dropped_and_recorded(tmp_path, state):
    if not can_collapse(tmp_path):
        pytest.skip("%s cannot collapse" % tmp_path)
    log = str(tmp_path / "app.log")
    write(log, lines(1, 2000))
    outcome = rotate.Rotator(state).rotate(log, 1000, 0)
    assert outcome.backup is None and outcome.removed == 12288
    assert read(log) == lines(1, 2000)[12288:]
    assert not os.path.exists(log + ".1")
    assert logstate.read_backup(state, log) is None


def test_copytruncate_where_collapse_is_missing(tmp_path, state):
    """The fallback's own logic: the directory is taken as one that cannot collapse."""
    log = str(tmp_path / "app.log")
    write(log, lines(1, 3000))
    rotator = rotate.Rotator(state)
    st = os.stat(str(tmp_path))
    rotator._collapse[(st.st_dev, st.st_ino)] = False
    outcome = rotator.rotate(log, 1000, 5)
    assert outcome.method == "copytruncate" and outcome.removed == 24000
    assert "copy-and-truncate" in outcome.describe()
    assert read(log + ".1") == lines(1, 3000) and read(log) == b""
    st = os.stat(log)
    assert logstate.read(state, log) == (st.st_dev, st.st_ino, 24000)


def test_a_new_inode_starts_a_new_record(tmp_path, state):
    if not can_collapse(tmp_path):
        pytest.skip("%s cannot collapse" % tmp_path)
    log = str(tmp_path / "app.log")
    write(log, lines(1, 2000))
    rotator = rotate.Rotator(state)
    rotator.rotate(log, 1000, 3)
    os.rename(log, log + ".moved")  # an external logrotate in create mode
    write(log, lines(1, 1000))
    outcome = rotator.rotate(log, 1000, 3)
    st = os.stat(log)
    assert logstate.read(state, log) == (st.st_dev, st.st_ino, outcome.removed)


def test_rotate_refuses_a_symlink(tmp_path, state):
    target = tmp_path / "target"
    write(str(target), lines(1, 3000))
    os.symlink(str(target), str(tmp_path / "app.log"))
    with pytest.raises(OSError, match="symlink"):
        rotate.Rotator(state).rotate(str(tmp_path / "app.log"), 10, 2)
    assert read(str(target)) == lines(1, 3000)


def test_another_users_backup_is_refused_before_anything_is_cut(tmp_path, state):
    if os.geteuid() != 0:
        pytest.skip("making a file of another user needs root")
    log = str(tmp_path / "app.log")
    write(log, lines(1, 3000))
    write(log + ".1", b"planted\n")
    os.chown(log + ".1", 65534, 65534)
    with pytest.raises(OSError, match="owned by uid 65534"):
        rotate.Rotator(state).rotate(log, 10, 3)
    assert read(log) == lines(1, 3000) and read(log + ".1") == b"planted\n"
    assert sorted(os.listdir(tmp_path)) == ["app.log", "app.log.1", "xdg"]
    with pytest.raises(OSError) as raised:  # in a directory of ours, removing it is a fix
        rotate.Rotator(state).rotate(log, 10, 3)
    assert "rm %s.1" % log in raised.value.fix


def test_rename_rotate_refuses_another_users_backup_with_the_fix(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("making a file of another user needs root")
    log = str(tmp_path / "own.log")
    write(log, b"mine\n")
    write(log + ".1", b"planted\n")
    os.chown(log + ".1", 65534, 65534)
    os.chmod(str(tmp_path), 0o1777)  # shared and sticky: only its owner may remove it
    try:
        with pytest.raises(OSError, match="owned by uid 65534") as raised:
            rotate.rename_rotate(log, 3)
    finally:
        os.chmod(str(tmp_path), 0o700)
    assert "directory only you can write" in raised.value.fix and "rm " not in raised.value.fix
    assert read(log) == b"mine\n" and read(log + ".1") == b"planted\n"


def test_rename_rotate_keeps_n_backups(tmp_path):
    log = str(tmp_path / "own.log")
    for number in range(1, 5):
        write(log, b"%d\n" % number)
        rotate.rename_rotate(log, 2)
    assert sorted(os.listdir(tmp_path)) == ["own.log.1", "own.log.2"]
    assert read(log + ".1") == b"4\n" and read(log + ".2") == b"3\n"


def test_a_gap_in_the_backups_is_filled_not_shifted_past(tmp_path):
    log = str(tmp_path / "own.log")
    for name, data in (("own.log", b"new\n"), ("own.log.1", b"one\n"), ("own.log.3", b"three\n")):
        write(str(tmp_path / name), data)
    rotate.rename_rotate(log, 5)
    assert [read(log + ".%d" % n) for n in (1, 2, 3)] == [b"new\n", b"one\n", b"three\n"]
    assert not os.path.exists(log)


def test_fs_type_reads_mountinfo():
    assert rotate.fs_type("/proc/self") == "proc"
    assert rotate.fs_type("/nonexistent/dir") == rotate.fs_type("/")


def test_the_older_backups_are_shifted_before_the_cut_so_only_a_rename_follows_it(
        tmp_path, state, monkeypatch):
    # found by the chaos soak: usrsvcd SIGKILLed while it shifted 200 backups after
    # the cut left the rotated bytes in a hidden temp file only
    if not can_collapse(tmp_path):
        pytest.skip("%s cannot collapse" % tmp_path)
    log = str(tmp_path / "app.log")
    rotator = rotate.Rotator(state)
    write(log, lines(1, 2000))
    rotator.rotate(log, 8192, 3)
    write(log, lines(2001, 4000), "ab")
    seen, real = [], rotate.collapse

    def spy(fd, length):
        seen.append(sorted(os.listdir(tmp_path)))
        real(fd, length)

    monkeypatch.setattr(rotate, "collapse", spy)
    rotator.rotate(log, 8192, 3)
    assert "app.log.2" in seen[0] and "app.log.1" not in seen[0]
    kept = read(log + ".2") + read(log + ".1") + read(log)
    assert kept == lines(1, 4000)
    assert sorted(os.listdir(tmp_path)) == ["app.log", "app.log.1", "app.log.2", "xdg"]
