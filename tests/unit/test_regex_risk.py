"""A proctitle_re that can backtrack for ever: flagged at config time (a warning with the
fix), and then never run without a bound (a child process with a deadline)."""

import errno
import os
import time

import pytest

from usrsvcmod.config import load
from usrsvcmod.config.proctitle import default_proctitle_re
from usrsvcmod.config.regex_risk import growth, risk
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


# --- ordinary patterns whose work grows as a power of the command line's length ---------------

@pytest.mark.parametrize("pattern, power", [
    (r"python.*manage\.py.*runserver", 3),  # each start x each end of each .*
    (r".*x.*y.*z", 4), (r"^java .*Main$", 1), (r"\Aabc", 0), (r"gunicorn: master", 1),
    (r"(?m)^a.*b", 2),  # ^ matches after any newline, and an argument may hold one
    (r"(.*)\1x", 3),  # a back-reference compares up to n characters
    (r"^web(-\d)?$", 0), (r"^a.*?b.*+c", 2), (r"(?=.*x)y", 2),
])
def test_growth_counts_the_powers_of_the_line_length(pattern, power):
    assert growth(pattern)[0] == power


def test_default_patterns_are_linear():
    pattern, _ = default_proctitle_re(("/srv/web", "--port", "80"), "/srv/web --port 80", False)
    assert growth(pattern) == (1, 2.0)  # one start each, ^ or one separator


def test_alternatives_and_counted_repeats_multiply_the_factor():
    assert growth(r"^(web|worker)x") == (0, 2.0)
    assert growth(r"^\d{2,5}")[1] == 4 * 5
    assert growth(r"^(?:ab|cd)(?:ab|cd)(?:ab|cd)")[1] == 8
    assert growth(r"^(?:ab|cd)" * 2000)[1] == 1e300  # saturates instead of overflowing


def _longest_in_process(program, make):
    """The longest text of ``make(n)`` titlematch would search in-process, alone."""
    low, high = 0, titlematch.CAP
    while low < high:
        middle = (low + high + 1) // 2
        if titlematch._here(program, [make(middle)]):
            low = middle
        else:
            high = middle - 1
    return make(low)


# Lines that almost match, the worst shapes found (seconds in-process on 1-2 KB before).
ADVERSARIAL = [
    (r".*x.*y.*z", lambda n: ("xy" * n)[:n]),  # 30 s at 1 KB
    (r"a.*b.*c.*d", lambda n: ("abc" * n)[:n]),  # 4 s at 1 KB
    (r"python.*manage\.py.*runserver", lambda n: ("python manage.py " * n)[:n]),
    (r".*gunicorn.*myapp", lambda n: ("gunicorn " * n)[:n]),
    (r"a.*b", lambda n: "a" * n),  # 0.7 s at 32 KB
    (r"\w+\d", lambda n: "a" * n),  # the slowest step measured
    (r"\s+$", lambda n: " " * (n - 1) + "x"),
    (r"(.*)\1x", lambda n: "a" * n),
    (r"(?m)^a.*b.*c", lambda n: ("a\n" * n)[:n]),
    (r"\w*\w*\w*!", lambda n: "a" * n),  # 9 s at 630 characters
    (r"[a-z]+[0-9a-z]+!", lambda n: "a" * n),
]


@pytest.mark.parametrize("pattern, make", ADVERSARIAL, ids=[p for p, _ in ADVERSARIAL])
def test_what_is_searched_in_process_is_fast_at_its_worst(pattern, make):
    import re

    text = _longest_in_process(_Program(pattern, False), make)
    compiled = re.compile(pattern)
    started = time.monotonic()
    assert compiled.search(text) is None
    # generous: a few milliseconds expected (the estimate allows STEPS steps); a rule that
    # let every line of 1-2 KB through would take seconds to hours here
    assert time.monotonic() - started < 0.5, (pattern, len(text))


def test_a_linear_pattern_is_searched_in_process_at_any_length(monkeypatch):
    def no_fork():
        raise AssertionError("forked for a linear pattern")

    monkeypatch.setattr(os, "fork", no_fork)
    long_line = "java -cp " + "x" * (2 * titlematch.CAP) + " Main"
    for pattern in (r"^java .*Main$", r"gunicorn: master", r"(?:^|[\s/])Main$"):
        matched, notes = titlematch.search(_Program(pattern, False), [_info(1, long_line)])
        assert notes == [] and bool(matched) == (pattern != r"gunicorn: master")


def test_a_lookup_searches_in_process_only_up_to_its_share_of_steps():
    program = _Program(r".*x.*y.*z", False)
    texts = ["xy" * 15] * 200 + ["xy"]
    here = titlematch._here(program, texts)
    assert 200 in here  # the shortest first
    assert 1 < len(here) < 200  # the lines beyond the share go to the child


def test_an_ordinary_pattern_on_a_long_line_that_almost_matches_is_no_match_with_a_note():
    attack = "python3 -c pass " + "python manage.py " * 2000
    infos = [_info(31, "python3 manage.py runserver"), _info(32, attack),
             _info(33, "/srv/venv/bin/python " + "x" * 500 + " manage.py runserver 0:8000")]
    program = _Program(r"python.*manage\.py.*runserver", False)
    started = time.monotonic()
    matched, notes = titlematch.search(program, infos)
    assert time.monotonic() - started < 20  # generous: hours in-process
    assert [i.pid for i in matched] == [31, 33]  # the long one matched by the child
    (note,) = notes
    assert "[Program:slow]" in note and "pid 32" in note and "did not finish" in note
    assert "begin it with ^" in note and "checkconfig" not in note  # no config warning to follow
