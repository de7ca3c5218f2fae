"""Every config key is documented, once, in the user's words (config/keydoc.py), and
the reference made from it (config/keyref.py) says each key's default and values."""

import pytest

from usrsvcmod.config import keydoc, keyref, spec


def test_every_key_of_the_spec_has_a_description_and_none_is_stale():
    problems = keyref.missing()
    assert problems == [], (
        "config keys without a line in usrsvcmod/config/keydoc.py (or lines for keys"
        " spec.py does not have): %s; add one line per key in the user's words, then run"
        " python -m usrsvcmod.docgen" % ", ".join("[%s] %s" % p for p in problems))


@pytest.mark.parametrize("table", ["PROGRAM", "MONITOR", "MAIN"])
def test_each_description_is_one_line_of_words(table):
    for key, line in getattr(keydoc, table).items():
        assert isinstance(line, str) and line.strip(), key
        assert "\n" not in line and "|" not in line, key  # one table row, one man paragraph
        assert len(line) < 600, key


def test_each_alias_is_named_in_the_line_of_the_key_it_spells():
    for alias, key in spec.ALIASES.items():
        assert "`%s`" % alias in keydoc.PROGRAM[key], (alias, key)


def test_the_default_words_are_for_keys_that_exist():
    for words, table in ((keydoc.PROGRAM_DEFAULTS, spec.PROGRAM_KEYS),
                         (keydoc.MONITOR_DEFAULTS, spec.MONITOR_KEYS),
                         (keydoc.MAIN_DEFAULTS, spec.MAIN_KEYS)):
        assert set(words) <= set(table), set(words) - set(table)


def test_every_row_says_its_default_and_what_it_accepts():
    rows = keyref.rows()
    documented = {(r.section, r.key) for r in rows}
    assert {("Program", k) for k in spec.PROGRAM_KEYS} <= documented
    assert {("Monitoring", k) for k in spec.MONITOR_KEYS} <= documented
    assert {("Main", k) for k in spec.MAIN_KEYS} <= documented
    for row in rows:
        assert row.default and row.accepted and row.description, row.key


def test_defaults_and_values_come_from_the_spec():
    rows = {(r.section, r.key): r for r in keyref.rows()}
    assert rows["Program", "command"].default == "required"
    assert rows["Program", "useshell"].default == "`False`"
    assert rows["Program", "success_seconds"].default == "`2`"
    assert rows["Program", "stop_signal"].default == "`TERM`"  # words beat the number 15
    assert rows["Main", "log_format"].accepted == "one of: text, json"
    assert rows["Main", "reconcile_interval"].accepted.endswith("between 0.5 and 86400")
    assert rows["Program", "maxrestarts"].accepted == "whole number >= 0"
    assert not rows["Program", "command"].new and rows["Program", "directory"].new


def test_a_signal_default_is_shown_by_its_name_as_a_config_file_writes_it():
    rows = {(r.section, r.key): r for r in keyref.rows()}
    assert rows["Program", "reload_signal"].default == "`HUP`"  # not the number 1
    assert keyref.default_text(10, {}, "x", spec.signal_number) == "`USR1`"
    assert keyref.default_text(200, {}, "x", spec.signal_number) == "`200`"
    assert "reload_signal = HUP" in keyref.text()


def test_a_converter_is_described_by_its_own_error_text():
    assert keyref.accepted(spec.choice("a", "b")) == "one of: a, b"
    assert keyref.accepted(spec.integer(1, 10)) == "whole number between 1 and 10"
    assert keyref.accepted(spec.seconds()) == (
        "number of seconds, or a duration with units (30s, 5m, 1h30m, 250ms), >= 0")

    def odd(value, ctx=None):
        raise RuntimeError("not a converter that can be probed")

    assert keyref.accepted(odd) == "see the description"


def test_the_text_reference_lists_every_key_under_its_section():
    text = keyref.text()
    assert text.startswith("[Main]")
    for row in keyref.rows():
        assert "\n  %s = " % row.key in text, row.key
    assert "[Program:NAME] and [DefaultSettings:NAME]" in text
    assert "`" not in text  # Markdown marks are for the docs, not the terminal
