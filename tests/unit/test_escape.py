"""Text from processes and files, escaped for a terminal (usrsvcmod/escape.py)."""

from usrsvcmod.escape import one_line, printable


def test_clean_text_is_returned_as_it_is():
    text = "/usr/bin/python3 -m http.server 8000 --bind ::1 (é, 日本)"
    assert one_line(text) is text and printable(text) is text
    assert one_line(None) is None


def test_terminal_escape_sequences_and_bells_come_out_visible():
    assert one_line("web \x1b[31mred\x1b[0m\x07") == "web \\x1b[31mred\\x1b[0m\\x07"
    assert one_line("\x1b]0;title\x07") == "\\x1b]0;title\\x07"
    assert one_line("del\x7f c1\x9b31m") == "del\\x7f c1\\x9b31m"  # 8-bit CSI too


def test_one_line_forges_no_lines_printable_keeps_ours():
    forged = "sleep 1\n2026-01-01 00:00:00 web started\r"
    assert one_line(forged) == "sleep 1\\n2026-01-01 00:00:00 web started\\r"
    assert "\n" not in one_line(forged)
    assert printable("failed:\n  last lines:\n    a\x1b[2Jb\r\tc") == \
        "failed:\n  last lines:\n    a\\x1b[2Jb\\r\tc"


def test_bidi_overrides_and_undecodable_bytes():
    assert one_line("evil\u202etxt.exe") == "evil\\u202etxt.exe"
    assert one_line("caf\udce9") == "caf\\xe9"  # a surrogateescape'd byte, not an encode error
    one_line("x\udcff").encode("utf-8")
