"""Text that came from a process or a file, made safe to print on a terminal.

A command line, a log tail or a status file is written by whoever runs the
process or owns the file: printed raw, its escape sequences would drive the
user's terminal (recolour, retitle, move the cursor, hide lines, or answer
back through some terminals' reports) and its newlines would forge lines
of our own output. Control characters (C0, DEL, C1), the Unicode line
separators and bidirectional overrides come out as visible escapes
(``\\x1b``, ``\\n``, ``\\u202e``); undecodable bytes kept as surrogates come
out as ``\\xNN`` instead of ending the command with UnicodeEncodeError.
JSON output needs none of this: json.dumps escapes them already. Cheap to
import (``usrsvc status NAME`` loads it) and cheap for clean text.
"""

_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
_UNICODE = (0x2028, 0x2029, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068,
            0x2069)


def _table(keep):
    table = {c: "\\x%02x" % c for c in list(range(0x20)) + list(range(0x7F, 0xA0))}
    table.update((ord(char), text) for char, text in _NAMED.items())
    table.update((c, "\\u%04x" % c) for c in _UNICODE)
    table.update((c, "\\x%02x" % (c - 0xDC00)) for c in range(0xDC80, 0xDD00))
    for char in keep:
        table.pop(ord(char), None)
    return table


def one_line(text):
    """``text`` on one line: every control character escaped, newlines included."""
    if text is None or text.isprintable():
        return text
    return text.translate(_table(""))


def printable(text):
    """``text`` with its line structure kept (newline, tab) and every other
    control character escaped: for our own multi-line messages that quote
    what a process wrote."""
    if text is None or text.isprintable():
        return text
    return text.translate(_table("\n\t"))
