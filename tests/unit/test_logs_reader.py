"""usrsvc logs: reading files backwards, the ordering rule, the merge, the
printed form, option parsing, and the follower's bookkeeping across rotations
and truncations (on real files in a temporary directory)."""

import os

import pytest

from usrsvcmod import cli, logs
from usrsvcmod.errors import UsageError
from usrsvcmod.logfollow import Tracked, backup_tail
from usrsvcmod.proc import logstate
from usrsvcmod.state import RuntimeState


class Program:
    def __init__(self, name, stdout, stderr=None):
        self.name, self.stdout, self.stderr = name, stdout, stderr


def write(path, data, mode="wb"):
    with open(path, mode) as handle:
        handle.write(data)


def opened(path):
    fd = os.open(path, os.O_RDONLY)
    return fd, os.fstat(fd)


@pytest.mark.parametrize("data", [b"", b"\n", b"a\n", b"a\nb\n", b"a\n\nb\n",
                                  b"x" * 70000 + b"\ny\n"])
def test_backwards_gives_every_complete_line_last_first(tmp_path, data):
    path = str(tmp_path / "f")
    write(path, data + b"partial")
    fd, st = opened(path)
    try:
        end = logs.complete_end(fd, st.st_size)
        assert end == len(data)
        assert list(logs.backwards(fd, end)) == data.split(b"\n")[:-1][::-1]
    finally:
        os.close(fd)


def test_tail_counts_per_file_and_keeps_a_partial_line_unless_following(tmp_path):
    path = str(tmp_path / "f")
    write(path, b"1\n2\n3\nhalf")
    log = logs.LogFile("web", "stdout", path)
    fd, st = opened(path)
    try:
        lines, end = logs.tail(log, fd, st, 2)
        assert [line.message for line in lines] == ["3", "half"] and end == st.st_size
        lines, end = logs.tail(log, fd, st, 2, partial=False)
        assert [line.message for line in lines] == ["2", "3"] and end == 6
        assert logs.tail(log, fd, st, 0)[0] == []
    finally:
        os.close(fd)


def test_untimed_lines_take_the_time_above_them_or_the_files():
    log = logs.LogFile("web", "stderr", "/x")
    texts = ["before", "2026-11-30T12:00:00Z boom", "Traceback:", "2026-11-30T12:00:05Z ok"]
    times = [line.time for line in logs.timed(log, texts, 1.0, None)]
    assert times[0] == times[1] == times[2] and times[3] == times[1] + 5
    assert [line.time for line in logs.timed(log, ["a", "b"], 42.0, None)] == [42.0, 42.0]


def test_merge_orders_by_time_and_keeps_each_files_order_on_ties():
    def lines(stream, times):
        return [logs.Line("web", stream, t, "%s%d" % (stream, i)) for i, t in enumerate(times)]
    out = logs.merge([lines("o", [1, 3, 3]), lines("e", [2, 3])])
    assert [line.message for line in out] == ["o0", "e0", "o1", "o2", "e1"]


def test_files_of_a_program_that_sends_stderr_to_its_stdout_file():
    shared, split = Program("a", "/l/a.log"), Program("b", "/l/b.log", "/l/b.err")
    files, problems = logs.files_of([shared, split])
    assert [(f.program, f.stream) for f in files] == [("a", "stdout"), ("b", "stdout"),
                                                      ("b", "stderr")]
    assert problems == []
    files, problems = logs.files_of([shared, split], ("stderr",))
    assert [(f.program, f.stream) for f in files] == [("b", "stderr")]
    assert len(problems) == 1 and "stderr = stdout" in problems[0]


def test_style_prefixes_escapes_and_colours_only_when_asked():
    line = logs.Line("web", "stderr", 0.0, "\x1b[2Jgone\u202e")
    assert logs.Style(["web"], False, False).format(line) == "\\x1b[2Jgone\\u202e"
    assert logs.Style(["web", "worker"], True, False).format(line).startswith("web    | \\x1b")
    coloured = logs.Style(["web"], True, True).format(line)
    assert coloured.startswith("\x1b[36mweb\x1b[0m | \x1b[31m")


class Tty:
    def isatty(self):
        return True


def test_colour_only_on_a_terminal_without_no_color():
    assert logs.wants_colour(Tty(), {"TERM": "xterm"})
    assert not logs.wants_colour(Tty(), {"TERM": "xterm", "NO_COLOR": "1"})
    assert not logs.wants_colour(Tty(), {"TERM": "dumb"})
    assert not logs.wants_colour(object(), {})


