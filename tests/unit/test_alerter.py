"""Alerter: rate limit, held-back summaries with times, kept across a daemon restart
(fake clocks, a dict for the state directory, mails captured instead of sent)."""

import email
import json
import socket
import types

import pytest

from usrsvcmod.daemon import alerts
from usrsvcmod.daemon.alerts import Alerter


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


class Log:
    def __init__(self):
        self.lines = []

    def event(self, program, event, reason="", **fields):
        self.lines.append((program, event, reason))

    error = event


class World:
    """One machine: a wall clock and a state directory shared by successive daemons."""

    def __init__(self):
        self.wall = Clock(1_700_000_000.0)
        self.files = {}
        self.sent = []  # (program, to, subject, body)

    def daemon(self, interval=60.0, programs=None, monotonic=1000.0):
        main = types.SimpleNamespace(alert_interval=interval, email_from="usrsvcd@example.org")
        programs = programs if programs is not None else {"web": program("web")}
        d = types.SimpleNamespace(clock=Clock(monotonic), timers=[], log=Log())
        d.alerter = Alerter(main, d.log, d.clock, schedule=lambda delay, fn: d.timers.append(
            [d.clock.now + delay, fn]), store=(self.files.get, self.files.__setitem__),
            lookup=programs.get, wall=self.wall)
        d.alerter._send_async = lambda name, to, subject, body: self.sent.append(
            (name, tuple(to), subject, body))
        return d

    def advance(self, d, seconds):
        """Time passes for the machine and ``d``; its due timers run."""
        self.wall.now += seconds
        d.clock.now += seconds
        due = [t for t in d.timers if t[0] <= d.clock.now]
        d.timers = [t for t in d.timers if t[0] > d.clock.now]
        for _, fn in due:
            fn()


def program(name, to=("ops@example.com",)):
    return types.SimpleNamespace(name=name, email_alerts=tuple(to))


def test_held_alerts_are_summed_up_with_their_times():
    world = World()
    d = world.daemon()
    web = program("web")
    d.alerter.alert(web, "web: started", "first")
    world.advance(d, 5)
    d.alerter.alert(web, "web: restarted (one)", "b")
    first_time = alerts.when(world.wall.now)
    world.advance(d, 7)
    d.alerter.alert(web, "web: restarted (two)", "c")
    second_time = alerts.when(world.wall.now)
    assert [m[2] for m in world.sent] == ["web: started"]
    world.advance(d, 47)  # 59 s after the first mail: still held
    assert len(world.sent) == 1
    world.advance(d, 1.5)
    assert len(world.sent) == 2
    name, to, subject, body = world.sent[1]
    assert subject == "[usrsvcd] web: 2 alert(s) held back" and to == ("ops@example.com",)
    assert "  - %s  web: restarted (one)" % first_time in body
    assert "  - %s  web: restarted (two)" % second_time in body
    world.advance(d, 120)
    assert len(world.sent) == 2  # the summary went once


def test_next_mail_carries_what_was_held_and_the_timer_then_does_nothing():
    world = World()
    d = world.daemon(interval=10)
    web = program("web")
    d.alerter.alert(web, "a", "1")
    world.advance(d, 2)
    d.alerter.alert(web, "b", "2")
    at = alerts.when(world.wall.now)
    d.timers.clear()  # as if the flush timer were late: the next alert comes first
    world.advance(d, 9)
    d.alerter.alert(web, "c", "3")
    assert [m[2] for m in world.sent] == ["a", "c"]
    assert "1 earlier alert(s) for web were held back" in world.sent[1][3]
    assert "  - %s  b" % at in world.sent[1][3]
    assert d.alerter.held == {}


def test_held_alerts_survive_a_restart_and_are_sent_once():
    world = World()
    old = world.daemon(interval=60)
    web = program("web")
    old.alerter.alert(web, "started", "x")
    world.advance(old, 10)
    old.alerter.alert(web, "restarted 1", "y")
    old.alerter.alert(web, "restarted 2", "z")
    saved = json.loads(world.files[alerts.STORE_NAME])
    assert [s for _, s in saved["programs"]["web"]["held"]] == ["restarted 1", "restarted 2"]
    world.wall.now += 5  # old daemon stops; the new one starts 5 s later, another clock
    new = world.daemon(interval=60, monotonic=50.0)
    new.alerter.restore()
    assert ("alerts_restored" in [e[1] for e in new.log.lines])
    # rate limit kept: a new alert within the interval joins the summary, no mail
    new.alerter.alert(web, "restarted 3", "w")
    assert len(world.sent) == 1
    world.advance(new, 44)  # 59 s after the first mail
    assert len(world.sent) == 1
    world.advance(new, 2)
    assert [m[2] for m in world.sent] == ["started", "[usrsvcd] web: 3 alert(s) held back"]
    for subject in ("restarted 1", "restarted 2", "restarted 3"):
        assert subject in world.sent[1][3]
    # and a third daemon finds nothing left to send
    third = world.daemon(interval=60, monotonic=7.0)
    third.alerter.restore()
    world.advance(third, 600)
    assert len(world.sent) == 2


