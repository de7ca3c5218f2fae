"""The status page's memory of the last hour (usrsvcmod/api/history.py)."""

from usrsvcmod.api.history import History

T0 = 1_800_000_000.0


def prog(name, rss=None, **fields):
    return dict(fields, name=name, rss_kb=rss)


def test_rss_is_recorded_per_program_oldest_first():
    h = History()
    h.observe([prog("web", 1000), prog("db", 5000)], T0)
    h.observe([prog("web", 1200), prog("db", 5100)], T0 + 60)
    assert [kb for _, kb in h.rss("web", T0 + 60)] == [1000, 1200]
    assert [kb for _, kb in h.rss("db", T0 + 60)] == [5000, 5100]
    (first, _), (last, _) = h.rss("web", T0 + 60)
    assert T0 - 60 < first < last <= T0 + 60  # times within the sample's minute
    assert h.rss("nobody", T0) == []


def test_a_fast_timer_keeps_one_sample_per_slot_the_highest():
    h = History(window=3600, slots=60)  # a slot is a minute
    for i in range(60):  # one observation a second for a minute
        h.observe([prog("web", 1000 + (500 if i == 7 else i))], T0 + i)
    samples = h.rss("web", T0 + 59)
    assert len(samples) <= 2
    assert max(kb for _, kb in samples) == 1500  # the spike is kept, not averaged away


def test_memory_is_bounded_whatever_the_rate_and_the_duration():
    h = History(window=3600, slots=60, max_events=30)
    for i in range(20000):  # more than five hours at one observation a second
        h.observe([prog("web", i)], T0 + i)
        h.event("restarted", "web", T0 + i, "x" * 10000)
    assert len(h._rss["web"].slot) == len(h._rss["web"].kb) == 60
    assert len(h._events["web"]) == 30
    assert all(len(reason) <= 120 for _, _, _, reason in h._events["web"])
    end = T0 + 19999
    samples = h.rss("web", end)
    assert len(samples) == 60 and all(at >= end - 3600 for at, _ in samples)
    assert samples[-1][1] == 19999


def test_samples_older_than_the_window_are_dropped():
    h = History(window=3600)
    h.observe([prog("web", 1)], T0)
    h.observe([prog("web", 2)], T0 + 3000)
    h.observe([prog("web", 3)], T0 + 3700)
    assert [kb for _, kb in h.rss("web", T0 + 3700)] == [2, 3]
    # and what the page asks for later is cut at the window too
    assert [kb for _, kb in h.rss("web", T0 + 6650)] == [3]
    assert h.rss("web", T0 + 7400) == []


def test_programs_that_vanish_are_forgotten_with_their_events():
    h = History()
    h.observe([prog("web", 1), prog("old", 2)], T0)
    h.event("restarted", "old", T0)
    h.observe([prog("web", 1)], T0 + 30)
    assert h.names() == {"web"}
    assert h.rss("old", T0 + 30) == [] and h.events("old", T0 + 30) == []


def test_only_timeline_events_are_kept_with_their_kind_and_reason():
    h = History()
    h.observe([prog("web", 1)], T0)
    h.event("note", "web", T0 + 1, "a note")
    h.event("ready", "web", T0 + 2)
    h.event("exited", "web", T0 + 3, "after 5s of uptime")
    h.event("restarted", "web", T0 + 4)
    h.event("gave_up", "web", T0 + 5)
    h.event("stopped", "web", T0 + 6)
    assert h.events("web", T0 + 10) == [
        (T0 + 3, "exit", "exited", "after 5s of uptime"), (T0 + 4, "restart", "restarted", ""),
        (T0 + 5, "failure", "gave_up", ""), (T0 + 6, "stop", "stopped", "")]


def test_missing_or_odd_fields_are_tolerated():
    h = History()
    h.observe([{"name": "a"}, {"name": "b", "rss_kb": None}, {"name": "c", "rss_kb": "12"},
               {"name": "d", "rss_kb": True}, {"rss_kb": 5}, {"name": 7, "rss_kb": 5}], T0)
    assert all(h.rss(n, T0) == [] for n in "abcd")
    h.event("restarted", None, T0)  # an event of no program
    h.observe({"web": {"rss_kb": 10.7}}, T0)  # the snapshot's shape: name -> fields
    assert h.rss("web", T0) == [(T0, 10)]
