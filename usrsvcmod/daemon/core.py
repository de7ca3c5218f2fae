"""The usrsvcd loop: sleep until something happens, then hand it to a program.

Wake-ups come from a pidfd per watched process (an exit is seen at once),
from the wake-up pipe (signals, and work submitted by other threads) and
from timers (restart backoff, success windows, stop escalation, monitor
ticks, the periodic reconcile that catches pidfile changes and hand-started
programs). Signal handlers only record; the loop acts; no exception ends
the loop. The life of each program is in program.py (ProgramState); this
module routes events to it and publishes what happened: events go to the
sinks (log, alerts), and after each burst a snapshot goes to the status
file. Services are never our children and nothing here stops them on exit,
except in container init mode (usrsvcd --init: initmode.py), where a PID 1
leaving would kill them all anyway: then they are stopped in order first.
"""

import collections
import os
import select
import signal
import time

from ..errors import ConfigError, UsrsvcError
from ..proc import fdlimit, identity, procfs, settle, spawn
from ..proc.kill import Stopping
from ..proc.watch import HAVE_PIDFD, ExitWatcher
from . import events, notify, statefiles
from .alerts import Alerter
from .monitors import MonitorDuty
from .program import ProgramState
from .rotation import RotationDuty
from .timers import Timers

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
STATUS_DELAY = 0.2  # seconds: usrsvcd.status trails events by at most this
# descendants read per reconcile pass (each about 10 us of /proc): below this many
# programs every one each pass; above, in turns (each every N/FAMILY_SLICE passes)
FAMILY_SLICE = 256
PIDFILE_LOOKS = (0.2, 1.2)  # seconds after an inotify event, the program is looked at
IO_BUDGET = 0.005  # seconds of API work per turn of the loop (then exits and timers again)
# a pass after which nothing happened (no event, no reload, no pidfile directory lost)
# looks only at the programs the last full pass found busy (not quiet), and at its
# turn of descendants; every FULL_PASS_EVERY-th pass looks at every program again
FULL_PASS_EVERY = 8
TRIM_PROGRAMS = 1000  # from this many programs, every snapshot gives its heap back
# from this many programs a snapshot is encoded and written by a child (a fork): at
# 10,000 the JSON and the view take about 120 ms, which the loop would wait out
WRITER_PROGRAMS = 1000
WRITER_WAIT = 10.0  # seconds usrsvcd waits for the last snapshot's writer on its way out
TRIM_BATCH = 32  # launches in one turn after which the heap is given back once all settle


