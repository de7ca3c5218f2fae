"""[[Hooks]] and restart_every in a program's life under usrsvcd, replayed with
the fake world of test_transitions (hooks answer when the test says so), plus
the config side: the duration converter and [[Hooks]] from DefaultSettings."""

import pytest

from test_transitions import World, program, started  # noqa: F401 (fixture helpers)
from usrsvcmod.config import spec
from usrsvcmod.config.model import Hooks
from usrsvcmod.daemon.program import ProgramState
from usrsvcmod.proc.hooks import HookResult


class HookWorld(World):
    """Hooks run "off the loop": their results arrive when the test delivers them."""

    def __init__(self):
        super().__init__()
        self.hooks = []  # [moment, pid, done]

    def run_hook(self, program, moment, pid, done):
        self.hooks.append([moment, pid, done])

    def answer(self, status=0):
        moment, pid, done = self.hooks.pop(0)
        result = HookResult(self_program(self), moment)
        result.status = status
        done(result)
        return moment


def self_program(world):
    return program(hooks=HOOKS)


HOOKS = Hooks(pre_start="prepare", post_start="warm", pre_stop="drain", post_stop="clean",
              timeout=30.0)


@pytest.fixture
def world():
    return HookWorld()


def test_pre_start_runs_before_the_launch_and_post_start_after_it(world):
    state = ProgramState(program(hooks=HOOKS), world)
    state.sync(None)
    assert state.state == "starting" and world.launches == []  # waiting for pre_start
    assert world.answer() == "pre_start" and len(world.launches) == 1
    world.advance(2.0)
    assert state.state == "running"
    assert world.hooks[0][:2] == ["post_start", state.info.pid]


def test_a_failing_pre_start_is_a_failed_start_and_nothing_is_launched(world):
    state = ProgramState(program(hooks=HOOKS), world)
    state.sync(None)
    world.answer(status=3)
    assert world.launches == [] and state.state == "backoff"
    failed = [e for e in world.events if e.name == "start_failed"]
    assert "pre_start hook failed: exit status 3" in failed[0].reason
    assert state.lock_fd is None  # the lock taken for the start was given back


def test_a_result_for_a_program_let_go_meanwhile_is_dropped(world):
    state = ProgramState(program(hooks=HOOKS), world)
    state.sync(None)
    state.forget()
    world.answer()
    assert world.launches == []


def test_a_restart_runs_pre_stop_then_stops_then_post_stop_then_starts(world):
    state = started(world, hooks=Hooks(pre_start=None, post_start=None, pre_stop="drain",
                                       post_stop="clean", timeout=30.0))
    pid = state.info.pid
    state.restart("rss_limit: too big", "monitor_breach")
    assert state.state == "stopping" and world.signals == []  # pre_stop first
    state.restart("again", "monitor_breach")  # a second reason meanwhile: one restart
    assert [h[0] for h in world.hooks] == ["pre_stop"]
    world.answer(status=1)  # a failing pre_stop does not stop the stop
    assert (pid, 15) in world.signals
    assert any(e.name == "hook_failed" for e in world.events)
    world.exit(pid)
    assert state.state == "stopping" and len(world.launches) == 1  # post_stop first
    assert world.answer() == "post_stop" and len(world.launches) == 2
    world.advance(2.0)
    assert state.state == "running" and state.info.pid != pid


def test_restart_every_restarts_counted_from_the_start_and_never_alerts(world):
    state = started(world, restart_every=100.0)  # up since t=0 (launched at once)
    first = state.info.pid
    world.advance(97.0)
    assert state.info.pid == first
    world.advance(1.0)
    assert state.state == "stopping" and (first, 15) in world.signals
    assert any(e.name == "planned_restart" for e in world.events)
    world.exit(first)
    world.advance(2.0)
    assert state.state == "running" and state.info.pid != first
    restarted = [e for e in world.events if e.name == "restarted"]
    assert len(restarted) == 1 and "subject" not in restarted[0].fields  # no mail
    assert state.restarts == 1 and state.attempts == 1  # not a failure, not counted


def test_restart_every_skips_the_round_after_a_restart_in_between(world):
    state = started(world, restart_every=100.0)
    world.advance(50.0)
    world.exit(state.info.pid)  # a crash at t=52: the new run counts from its own start
    world.advance(2.0)
    second = state.info.pid
    world.advance(60.0)  # t=114: past the first run's round
    assert state.info.pid == second and state.state == "running"
    world.advance(50.0)  # t=164: 100 s after the second start
    assert state.state == "stopping"


@pytest.mark.parametrize("text, seconds", [
    ("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0), ("2", 2.0), ("1.5", 1.5), ("1d", 86400.0),
    ("1h 30m", 5400.0), ("250ms", 0.25)])
def test_durations_take_units_or_plain_seconds(text, seconds):
    assert spec.duration(0.0, 10 ** 8)(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5x", "-1", "1h30", "m", "1e999"])
def test_a_bad_duration_says_what_is_expected(text):
    with pytest.raises(ValueError, match="30s, 5m, 1h30m"):
        spec.duration(0.0, 10 ** 8)(text)


def test_restart_every_is_off_or_at_least_a_second():
    convert = spec.PROGRAM_KEYS["restart_every"][0]
    assert convert("0") == 0.0 and convert("6h") == 21600.0
    with pytest.raises(ValueError, match="at least 1s"):
        convert("0.2")


def test_hooks_merge_from_default_settings_key_by_key(tmp_path):
    from usrsvcmod.config.loader import load

    cfg = tmp_path / "usrsvc.cfg"
    cfg.write_text(
        "[DefaultSettings:base]\n"
        "  [[Hooks]]\n  pre_start = echo base\n  post_stop = echo cleaned\n  timeout = 5s\n"
        "[Program:web]\ncommand = /bin/sleep 100\npidfile = %s/web.pid\nstdout = %s/web.log\n"
        "defaults = base\n"
        "  [[Hooks]]\n  pre_start = echo mine\n"
        "[Program:plain]\ncommand = /bin/sleep 101\npidfile = %s/p.pid\nstdout = %s/p.log\n"
        % ((tmp_path,) * 4))
    config = load(str(cfg))
    hooks = config.programs["web"].hooks
    assert (hooks.pre_start, hooks.post_stop, hooks.pre_stop, hooks.timeout) == \
        ("echo mine", "echo cleaned", None, 5.0)
    assert config.programs["plain"].hooks == Hooks(pre_start=None, post_start=None,
                                                   pre_stop=None, post_stop=None, timeout=30.0)


def test_an_unknown_hook_key_is_named_with_its_fix(tmp_path):
    from usrsvcmod.config.loader import load
    from usrsvcmod.errors import ConfigError

    cfg = tmp_path / "usrsvc.cfg"
    cfg.write_text("[Program:web]\ncommand = /bin/sleep 100\npidfile = %s/web.pid\n"
                   "stdout = %s/web.log\n  [[Hooks]]\n  prestart = echo\n" % (tmp_path, tmp_path))
    with pytest.raises(ConfigError) as err:
        load(str(cfg))
    assert "unknown key 'prestart'; did you mean 'pre_start'?" in "\n".join(err.value.problems)
