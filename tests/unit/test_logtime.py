"""The times log lines start with, and --since durations (pure functions)."""

import calendar
import time

import pytest

from usrsvcmod.logtime import iso_utc, line_time, parse_duration

UTC_NOON = calendar.timegm((2026, 11, 30, 12, 0, 0))


@pytest.mark.parametrize("text, seconds", [
    ("30s", 30), ("5m", 300), ("1h30m", 5400), ("2d", 172800), ("90", 90), ("1.5", 1.5),
    (" 1H ", 3600), ("0", 0), ("1m30s", 90)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "-5", "m", "1h 30m", "nan", "inf", "5m-"])
def test_bad_durations_say_what_is_expected(text):
    with pytest.raises(ValueError, match="30s, 5m, 1h30m"):
        parse_duration(text)


@pytest.mark.parametrize("line", [
    "2026-11-30T12:00:00Z GET /",
    "2026-11-30T12:00:00+00:00 GET /",
    "2026-11-30T13:00:00+01:00 GET /",
    "2026-11-30T07:00:00-0500 GET /",
    "[2026-11-30T12:00:00Z] GET /",
    '127.0.0.1 - - [30/Nov/2026:12:00:00 +0000] "GET / HTTP/1.1" 200',
    "[30/Nov/2026:13:00:00 +0100] x",
])
def test_formats_with_an_offset(line):
    assert line_time(line) == UTC_NOON


def test_fractions_and_python_logging_comma():
    assert line_time("2026-11-30T12:00:00.250Z x") == UTC_NOON + 0.25
    local = time.mktime((2026, 11, 30, 12, 0, 0, 0, 0, -1))
    assert line_time("2026-11-30 12:00:00,123 INFO x") == pytest.approx(local + 0.123)
    assert line_time("2026/11/30 12:00:00 [error] 7#7: x") == local  # nginx error log


def test_syslog_has_no_year_and_is_never_far_in_the_future():
    now = time.mktime((2026, 11, 30, 12, 0, 0, 0, 0, -1))
    assert line_time("Nov 30 11:59:00 host app: x", now) == now - 60
    last_year = line_time("Dec 31 23:00:00 host app: x", now)
    assert time.localtime(last_year).tm_year == 2025


@pytest.mark.parametrize("line", [
    "", "hello", "out 12", "2026-13-30T12:00:00Z x", "Foo 30 12:00:00 x",
    "20261130T120000 x", "Traceback (most recent call last):", "   File \"x\", line 3",
    "x" * 10 + " 2026-11-30T12:00:00Z"])
def test_lines_without_a_leading_time(line):
    assert line_time(line) is None


def test_iso_utc():
    assert iso_utc(UTC_NOON + 0.25) == "2026-11-30T12:00:00.250Z"
    assert iso_utc(UTC_NOON + 0.9999) == "2026-11-30T12:00:01.000Z"
