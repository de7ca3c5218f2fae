"""Restart policy as pure functions: maxrestarts, immediate first restart, backoff."""

from usrsvcmod.config.model import Monitoring, Program
from usrsvcmod.daemon import policy
from usrsvcmod.daemon.reload import diff


def program(**changes):
    values = dict(
        name="p", command="sleep 1", argv=("sleep", "1"), useshell=False, pidfile="/tmp/p.pid",
        stdout="/tmp/p.log", stderr=None, enabled=True, autopid=True, scan_for_process=True,
        proctitle_re="sleep 1", autostart=True, autorestart=True, maxrestarts=0,
        restart_delay=0.0, restart_delay_max=0.0, success_seconds=2.0, term_to_kill_seconds=8.0,
        inherit_env=True, email_alerts=(), directory="/tmp", umask=None, stop_signal=15,
        kill_descendants=True, env=(), source="/tmp/x.cfg", title_suffix="sleep 1",
        monitoring=Monitoring(monitor_after=30.0, rss_limit=0, activityfile=None,
                              activityfile_limit=120.0))
    values.update(changes)
    return Program(**values)


def test_first_restart_after_a_crash_is_immediate():
    tracker = policy.Tracker(program(restart_delay=5))
    tracker.last_attempt = 99.0
    assert policy.next_start(tracker, 100.0, crashed=True) == 100.0


def test_later_attempts_keep_restart_delay_apart():
    tracker = policy.Tracker(program(restart_delay=5))
    tracker.attempts, tracker.last_attempt = 1, 100.0
    assert policy.next_start(tracker, 101.0) == 105.0
    tracker.attempts = 4
    assert policy.next_start(tracker, 101.0) == 105.0  # no backoff without restart_delay_max


def test_backoff_doubles_up_to_the_cap():
    p = program(restart_delay=1, restart_delay_max=6)
    gaps = [policy.gap(p, n) for n in range(1, 7)]
    assert gaps == [1, 2, 4, 6, 6, 6]


def test_a_zero_delay_never_spins():
    assert policy.gap(program(), 3) == policy.MIN_RETRY_GAP


def test_maxrestarts_counts_attempts_and_resets_when_seen_running():
    tracker = policy.Tracker(program(maxrestarts=3))
    tracker.attempts, tracker.last_attempt = 3, 0.0
    assert policy.next_start(tracker, 10.0) is None
    tracker.seen_running()
    assert tracker.attempts == 0
    assert policy.next_start(tracker, 10.0, crashed=True) == 10.0


def test_unlimited_when_maxrestarts_is_zero():
    tracker = policy.Tracker(program(maxrestarts=0))
    tracker.attempts, tracker.last_attempt = 1000, 0.0
    assert policy.next_start(tracker, 10.0) is not None


def test_wants_start():
    tracker = policy.Tracker(program(autostart=False))
    assert not policy.wants_start(tracker, True, False)
    assert policy.wants_start(tracker, False, False)  # autorestart of one seen running
    assert not policy.wants_start(tracker, False, True)  # the user stopped it
    tracker.gave_up = True
    assert not policy.wants_start(tracker, False, False)
    assert not policy.wants_start(policy.Tracker(program(enabled=False)), True, False)


def test_reload_diff():
    old = {"a": program(name="a"), "b": program(name="b"), "c": program(name="c")}
    new = {"a": program(name="a"), "b": program(name="b", restart_delay=3.0), "d": program(name="d")}
    assert diff(old, new) == (["d"], ["b"], ["c"])
