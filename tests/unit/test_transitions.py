"""A program's life under usrsvcd (daemon/program.py), replayed without processes.

A fake world stands in for the daemon: a fake clock and timers, a watcher
whose processes exit when the test says so, a launcher whose launches
succeed or fail as scripted, and runtime state (stop marks, locks) in
memory. Each test is a short history and the states and events it must
produce.
"""

import errno
import heapq
import itertools
import os

import pytest

from usrsvcmod.config.model import Monitoring, Program
from usrsvcmod.daemon.program import ProgramState
from usrsvcmod.errors import LaunchError, TryAgain
from usrsvcmod.proc.identity import Found
from usrsvcmod.proc.kill import Stopping
from usrsvcmod.proc.procfs import ProcInfo

WALL0 = 1_800_000_000.0


def program(**changes):
    values = dict(
        name="web", command="web --serve", argv=("web", "--serve"), useshell=False,
        pidfile="/nonexistent/web.pid", stdout="/nonexistent/web.log", stderr=None, enabled=True,
        autopid=True, scan_for_process=True, proctitle_re="web", autostart=True,
        autorestart=True, maxrestarts=0, restart_delay=0.0, restart_delay_max=60.0,
        success_seconds=2.0, term_to_kill_seconds=8.0, inherit_env=True, email_alerts=(),
        stdout_maxbytes=0, stdout_backups=10, stderr_maxbytes=0, stderr_backups=10,
        directory="/", umask=None, stop_signal=15, kill_descendants=True, env=(),
        monitoring=Monitoring(monitor_after=30.0, rss_limit=0, activityfile=None,
                              activityfile_limit=120.0, rss_scope="process"),
        source="/x.cfg", title_suffix="web --serve", proctitle_risky=False,
        reload_signal=1, group=None, logger=None,
        type="service", timeout=300.0, requires=())
    values.update(changes)
    return Program(**values)


class Watched:
    def __init__(self, pid, start_time, key, keep):
        self.pid, self.start_time, self.key, self.keep = pid, start_time, key, keep
        self.exited = self.closed = False
        self.fd = 1000 + pid if keep else None  # a pretend pidfd: never used as an fd

    def close(self):
        self.closed, self.fd = True, None


class Watcher:
    def __init__(self):
        self.live = []

    def add(self, pid, start_time, key=None, keep=False):
        watched = Watched(pid, start_time, key, keep)
        self.live.append(watched)
        return watched

    def discard(self, watched):
        if watched in self.live:
            self.live.remove(watched)
        watched.close()


class Launch:
    def __init__(self, program, pid, start_time):
        self.program, self.pid, self.start_time, self.sid = program, pid, start_time, pid


class Settling:
    """Succeeds or fails at the end of the window, as the world's script says."""

    def __init__(self, launch, outcome):
        self.launch, self.program, self.outcome = launch, launch.program, outcome
        self.done, self.error, self.info, self.note, self.leftover = False, None, None, None, []
        self.tracked = None

    def watch(self, watcher):
        self.tracked = watcher.add(self.launch.pid, self.launch.start_time, self)

    def exited(self, watcher, table):
        self.done, self.error = True, "pid %d exited within success_seconds" % self.launch.pid

    def expire(self, table):
        self.done = True
        if self.outcome == "ok":
            self.info = ProcInfo(self.launch.pid, 1, self.launch.pid, "S", self.launch.start_time,
                                 os.geteuid(), list(self.program.argv))
        else:
            self.error = "no process matching proctitle_re"
            if self.outcome == "leftover":
                self.leftover = [ProcInfo(self.launch.pid, 1, self.launch.pid, "S",
                                          self.launch.start_time, os.geteuid(), ["stray"])]

    def confirm(self, records):
        return []

    def close(self):
        pass


class State:
    """Runtime state in memory: stop marks and locks."""

    def __init__(self):
        self.stopped, self.locked = set(), set()

    def is_stopped(self, name):
        return name in self.stopped

    def lock(self, name, timeout=30):
        if name in self.locked:
            raise TryAgain("locked")
        return os.open(os.devnull, os.O_RDONLY)

    def read_record(self, name):
        return None


