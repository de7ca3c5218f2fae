"""Program and DefaultSettings names: every name 1.5.13 took that can name a file still
loads; a name that cannot (too long once quoted, control characters, '.' or '..') is a
config error naming the file and the section, with the fix."""

import os

import pytest

from usrsvcmod.config import load, spec
from usrsvcmod.errors import ConfigError
from usrsvcmod.state import RuntimeState

VALID = ["web", "my app", "web.api", "api-v2_x", "a/b", "100%", "日本語", "x" * 200,
         "é" * 100, "%" * 66, "a..b", ".hidden"]
INVALID = ["", ".", "..", " web", "web ", "a\tb", "a\x01b", "a\x7fb", "a\x85b", "a\u2028b",
           "x" * 201, "é" * 101, "/" * 67, "%" * 67]


def _program(name, command="/bin/sleep 1000"):
    return "[Program:%s]\ncommand = %s\npidfile = /tmp/n/p.pid\nstdout = /tmp/n/p.log\n" % (
        name, command)


@pytest.mark.parametrize("name", VALID)
def test_names_that_can_name_a_file_are_taken(name):
    assert spec.section_name(name) == name


@pytest.mark.parametrize("name", INVALID)
def test_names_that_cannot_are_refused_saying_what_is_expected(name):
    with pytest.raises(ValueError, match="expected"):
        spec.section_name(name)


@pytest.mark.parametrize("name", VALID)
def test_every_file_of_the_longest_valid_name_can_be_made(tmp_path, name):
    """The state directory's files of an accepted name (a stop mark, here) really fit."""
    state = RuntimeState(str(tmp_path / "usrsvc.cfg"), environ={"XDG_RUNTIME_DIR": str(tmp_path)})
    state.mark_stopped(name)
    assert state.is_stopped(name)
    made = os.listdir(state.path)
    # and its atomic.py temp file (".NAME.<12 hex>.tmp") would fit too
    assert all(len(f.encode()) + 18 <= 255 for f in made), made


def test_valid_names_load_from_a_config(tmp_path):
    path = tmp_path / "usrsvc.cfg"
    path.write_text("".join(_program(n, "/bin/sleep %d" % i) for i, n in enumerate(VALID[:-4])))
    assert list(load(str(path)).programs) == VALID[:-4]


@pytest.mark.parametrize("name, words", [
    ("x" * 201, "201 bytes"), ("a\tb", "control character '\\t'"), ("..", "names a directory")])
def test_a_bad_program_name_is_an_error_naming_file_section_and_fix(tmp_path, name, words):
    path = tmp_path / "usrsvc.cfg"
    path.write_text(_program(name) + _program("ok", "/bin/sleep 2"))
    with pytest.raises(ConfigError) as caught:
        load(str(path))
    (problem,) = caught.value.problems
    assert problem.startswith("%s: [Program:" % path)
    assert words in problem and "expected" in problem and "Fix: rename the section" in problem
    assert "\t" not in problem  # shown escaped, not as the raw character


def test_a_bad_defaults_name_is_an_error_too(tmp_path):
    path = tmp_path / "usrsvc.cfg"
    path.write_text("[DefaultSettings:%s]\nsuccess_seconds = 1\n" % ("/" * 70) + _program("ok"))
    with pytest.raises(ConfigError) as caught:
        load(str(path))
    (problem,) = caught.value.problems
    assert "[DefaultSettings:///" in problem and "210 bytes" in problem


def test_a_bad_name_elsewhere_does_not_stop_a_command_on_another_program(tmp_path):
    path = tmp_path / "usrsvc.cfg"
    path.write_text(_program("x" * 300) + _program("ok", "/bin/sleep 2"))
    config = load(str(path), only={"ok"})
    assert list(config.programs) == ["ok"]
    assert any("skipped" in w for w in config.warnings)
