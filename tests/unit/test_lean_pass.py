"""The periodic pass (Daemon.reconcile) with fakes: after a pass with nothing
happening since, only the programs the last full pass found busy are looked at,
plus the pass's turn of descendants; any event, reload or unwatchable pidfile
directory, and every FULL_PASS_EVERY-th pass, looks at every program again."""

import types

import pytest

from usrsvcmod.daemon import core


class Program:
    def __init__(self, log, name, quiet=True):
        self.log, self.name, self.is_quiet = log, name, quiet

    def quiet(self):
        return self.is_quiet

    def sync(self, table):
        self.log.append(("sync", self.name))
        if self.settles:  # e.g. found running at the first pass: quiet from now on
            self.is_quiet = True

    settles = False

    def note_family(self):
        self.log.append(("family", self.name))


@pytest.fixture
def daemon(monkeypatch):
    monkeypatch.setattr(core, "FAMILY_SLICE", 2)
    log = []
    fake = types.SimpleNamespace(
        log=types.SimpleNamespace(debug=lambda *a: None), clock=lambda: 0.0,
        pidwatch=types.SimpleNamespace(uncovered=set(), refresh=lambda: None),
        bus=types.SimpleNamespace(count=0), generation=0, _family_cursor=0,
        _busy=None, _busy_key=None, _lean_passes=0, _items_list=[], _items_key=None,
        _check_state=lambda: None, _repair_own_pidfile=lambda: None, _say_polled=lambda: None,
        _guard=lambda fn, where, *args: fn(*args), calls=log)
    fake.programs = {n: Program(log, n) for n in ("a", "b", "c", "d", "e")}
    fake.programs["c"].is_quiet = False  # e.g. stopped by the user
    for name in ("_items", "_pass_key"):
        setattr(fake, name, getattr(core.Daemon, name).__get__(fake))
    fake._still_busy = core.Daemon._still_busy
    fake.reconcile = core.Daemon.reconcile.__get__(fake)
    return fake


def one_pass(daemon):
    del daemon.calls[:]
    daemon.reconcile()
    return [c for c in daemon.calls if c[0] == "sync"], [c[1] for c in daemon.calls
                                                         if c[0] == "family"]


def test_an_idle_pass_looks_only_at_the_busy_ones_and_its_turn_of_descendants(daemon):
    synced, family = one_pass(daemon)  # the first pass is a full one
    assert synced == [("sync", "c")] and family == ["a", "b"]
    daemon.programs["e"].is_quiet = False  # changed with no event: seen by a full pass only
    synced, family = one_pass(daemon)
    assert synced == [("sync", "c")] and family == ["d"]  # e is not quiet now: no notes
    for _ in range(core.FULL_PASS_EVERY - 2):
        synced, _family = one_pass(daemon)
        assert ("sync", "e") not in synced
    synced, _family = one_pass(daemon)  # the FULL_PASS_EVERY-th: every program again
    assert synced == [("sync", "c"), ("sync", "e")]


@pytest.mark.parametrize("what", ["event", "reload", "uncovered"])
def test_anything_that_happened_makes_the_next_pass_a_full_one(daemon, what):
    one_pass(daemon)
    daemon.programs["a"].is_quiet = False
    assert one_pass(daemon)[0] == [("sync", "c")]
    if what == "event":
        daemon.bus.count += 1
    elif what == "reload":
        daemon.generation += 1
    else:
        daemon.pidwatch.uncovered.add("b")  # its directory can no longer be watched
    synced, _family = one_pass(daemon)
    assert ("sync", "a") in synced and ("sync", "c") in synced
    assert (("sync", "b") in synced) == (what == "uncovered")


def test_without_inotify_every_program_is_looked_at_every_pass(daemon):
    daemon.pidwatch = None
    for _ in range(3):
        synced, family = one_pass(daemon)
        assert [n for _s, n in synced] == ["a", "b", "c", "d", "e"] and family == []


def test_a_program_that_its_look_made_quiet_is_not_looked_at_again(daemon):
    """At usrsvcd's start every program is busy until its first look finds it
    running: the lean passes after that must not look at all of them again."""
    for program in daemon.programs.values():
        program.is_quiet, program.settles = False, True
    daemon.programs["c"].settles = False
    synced, _family = one_pass(daemon)
    assert len(synced) == 5
    synced, _family = one_pass(daemon)
    assert synced == [("sync", "c")]