class World:
    def __init__(self):
        self.now = 0.0
        self.heap, self.seq = [], itertools.count()
        self.watcher, self.state = Watcher(), State()
        self.events, self.launches, self.signals = [], [], []
        self.outcomes = []  # "ok" (default), "die", "leftover", "raise"
        self.running_copy = None  # a ProcInfo find() reports (a copy started by hand)
        self.notes = []  # what find() notes (a stale pidfile it could not remove...)
        self.exit_codes = {}  # pid -> ExitStatus the pidfd will tell
        self.next_pid = 100
        self.fd_short = False  # a lock's descriptor eats into the reserve

    # the interface ProgramState uses
    def fds_short(self, fd):
        return self.fd_short

    @staticmethod
    def fd_shortage():
        return "waiting for a free file descriptor"

    def watch_pidfile(self, name):
        pass

    def clock(self):
        return self.now

    def wall(self):
        return WALL0 + self.now

    def call_later(self, delay, fn):
        entry = [self.now + max(0.0, delay), next(self.seq), fn]
        heapq.heappush(self.heap, entry)
        return entry

    @staticmethod
    def cancel(entry):
        if entry is not None:
            entry[2] = None

    def emit(self, event):
        self.events.append(event)

    def find(self, program, table, scan=True, gone=None):
        found = Found(notes=self.notes)
        if self.running_copy is not None:
            found = Found(self.running_copy.pid, self.running_copy, "pidfile", self.notes)
        return found

    def launch(self, program, done, wanted):
        """Launches at once (the daemon batches the launches of one turn)."""
        if not wanted():
            return
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if outcome == "raise":
            done(LaunchError("cannot execute 'web': No such file or directory"), {})
            return
        if outcome == "emfile":
            done(LaunchError("cannot launch 'web': no free file descriptor", errno=errno.EMFILE), {})
            return
        self.next_pid += 1
        launch = Launch(program, self.next_pid, self.wall())
        launch.outcome = outcome
        self.launches.append(launch)
        done(launch, {})

    def settling(self, launch, offsets):
        return Settling(launch, launch.outcome)

    def stopping(self, owner, info, sig, grace, descendants):
        return Stopping(owner, info, sig, grace, descendants, sender=self._send)

    def _send(self, watched, sig):
        if watched.exited:
            return False
        self.signals.append((watched.pid, sig))
        return True

    table = staticmethod(lambda: None)
    descendants = staticmethod(lambda pid: [])

    @staticmethod
    def alive(info):
        return False

    @staticmethod
    def family(program, info):
        return []

    def exit_supported(self):
        return True

    def exit_status(self, watched, at=None):
        return self.exit_codes.get(watched.pid)

    def exit_unknown_text(self):
        return "exit status unknown (kernel < 6.15)"

    # driving the history
    def advance(self, seconds):
        """Let time pass, running the timers that come due, in order."""
        end = self.now + seconds
        while self.heap and self.heap[0][0] <= end:
            due, _, fn = heapq.heappop(self.heap)
            self.now = max(self.now, due)
            if fn is not None:
                fn()
        self.now = end

    def exit(self, pid):
        """The process ``pid`` ends: every watch on it fires, as the loop routes them."""
        for watched in [w for w in self.watcher.live if w.pid == pid and not w.exited]:
            watched.exited = True
            self.watcher.live.remove(watched)
            if not watched.keep:
                watched.close()
            key = watched.key
            if isinstance(key, tuple):
                key[0].on_watch(key[1], watched)
            elif isinstance(key, Settling):
                key.owner.on_settle_exit(watched)
            elif isinstance(key, Stopping):
                key.key.on_stop_exit(watched)

    def names(self):
        return [e.name for e in self.events]


@pytest.fixture
def world():
    return World()


def started(world, **changes):
    """A program the daemon has autostarted and seen through its success window."""
    state = ProgramState(program(**changes), world)
    state.sync(None)
    world.advance(state.program.success_seconds)
    assert state.state == "running", (state.state, state.reason)
    return state


