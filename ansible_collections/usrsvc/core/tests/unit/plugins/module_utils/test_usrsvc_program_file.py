# -*- coding: utf-8 -*-
# Copyright (c) 2026, the usrsvc authors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The program file: stable text, values that read back unchanged, clear refusals."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.usrsvc.core.plugins.module_utils.usrsvc_program_file import (
    ProgramFileError, quoted, read, render, write)


def test_the_same_input_gives_the_same_bytes():
    keys = {"command": "sleep 100", "stdout": "~/logs/a.log", "pidfile": "~/run/a.pid",
            "success_seconds": 1, "autostart": True}
    first = render("a", keys, {"env": {"B": "2", "A": "1"}})
    assert first == render("a", dict(reversed(list(keys.items()))), {"env": {"A": "1", "B": "2"}})
    lines = first.splitlines()
    assert "[Program:a]" in lines
    assert lines.index("command = sleep 100") < lines.index("pidfile = ~/run/a.pid")
    assert "autostart = true" in lines
    assert lines[-3:] == ["    [[Env]]", "    A = 1", "    B = 2"]


def test_subsections_have_usrsvc_names():
    text = render("a", {"command": "x"}, {"ready": {"tcp": "127.0.0.1:80"},
                                          "health": {"failures": 3}, "monitoring": {}})
    assert "[[Readiness]]" in text and "[[Liveness]]" in text and "[[Monitoring]]" not in text


@pytest.mark.parametrize("value,expected", [
    ("plain words", "plain words"),
    ("a, b", '"a, b"'),
    ("x # y", '"x # y"'),
    ('say "hi", then', "'say \"hi\", then'"),
    (" padded", '" padded"'),
    ("", '""'),
])
def test_values_are_quoted_only_when_configobj_would_change_them(value, expected):
    assert quoted("k", value) == expected


def test_refusals_name_the_key_and_say_why():
    with pytest.raises(ProgramFileError, match="both quote characters"):
        quoted("[Program:a] command", "it's \"x\", y")
    with pytest.raises(ProgramFileError, match="line break"):
        render("a", {"command": "a\nb"}, {})
    with pytest.raises(ProgramFileError, match="command is required"):
        render("a", {"pidfile": "p"}, {})
    with pytest.raises(ProgramFileError, match="program name"):
        render("../x", {"command": "x"}, {})
    with pytest.raises(ProgramFileError, match="valid key"):
        render("a", {"command": "x", "bad key": 1}, {})


def test_write_is_private_and_replaces_atomically(tmp_path):
    path = str(tmp_path / "a.cfg")
    write(path, "one\n")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    write(path, "two\n")
    assert read(path) == "two\n"
    assert os.listdir(str(tmp_path)) == ["a.cfg"]
    write(path, None)
    assert read(path) is None
