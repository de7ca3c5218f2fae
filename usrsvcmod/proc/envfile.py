"""Environment files (systemd's EnvironmentFile syntax) and an EnvCommand's output.

Pure parsing, no I/O: text in, ``[(name, value), ...]`` out, or ValueError
whose text names the line and what is wrong but never quotes a value (an
environment file is where secrets live).

The syntax, as systemd reads it: one ``KEY=VALUE`` per line; blank lines
and lines starting with ``#`` or ``;`` are ignored; ``export KEY=VALUE`` is
accepted (a file shared with a shell); white space around the key and the
value is dropped; a value may be quoted, ``'single'`` (taken literally) or
``"double"`` (where ``\\"``, ``\\\\``, ``\\$`` and ``\\``` are escapes), and a
quoted value may span lines; outside quotes a backslash takes the next
character literally and a backslash at the end of a line continues the
value on the next line. Unlike systemd, a line that is not an assignment or
a name that is not a valid variable name is an error, not a silent skip.
"""

import re

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DOUBLE_ESCAPES = '"\\`$'


def parse(text):
    """``[(name, value), ...]`` in file order (a later name wins when applied)."""
    found = []
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        number = index + 1
        line = lines[index].lstrip(" \t\r\f\v")
        index += 1
        if not line or line[0] in "#;":
            continue
        name, eq, rest = line.partition("=")
        name = name.strip(" \t\r")
        if name.startswith("export ") or name.startswith("export\t"):
            name = name[len("export"):].strip(" \t")
        if not eq:
            raise ValueError("line %d: expected KEY=VALUE (found no '=')" % number)
        if not _NAME.match(name):
            raise ValueError("line %d: the name before '=' is not a valid variable name"
                             " (letters, digits and '_', not starting with a digit)" % number)
        value, index = _value(rest, lines, index, number)
        found.append((name, value))
    return found


def _value(rest, lines, index, number):
    """The value starting with ``rest``; may consume following lines. Returns
    (value, index of the next unread line)."""
    out = []
    pending_space = ""
    text = rest.lstrip(" \t")
    position = 0
    while True:
        if position >= len(text):
            return "".join(out), index
        char = text[position]
        if char in "'\"":
            out.append(pending_space)
            pending_space = ""
            quoted, text, position, index = _quoted(char, text, position + 1, lines, index,
                                                    number)
            out.append(quoted)
            continue
        if char == "\\":
            if position + 1 < len(text):
                out.append(pending_space + text[position + 1])
                pending_space = ""
                position += 2
                continue
            if index >= len(lines):  # a backslash ending the file: nothing to continue
                return "".join(out), index
            text, position, index = lines[index], 0, index + 1  # continuation line
            continue
        if char in " \t\r":
            pending_space += char  # kept only if something follows (trailing space dropped)
        else:
            out.append(pending_space + char)
            pending_space = ""
        position += 1


def _quoted(quote, text, position, lines, index, number):
    """Read up to the closing ``quote``: (value, text, position after it, index)."""
    out = []
    while True:
        if position >= len(text):
            if index >= len(lines):
                raise ValueError("line %d: the %s quote opened here is never closed"
                                 % (number, "double" if quote == '"' else "single"))
            out.append("\n")
            text, position, index = lines[index], 0, index + 1
            continue
        char = text[position]
        if char == quote:
            return "".join(out), text, position + 1, index
        if quote == '"' and char == "\\" and position + 1 < len(text):
            following = text[position + 1]
            out.append(following if following in _DOUBLE_ESCAPES else "\\" + following)
            position += 2
            continue
        if quote == '"' and char == "\\":  # at the end of a line: the line continues
            if index >= len(lines):
                raise ValueError("line %d: the double quote opened here is never closed"
                                 % number)
            text, position, index = lines[index], 0, index + 1
            continue
        out.append(char)
        position += 1


def parse_output(text):
    """An EnvCommand's stdout: ``KEY=VALUE`` lines taken literally (no quotes or
    escapes, so a secret full of symbols arrives as printed); blank lines and
    ``#`` comments skipped, ``export `` accepted. ValueError names the line only."""
    found = []
    for number, line in enumerate(text.split("\n"), 1):
        if line.endswith("\r"):
            line = line[:-1]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, eq, value = line.partition("=")
        name = name.strip()
        if name.startswith("export ") or name.startswith("export\t"):
            name = name[len("export"):].strip()
        if not eq or not _NAME.match(name):
            raise ValueError("line %d of its output is not NAME=VALUE with a valid variable"
                             " name (the line is not shown: it may hold a secret)" % number)
        found.append((name, value))
    return found
