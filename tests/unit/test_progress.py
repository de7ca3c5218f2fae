"""The progress line and cutting text to a terminal width."""

import io

from usrsvcmod.progress import CLEAR, Progress, cut, terminal_width


class _P:
    def __init__(self, name):
        self.name = name


def test_the_line_counts_settled_programs_and_names_the_rest():
    out = io.StringIO()
    progress = Progress(out, 200)
    progress.phase("started", [_P("web"), _P("api"), _P("db")])
    assert progress.line() == "0/3 started, waiting on: web, api, db"
    progress.settled("db", True)
    progress.settled("web", False)
    assert progress.line() == "1/3 started, 1 failed, waiting on: api"
    progress.settled("api", True)
    progress.settled("api", True)  # reported twice: counted once
    assert progress.line() == "2/3 started, 1 failed"
    progress.close()
    assert out.getvalue().endswith(CLEAR) and out.getvalue().count(CLEAR) == 5


def test_a_new_phase_starts_counting_again():
    progress = Progress(io.StringIO(), 200)
    progress.phase("stopped", [_P("a")])
    progress.settled("a", True)
    progress.phase("started", [_P("a")])
    assert progress.line() == "0/1 started, waiting on: a"


def test_the_line_never_wraps_and_names_are_escaped():
    progress = Progress(io.StringIO(), 30)
    progress.phase("started", [_P("x" * 50), _P("evil\x1b[2J")])
    assert len(progress.line()) <= 29 and progress.line().endswith("...")
    progress = Progress(io.StringIO(), 200)
    progress.phase("started", [_P("evil\x1b[2J")])
    assert "\x1b" not in progress.line() and "\\x1b[2J" in progress.line()


def test_nothing_is_written_when_nothing_was_shown():
    out = io.StringIO()
    Progress(out, 80).close()
    assert out.getvalue() == ""


def test_cut_keeps_short_text_and_counts_wide_characters_twice():
    assert cut("abc", 10) == "abc"
    assert cut("abcdefghijk", 8) == "abcde..."
    assert cut("abc", None) == "abc"
    wide = "\u6f22" * 10  # 20 columns
    assert cut(wide, 20) == wide
    assert cut(wide, 9) == "\u6f22" * 3 + "..."


def test_terminal_width_from_columns_else_none_for_a_pipe():
    assert terminal_width(io.StringIO(), {"COLUMNS": "77"}) == 77
    assert terminal_width(io.StringIO(), {}) is None