def test_autostart_launches_then_runs(world):
    state = ProgramState(program(), world)
    assert state.sync(None)
    assert state.state == "starting" and len(world.launches) == 1
    world.advance(2.0)
    assert state.state == "running" and state.info.pid == world.launches[0].pid
    assert world.names() == ["launched", "started", "autostarted"]
    assert state.attempts == 1 and state.restarts == 0


def test_a_crash_is_restarted_at_once_and_the_alert_waits_for_the_exit_status(world):
    from usrsvcmod.proc.exitinfo import ExitStatus

    state = started(world)
    first = state.info.pid
    world.exit_codes[first] = ExitStatus(code=42, signal=None, core=False, at=WALL0)
    world.advance(100.0)  # it had been up long: stable
    world.exit(first)
    assert state.state == "starting" and len(world.launches) == 2  # no wait at all
    world.advance(2.0)
    assert state.state == "running" and state.restarts == 1
    restarted = [e for e in world.events if e.name == "restarted"]
    assert len(restarted) == 1 and "exited with status 42" in restarted[0].reason
    assert restarted[0].fields["subject"].startswith("[usrsvcd] web: restarted")
    assert state.view()["last_exit"]["code"] == 42


def test_a_crash_loop_backs_off_and_shows_when_it_retries(world):
    state = started(world)
    gaps = []
    for _ in range(5):
        world.advance(3.0)  # dies 3 s after each start: never stable
        world.exit(state.info.pid)
        if state.state == "backoff":
            assert state.view()["next_retry"] > world.wall()
            gaps.append(round(state.view()["next_retry"] - world.wall()))
            world.advance(gaps[-1])
        world.advance(2.0)
        assert state.state == "running"
    assert gaps == [1, 2, 4, 8]  # the first restart was immediate


def test_maxrestarts_counts_short_runs_too_and_gives_up(world):
    state = started(world, maxrestarts=3)
    for _ in range(3):
        world.advance(3.0)
        world.exit(state.info.pid)
        world.advance(20.0)
    assert state.state == "gave_up", state.reason
    assert len(world.launches) == 3
    gave_up = [e for e in world.events if e.name == "gave_up"]
    assert gave_up and gave_up[0].level == "error" and "subject" in gave_up[0].fields


def test_a_stable_run_starts_the_series_over(world):
    state = started(world, maxrestarts=2)
    world.advance(3.0)
    world.exit(state.info.pid)  # a short run: failure 1, restarted at once (attempt 2)
    world.advance(2.0)
    world.advance(120.0)  # then it stayed up: stable
    world.exit(state.info.pid)
    assert state.state == "starting", state.reason  # not given up: the count started over
    assert state.attempts == 1


def test_failed_starts_back_off_and_never_spin(world):
    world.outcomes = ["raise", "raise", "raise", "ok"]
    state = ProgramState(program(), world)
    state.sync(None)
    assert state.state == "backoff" and "failure 1" in state.reason
    world.advance(1.0)
    assert state.state == "backoff" and "failure 2" in state.reason
    world.advance(2.0)
    assert state.state == "backoff" and "failure 3" in state.reason
    world.advance(4.0)
    world.advance(2.0)
    assert state.state == "running"
    assert world.names().count("start_failed") == 3


def test_the_retry_waits_until_the_failed_attempts_leftovers_are_gone(world):
    world.outcomes = ["leftover", "ok"]
    state = ProgramState(program(term_to_kill_seconds=5.0), world)
    state.sync(None)
    stray = world.launches[0].pid
    world.advance(2.0)  # window over: failed, its stray process gets the stop signal
    assert (stray, 15) in world.signals
    world.advance(4.0)  # the stray ignores it: no new launch while it lives
    assert len(world.launches) == 1 and state.state == "stopping"
    world.advance(2.0)
    assert (stray, 9) in world.signals  # SIGKILL after term_to_kill_seconds
    assert len(world.launches) == 1
    world.exit(stray)
    world.advance(1.0)  # then the retry (1 s backoff)
    assert len(world.launches) == 2


def test_a_user_stop_is_respected(world):
    state = started(world)
    world.state.stopped.add("web")
    world.exit(state.info.pid)
    assert state.state == "stopped_by_user"
    world.advance(60.0)
    assert len(world.launches) == 1


