"""PidfileWatch on a real inotify descriptor: which programs an event names."""

import os

import pytest

from usrsvcmod.daemon.pidwatch import PidfileWatch


@pytest.fixture
def watch():
    seen = []
    w = PidfileWatch.open(lambda names: seen.append(set(names)))
    if w is None:
        pytest.skip("inotify is not available here")
    w.seen = seen
    yield w
    w.close()


def test_an_event_names_only_the_programs_of_that_file(tmp_path, watch):
    a, b = tmp_path / "a.pid", tmp_path / "b.pid"
    watch.configure([("a", str(a)), ("b", str(b)), ("c", None)])
    assert watch.uncovered == set() and list(watch.dirs) == [str(tmp_path)]
    (tmp_path / "unrelated").write_text("x")
    watch.readable()
    assert watch.seen == []
    a.write_text("123\n")
    watch.readable()
    assert watch.seen == [{"a"}]
    tmp = tmp_path / "b.tmp"
    tmp.write_text("7\n")
    os.rename(tmp, b)
    watch.readable()
    assert watch.seen[-1] == {"b"}


def test_a_directory_that_goes_is_polled_until_it_is_back(tmp_path, watch):
    d = tmp_path / "run"
    d.mkdir()
    watch.configure([("a", str(d / "a.pid"))])
    assert watch.uncovered == set()
    os.rename(d, tmp_path / "gone")
    watch.readable()
    assert watch.seen[-1] == {"a"}
    assert watch.uncovered == {"a"}  # the pass stats its pidfile again
    d.mkdir()
    del watch.seen[:]
    watch.refresh()
    assert watch.uncovered == set()
    # looked at once it is back: its pidfile belongs in the new directory
    assert watch.seen == [{"a"}]
    (d / "a.pid").write_text("1\n")
    watch.readable()
    assert watch.seen[-1] == {"a"}


def test_a_missing_directory_is_not_covered_and_a_removed_program_is_forgotten(tmp_path, watch):
    watch.configure([("a", str(tmp_path / "nope" / "a.pid")), ("b", str(tmp_path / "b.pid"))])
    assert watch.uncovered == {"a"}
    watch.configure([("a", str(tmp_path / "nope" / "a.pid"))])
    assert watch.uncovered == {"a"} and watch.dirs == {}


def test_two_programs_sharing_a_pidfile_are_both_looked_at(tmp_path, watch):
    path = str(tmp_path / "shared.pid")
    watch.configure([("a", path), ("b", path)])
    (tmp_path / "shared.pid").write_text("1\n")
    watch.readable()
    assert watch.seen[-1] == {"a", "b"}
