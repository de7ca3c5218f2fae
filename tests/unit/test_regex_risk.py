"""A proctitle_re that can backtrack for ever: flagged at config time (a warning with the
fix), and then never run without a bound (a child process with a deadline)."""

import errno
import os
import time

import pytest

from usrsvcmod.config import load
from usrsvcmod.config.proctitle import default_proctitle_re
from usrsvcmod.config.regex_risk import risk
from usrsvcmod.proc import titlematch
from usrsvcmod.proc.procfs import ProcInfo

CATASTROPHIC = "a" * 34 + "!"  # (a+)+$ would try about 2**34 ways of cutting this


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(a*)*", r"(a|a)*", r"(\w+\s?)*$", r"(a|aa)+$",
                                     r"^(x+x+)+y", r"(?:(?:a+)b?)+", r"(?=(a+)+$)", r"(.*a){3}"])
def test_nested_quantifiers_are_flagged(pattern):
    assert risk(pattern)


@pytest.mark.parametrize("pattern", [r"^sleep \d+$", r"(a|b)*$", r"(?:x|y\d)+", r"(?>a+)+$",
                                     r"(a++)+$", r"^java .*Main$", r"[\w\s]*$", r"web(-\d)?$"])
def test_patterns_that_backtrack_in_one_way_only_are_not(pattern):
    assert risk(pattern) is None


@pytest.mark.parametrize("argv", [("sleep", "5"), ("/srv/web", "--port", "80"),
                                  ("python3", "-m", "http.server", "a+b")])
def test_default_patterns_are_never_flagged(argv):
    pattern, _ = default_proctitle_re(argv, " ".join(argv), False)
    assert risk(pattern) is None


class _Program:
    name = "slow"

    def __init__(self, pattern, risky):
        self.proctitle_re, self.proctitle_risky = pattern, risky


def _info(pid, text):
    return ProcInfo(pid, 1, 1, "S", 0.0, 0, text.split(" "))


def test_a_flagged_pattern_that_hangs_is_no_match_with_a_note_and_the_rest_still_match():
    infos = [_info(11, "run aaa"), _info(12, "run " + CATASTROPHIC), _info(13, "run aa")]
    started = time.monotonic()
    matched, notes = titlematch.search(_Program(r"(a+)+$", True), infos)
    assert time.monotonic() - started < 20  # generous: the deadline is well under a second
    assert [i.pid for i in matched] == [11, 13]
    (note,) = notes
    assert "[Program:slow]" in note and "(a+)+$" in note and "pid 12" in note
    assert "no match" in note


def test_a_batch_gives_up_after_a_few_hung_lines():
    infos = [_info(20 + n, "run " + CATASTROPHIC) for n in range(titlematch.MAX_HUNG + 3)]
    started = time.monotonic()
    matched, notes = titlematch.search(_Program(r"(a+)+$", True), infos)
    assert time.monotonic() - started < 20
    assert matched == [] and len(notes) == 1 and "pids 20, 21" in notes[0]


def test_an_ordinary_pattern_is_matched_in_process(monkeypatch):
    def no_fork():
        raise AssertionError("forked for an ordinary pattern")

    monkeypatch.setattr(os, "fork", no_fork)
    matched, notes = titlematch.search(_Program(r"run a+$", False), [_info(1, "run aaa"),
                                                                     _info(2, "run b")])
    assert [i.pid for i in matched] == [1] and notes == []


def test_no_fork_is_no_match_and_says_why(monkeypatch):
    def no_fork():
        raise OSError(errno.EAGAIN, os.strerror(errno.EAGAIN))

    monkeypatch.setattr(os, "fork", no_fork)
    matched, notes = titlematch.search(_Program(r"(a+)+$", True), [_info(1, "aaa")])
    assert matched == [] and "cannot match" in notes[0] and "(a+)+$" in notes[0]


def test_a_regex_sees_at_most_cap_characters_start_and_end_kept():
    text = "^head " + "x" * (3 * titlematch.CAP) + " tail$"
    seen = titlematch.capped(text)
    assert len(seen) == titlematch.CAP
    assert seen.startswith("^head ") and seen.endswith(" tail$")
    assert titlematch.capped("short") == "short"


def _config(tmp_path, text):
    path = tmp_path / "usrsvc.cfg"
    path.write_text(text)
    return str(path)


def test_the_config_warns_with_the_fix_and_flags_the_program(tmp_path):
    path = _config(tmp_path, "[Program:slow]\ncommand = /bin/sleep 100\npidfile = p\nstdout = o\n"
                             "proctitle_re = (a+)+$\n[Program:fine]\ncommand = /bin/sleep 101\n"
                             "pidfile = p2\nstdout = o2\nproctitle_re = ^/bin/sleep 101$\n")
    config = load(path)
    assert config.programs["slow"].proctitle_risky
    assert not config.programs["fine"].proctitle_risky
    (warning,) = [w for w in config.warnings if "backtrack" in w]
    assert warning.startswith("%s: [Program:slow] proctitle_re = '(a+)+$'" % path)
    assert "Fix:" in warning


def test_a_pattern_inherited_from_defaults_names_the_defaults_section(tmp_path):
    path = _config(tmp_path, "[DefaultSettings:d]\nproctitle_re = (\\w+\\s?)*$\n"
                             "[Program:slow]\ncommand = /bin/sleep 100\npidfile = p\nstdout = o\n"
                             "defaults = d\n")
    config = load(path)
    assert config.programs["slow"].proctitle_risky
    assert any("[DefaultSettings:d] proctitle_re" in w for w in config.warnings)
