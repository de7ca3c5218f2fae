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
        stdout_maxbytes=0, stdout_backups=10, stderr_maxbytes=0, stderr_backups=10,
        kill_descendants=True, env=(), source="/tmp/x.cfg", title_suffix="sleep 1",
        proctitle_risky=False, reload_signal=1, group=None, logger=None, type="service", timeout=300.0, requires=(),
        monitoring=Monitoring(monitor_after=30.0, rss_limit=0, activityfile=None,
                              activityfile_limit=120.0, rss_scope="process"))
    values.update(changes)
    return Program(**values)


def test_first_restart_after_a_crash_is_immediate():
    p = program(restart_delay=5, restart_delay_max=60)
    assert policy.retry_delay(p, 1, crashed=True) == 0.0
    assert policy.next_start(p, 1, 1, 99.0, 100.0, crashed=True) == 100.0


def test_a_crash_loop_backs_off_from_one_second_doubling_to_the_cap():
    p = program(restart_delay_max=10)
    assert [policy.retry_delay(p, n, crashed=True) for n in range(1, 8)] == [0, 1, 2, 4, 8, 10, 10]


def test_failed_starts_back_off_from_the_first_retry():
    p = program(restart_delay_max=60)
    assert [policy.retry_delay(p, n, crashed=False) for n in range(1, 5)] == [1, 2, 4, 8]


def test_restart_delay_is_the_least_gap():
    p = program(restart_delay=5, restart_delay_max=60)
    assert policy.retry_delay(p, 2, crashed=True) == 5
    assert policy.next_start(p, 2, 2, 100.0, 101.0, crashed=True) == 106.0
    assert policy.retry_delay(p, 9, crashed=True) == 60


def test_backoff_off_is_the_old_pace():
    p = program(restart_delay_max=0)
    assert policy.retry_delay(p, 7, crashed=True) == 0.0  # crashes restarted at once
    assert policy.retry_delay(p, 7, crashed=False) == policy.MIN_RETRY_GAP  # never spins


def test_stable_takes_success_seconds_plus_a_minute():
    p = program(success_seconds=2.0)
    assert not policy.stable(p, 3.0)
    assert not policy.stable(p, 61.9)
    assert policy.stable(p, 62.0)
    assert not policy.stable(p, None)


def test_maxrestarts_counts_attempts():
    p = program(maxrestarts=3)
    assert policy.next_start(p, 3, 3, 0.0, 10.0, crashed=True) is None
    assert policy.next_start(p, 2, 2, 0.0, 10.0, crashed=True) is not None


def test_unlimited_when_maxrestarts_is_zero():
    assert policy.next_start(program(maxrestarts=0), 1000, 1, 0.0, 10.0, crashed=True) == 10.0


def test_wants_start():
    assert not policy.wants_start(program(autostart=False), True, False, False)
    assert policy.wants_start(program(autostart=False), False, False, False)  # autorestart
    assert not policy.wants_start(program(), False, True, False)  # the user stopped it
    assert not policy.wants_start(program(), False, False, True)  # gave up
    assert not policy.wants_start(program(enabled=False), True, False, False)


def test_reload_diff():
    old = {"a": program(name="a"), "b": program(name="b"), "c": program(name="c")}
    new = {"a": program(name="a"), "b": program(name="b", restart_delay=3.0), "d": program(name="d")}
    assert diff(old, new) == (["d"], ["b"], ["c"])