def test_a_busy_lock_is_retried_not_raced(world):
    world.state.locked.add("web")
    state = ProgramState(program(), world)
    state.schedule_start("autostart")
    assert state.state == "backoff" and "another usrsvc" in state.reason
    world.state.locked.clear()
    world.advance(1.0)
    assert state.state == "starting"


def test_no_free_descriptor_for_the_lock_waits_its_turn_without_counting(world):
    world.fd_short = True
    state = ProgramState(program(maxrestarts=1), world)
    state.schedule_start("autostart")
    assert state.state == "backoff" and "free file descriptor" in state.reason
    world.advance(5.0)  # retried every second, said once, never given up on
    assert state.state == "backoff" and world.names().count("busy") == 1
    assert not world.launches and state.attempts == 0
    world.fd_short = False
    world.advance(1.0)
    assert state.state == "starting" and len(world.launches) == 1


def test_a_launch_failing_for_emfile_is_retried_later_not_given_up(world):
    world.outcomes = ["emfile", "emfile", "ok"]
    state = ProgramState(program(maxrestarts=1), world)
    state.schedule_start("autostart")
    assert state.state == "backoff" and "free file descriptor" in state.reason
    assert state.attempts == 0 and "start_failed" in world.names()
    world.advance(0.5)
    assert state.state == "backoff"  # no tight loop: nothing before BUSY_RETRY
    world.advance(2.0)
    assert state.state == "starting" and len(world.launches) == 1 and state.attempts == 1


def test_every_start_looks_first_and_adopts_a_copy_started_by_hand(world):
    state = started(world)
    world.advance(100.0)
    world.running_copy = ProcInfo(999, 1, 999, "S", world.wall(), os.geteuid(), ["web", "--serve"])
    world.exit(state.info.pid)
    assert state.state == "running" and state.info.pid == 999
    assert len(world.launches) == 1 and world.names()[-1] == "found_running"


def test_a_monitor_restart_stops_then_starts_without_counting(world):
    state = started(world, maxrestarts=1)
    pid = state.info.pid
    state.restart("rss_limit: RSS 9000 KiB > limit 100 KiB", "monitor_breach")
    assert state.state == "stopping" and (pid, 15) in world.signals
    world.advance(8.0)
    assert (pid, 9) in world.signals  # ignored the stop signal: SIGKILL
    world.exit(pid)
    assert state.state == "starting" and state.attempts == 1  # not counted
    world.advance(2.0)
    assert state.state == "running" and state.info.pid != pid


def test_disabling_leaves_it_running_and_says_so(world):
    state = started(world)
    pid = state.info.pid
    state.program = program(enabled=False)
    assert state.sync(None)
    assert state.state == "disabled" and "left running" in state.reason
    assert world.events[-1].name == "disabled" and world.events[-1].pid == pid
    world.exit(pid)
    world.advance(60.0)
    assert state.state == "disabled" and len(world.launches) == 1


def test_without_pidfd_exit_info_the_status_says_why(world):
    world.exit_supported = lambda: False
    state = started(world)
    world.exit(state.info.pid)
    assert state.last_exit_text == "exit status unknown (kernel < 6.15)"


def test_every_state_is_from_the_vocabulary(world):
    from usrsvcmod.daemon.program import STATES

    state = started(world, maxrestarts=2)
    seen = {state.state}
    for _ in range(3):
        world.advance(3.0)
        world.exit(state.info.pid) if state.running else None
        seen.add(state.state)
        world.advance(5.0)
        seen.add(state.state)
    assert seen <= set(STATES)


def test_a_problem_that_stays_is_noted_once_not_on_every_pass(world):
    stale = "left pidfile /tmp/web.pid in place: it is owned by uid 1001 (mallory), not by you"
    world.notes = [stale]
    state = ProgramState(program(autostart=False), world)  # down, looked at each pass
    for _ in range(5):  # five reconcile passes
        state.sync(None)
    assert [e.reason for e in world.events if e.name == "note"] == [stale]
    world.notes = []
    state.sync(None)
    world.notes = [stale]  # gone, then back: worth saying again
    state.sync(None)
    assert [e.reason for e in world.events if e.name == "note"] == [stale, stale]
