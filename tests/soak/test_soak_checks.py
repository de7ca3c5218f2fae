"""The soak's log check on files written by the test (no processes, no daemon)."""

import os
import pathlib
import tempfile

import pytest

import soak
from usrsvcmod.proc.rotate import collapse_problem

PAD = b"." * 60


def lines(pid, first, last):
    return b"".join(b"%d %d %s\n" % (pid, n, PAD) for n in range(first, last + 1))


def checked(tmp_path, files, collapsing=True):
    if collapsing and collapse_problem(str(tmp_path / "x.log")):
        pytest.skip(collapse_problem(str(tmp_path / "x.log")))
    run = soak.Soak(1, 1, 5)
    run.home = str(tmp_path)
    os.makedirs(os.path.join(run.home, "logs"))
    for name, data in files.items():
        with open(os.path.join(run.home, "logs", name), "wb") as handle:
            handle.write(data)
    run.check_logs()
    return run


def test_backups_then_live_file_in_order_pass_even_split_mid_line(tmp_path):
    data = lines(7, 1, 300) + lines(8, 1, 50)
    run = checked(tmp_path, {"p00.log.2": data[:5000], "p00.log.1": data[5000:9001],
                             "p00.log": data[9001:]})
    assert run.counts["log_lines_lost"] == 0


def test_a_gap_a_repeat_and_a_torn_line_are_counted(tmp_path):
    assert checked(tmp_path, {"p00.log": lines(7, 1, 10) + lines(7, 12, 20)}).counts[
        "log_lines_lost"] == 1
    assert checked(tmp_path / "b", {"p00.log.1": lines(7, 1, 10),
                                     "p00.log": lines(7, 10, 20)}).counts["log_lines_lost"] == 1
    assert checked(tmp_path / "c", {"p00.log": lines(7, 1, 10) + b"7 11 ..\n"
                                    + lines(7, 11, 12)}).counts["log_lines_lost"] == 1


def test_lines_left_in_a_rotation_temp_file_are_not_lost_but_reported(tmp_path):
    run = checked(tmp_path, {"p00.log.1": lines(7, 1, 10), ".p00.log.ab12.tmp": lines(7, 11, 30),
                             "p00.log": lines(7, 31, 40)})
    assert run.counts["log_lines_lost"] == 0 and run.leftovers == 1


def test_where_rotation_cannot_collapse_the_log_check_is_skipped_and_said(tmp_path):
    shm = "/dev/shm"
    if not os.path.isdir(shm) or not collapse_problem(os.path.join(shm, "x.log")):
        pytest.skip("no tmpfs at /dev/shm to try it on")
    with tempfile.TemporaryDirectory(dir=shm) as home:
        os.chmod(home, 0o700)
        run = checked(pathlib.Path(home), {"p00.log": lines(7, 1, 5) + lines(7, 9, 9)},
                      collapsing=False)
    assert run.counts["log_lines_lost"] == 0 and "tmpfs" in run.log_check_skipped