@pytest.mark.parametrize("argv, lines, follow, streams, since", [
    (["logs", "web"], None, False, set(), None),
    (["logs", "web", "-n", "5", "-f"], 5, True, set(), None),
    (["logs", "-n50", "--stderr", "web"], 50, False, {"stderr"}, None),
    (["logs", "--lines=0", "--follow", "--since", "1h30m"], 0, True, set(), 5400),
    (["logs", "--since=30s", "--stdout", "--stderr"], None, False, {"stdout", "stderr"}, 30),
])
def test_logs_options(argv, lines, follow, streams, since):
    want = cli.parse(argv).logs or cli.LogOptions()
    assert (want.lines, want.follow, want.streams, want.since) == (lines, follow, streams, since)


@pytest.mark.parametrize("argv", [["logs", "-n"], ["logs", "-n", "-1"], ["logs", "-n", "x"],
                                  ["logs", "--since", "later"], ["logs", "-f=1"]])
def test_bad_logs_options(argv):
    with pytest.raises(UsageError):
        cli.parse(argv)


# the follower ------------------------------------------------------------------------------------
@pytest.fixture
def state(tmp_path):
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    made = RuntimeState(str(tmp_path / "usrsvc.cfg"),
                        environ={"XDG_RUNTIME_DIR": str(runtime), "HOME": str(tmp_path)})
    yield made
    made.close()


def rotate(state, path, cut):
    """What proc/rotate does, in small: backup NAME.1 (older ones shift), cut, record."""
    lock = logstate.lock(state, path)
    try:
        for number in range(8, 0, -1):
            if os.path.exists("%s.%d" % (path, number)):
                os.rename("%s.%d" % (path, number), "%s.%d" % (path, number + 1))
        with open(path, "rb") as handle:
            data = handle.read()
        write(path + ".1", data[:cut])
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)  # in place: the inode stays
        os.write(fd, data[cut:])
        os.close(fd)
        st = os.stat(path)
        record = logstate.read(state, path)
        before = record[2] if record and record[:2] == (st.st_dev, st.st_ino) else 0
        logstate.write(state, path, st.st_dev, st.st_ino, before + cut)
    finally:
        os.close(lock)


def follower(state, path):
    log = logs.LogFile("web", "stdout", path)
    item = Tracked(log, state)
    fd, st = logs.open_log(log)
    item.start(fd, st, st.st_size)
    return item


def poll(item):
    notes = []
    lines, done = item.poll(notes)
    assert done
    return [line.message for line in lines], notes


def test_a_rotation_moves_the_offset_back_by_what_was_removed(tmp_path, state):
    path = str(tmp_path / "web.log")
    write(path, b"old\n")
    item = follower(state, path)
    write(path, b"a\nb\n", "ab")
    assert poll(item) == (["a", "b"], [])
    write(path, b"c\nhal", "ab")
    assert poll(item) == (["c"], [])
    rotate(state, path, 6)
    write(path, b"f\nd\n", "ab")
    assert poll(item) == (["half", "d"], [])
    item.close()


def test_a_follower_that_lagged_behind_rotations_reads_the_rest_from_the_backups(tmp_path, state):
    path = str(tmp_path / "web.log")
    write(path, b"")
    item = follower(state, path)
    write(path, b"".join(b"%d\n" % i for i in range(3)), "ab")
    assert poll(item)[0] == ["0", "1", "2"]
    write(path, b"".join(b"%d\n" % i for i in range(3, 40)), "ab")
    rotate(state, path, 20)
    rotate(state, path, 30)  # two rotations before the follower looks again
    write(path, b"40\n", "ab")
    assert poll(item) == ([str(i) for i in range(3, 41)], [])
    item.close()


def test_without_backups_the_loss_is_said(tmp_path, state):
    path = str(tmp_path / "web.log")
    write(path, b"")
    item = follower(state, path)
    write(path, b"0123456789\n" * 4, "ab")
    rotate(state, path, 22)
    os.unlink(path + ".1")
    lines, notes = poll(item)
    assert lines == ["0123456789"] * 2 and len(notes) == 1 and "22 bytes" in notes[0]
    item.close()


def test_a_truncation_by_someone_else_is_said_and_read_from_the_start(tmp_path, state):
    path = str(tmp_path / "web.log")
    write(path, b"one\ntwo\n")
    item = follower(state, path)
    write(path, b"x\n")
    lines, notes = poll(item)
    assert lines == ["x"] and "truncated by someone else" in notes[0]
    item.close()