class Daemon:
    """The loop, and the world each ProgramState acts through."""

    def __init__(self, config, log, state, loader, clock=time.monotonic):
        self.config = config
        self.log = log
        self.state = state  # the runtime state directory (marks, locks, records)
        self.loader = loader  # () -> Config, raises ConfigError
        self.clock = clock
        # the loop holds a pidfd per program and a lock per start: room for them
        # first; the services get back the soft limit we were given
        self.nofile = fdlimit.raise_soft()
        self.fd_limit = fdlimit.soft()
        self.polled_said = 0  # processes watched by polling, as last logged
        self.watcher = ExitWatcher(poll_interval=0.5)
        self.timers = Timers(clock)
        self.flags = set()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.inbox = events.Inbox(self.wake_w)
        self.bus = events.Bus(self.log.exception)
        self.alerter = Alerter(config.main, log, clock, schedule=self.call_later,
                               store=(state.read, self._state_writer),
                               lookup=lambda name: self.config.programs.get(name))
        self.bus.sinks += [events.log_sink(log), self._alert_sink]
        self.duty = MonitorDuty(self)
        self.rotation = RotationDuty(self)  # logs over their limit, checked on a timer
        self.running = False
        self.generation = 0
        self.status_timer = None
        self.published = -1  # bus.count at the last snapshot
        self.writer = None  # (pid, pidfd) of the child writing the last snapshot
        self.write_again = False  # something changed while it wrote
        self.launches = []  # (program, done, wanted) asked for during this turn
        self.envs = {}  # name -> environment built off the loop for its launch this turn
        self.trim_pending = False  # a big batch of launches left a high heap: give it back
        self.middles = []  # first children of launches, still to be reaped
        self._turn_table = settle.TableOnce()  # see table()
        self.pidwatch = None  # inotify on the pidfile directories (pidwatch.py)
        self._family_cursor = 0  # where the next pass's turn of descendant reads begins
        self._busy = None  # names the last full pass did not find quiet (None: none yet)
        self._busy_key = None  # what had happened by then (see _pass_key)
        self._lean_passes = 0  # passes since the last full one
        self._items_list, self._items_key = [], None  # see _items
        self.programs = collections.OrderedDict(
            (name, ProgramState(program, self)) for name, program in config.programs.items())
        self._exitinfo = None
        self._pidfile_error = None  # the last failure to repair our own pidfile (logged once)
        self.init_mode = False  # usrsvcd --init (initmode.py): set by runner before run()
        self.implicit = {}  # init mode: name -> the oneshot jobs it waits for (initmode.py)
        self.console = None  # init mode: the pipes of stdout = - (console.py)
        self.api = None  # the HTTP API's sockets and event ring (api/listen.py)
        self.io_pending = []  # API callbacks left for the next turn (IO_BUDGET)
        self.exit_code = 0
        self.zygote_retry = 0.0  # no new launch helper before this (clock), see _zygote

    # -- the world a ProgramState acts through ------------------------------------
    def call_later(self, delay, fn):
        return self.timers.call_later(delay, fn)

    cancel = staticmethod(Timers.cancel)

    wall = staticmethod(time.time)

    def emit(self, event):
        self.bus.emit(event)

    def submit(self, fn, *args):
        """The one way another thread reaches the loop (and program state)."""
        self.inbox.submit(fn, *args)

    def find(self, program, table, scan=True, gone=None):
        found = identity.find(program, table if table is not None else settle.TableOnce(),
                              self.state, scan=scan, gone=gone)
        found.notes.extend(identity.repair(program, found, self.state))
        return found

    def fds_short(self, fd):
        """True when ``fd`` (a start's lock) eats into the reserve kept for launches."""
        return fdlimit.in_reserve(fd, fdlimit.RESERVE, self.fd_limit)

    def fd_shortage(self):
        return ("waiting for a free file descriptor (usrsvcd's open-files limit is %d: starts"
                " take turns; raise the hard limit to start more at once)" % self.fd_limit)

    def launch(self, program, done, wanted):
        """Launch ``program`` at the end of this turn, with every other launch of
        the turn (their forks and execs overlap); then ``done(Launch or error,
        log offsets)``, unless ``wanted()`` says it is no longer wanted. Its logs
        are rotated first if they outgrew their limits (off the loop)."""
        self._guard(self.rotation.check, "log rotation of %s" % program.name, program)
        if program.env_file or program.env_command is not None:  # files, a command: off the loop
            from . import envwork

            def queue(env):
                self.envs[program.name] = env
                self.launches.append((program, done, wanted))

            envwork.build_then(self, program, queue)
            return
        self.launches.append((program, done, wanted))

    def _zygote(self):
        """Launches go through a zygote once we have many programs (proc/zygote.py): a
        fork of this process would copy a pidfd per program and a big heap each time.
        One that died is replaced, at most every few seconds."""
        from ..proc import zygote

        if zygote.current() is not None or self.init_mode \
                or not zygote.wanted(len(self.programs)):
            return
        now = self.clock()
        if now < self.zygote_retry:
            return
        self.zygote_retry = now + zygote._RETRY
        if zygote.start() is None:
            self.log.event(None, "zygote", "cannot start the launch helper: launches fork usrsvcd")

    def _flush_launches(self):
        if self.launches:
            self._zygote()
        while self.launches:
            batch, self.launches = [item for item in self.launches if item[2]()], []
            offsets = [spawn.log_offsets(program) for program, _, _ in batch]
            envs = {p.name: self.envs.pop(p.name) for p, _, _ in batch if p.name in self.envs}
            self.envs.clear()  # built for launches no longer wanted: dropped, not kept
            outcomes = spawn.launch_many([program for program, _, _ in batch], nofile=self.nofile,
                                         streams=self._streams(), envs=envs)
            self.trim_pending = self.trim_pending or len(batch) >= TRIM_BATCH
            for (program, done, _), offset, (_, outcome) in zip(batch, offsets, outcomes):
                if getattr(outcome, "middle", None):
                    self.middles.append(outcome.middle)
                self._guard(done, "launch of %s" % program.name, outcome, offset)

    def _streams(self):
        """The FIFO of each program with a logger (proc/logger.py)."""
        from ..proc import logger

        return logger.service_streams(self.state)

    def run_hook(self, program, moment, pid, done):
        """Run a [[Hooks]] command in a worker thread (bounded by its timeout);
        ``done(HookResult)`` then runs on the loop, through submit."""
        import threading

        def job():
            from ..proc import hooks

            try:
                result = hooks.run(program, moment, pid)
            except Exception as err:  # noqa: BLE001 - a bug: said as the hook's failure
                self.log.exception("%s hook of %s" % (moment, program.name))
                result = hooks.HookResult(program, moment)
                result.error = "%s: %s" % (type(err).__name__, err)
            self.submit(done, result)

        threading.Thread(target=job, name="hook-%s" % program.name, daemon=True).start()

    def settling(self, launch, offsets):
        return settle.Settling(launch, offsets, self.clock)

    stopping = Stopping  # (owner, info, stop_signal, grace, descendants)
    def table(self):
        """This turn's process table: built on first use, shared by every start that
        fails or settles in the turn (a mass crash read /proc once per program)."""
        return self._turn_table()

    descendants = staticmethod(procfs.descendants)

    @staticmethod
    def alive(info):
        return procfs.alive(info.pid, info.start_time)

    def family(self, program, info):
        return identity.family(self.table(), program, info.pid)

    def _exit_module(self):
        if self._exitinfo is None:
            from ..proc import exitinfo

            self._exitinfo = exitinfo
        return self._exitinfo

    def exit_supported(self):
        return self._exit_module().supported()

    def exit_status(self, watched, at=None):
        status = self._exit_module().read(watched.fd, at) if watched.fd is not None else None
        if status is None and getattr(self, "init_mode", False):
            from . import initmode

            raw = initmode.reaped_status(watched.pid)  # collected by our reaper parent
            if raw is not None:
                status = self._exit_module().ExitStatus.from_wait_status(raw, at=at)
        return status

    def exit_unknown_text(self):
        return self._exit_module().UNKNOWN_OLD_KERNEL

    # -- sinks ------------------------------------------------------------------------
    def _alert_sink(self, event):
        subject = event.fields.get("subject")
        program = self.config.programs.get(event.program) if event.program else None
        if subject and program is not None:
            self.alerter.alert(program, subject, event.fields.get("body", subject))

    # -- timers, guards ------------------------------------------------------------------
    def _run_timers(self):
        for fn in self.timers.due():
            self._guard(fn, "timer")

    def _guard(self, fn, where, *args):
        try:
            fn(*args)
        except Exception:  # the loop must survive anything; log it with its traceback
            self.log.exception(where)

    # -- signals ----------------------------------------------------------------------
    def _on_signal(self, signum, frame):
        self.flags.add(signum)

    def _install_signals(self):
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        for sig in _STOP_SIGNALS + (signal.SIGUSR1, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        self.watcher.add_wakeup(self.wake_r)

    def _handle_flags(self):
        flags, self.flags = self.flags, set()
        if any(sig in flags for sig in _STOP_SIGNALS):
            self.log.event(None, "exiting", "signal received; " + (
                "stopping every program (init mode)" if self.init_mode
                else "services are left running"))
            self.running = False
        if signal.SIGHUP in flags:
            self.log.reopen()
            self.log.event(None, "logs_reopened")
        if signal.SIGUSR1 in flags:
            self._guard(self.reload, "reload")

    # -- the loop ---------------------------------------------------------------------------
    def run(self):
        self._install_signals()
        self.running = True
        if not HAVE_PIDFD:
            self.log.event(None, "polling", "pidfd is not available: exits are seen by polling /proc")
        self.log.event(None, "started", "pid %d, %d program(s) from %s"
                       % (os.getpid(), len(self.programs), ", ".join(self.config.files)))
        self._guard(self.alerter.restore, "restoring held alerts")  # before any new alert
        self._guard(self._open_api, "opening the API")
        self._guard(self._open_pidwatch, "watching pidfile directories")
        self._guard(self.reconcile, "first pass")
        self._flush_launches()
        self._schedule_reconcile()
        self.duty.schedule()
        self.rotation.schedule()
        self._publish_now(inline=True)  # written before anyone is told usrsvcd is up
        notify.notify("READY=1\nSTATUS=managing %d programs" % len(self.programs))
        try:
            while self.running:
                self.step(self.timers.timeout())
        finally:
            notify.notify("STOPPING=1")
            self.shutdown()

    def step(self, timeout):
        """One turn of the loop: wait, then handle signals, exits, submitted work, timers."""
        if self.middles:  # they exit within a millisecond or two of a launch
            timeout = 0.01 if timeout is None else min(timeout, 0.01)
        if self.io_pending:  # API work left over from the last turn: look, do not sleep
            timeout = 0
        exited = self.watcher.wait(timeout)
        self._turn_table.reset()  # read /proc at most once per turn, after its exits
        if self.middles:
            self.middles = spawn.reap(self.middles)
        if self.flags:
            self._guard(self._handle_flags, "signal handling")
            if not self.running:
                return
        for watched in exited:
            self._guard(self._route, "exit of pid %d" % watched.pid, watched)
        for fn, args in self.inbox.drain():
            self._guard(fn, "submitted work", *args)
        self._run_timers()
        if self.running:  # not once an init job failed (init mode): all is about to stop
            self._flush_launches()
        if self.watcher.io_ready or self.io_pending:
            self._serve_api()
        if self.bus.count != self.published:
            self._publish()

    def look_again(self, names):
        """Reconcile these programs now (an action of the API just ran usrsvc on them)."""
        table = settle.TableOnce()
        for name in names:
            program = self.programs.get(name)
            if program is not None:
                self._guard(program.sync, "sync of %s" % name, table)

    def _open_api(self):
        from ..api.listen import Api

        api = Api(self)
        api.open()
        self.api = api
        self.bus.sinks.append(api.sink)

    def _serve_api(self):
        """The API's sockets, after everything else of the turn and for about
        IO_BUDGET seconds: what is left waits for the next turn (after its exits,
        timers and launches), so clients can slow the API, never a restart."""
        known = {id(fn) for fn, _ in self.io_pending}
        ready = self.io_pending + [item for item in self.watcher.io_ready if id(item[0]) not in known]
        self.watcher.io_ready, self.io_pending = [], []
        deadline = self.clock() + IO_BUDGET
        for at, (fn, revents) in enumerate(ready):
            if self.clock() > deadline:
                self.io_pending = ready[at:]
                return
            self._guard(fn, "API connection", revents)

    def _route(self, watched):
        """An exit reported by the watcher goes to the program it belongs to."""
        key = watched.key
        if isinstance(key, tuple):
            owner, kind = key
        elif isinstance(key, settle.Settling):
            owner, kind = getattr(key, "owner", None), "settle"
        elif isinstance(key, Stopping):
            owner, kind = key.key, "stop"
        else:
            return
        if isinstance(owner, ProgramState) and self.programs.get(owner.name) is owner:
            owner.on_watch(kind, watched)
        elif kind == "main":
            watched.close()

    def shutdown(self):
        """Let go of everything; the services keep running (in init mode they
        are stopped, dependents first, and their last lines copied out)."""
        self._guard(self.wait_writer, "the snapshot writer")
        self.alerter.wait()
        if self.api is not None:
            self._guard(self.api.close, "closing the API")
        if self.pidwatch is not None:
            self.watcher.remove_io(self.pidwatch.fd)
            self.pidwatch.close()
        for program in self.programs.values():
            program.forget()
        if self.init_mode:
            from . import initmode

            self._guard(initmode.stop_all, "stopping the programs", self)
            if self.console is not None:
                self.console.close()
        self.watcher.close()
        from ..proc import zygote

        zygote.stop()

    def init_failed(self, name, text):
        """Init mode: a oneshot job failed; usrsvcd stops everything and exits 137."""
        from ..exitcodes import FAILED_TO_LAUNCH

        if self.init_mode and self.running:
            self.log.error(name, "init_failed", "oneshot job %s: stopping every program and"
                           " exiting with status %d" % (text, FAILED_TO_LAUNCH))
            self.exit_code = FAILED_TO_LAUNCH
            self.running = False

    # -- reconcile -----------------------------------------------------------------------------
    def _schedule_reconcile(self):
        def tick():
            self.reconcile()
            self._schedule_reconcile()
            if self.api is not None:
                self._guard(self.api.tick, "the page's history")

        self.call_later(self.config.main.reconcile_interval, tick)

    def reconcile(self):
        """One look at every program: one /proc scan at most, shared by all.

        A program that runs, whose exit its pidfd reports and whose pidfile
        change inotify reports (pidwatch.py), has nothing to look at but its
        descendants (noted for a crash): those are read for FAMILY_SLICE
        programs per pass, in turns, so a pass over 10,000 programs costs a few
        milliseconds, not a stat and a /proc read per program."""
        table = settle.TableOnce()
        started = self.clock()
        self._check_state()
        watch = self.pidwatch
        if watch is not None:
            watch.refresh()
        items = self._items()
        count = len(items)
        turn = min(count, FAMILY_SLICE)
        first = self._family_cursor % count if count else 0
        # this pass's turn of descendant reads: `turn` programs from `first`, wrapping
        window = items[first:first + turn] + items[:max(0, first + turn - count)]
        uncovered = watch.uncovered if watch is not None else None
        if self._busy is not None and self._busy_key == self._pass_key() \
                and self._lean_passes < FULL_PASS_EVERY - 1:
            # nothing has happened since the last full pass: what it found quiet still is
            self._lean_passes += 1
            busy = []
            for name in self._busy:
                program = self.programs.get(name)
                if program is not None:
                    self._guard(program.sync, "reconcile of %s" % name, table)
                    if self._still_busy(name, program, uncovered):
                        busy.append(name)
            self._busy = busy
            for name, program in window if uncovered is not None else ():
                if name not in uncovered and program.quiet():
                    self._guard(program.note_family, "descendants of %s" % name)
        else:
            family = {id(program) for _, program in window}
            busy = []
            for name, program in items:
                if uncovered is not None and name not in uncovered and program.quiet():
                    if id(program) in family:
                        self._guard(program.note_family, "descendants of %s" % name)
                    continue
                self._guard(program.sync, "reconcile of %s" % name, table)
                if self._still_busy(name, program, uncovered):
                    busy.append(name)
            self._busy, self._lean_passes = busy, 0
        self._busy_key = self._pass_key()
        self._family_cursor = first + turn
        self._repair_own_pidfile()
        self._say_polled()
        self.log.debug(None, "reconciled", "%d program(s) in %.1f ms"
                       % (len(self.programs), (self.clock() - started) * 1000))

    @staticmethod
    def _still_busy(name, program, uncovered):
        """After its look: must the next lean pass look at it again? (Not once it
        runs quietly: just adopted or started, it is quiet from now on.)"""
        return uncovered is None or name in uncovered or not program.quiet()

    def _items(self):
        """(name, program) of every program, in config order: a list made again only
        after a reload (the one thing that changes self.programs)."""
        key = (self.generation, id(self.programs), len(self.programs))
        if self._items_key != key:
            self._items_list, self._items_key = list(self.programs.items()), key
        return self._items_list

    def _pass_key(self):
        """What a lean pass must not have missed: every event (a state changed),
        every reload, and the pidfile directories inotify cannot watch."""
        watch = self.pidwatch
        return (self.bus.count, self.generation,
                frozenset(watch.uncovered) if watch is not None else None)

    def _open_pidwatch(self):
        from .pidwatch import PidfileWatch

        self.pidwatch = PidfileWatch.open(self._pidfiles_changed)
        if self.pidwatch is None:
            self.log.debug(None, "pidwatch", "inotify is not available: pidfiles are polled")
            return
        self.watcher.add_io(self.pidwatch.fd, select.POLLIN, self.pidwatch.readable)
        self._configure_pidwatch()

    def _pidfiles_changed(self, names):
        """inotify named these programs' pidfiles. Look a moment later (whoever
        wrote one, a usrsvc start, still holds the program's lock: a look now would
        find it busy and wait for the next pass) and once more after a second
        (the look of a program busy the first time)."""
        names = sorted(names)
        for delay in PIDFILE_LOOKS:
            self.call_later(delay, lambda: self.look_again(
                [n for n in names if n in self.programs]))

    def _configure_pidwatch(self):
        if self.pidwatch is not None:
            self.pidwatch.configure((name, state.program.pidfile)
                                    for name, state in self.programs.items())

    def watch_pidfile(self, name):
        """A program runs: its pidfile's directory exists now; watch it if not yet."""
        if self.pidwatch is not None and name in self.pidwatch.uncovered:
            self.pidwatch.refresh()

    def _check_state(self):
        """The runtime state directory is still the one held (else it is made and
        checked again, and the instance lock and pidfile follow: RuntimeState.dirfd)."""
        try:
            self.state.dirfd()
            self._state_error = None
        except (OSError, UsrsvcError) as err:
            error = getattr(err, "message", None) or str(err)
            if error != getattr(self, "_state_error", None):  # once, not every pass
                self.log.error(None, "state_error", error)
            self._state_error = error

    def _say_polled(self):
        """Once per change: how many processes have no pidfd (a low open-files limit)."""
        polled = self.watcher.polled
        if polled == self.polled_said or not HAVE_PIDFD:
            return
        self.polled_said = polled
        self.log.event(None, "polling", "%d process(es) watched by polling /proc every %gs: the"
                       " open-files limit (%d) leaves no room for their pidfds"
                       % (polled, self.watcher.poll_interval, self.fd_limit) if polled else
                       "every process has a pidfd again")

    def _repair_own_pidfile(self):
        path = getattr(self, "own_pidfile", None)
        if path:
            from .runner import repair_pidfile

            try:
                if repair_pidfile(path, os.getpid()):
                    self.log.event(None, "pidfile_repaired", "rewrote %s" % path, os.getpid())
                self._pidfile_error = None
            except OSError as err:  # e.g. paths.Refused: another user's file in its place
                error = "cannot write %s: %s" % (path, err.strerror)
                if error != self._pidfile_error:  # once, not on every reconcile pass
                    self.log.error(None, "pidfile_error", error)
                self._pidfile_error = error

    # -- reload -----------------------------------------------------------------------------------
    def reload(self):
        """SIGUSR1: validate the whole new config, then apply it or keep the old one."""
        from .reload import diff

        notify.notify("RELOADING=1")
        self.generation += 1
        try:
            new = self.loader()
            if not self.init_mode:  # stdout = -: only a parent can give that pipe
                from ..initmode import refuse

                refuse(new.programs.values())
        except Exception as err:  # ConfigError, or a loader bug: the old config stays whole
            problems = err.problems if isinstance(err, ConfigError) else [
                "unexpected %s: %s (a bug; please report it)" % (type(err).__name__, err)]
            if not isinstance(err, ConfigError):
                self.log.exception("reload")
            for line in problems:
                self.log.error(None, "reload_rejected", line)
            self.emit(events.Event("reload_rejected", None, "kept the previous configuration",
                                   level="error"))
            self._write_reload("error", problems)
            notify.notify("READY=1")
            return
        added, changed, removed = diff(self.config.programs, new.programs)
        for name in removed:
            self.programs.pop(name).forget()
            self.log.event(name, "removed", "no longer managed; left as it is")
        self.config = new
        if self.init_mode:
            from .initmode import implicit_requires

            self.implicit = implicit_requires(new)
        self.log.fmt = new.main.log_format
        self.alerter.configure(new.main)
        for name in changed:
            self._apply_change(self.programs[name], new.programs[name], new.main.restart_on_change)
        table = settle.TableOnce()
        for name in added:
            state = self.programs[name] = ProgramState(new.programs[name], self)
            self.log.event(name, "added")
            self._guard(state.sync, "sync of %s" % name, table)
        self.programs = collections.OrderedDict((n, self.programs[n]) for n in new.programs)
        self.duty.schedule()
        self.rotation.schedule()
        self.emit(events.Event(
            "reloaded", None, "%d added, %d changed, %d removed"
            % (len(added), len(changed), len(removed))))
        self._configure_pidwatch()
        self._write_reload("ok", [])
        self._publish()
        notify.notify("READY=1")

    def _apply_change(self, state, program, restart_on_change):
        was_enabled = state.program.enabled
        every_changed = state.program.restart_every != program.restart_every
        state.program = program
        if every_changed and state.running:  # a plan of ours, not a launch setting: now
            from . import hooks

            hooks.schedule_every(state)
        if not program.enabled:
            state.disable()
            return
        if not was_enabled:
            state.seen, state.attempts, state.failures = False, 0, 0  # looked at afresh
            state._to("stopped", "enabled again", "changed")
            state.sync(settle.TableOnce())
            return
        if restart_on_change and state.state == "starting":
            state.changed_while_starting = True  # applied once the start settles
            self.log.event(program.name, "changed", "applied once its start settles")
            return
        edited = self._edited_since_launch(state) if restart_on_change else []
        blockers = _start_blockers(program) if edited else []
        if blockers:  # stopping it would only trade a running service for a failed start
            self.log.event(program.name, "changed", "config changed since start (%s) but not"
                           " restarted: its new settings would not start (%s); left running"
                           % (", ".join(edited), "; ".join(blockers)), state.info.pid)
        elif edited:
            reason = "config changed since start (%s)" % ", ".join(edited)
            state.restart(reason, "config_changed")
        else:
            self.log.event(program.name, "changed", "launch settings take effect at its next"
                           " start; probes, hooks and restart_every apply now")

    def _edited_since_launch(self, state):
        """Launch settings edited since the running process was launched (its record)."""
        if not state.running or state.state != "running":
            return []
        record = self.state.read_record(state.name)
        if record is None or record.pid != state.info.pid:
            return []  # adopted, or started by something that kept no record
        return record.changed(state.program)

    # -- what `usrsvcd status` and `usrsvcd reread` read --------------------------------------
    def _write_reload(self, status, problems):
        statefiles.write_reload(self._state_writer, self.generation, status, problems)

    def _state_writer(self, name, data):
        """Write a file of ours in the runtime state directory (made again if it
        moved or vanished: RuntimeState.dirfd); a failure is logged, never fatal."""
        try:
            self.state.write(name, data)
        except (OSError, UsrsvcError) as err:
            self.log.error(None, "state_error", "cannot write %s in %s: %s" % (
                name, self.state.path, getattr(err, "message", None) or err.strerror or err))

    def publish(self):
        """A state's reason changed without an event (a readiness probe's last error)."""
        self._publish()

    def _publish(self):
        """Soon, once: a burst of events (a `stop all`) writes one snapshot, not one per event."""
        if self.status_timer is None:
            self.status_timer = self.call_later(STATUS_DELAY, self._publish_now)

    def _publish_now(self, inline=False):
        self.status_timer = None
        if self.writer is not None:  # one writer at a time: this one follows it
            self.write_again = True
            return
        self.published = self.bus.count
        forked = len(self.programs) >= WRITER_PROGRAMS and HAVE_PIDFD and not self.init_mode \
            and not inline
        if not (forked and self._write_in_child()):
            statefiles.write_status(self._state_writer, self.snapshot())
        if self.api is not None:
            self._guard(self.api.published, "API")
        if len(self.programs) >= TRIM_PROGRAMS or self.trim_pending and not any(
                p.state == "starting" for p in self.programs.values()):
            # a snapshot of thousands of programs is megabytes made and dropped
            self.trim_pending = False
            malloc_trim()


    def snapshot(self, pid=None):
        """What usrsvcd.status says (events.snapshot, and the API's addresses)."""
        snapshot = events.snapshot(self.config.files, self.programs, pid=pid)
        if self.api is not None:
            snapshot["api"] = self.api.describe()
        return snapshot

    def _write_in_child(self):
        """Write the snapshot from a fork, which sees the programs as they are now
        (copy on write) while the loop goes on; False when no child could be made
        (the caller writes it itself). The child closes every descriptor but the
        state directory's at once (no lock, pidfd or socket lives on in it), takes
        no lock and logs nothing (another thread may have held the log's lock at
        the fork): it only encodes, writes and exits, with errno as its status."""
        try:
            dirfd = self.state.dirfd()
        except (OSError, UsrsvcError):
            return False
        parent = os.getpid()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
        try:
            pid = os.fork()
        except OSError:
            return False
        finally:
            if os.getpid() == parent:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        if pid == 0:
            os._exit(_child_writes(self, parent, dirfd, blocked))
        try:
            fd = os.pidfd_open(pid)
        except OSError:  # out of descriptors: wait for it here, as if written inline
            os.waitpid(pid, 0)
            return True
        self.writer = (pid, fd)
        self.watcher.add_io(fd, select.POLLIN, self._writer_done)
        return True

    def _writer_done(self, _revents):
        pid, fd = self.writer
        self.writer = None
        self.watcher.remove_io(fd)
        os.close(fd)
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            status = 0
        code = os.waitstatus_to_exitcode(status)
        if code:
            self.log.error(None, "state_error", "cannot write usrsvcd.status in %s: %s" % (
                self.state.path, os.strerror(code) if code > 0 else "writer killed by signal %d"
                % -code))
        if self.write_again:
            self.write_again = False
            self._publish_now()

    def wait_writer(self, timeout=WRITER_WAIT):
        """Shutdown: let the last snapshot's writer finish before the daemon goes
        (a writer stuck on a dead filesystem is killed after ``timeout`` seconds)."""
        if self.writer is None:
            return
        self.write_again = False
        pid, fd = self.writer
        waiter = select.poll()
        waiter.register(fd, select.POLLIN)
        if not waiter.poll(int(timeout * 1000)):
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        self._writer_done(0)


def _child_writes(daemon, parent, dirfd, blocked):
    """The snapshot writer's whole life (see Daemon._write_in_child); returns its
    exit status. Signals go back to their defaults before they are unblocked."""
    try:
        import gc

        gc.disable()  # short-lived: no collection to touch (and copy) every page
        signal.set_wakeup_fd(-1)
        for sig in signal.valid_signals():
            try:
                if callable(signal.getsignal(sig)):
                    signal.signal(sig, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        try:  # not the daemon's exact title: nothing may take it for the daemon
            from setproctitle import setproctitle

            setproctitle("usrsvcd snapshot writer (of pid %d)" % parent)
        except ImportError:
            pass
        os.closerange(3, dirfd)
        os.closerange(dirfd + 1, 1 << 20)
        from .. import atomic

        statefiles.write_status(lambda name, data: atomic.write(name, data, dir_fd=dirfd),
                                daemon.snapshot(pid=parent))
        return 0
    except OSError as err:
        return err.errno or 1
    except BaseException:  # noqa: BLE001 - nothing may escape into the daemon's code
        return 1


def malloc_trim():
    """Give the C heap's free pages back to the system (glibc's malloc_trim). After
    a batch of launches (the first pass over a thousand programs, a mass crash)
    the heap stays at its high-water mark although the memory is free again;
    an idle daemon should not hold it. Elsewhere (musl) there is none: no harm."""
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _start_blockers(program):
    """preflight.start_blockers, never fatal to the daemon."""
    from .. import preflight

    try:
        return preflight.start_blockers(program)
    except OSError:  # a check that broke must not keep a wanted restart from happening
        return []
