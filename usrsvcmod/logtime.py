"""When a log line was written, as far as the line itself says; and durations.

Log lines carry no time in general, so ``usrsvc logs`` orders and filters
them by a time it can find at the start of a line, in the formats services
commonly write (each is tried on the first 64 characters only):

- ISO 8601 / RFC 3339: ``2026-11-30T12:00:00``, with optional fraction and
  ``Z`` or ``+HH:MM`` / ``+HHMM`` offset; the ``T`` may be a space, and the
  fraction may follow a comma (Python logging: ``2026-11-30 12:00:00,123``);
  nginx's error log ``2026/11/30 12:00:00`` too.
- nginx / Apache access logs: ``[30/Nov/2026:12:00:00 +0000]``, which follows
  the client address, so it is looked for anywhere in those 64 characters.
- syslog: ``Nov 30 12:00:00`` (no year: this year, or last year when that
  would put it more than a day in the future).
- A leading ``[`` around any of these is allowed.

A time without an offset is local time. Pure functions: no clock is read
unless the caller passes none.
"""

import calendar
import re
import time

_MONTHS = {name: index for index, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}

_ISO = re.compile(r"\[?(\d{4})[-/](\d\d)[-/](\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?"
                  r" ?(Z|[+-]\d\d:?\d\d)?(?![\d])")
_CLF = re.compile(r"\[(\d\d)/([A-Za-z]{3})/(\d{4}):(\d\d):(\d\d):(\d\d)(?: ([+-]\d\d:?\d\d))?\]")
_SYSLOG = re.compile(r"\[?([A-Za-z]{3}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)(?![\d])")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_UNIT = {"d": 86400, "h": 3600, "m": 60, "s": 1}
HEAD = 64


def parse_duration(text):
    """Seconds in ``30s``, ``5m``, ``1h30m``, ``2d`` or plain (fractional)
    seconds; ValueError naming what is expected."""
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        seconds = None
        if value and _DURATION.sub("", value) == "":
            seconds = sum(float(n) * _UNIT[u] for n, u in _DURATION.findall(value))
    if seconds is None or seconds != seconds or not 0 <= seconds < 10 ** 10:
        raise ValueError("expected a duration such as 30s, 5m, 1h30m, 2d or plain seconds,"
                         " got %r" % text)
    return seconds


def _offset(text):
    """Seconds east of UTC in ``Z``, ``+01:00`` or ``-0500``; None when absent."""
    if not text:
        return None
    if text == "Z":
        return 0
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)


def _epoch(fields, offset):
    """Seconds since the epoch of (Y, M, D, h, m, s) at ``offset``; None if invalid."""
    year, month, day, hour, minute, second = fields
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second < 61):
        return None
    try:
        if offset is None:
            return time.mktime((year, month, day, hour, minute, second, 0, 0, -1))
        return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset
    except (OverflowError, ValueError):
        return None


def line_time(text, now=None):
    """The time at the start of a log line (seconds since the epoch), or None."""
    head = text[:HEAD]
    match = _ISO.match(head.lstrip())
    if match:
        stamp = _epoch([int(g) for g in match.groups()[:6]], _offset(match.group(8)))
        if stamp is not None and match.group(7):
            stamp += float("0." + match.group(7))
        return stamp
    match = _CLF.search(head)
    if match and match.group(2).lower() in _MONTHS:
        day, month, year, hour, minute, second = match.groups()[:6]
        return _epoch((int(year), _MONTHS[month.lower()], int(day), int(hour), int(minute),
                       int(second)), _offset(match.group(7)))
    match = _SYSLOG.match(head.lstrip())
    if match and match.group(1).lower() in _MONTHS:
        return _syslog(match, time.time() if now is None else now)
    return None


def _syslog(match, now):
    """A syslog time has no year: this year's, unless that is over a day ahead."""
    month, day = _MONTHS[match.group(1).lower()], int(match.group(2))
    clock = [int(g) for g in match.groups()[2:5]]
    year = time.localtime(now).tm_year
    stamp = _epoch([year, month, day] + clock, None)
    if stamp is not None and stamp > now + 86400:
        stamp = _epoch([year - 1, month, day] + clock, None)
    return stamp


def iso_utc(stamp):
    """``2026-11-30T12:00:00.123Z`` for seconds since the epoch."""
    whole = int(stamp // 1)
    millis = int(round((stamp - whole) * 1000))
    if millis == 1000:
        whole, millis = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + ".%03dZ" % millis
