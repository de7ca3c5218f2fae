# -*- coding: utf-8 -*-
# Copyright (c) 2026, the usrsvc authors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""One program as a usrsvc config file: rendering (pure, unit-tested) and the atomic,
private write that the usrsvc_program module keeps only when usrsvc accepts it."""

from __future__ import annotations

import os
import re
import tempfile

HEADER = ("# Written by Ansible (usrsvc.core.usrsvc_program): edits made here are replaced\n"
          "# at the next deploy. Check it with: usrsvc checkconfig %s\n")

# module option -> [[Subsection]] of the program
SUBSECTIONS = (("env", "Env"), ("monitoring", "Monitoring"), ("ready", "Readiness"),
               ("health", "Liveness"), ("requires", "Requires"), ("hooks", "Hooks"))

# keys with an option of their own, written first and in this order
KEY_OPTIONS = ("command", "pidfile", "stdout", "stderr", "directory", "useshell", "enabled",
               "autostart", "autorestart", "group", "type")

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@:+-]*$")
KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ProgramFileError(ValueError):
    """A value that cannot be written to a usrsvc config file (the message says which)."""


def text_of(where, value):
    """A config value as text: booleans as true/false, lists joined with commas."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(text_of(where, item) for item in value)
    if value is None:
        raise ProgramFileError("%s: no value (null); give one, or leave the key out" % where)
    text = str(value)
    if "\n" in text or "\r" in text:
        raise ProgramFileError("%s: a value must be one line; %r has a line break" % (where, text))
    return text


def quoted(where, text):
    """``text`` as configobj reads it back unchanged: quoted when a comma, a ``#``, a
    quote at its start or spaces at its ends would otherwise change it."""
    plain = text == text.strip() and not re.search(r"[#,]", text) and text[:1] not in "'\""
    if text and plain:
        return text
    for mark in ('"', "'"):
        if mark not in text:
            return mark + text + mark
    raise ProgramFileError("%s: %r holds both quote characters and a comma or '#', which a"
                           " usrsvc config file cannot hold in one value; use useshell = true"
                           " and an environment variable, or drop one kind of quote" % (where, text))


def _line(where, key, value, indent=""):
    if not KEY_RE.match(str(key)):
        raise ProgramFileError("%s: %r is not a valid key name (letters, digits, _)" % (where, key))
    return "%s%s = %s\n" % (indent, key, quoted("%s %s" % (where, key), text_of(
        "%s %s" % (where, key), value)))


def render(name, keys, subsections):
    """The text of ``<config_dir>/<name>.cfg``.

    ``keys``: Program keys (None values left out), the KEY_OPTIONS first in their
    order, then the others sorted; ``subsections``: module option -> dict, each
    written as its ``[[Section]]`` with sorted keys. The same input always gives
    the same bytes, so a second deploy changes nothing.
    """
    if not NAME_RE.match(name or ""):
        raise ProgramFileError("name: %r is not a usable program name (letters, digits and"
                               " _ . @ : + -, not starting with a punctuation mark)" % name)
    where = "[Program:%s]" % name
    present = dict((k, v) for k, v in keys.items() if v is not None)
    if "command" not in present:
        raise ProgramFileError("%s: command is required when state is present" % where)
    ordered = [k for k in KEY_OPTIONS if k in present]
    ordered += sorted(k for k in present if k not in KEY_OPTIONS)
    out = [HEADER % name, "[Program:%s]\n" % name]
    out += [_line(where, key, present[key]) for key in ordered]
    for option, section in SUBSECTIONS:
        values = subsections.get(option) or {}
        if not isinstance(values, dict):
            raise ProgramFileError("%s: %s must be a mapping of key: value" % (where, option))
        if values:
            out.append("    [[%s]]\n" % section)
            out += [_line("%s [[%s]]" % (where, section), key, values[key], "    ")
                    for key in sorted(values)]
    return "".join(out)


def read(path):
    """The file's text, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8")
    except FileNotFoundError:
        return None


def write(path, text):
    """Replace ``path`` by ``text`` atomically (a temporary file in the same directory,
    mode 0600, flushed, then renamed over it); None removes it."""
    if text is None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    directory = os.path.dirname(path)
    # the temporary name does not end in .cfg: usrsvc never reads it as a config file
    fd, temporary = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".new",
                                     dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