def test_a_renamed_log_is_read_to_its_end_then_the_new_one(tmp_path, state):
    path = str(tmp_path / "web.log")
    write(path, b"")
    item = follower(state, path)
    write(path, b"a\n", "ab")
    os.rename(path, path + ".1")
    write(path + ".1", b"b\n", "ab")
    write(path, b"c\n")
    lines, notes = poll(item)
    assert lines == ["a", "b", "c"] and "renamed or removed" in notes[0]
    write(path + ".1", b"late\n", "ab")  # the service had not reopened yet
    write(path, b"d\n", "ab")
    assert poll(item) == (["late", "d"], [])
    item.close()


def test_backup_tail_needs_backups_that_add_up(tmp_path):
    path = str(tmp_path / "web.log")
    write(path + ".1", b"efgh")
    write(path + ".2", b"abcd")
    assert backup_tail(path, 8, 5) == b"defgh"
    assert backup_tail(path, 4, 2) == b"gh"
    assert backup_tail(path, 6, 2) is None  # sizes do not match what was removed
    assert backup_tail(path, 12, 2) is None  # fewer backups than rotations


def test_backup_tail_reads_no_more_backups_than_the_config_keeps(tmp_path):
    path = str(tmp_path / "web.log")
    write(path + ".1", b"efgh")
    write(path + ".2", b"abcd")
    assert backup_tail(path, 8, 5, backups=2) == b"defgh"
    assert backup_tail(path, 8, 5, backups=1) is None  # NAME.2 is not one of ours
    assert backup_tail(path, 4, 2, backups=0) is None  # none kept: NAME.1 was planted


def test_backup_tail_wants_the_recorded_newest_backup_and_our_files(tmp_path):
    path = str(tmp_path / "web.log")
    write(path + ".1", b"efgh")
    write(path + ".2", b"abcd")
    st = os.stat(path + ".1")
    assert backup_tail(path, 8, 5, 2, (st.st_dev, st.st_ino)) == b"defgh"
    assert backup_tail(path, 8, 5, 2, (st.st_dev, st.st_ino + 1)) is None  # another file
    os.symlink(path + ".2", path + ".3")
    assert backup_tail(path, 12, 5, 3) is None  # never through a symlink
    if os.geteuid() == 0:
        os.chown(path + ".2", 4242, 4242)  # a file another user planted
        assert backup_tail(path, 8, 5, 2) is None


def test_an_unfinished_line_is_read_only_in_its_last_max_line_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(logs, "MAX_LINE", 8)
    monkeypatch.setattr(logs, "MAX_SCAN", 32)
    log = logs.LogFile("web", "stdout", str(tmp_path / "f"))
    write(log.path, b"first\n" + b"x" * 12 + b"tail1234")  # 20 bytes unfinished
    fd, st = opened(log.path)
    try:
        assert logs.complete_end(fd, st.st_size, 32) == 6
        lines, end = logs.tail(log, fd, st, 1)
        assert [l.message for l in lines] == ["[line cut: 12 bytes] tail1234"] and end == 26
    finally:
        os.close(fd)
    write(log.path, b"first\n" + b"y" * 40 + b"tail1234")  # its start is beyond MAX_SCAN
    fd, st = opened(log.path)
    try:
        assert logs.complete_end(fd, st.st_size, 32) is None
        lines, end = logs.tail(log, fd, st, 5)
        assert [l.message for l in lines] == ["[line cut: over 24 bytes] tail1234"]
        assert logs.tail(log, fd, st, 5, partial=False) == ([], st.st_size - 8)
    finally:
        os.close(fd)


def test_since_over_untimed_lines_keeps_a_bounded_number_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(logs, "UNTIMED_LINES", 5)
    log = logs.LogFile("web", "stdout", str(tmp_path / "f"))
    write(log.path, b"".join(b"plain %d\n" % n for n in range(100)))
    fd, st = opened(log.path)
    notes = []
    try:
        lines, _ = logs.tail(log, fd, st, None, since=st.st_mtime - 60, notes=notes)
    finally:
        os.close(fd)
    assert [l.message for l in lines] == ["plain %d" % n for n in range(95, 100)]
    assert len(notes) == 1 and "last 5 lines carry no time" in notes[0] and log.path in notes[0]
    monkeypatch.setattr(logs, "UNTIMED_BYTES", 30)  # the byte bound, for long lines
    fd, st = opened(log.path)
    try:
        lines, _ = logs.tail(log, fd, st, None, since=st.st_mtime - 60)
    finally:
        os.close(fd)
    assert len(lines) == 4  # 8 bytes each (newline included): the fourth reaches 30
