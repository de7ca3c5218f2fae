"""select_programs: names, patterns, @group and all, checked before anything is done."""

import pytest

from usrsvcmod.errors import ProgramDisabled, ProgramUndefined
from usrsvcmod.selection import needs_all, select_programs


class _Program:
    def __init__(self, name, group=None, enabled=True):
        self.name, self.group, self.enabled = name, group, enabled


class _Main:
    path = "/nonexistent/usrsvc.cfg"


class _Config:
    def __init__(self, *programs):
        self.programs = {p.name: p for p in programs}
        self.files = ("/nonexistent/usrsvc.cfg",)
        self.main = _Main()


CONFIG = _Config(_Program("web-1", "web"), _Program("web-2", "web"), _Program("api", "web"),
                 _Program("worker", "jobs"), _Program("old", "jobs", enabled=False))


def names(words, action="stop"):
    chosen = select_programs(CONFIG, words, action)
    return [p.name for p in chosen.programs], chosen.several


def test_one_plain_name_is_not_several():
    assert names(["api"]) == (["api"], False)


def test_several_names_keep_their_order_and_collapse_duplicates():
    assert names(["worker", "api", "worker"]) == (["worker", "api"], True)


def test_a_pattern_matches_program_names_shell_style():
    assert names(["web-*"]) == (["web-1", "web-2"], True)
    assert names(["web-[2]"]) == (["web-2"], True)
    assert names(["?pi"]) == (["api"], True)


def test_a_pattern_is_case_sensitive():
    with pytest.raises(ProgramUndefined):
        names(["WEB*"])


def test_a_group_and_a_name_mix_and_collapse():
    assert names(["@web", "api", "worker"]) == (["web-1", "web-2", "api", "worker"], True)


def test_all_is_every_program_for_stop_and_the_enabled_ones_for_start():
    assert names(["all"])[0] == ["web-1", "web-2", "api", "worker", "old"]
    assert names(["all"], "start")[0] == ["web-1", "web-2", "api", "worker"]


def test_a_pattern_or_group_leaves_disabled_programs_out_of_a_start():
    assert names(["@jobs"], "start") == (["worker"], True)
    assert names(["@jobs"], "stop") == (["worker", "old"], True)


def test_a_disabled_program_named_alone_is_refused_for_start():
    with pytest.raises(ProgramDisabled, match="old is disabled"):
        names(["old"], "start")
    with pytest.raises(ProgramDisabled):
        names(["old"], "try-restart")
    assert names(["old"], "stop") == (["old"], False)
    assert names(["old"], "signal") == (["old"], False)


def test_a_disabled_program_named_among_others_is_passed_on_to_report_its_own_result():
    assert names(["old", "api"], "start") == (["old", "api"], True)


def test_a_selection_of_disabled_programs_only_is_refused():
    only_old = _Config(_Program("old", enabled=False))
    with pytest.raises(ProgramDisabled, match="every program it names is disabled"):
        select_programs(only_old, ["o*"], "start")


def test_a_pattern_that_matches_nothing_is_an_error_listing_the_names():
    with pytest.raises(ProgramUndefined, match="'db\\*' matches no program. Defined: web-1"):
        names(["db*"])


def test_an_unknown_group_lists_the_groups_and_the_closest():
    with pytest.raises(ProgramUndefined, match="did you mean '@jobs'\\?.*Groups: @web, @jobs"):
        names(["@job"])


def test_a_group_when_no_program_has_one_says_how_to_make_one():
    with pytest.raises(ProgramUndefined, match="add 'group = web'"):
        select_programs(_Config(_Program("a")), ["@web"], "stop")


def test_one_bad_word_stops_the_whole_selection():
    with pytest.raises(ProgramUndefined):
        names(["api", "nosuch*"])


def test_no_words_is_an_error():
    with pytest.raises(ProgramUndefined):
        select_programs(CONFIG, [], "stop")


def test_needs_all_only_for_all_patterns_and_groups():
    assert not needs_all(["web", "api"])
    assert needs_all(["web", "all"]) and needs_all(["w*"]) and needs_all(["@web"])


def test_a_name_that_looks_like_a_pattern_or_group_names_that_program():
    odd = _Config(_Program("what?"), _Program("whats"), _Program("@x"), _Program("all"))
    chosen = select_programs(odd, ["what?"], "stop")
    assert [p.name for p in chosen.programs] == ["what?"] and not chosen.several
    assert [p.name for p in select_programs(odd, ["@x"], "stop").programs] == ["@x"]
    chosen = select_programs(odd, ["all"], "stop")  # all is all, as in 1.5.13
    assert len(chosen.programs) == 4 and chosen.several
