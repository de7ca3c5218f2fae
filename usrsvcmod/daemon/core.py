"""The usrsvcd loop: sleep until something happens, then act.

Wake-ups come from a pidfd per running program (an exit is seen at once),
from the signal wake-up pipe (SIGUSR1 reread, SIGHUP reopen logs, SIGTERM
exit) and from timers (restart delays, success windows, monitor ticks, the
periodic reconcile that catches pidfile changes and hand-started programs).
Signal handlers only record; the loop acts; no exception ends the loop.
Services are never our children and nothing here stops them on exit.
"""

import collections
import os
import signal
import time

from ..errors import ConfigError, TryAgain, UsrsvcError
from ..proc import identity, procfs, settle, spawn
from ..proc.watch import ExitWatcher, HAVE_PIDFD, send
from . import notify, policy, statefiles
from .alerts import Alerter
from .monitors import MonitorDuty
from .policy import Tracker
from .timers import Timers

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
STATUS_DELAY = 0.2  # seconds: usrsvcd.status trails events by at most this


class Daemon:
    def __init__(self, config, log, state, loader, clock=time.monotonic):
        self.config = config
        self.log = log
        self.state = state
        self.loader = loader  # () -> Config, raises ConfigError
        self.clock = clock
        self.watcher = ExitWatcher(poll_interval=0.5)
        self.trackers = collections.OrderedDict()
        self.timers = Timers(clock)
        self.flags = set()
        self.results = collections.deque()  # monitor results from worker threads
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.alerter = Alerter(config.main, log, clock, schedule=self.call_later)
        self.duty = MonitorDuty(self)
        self.running = False
        self.generation = 0
        self.status_timer = None
        for program in config.programs.values():
            self.trackers[program.name] = Tracker(program)

    # timers -------------------------------------------------------------
    def call_later(self, delay, fn):
        return self.timers.call_later(delay, fn)

    cancel = staticmethod(Timers.cancel)

    def _run_timers(self):
        for fn in self.timers.due():
            self._guard(fn, "timer")

    def _guard(self, fn, where, *args):
        try:
            fn(*args)
        except Exception:  # the loop must survive anything; log it with its traceback
            self.log.exception(where)

    # signals ----------------------------------------------------------------
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
            self.log.event(None, "exiting", "signal received; services are left running")
            self.running = False
        if signal.SIGHUP in flags:
            self.log.reopen()
            self.log.event(None, "logs_reopened")
        if signal.SIGUSR1 in flags:
            self._guard(self.reload, "reload")

    # the loop ---------------------------------------------------------------
    def run(self):
        self._install_signals()
        self.running = True
        if not HAVE_PIDFD:
            self.log.event(None, "polling", "pidfd is not available: exits are seen by polling /proc")
        self.log.event(None, "started", "pid %d, %d program(s) from %s"
                       % (os.getpid(), len(self.trackers), ", ".join(self.config.files)))
        self._guard(self.reconcile, "first pass")
        self._schedule_reconcile()
        self._schedule_monitors()
        self._write_status_now()
        notify.notify("READY=1\nSTATUS=managing %d programs" % len(self.trackers))
        try:
            while self.running:
                exited = self.watcher.wait(self.timers.timeout())
                if self.flags:
                    self._guard(self._handle_flags, "signal handling")
                    if not self.running:
                        break
                for watched in exited:
                    self._guard(self._on_exit, "exit of pid %d" % watched.pid, watched)
                while self.results:
                    self._guard(self.duty.result, "monitor result", *self.results.popleft())
                self._run_timers()
        finally:
            notify.notify("STOPPING=1")
            self.shutdown()

    def shutdown(self):
        """Let go of everything; the services keep running."""
        self.alerter.wait()
        for tracker in self.trackers.values():
            self._release_lock(tracker)
        self.watcher.close()

    # reconcile --------------------------------------------------------------
    def _schedule_reconcile(self):
        def tick():
            self.reconcile()
            self._schedule_reconcile()

        self.call_later(self.config.main.reconcile_interval, tick)

    def reconcile(self):
        """One pass over every program: one /proc scan at most, shared by all."""
        table = settle.TableOnce()
        changed = False
        started = self.clock()
        for tracker in list(self.trackers.values()):
            try:
                changed |= self._sync(tracker, table)
            except Exception:
                self.log.exception("reconcile of %s" % tracker.program.name)
        if changed:
            self._write_status()
        self.log.debug(None, "reconciled", "%d program(s) in %.1f ms"
                       % (len(self.trackers), (self.clock() - started) * 1000))

    def _sync(self, tracker, table):
        program = tracker.program
        if not program.managed or tracker.settling or tracker.stopping:
            return False
        if tracker.running and _stamp(program.pidfile) == tracker.pidfile_stamp:
            self._note_family(tracker)
            return False
        if not tracker.running and tracker.due is not None:
            return False
        user_stopped = self.state.is_stopped(program.name)
        try:  # a usrsvc acting on it right now holds the lock: look next time
            lock_fd = self.state.lock(program.name, timeout=0)
        except TryAgain:
            return False
        try:
            found = identity.find(program, table, self.state)
            found.notes.extend(identity.repair(program, found, self.state))
        finally:
            os.close(lock_fd)
        if found.pid:
            for note in found.notes:
                self.log.event(program.name, "note", note, found.pid)
            if tracker.running and tracker.watched.pid == found.pid:
                tracker.pidfile_stamp = _stamp(program.pidfile)
                return False
            self._attach(tracker, found.info, "adopted" if found.how == "scan" else "found running")
            return True
        first = not tracker.seen
        tracker.seen = True
        if tracker.running:
            return False  # our pidfd says it lives; someone removed its pidfile
        rearmed = tracker.was_user_stopped and not user_stopped
        tracker.was_user_stopped = user_stopped
        if first and policy.wants_start(tracker, True, user_stopped):
            tracker.down_reason = "was not running when usrsvcd found it"
            if found.leftovers and self._end_leftovers_first(tracker, found, "autostart"):
                return True
            self._schedule_start(tracker, self.clock(), "autostart", check=False)  # just looked
        elif rearmed and program.enabled and (program.autorestart or program.autostart):
            # `usrsvc start` cleared the stop mark, and the program died before we saw it run
            tracker.down_reason = "exited after usrsvc start re-armed it"
            if found.leftovers and self._end_leftovers_first(tracker, found, "restart"):
                return True
            self._schedule_start(tracker, self.clock(), "restart", crashed=True)
            return True
        elif first:
            self.log.event(program.name, "down", "user stopped it" if user_stopped else "autostart is off")
        return first

    def _attach(self, tracker, info, how):
        if tracker.watched is not None:
            self.watcher.discard(tracker.watched)
        tracker.watched = self.watcher.add(info.pid, info.start_time, tracker)
        tracker.info = info
        tracker.seen = True
        tracker.pidfile_stamp = _stamp(tracker.program.pidfile)
        self._note_family(tracker)
        tracker.seen_running()
        self.log.event(tracker.program.name, how, info.cmdline_text[:200], info.pid)
        if tracker.watched.exited:
            self._on_exit(tracker.watched)

    def _note_family(self, tracker):
        """Remember the program's descendants (see _end_orphans): a few small reads."""
        tracker.family = procfs.descendants(tracker.info.pid) if tracker.program.kill_descendants else []

    # exits ------------------------------------------------------------------
    def _on_exit(self, watched):
        key = watched.key
        if isinstance(key, tuple) and key[0] == "orphan":
            if watched in key[1].orphans:
                self._orphans_gone(key[1], watched)
            return
        if isinstance(key, settle.Settling):
            tracker = self.trackers.get(key.program.name)
            if tracker is None or tracker.settling is not key or watched is not key.tracked:
                return
            key.exited(self.watcher)
            if key.done:
                self._settled(tracker)
            return
        if not isinstance(key, Tracker) or key.watched is not watched:
            return
        tracker = key
        tracker.watched = None
        program = tracker.program
        if tracker.stopping:
            reason = tracker.stopping[0]
            self.cancel(tracker.stopping[1])
            tracker.stopping = None
            self.duty.stopped(tracker)
            self.log.event(program.name, "stopped_for_restart", reason, watched.pid)
            tracker.down_reason = reason
            self._start(tracker, "monitor", count=False, check=False)
            return
        if self.state.is_stopped(program.name):
            tracker.was_user_stopped = True
            self.log.event(program.name, "stopped", "stopped by the user; stays down", watched.pid)
            self._write_status()
            return
        tracker.down_reason = "exited (pid %d; not our child, so its status is unknown)" % watched.pid
        self.log.event(program.name, "exited", "", watched.pid)
        if program.enabled and program.autorestart:
            if not self._end_orphans(tracker, watched.pid):
                self._schedule_start(tracker, self.clock(), "restart", crashed=True)
        self._write_status()

    def _end_orphans(self, tracker, pid):
        """Workers that outlived their crashed master would hold its port: end them first.

        Only the descendants noted while the program ran (pid and start time,
        so a recycled pid is never hit) are ended, nothing else.
        """
        noted, tracker.family = tracker.family, []
        if not tracker.program.kill_descendants:
            return False
        orphans = [i for i in noted if procfs.alive(i.pid, i.start_time)]
        if not orphans:
            return False
        self.log.event(tracker.program.name, "orphans", "ending %d leftover process(es) of pid %d: %s"
                       % (len(orphans), pid, ", ".join(str(i.pid) for i in orphans)), pid)
        waiting = [self.watcher.add(i.pid, i.start_time, ("orphan", tracker)) for i in orphans]
        tracker.orphans = {w for w in waiting if not w.exited}
        for watched in tracker.orphans:
            send(watched, signal.SIGKILL)
        if not tracker.orphans:
            return False
        self.call_later(2.0, lambda: self._orphans_gone(tracker, None))
        return True

    def _end_leftovers_first(self, tracker, found, reason):
        """A crashed master's workers (its recorded session) hold its port:
        end them, and start once they are gone (see _orphans_gone)."""
        if tracker.orphans:
            return True  # already being ended
        tracker.family = found.leftovers
        tracker.after_orphans = reason
        return self._end_orphans(tracker, found.record.pid)

    def _orphans_gone(self, tracker, watched):
        """An orphan exited (or time ran out): restart once all are gone."""
        if watched is None:
            for left in tracker.orphans:
                self.watcher.discard(left)
            tracker.orphans = set()
        else:
            tracker.orphans.discard(watched)
        if not tracker.orphans and tracker.watched is None and not tracker.settling \
                and tracker.due is None and self.trackers.get(tracker.program.name) is tracker:
            tracker.orphans = set()
            reason, tracker.after_orphans = tracker.after_orphans, "restart"
            self._schedule_start(tracker, self.clock(), reason, crashed=reason == "restart")

    # starting ---------------------------------------------------------------
    def _schedule_start(self, tracker, now, reason, crashed=False, check=None):
        """Start now or later; ``check`` (default: unless it just crashed) as in _start."""
        due = policy.next_start(tracker, now, crashed)
        if due is None:
            self._give_up(tracker)
            return
        tracker.due = due
        if due <= now:
            self._start(tracker, reason, check=not crashed if check is None else check)
        else:
            self.log.event(tracker.program.name, "restart_scheduled", "in %.2fs" % (due - now))
            self.call_later(due - now, lambda: self._start(tracker, reason))

    def _give_up(self, tracker):
        program = tracker.program
        tracker.gave_up = True
        tracker.due = None
        why = "gave up after %d start attempt(s) (maxrestarts = %d)" % (tracker.attempts, program.maxrestarts)
        self.log.error(program.name, "gave_up", why)
        self.alerter.alert(program, "[usrsvcd] %s: gave up" % program.name,
                           "usrsvcd %s on %s.\nLast problem: %s\nStart it again with: usrsvc start %s"
                           % (why, program.name, tracker.down_reason, program.name))
        self._write_status()

    def _start(self, tracker, reason, count=True, check=True):
        """Launch now. ``check``: look for a running copy first (skipped only
        where we just saw it die, to keep crash recovery fast)."""
        tracker.due = None
        program = tracker.program
        if self.trackers.get(program.name) is not tracker or tracker.running or tracker.settling:
            return
        if self.state.is_stopped(program.name) or not program.enabled:
            return
        try:
            tracker.lock_fd = self.state.lock(program.name, timeout=0)
        except (TryAgain, OSError) as err:
            why = "another usrsvc is acting on it" if isinstance(err, TryAgain) else \
                "cannot take its lock: %s" % (err.strerror or err)
            self.log.event(program.name, "busy", why + "; retrying in 1s")
            tracker.due = self.clock() + 1.0
            self.call_later(1.0, lambda: self._retry_busy(tracker, reason, count))
            return
        if check and self._already_running(tracker):
            return  # started by hand while this start waited: adopt, never a second copy
        if count:
            tracker.attempts += 1
        tracker.last_attempt = self.clock()
        offsets = spawn.log_offsets(program)
        try:
            launch = spawn.launch(program)
        except Exception as err:  # UsrsvcError, or fork/pipe failing (EAGAIN, EMFILE)
            self._release_lock(tracker)
            self._start_failed(tracker, getattr(err, "message", None) or "%s: %s" % (
                type(err).__name__, err))
            return
        tracker.start_reason = reason
        tracker.settling = settle.Settling(launch, offsets, self.clock)
        self.log.event(program.name, "launched", reason, launch.pid)
        tracker.settling.watch(self.watcher)
        if tracker.settling.done:
            self._settled(tracker)
            return
        item = tracker.settling
        self.call_later(program.success_seconds, lambda: self._expire(tracker, item))

    def _already_running(self, tracker):
        """Holding the lock: is the program running after all? Then adopt it."""
        found = identity.find(tracker.program, settle.TableOnce(), self.state)
        for note in identity.repair(tracker.program, found, self.state):
            self.log.event(tracker.program.name, "note", note, found.pid)
        if not found.pid:
            return False
        self._release_lock(tracker)
        self._attach(tracker, found.info, "adopted" if found.how == "scan" else "found running")
        self._write_status()
        return True

    def _retry_busy(self, tracker, reason, count):
        if tracker.due is not None and not tracker.running and not tracker.settling:
            self._start(tracker, reason, count)

    def _expire(self, tracker, item):
        if tracker.settling is item and not item.done:
            item.expire()
            self._settled(tracker)

    def _release_lock(self, tracker):
        fd = tracker.lock_fd
        if fd is not None:
            os.close(fd)
            tracker.lock_fd = None

    def _settled(self, tracker):
        item, tracker.settling = tracker.settling, None
        self.watcher.discard(item.tracked)
        if item.error:
            self._release_lock(tracker)
            if item.leftover:
                self._end_leftover(tracker.program, item.leftover)
            self._start_failed(tracker, item.error)
            return
        program = tracker.program
        notes = item.confirm(self.state)  # pidfile and launch record, still under the lock
        self._release_lock(tracker)
        for note in notes:
            self.log.event(program.name, "note", note, item.info.pid)
        self._attach(tracker, item.info, "started")
        reason = tracker.start_reason
        if reason == "autostart":
            subject = "[usrsvcd] %s: started (it was down)" % program.name
        else:
            subject = "[usrsvcd] %s: restarted (%s)" % (program.name, tracker.down_reason)
        self.alerter.alert(program, subject, "%s\npid %d: %s\n" % (
            subject, item.info.pid, item.info.cmdline_text))
        self._write_status()

    def _end_leftover(self, program, infos):
        """A launch that never became the program: stop it, SIGKILL it later."""
        from ..proc.kill import signal_all

        self.log.event(program.name, "cleanup", "stopping what the failed start launched",
                       infos[0].pid)
        signal_all(infos, program.stop_signal)
        self.call_later(program.term_to_kill_seconds, lambda: signal_all(infos, signal.SIGKILL))

    def _start_failed(self, tracker, why):
        program = tracker.program
        tracker.down_reason = "start failed: %s" % why.splitlines()[0]
        self.log.error(program.name, "start_failed", why.replace("\n", " | "))
        if program.autorestart or program.autostart:
            self._schedule_start(tracker, self.clock(), "retry")
        self._write_status()

    # monitors: see monitors.MonitorDuty ------------------------------------
    def _schedule_monitors(self):
        self.duty.schedule()

    # reload -----------------------------------------------------------------
    def reload(self):
        """SIGUSR1: validate the whole new config, then apply it or keep the old one."""
        from .reload import diff

        notify.notify("RELOADING=1")
        self.generation += 1
        try:
            new = self.loader()
        except Exception as err:  # ConfigError, or a loader bug: the old config stays whole
            problems = err.problems if isinstance(err, ConfigError) else [
                "unexpected %s: %s (a bug; please report it)" % (type(err).__name__, err)]
            if not isinstance(err, ConfigError):
                self.log.exception("reload")
            for line in problems:
                self.log.error(None, "reload_rejected", line)
            self.log.error(None, "reload_rejected", "kept the previous configuration")
            self._write_reload("error", problems)
            notify.notify("READY=1")
            return
        added, changed, removed = diff(self.config.programs, new.programs)
        for name in removed:
            tracker = self.trackers.pop(name)
            self._forget(tracker)
            self.log.event(name, "removed", "no longer managed; left as it is")
        for name in changed:
            tracker = self.trackers[name]
            tracker.program = new.programs[name]
            edited = self._edited_since_launch(tracker) if new.main.restart_on_change else []
            if edited:
                self.log.event(name, "changed", "restarting: config changed since start (%s)"
                               % ", ".join(edited), tracker.info.pid)
                self.duty.restart(tracker, "config changed since start (%s)" % ", ".join(edited))
            else:
                self.log.event(name, "changed", "takes effect at its next start")
        self.config = new
        self.log.fmt = new.main.log_format
        self.alerter.configure(new.main)
        table = settle.TableOnce()
        for name in added:
            tracker = self.trackers[name] = Tracker(new.programs[name])
            self.log.event(name, "added")
            self._guard(self._sync, "sync of %s" % name, tracker, table)
        self.trackers = collections.OrderedDict((n, self.trackers[n]) for n in new.programs)
        self._schedule_monitors()
        self.log.event(None, "reloaded", "%d added, %d changed, %d removed"
                       % (len(added), len(changed), len(removed)))
        self._write_reload("ok", [])
        self._write_status()
        notify.notify("READY=1")

    def _edited_since_launch(self, tracker):
        """Launch settings edited since the running process was launched (its record)."""
        if not tracker.running or tracker.stopping:
            return []
        record = self.state.read_record(tracker.program.name)
        if record is None or record.pid != tracker.info.pid:
            return []  # adopted, or started by something that kept no record
        return record.changed(tracker.program)

    def _forget(self, tracker):
        for watched in (tracker.watched, tracker.settling and tracker.settling.tracked):
            if watched is not None:
                self.watcher.discard(watched)
        tracker.watched = tracker.settling = None
        tracker.due = None
        self._release_lock(tracker)

    # state files for `usrsvcd status` and `usrsvcd reread` ------------------
    def _state_dir(self):
        """The runtime state directory, made if it moved (see RuntimeState.root)."""
        try:
            return self.state.ensure()
        except (OSError, UsrsvcError) as err:
            self.log.error(None, "state_error", str(err))
            return self.state.path

    def _write_reload(self, status, problems):
        statefiles.write_reload(self._state_dir(), self.generation, status, problems)

    def _write_status(self):
        """Soon, once: a burst of events (a `stop all`) writes the file once, not per event."""
        if self.status_timer is None:
            self.status_timer = self.call_later(STATUS_DELAY, self._write_status_now)

    def _write_status_now(self):
        self.status_timer = None
        statefiles.write_status(self._state_dir(), self.config.files, self.trackers)


def _stamp(path):
    """(mtime, inode) of a pidfile: a cheap way to notice it changed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ino)