def test_interval_ended_while_no_daemon_ran_summary_at_once():
    world = World()
    old = world.daemon(interval=30)
    web = program("web")
    old.alerter.alert(web, "started", "x")
    old.alerter.alert(web, "restarted", "y")
    world.wall.now += 300
    new = world.daemon(interval=30)
    new.alerter.restore()
    world.advance(new, 0)
    assert [m[2] for m in world.sent] == ["started", "[usrsvcd] web: 1 alert(s) held back"]


def test_restore_sends_to_current_recipients_or_drops_when_alerts_were_turned_off():
    world = World()
    old = world.daemon(interval=30, programs={})
    for name in ("moved", "off", "gone"):
        old.alerter.alert(program(name, ["old@example.com"]), "started", "x")
        old.alerter.alert(program(name, ["old@example.com"]), "restarted", "y")
    new = world.daemon(interval=30, programs={"moved": program("moved", ["new@example.com"]),
                                              "off": program("off", [])})
    new.alerter.restore()
    world.advance(new, 31)
    summaries = {m[0]: m[1] for m in world.sent if "held back" in m[2]}
    assert summaries == {"moved": ("new@example.com",), "gone": ("old@example.com",)}
    assert ("off", "alerts_dropped") in [(e[0], e[1]) for e in new.log.lines]


@pytest.mark.parametrize("junk", [b"{", b"[]", b'{"programs": {"web": {"held": 5}}}',
                                  b'{"programs": {"web": {"last_sent": "x"}}}'])
def test_unreadable_store_is_said_and_ignored(junk):
    world = World()
    world.files[alerts.STORE_NAME] = junk
    d = world.daemon()
    d.alerter.restore()
    assert [e[1] for e in d.log.lines] == ["state_error"]
    d.alerter.alert(program("web"), "started", "x")
    assert len(world.sent) == 1


def test_a_flapping_program_lists_at_most_held_max():
    world = World()
    d = world.daemon(interval=3600)
    web = program("web")
    for n in range(alerts.HELD_MAX + 8):
        d.alerter.alert(web, "alert %d" % n, "")
    world.advance(d, 3600)
    body = world.sent[-1][3]
    assert world.sent[-1][2] == "[usrsvcd] web: %d alert(s) held back" % (alerts.HELD_MAX + 7)
    assert "... and 7 more" in body and body.count("\n  - ") == alerts.HELD_MAX + 1


def test_store_forgets_programs_whose_interval_is_over():
    world = World()
    d = world.daemon(interval=10)
    d.alerter.alert(program("a"), "started", "")
    world.advance(d, 11)
    d.alerter.alert(program("b"), "started", "")
    assert list(json.loads(world.files[alerts.STORE_NAME])["programs"]) == ["b"]


def test_message_has_date_and_message_id_without_asking_dns(monkeypatch):
    def no_dns(*args):
        raise AssertionError("socket.getfqdn was called")

    monkeypatch.setattr(socket, "getfqdn", no_dns)
    world = World()
    d = world.daemon()
    message = d.alerter._message(["ops@example.com"], "web: started\x1b[2J",
                                 "pid 1: a\n.\nb \x07")
    parsed = email.message_from_bytes(message.as_bytes())
    assert parsed["Message-ID"].startswith("<") and parsed["Message-ID"].endswith("@example.org>")
    stamp = email.utils.parsedate_to_datetime(parsed["Date"]).timestamp()
    assert stamp == world.wall.now
    assert "\x1b" not in parsed["Subject"] and "\x07" not in parsed.get_payload()
    assert "\n.\n" in parsed.get_payload()  # text kept; sendmail -oi keeps it whole

    d.alerter.main.email_from = None  # USER@HOSTNAME: the local host name, still no DNS
    message = d.alerter._message(["ops@example.com"], "s", "b")
    assert message["Message-ID"].endswith("@%s>" % socket.gethostname())
