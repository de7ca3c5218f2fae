"""One program's life under usrsvcd: its state, and every transition of it.

A ProgramState holds one state from the shared vocabulary (STATES) and
changes it only through ``_to``, which emits an event with the reason. It
reaches the outside world only through ``world`` (the daemon, or a fake in
the unit tests): the exit watcher, timers and clock, the runtime state
(stop marks, locks, launch records), launching and finding processes, and
the event bus. So the whole life of a program reads top to bottom here:

    stopped --start--> starting --settled--> running --exit--> starting
                          |                    |  \\--breach--> stopping --> starting
                          \\--failed--> backoff -/   \\--usrsvc stop--> stopped_by_user
                                        \\--> gave_up (maxrestarts)

Services are never our children: ``running`` means a pidfd of a process
that passed the identity rule, nothing more.
"""

import errno
import os
import types

from ..errors import PermissionProblem, TryAgain, UnsafePathError, UsrsvcError
from . import hooks, policy, probing
from .events import Event

STATES = ("stopped", "starting", "running", "stopping", "backoff", "gave_up",
          "stopped_by_user", "disabled", "unmanaged", "done", "failed")
EXIT_POLLS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4)  # init may reap lazily (1-2 s here)
MAX_PENDING_EXITS = 8
BUSY_RETRY = 1.0
RESTART_LOOK = 1.0  # seconds after a user's stop, look again (usrsvc restart)
# a pid seen to exit this recently cannot have been reused (pids are handed out
# in order, and its zombie holds it until init reaps it): a restart skips it
GONE_FRESH = 0.1
_NONE = frozenset()
_NOT_GONE = (None, float("-inf"))
# most programs never have an exit status or a restart alert pending: they share
# these empty ones (a list and a dict each per program: 1.5 MB at 10,000)
_NO_EXITS = ()
_NO_ALERTS = types.MappingProxyType({})


class ProgramState:
    __slots__ = ("program", "w", "state", "reason", "since", "info", "watched", "pidfile_stamp",
                 "family", "settling", "stopping", "after_stop", "lock_fd", "seen",
                 "was_user_stopped", "attempts", "failures", "restarts", "last_attempt",
                 "next_retry", "start_reason", "down_reason", "last_exit", "last_exit_text",
                 "last_exit_pid", "monitor_busy", "_timer", "_exits", "_exit_seq", "_exit_shown",
                 "_alerts", "_launching", "changed_while_starting", "_gone", "_noted", "_counted",
                 "logger", "hook_wait", "every_timer", "planned", "probes", "job")

    def __init__(self, program, world):
        self.program = program
        self.w = world
        self.state = "stopped"
        self.reason = "not looked at yet"
        self.since = world.wall()  # wall clock of the last transition
        self.info = None  # ProcInfo of the running process
        self.watched = None  # its Watched (keeps its pidfd for the exit status)
        self.pidfile_stamp = None
        self.family = ()  # its descendants, noted while it runs (ended after a crash)
        self.settling = None
        self.stopping = None
        self.after_stop = None  # what to do once self.stopping is done
        self.lock_fd = None
        self.seen = False
        self.was_user_stopped = False
        self.attempts = 0  # start attempts since it last proved stable (maxrestarts)
        self.failures = 0  # consecutive failures (backoff)
        self.restarts = 0  # restarts since the daemon saw it start
        self.last_attempt = None  # clock() of the last launch
        self.next_retry = None  # wall clock of the next start in backoff
        self.start_reason = None
        self.down_reason = None
        self.last_exit = None  # exitinfo.ExitStatus of the last run, when known
        self.last_exit_text = None
        self.last_exit_pid = None
        self.monitor_busy = False
        self._timer = None  # the retry, settle or stop timer (one at a time)
        self._exits = _NO_EXITS  # [Watched, polls, timer, seq]: pidfds kept to read exit statuses
        self._exit_seq = self._exit_shown = 0  # exits seen, and the one last_exit is of
        self._alerts = _NO_ALERTS  # exited pid -> a restart alert waiting for its exit status
        self._launching = None  # the token of a launch asked for and not yet made
        self.changed_while_starting = False  # a reread (restart_on_change) to apply once up
        self._gone = _NOT_GONE  # the pid just seen to exit, and when
        self._noted = _NONE  # the notes of the last look (each logged once)
        self._counted = False  # the start under way counts in maxrestarts
        self.logger = None  # its logger's watch (logger = COMMAND), see logger.py
        self.hook_wait = None  # the token of the [[Hooks]] command it waits for (hooks.py)
        self.every_timer = None  # its planned restart (restart_every)
        self.planned = False  # the restart under way is a planned one: not a failure
        self.probes = None  # its [[Readiness]]/[[Liveness]] watch, see probing.py
        self.job = None  # a oneshot's run in flight (jobs.py)
        if program.logger:
            from .logger import LoggerWatch

            self.logger = LoggerWatch(self)

    # -- what others may read --------------------------------------------------
    @property
    def name(self):
        return self.program.name

    @property
    def running(self):
        return self.watched is not None and not self.watched.exited

    @property
    def ready(self):
        """Up and ready: running (or unhealthy) and, with [[Readiness]], its probe passed;
        what a program requiring this one as ``ready`` waits for."""
        return self.running and self.state in ("running", "unhealthy") and (
            self.program.readiness is None or (self.probes is not None and self.probes.ready))

    def view(self):
        """This program for the snapshot (plain data; never an environment value)."""
        program = self.program
        return {
            "state": self.state,
            "reason": self.reason,
            "since": round(self.since, 3),
            "pid": self.info.pid if self.running else None,
            "started_at": round(self.info.start_time, 2) if self.running else None,
            "restarts": self.restarts,
            "attempts": self.attempts,
            "last_exit": self.last_exit.as_json() if self.last_exit is not None else None,
            "last_exit_text": self.last_exit_text,
            "next_retry": round(self.next_retry, 3) if self.next_retry else None,
            "ready": bool(self.ready) or self.state == "done",
            "cmdline": self.info.cmdline_text if self.running else None,
            "enabled": program.enabled,
            "stdout": program.stdout,
            "stderr": program.stderr or program.stdout,
        }

    # -- the one way a state changes ---------------------------------------------
    def _to(self, state, reason, event=None, pid=None, level="info", **fields):
        self.state, self.reason, self.since = state, reason, self.w.wall()
        if state != "backoff":
            self.next_retry = None
        if event:
            self.emit(event, reason, pid, level, **fields)

    def emit(self, event, reason="", pid=None, level="info", **fields):
        self.w.emit(Event(event, self.name, reason, pid, level, **fields))

    def _later(self, delay, fn):
        self.w.cancel(self._timer)
        self._timer = self.w.call_later(delay, fn)

    def _cancel(self):
        self.w.cancel(self._timer)
        self._timer = None

    # -- the periodic look (reconcile) --------------------------------------------
    def quiet(self):
        """True when a periodic look would find nothing to do but read its
        descendants: it runs (its exit comes by pidfd), no stop or start is under
        way, and its logger, if any, is watched (its pidfile's changes come by
        inotify: the caller checks that)."""
        return (self.state == "running" or self.state == "unhealthy") and self.stopping is None \
            and self.watched is not None and not self.watched.exited and self.program.enabled \
            and (self.logger is None or self.logger.watched is not None)

    def sync(self, table):
        """Look at the program as it is now; returns True if anything changed."""
        program = self.program
        if self.logger is not None and self.logger.watched is None and self.logger.wanted() \
                and self.logger.timer is None:
            self.logger.restart()  # started by hand, or down since the last look
        if not program.enabled:
            if self.state != "disabled":
                self.disable()
                return True
            return False
        if not program.managed:
            if self.state != "unmanaged":
                self._to("unmanaged", "autostart and autorestart are off: left alone", "unmanaged")
                return True
            return False
        if program.oneshot:
            from . import jobs

            return jobs.sync(self)
        if self.state == "backoff" and not self.stopping and self.w.state.is_stopped(self.name):
            self._cancel()
            self.was_user_stopped = True
            self._to("stopped_by_user", "stopped with usrsvc stop; stays down", "down")
            return True
        if self.state in ("starting", "stopping", "backoff") or self.stopping:
            return False
        if self.running:
            stamp = _stamp(program.pidfile)
            if stamp != self.pidfile_stamp and self._pidfile_names_it():
                self.pidfile_stamp = stamp  # rewritten with its pid (by us, by a usrsvc)
            if stamp == self.pidfile_stamp:
                self.note_family()
                return False
        user_stopped = self.w.state.is_stopped(self.name)
        try:  # a usrsvc acting on it right now holds the lock: look next time
            lock_fd = self._lock()
        except (TryAgain, OSError):
            return False
        try:
            found = self.w.find(program, table)
        finally:
            if lock_fd is not None:
                os.close(lock_fd)
        for note in self._fresh(found.notes):
            self.emit("note", note, found.pid)
        if found.pid:
            if self.running and self.watched.pid == found.pid:
                self.pidfile_stamp = _stamp(program.pidfile)
                return False
            self.attach(found.info, "adopted" if found.how == "scan" else "found_running")
            return True
        first, self.seen = not self.seen, True
        if self.running:
            return False  # our pidfd says it lives; someone removed its pidfile
        rearmed = self.was_user_stopped and not user_stopped
        self.was_user_stopped = user_stopped
        if user_stopped:
            if self.state != "stopped_by_user":
                self._to("stopped_by_user", "stopped with usrsvc stop; stays down", "down")
                return True
            return first
        if first and policy.wants_start(program, True, False, self.state == "gave_up"):
            self.down_reason = "was not running when usrsvcd found it"
            self._start_after(found.leftovers, "autostart")
            return True
        if rearmed and (program.autorestart or program.autostart):
            # `usrsvc start` cleared the stop mark, and it died before we saw it run
            self.down_reason = "exited after usrsvc start re-armed it"
            self.failures += 1
            self._start_after(found.leftovers, "restart", crashed=True)
            return True
        if first:
            self._to("stopped", "autostart is off", "down")
        return first

    def _pidfile_names_it(self):
        """The pidfile names the running process: nothing to look at, and no lock
        to take (a usrsvc just wrote it may be about to act on the program)."""
        from ..proc import pidfile

        try:
            return pidfile.read(self.program.pidfile)[0] == self.info.pid
        except (OSError, ValueError, UsrsvcError):
            return False

    def _fresh(self, notes):
        """The notes not already given at the last look: a problem that stays
        (another user's stale pidfile in /tmp, a directory in its place) is
        logged once, not on every reconcile pass."""
        fresh = [note for note in notes if note not in self._noted]
        self._noted = frozenset(notes) if notes else _NONE  # an empty one costs 216 bytes
        return fresh

    def _start_after(self, leftovers, reason, crashed=False):
        """Start (now or after backoff); a crashed run's leftovers are ended first."""
        if leftovers:
            self._to("stopping", "ending %d leftover process(es) of its last run: %s"
                     % (len(leftovers), ", ".join(str(i.pid) for i in leftovers)), "leftovers")
            def then():
                self.emit("leftovers_ended", "%d process(es)" % len(leftovers))
                self.schedule_start(reason, crashed)

            self._stop_then(self.w.stopping(self, None, self.program.stop_signal,
                                            self.program.term_to_kill_seconds, leftovers), then)
            return
        self.schedule_start(reason, crashed)

    # -- running ---------------------------------------------------------------------
    def attach(self, info, how):
        """``info`` is the program now: watch it. A process we did not start
        ourselves (started by hand, adopted) re-arms maxrestarts and backoff:
        the user has taken over."""
        if how != "started":
            self.attempts = self.failures = 0
        self._drop_main()
        self.watched = self.w.watcher.add(info.pid, info.start_time, (self, "main"), keep=True)
        self.info, self.seen = info, True
        self.pidfile_stamp = _stamp(self.program.pidfile)
        self.w.watch_pidfile(self.name)  # its directory may exist only now
        self.note_family()
        waiting = probing.attached(self, how)  # [[Readiness]]: stays "starting" until ready
        self._to("starting" if waiting else "running", info.cmdline_text[:200], how, info.pid)
        hooks.schedule_every(self)
        if self.watched.exited:
            self.on_exit(self.watched)

    def note_family(self):
        """Remember its descendants: after a crash they would hold its port."""
        self.family = self.w.descendants(self.info.pid) if self.program.kill_descendants else ()

    def on_exit(self, watched):
        """The running process is gone (its pidfd said so)."""
        if watched is not self.watched:
            if not any(pending[0] is watched for pending in self._exits):
                watched.close()
            return
        self.watched = None
        self._gone = (watched.pid, self.w.clock())
        self._collect_exit(watched)
        if self.state == "stopping":
            return  # our own stop: its completion decides what follows
        if self.w.state.is_stopped(self.name):
            self.was_user_stopped = True
            self._to("stopped_by_user", "stopped with usrsvc stop; stays down", "stopped", watched.pid)
            # a `usrsvc restart` starts it again in a moment: look then, not a whole
            # reconcile_interval later
            self._later(RESTART_LOOK, lambda: self.sync(None))
            return
        uptime = self.w.wall() - self.info.start_time
        if policy.stable(self.program, uptime):
            self.attempts = self.failures = 0
        self.failures += 1
        self.down_reason = "exited after %s" % _duration(uptime)
        self.emit("exited", "after %s of uptime" % _duration(uptime), watched.pid)
        if not self.program.autorestart:
            self._to("stopped", "exited; autorestart is off")
            return
        orphans = [i for i in self.family if self.w.alive(i)]
        self.family = ()
        self._start_after(orphans if self.program.kill_descendants else [], "restart", crashed=True)

    # -- starting ----------------------------------------------------------------------
    def schedule_start(self, reason, crashed=False):
        now = self.w.clock()
        due = policy.next_start(self.program, self.attempts, self.failures, self.last_attempt,
                                now, crashed)
        if due is None:
            self.give_up()
        elif due <= now:
            self.start(reason)
        else:
            self.next_retry = self.w.wall() + (due - now)
            self._to("backoff", "next start in %s (failure %d in a row)"
                     % (_duration(due - now), self.failures), "backoff")
            self._later(due - now, lambda: self.start(reason))

    def give_up(self):
        program = self.program
        why = "gave up after %d start attempt(s) (maxrestarts = %d)" % (self.attempts,
                                                                       program.maxrestarts)
        last = self.down_reason
        if self.last_exit_text and self.down_reason and self.down_reason.startswith("exited"):
            last = "%s, %s" % (self.last_exit_text, self.down_reason)
        self._to("gave_up", why, "gave_up", level="error",
                 subject="[usrsvcd] %s: gave up" % program.name,
                 body="usrsvcd %s on %s.\nLast problem: %s\nStart it again with: usrsvc start %s"
                 % (why, program.name, last, program.name))

    def start(self, reason, count=True):
        """Launch it now, holding its lock, unless it turns out to be running."""
        self._cancel()
        program = self.program
        if self.running or self.settling or self.stopping or self._launching \
                or not program.enabled or self.job is not None:
            return
        if program.requires or program.oneshot or getattr(self.w, "implicit", None):
            from . import jobs

            if not jobs.gate(self, reason, count):
                return
            if program.oneshot:
                jobs.run(self, reason)
                return
        why = self._take_lock()
        if why:
            self._busy(why, reason, count)
            return
        try:  # under the lock: a `usrsvc stop` is either seen here or waits for us
            stopped = self.w.state.is_stopped(self.name)
            gone = self._gone[0] if self.w.clock() - self._gone[1] < GONE_FRESH else None
            found = None if stopped else self.w.find(program, None, scan=False,  # no /proc scan
                                                      gone=gone)
        except BaseException:
            self._unlock()
            raise
        if stopped:
            self._unlock()
            self._to("stopped_by_user", "stopped with usrsvc stop; stays down", "down")
            return
        if found.pid:  # started by hand meanwhile: adopt it, never a second copy
            self._unlock()
            self.attach(found.info, "found_running")
            return
        why = self.logger.ensure() if self.logger is not None else None
        if why:  # its output would have nowhere to go
            self._unlock()
            self.attempts += 1 if count else 0
            self.start_failed(why)
            return
        if count:
            self.attempts += 1
        self._counted = count
        self.last_attempt = self.w.clock()
        self._drop_main()
        self.start_reason = reason
        why = probing.before_launch(self)  # NOTIFY_SOCKET, bound before the launch
        if why:
            self._unlock()
            self.start_failed(why)
            return
        self._to("starting", reason)
        token = self._launching = object()
        hooks.run(self, "pre_start", lambda result: self._launch(token, result))

    def _launch(self, token, hook):
        """After its pre_start hook (if any): launch, unless the hook failed."""
        if token is not self._launching:
            return  # let go meanwhile
        if hooks.failed(hook):
            self._launching = None
            self._unlock()
            self.start_failed(hook.describe())
            return
        program = self.program
        # the world launches at the end of its turn, every start of that turn at
        # once (a mass crash restarts in parallel), then calls back
        self.w.launch(program, lambda launch, offsets: self._launched(token, launch, offsets),
                      lambda: token is self._launching)

    def _take_lock(self):
        """Take the program's lock for a start; why it cannot be had, or None.

        A lock whose descriptor eats into the reserve kept for launches is
        given back: under a low open-files limit the starts take turns."""
        try:
            fd = self._lock()
        except TryAgain:
            return "another usrsvc is acting on it"
        except OSError as err:
            if err.errno in (errno.EMFILE, errno.ENFILE):
                return self.w.fd_shortage()
            return "cannot take its lock: %s" % (err.strerror or err)
        if fd is not None and self.w.fds_short(fd):
            os.close(fd)
            return self.w.fd_shortage()
        self.lock_fd = fd
        return None

    def _busy(self, why, reason, count):
        """Not the program's doing (a lock held, no descriptor free): try again
        in BUSY_RETRY seconds, without counting an attempt; said once per reason."""
        text = why + "; trying again in %gs" % BUSY_RETRY
        self._to("backoff", text, "busy" if (self.state, self.reason) != ("backoff", text) else None)
        self.next_retry = self.w.wall() + BUSY_RETRY
        self._later(BUSY_RETRY, lambda: self.start(reason, count))

    def _launched(self, token, launch, offsets):
        """The launch start() asked for happened (a Launch), or failed (an error)."""
        program = self.program
        if token is not self._launching:
            return  # let go meanwhile (the world does not launch what is no longer wanted)
        self._launching = None
        if isinstance(launch, Exception):  # UsrsvcError, or fork/pipe failing
            self._unlock()
            if getattr(launch, "fields", {}).get("errno") == errno.EMFILE:
                # our open-files limit, not the program: not one of its attempts
                self.attempts -= 1 if self._counted else 0
                self.emit("start_failed", launch.message, level="error")
                self._busy(self.w.fd_shortage(), self.start_reason, self._counted)
                return
            self.start_failed(getattr(launch, "message", None) or "%s: %s" % (
                type(launch).__name__, launch))
            return
        reason = self.start_reason
        self.settling = self.w.settling(launch, offsets)
        self.settling.owner = self
        self._to("starting", reason, "launched", launch.pid)
        self.settling.watch(self.w.watcher)
        if self.settling.done:
            self.settled()
            return
        item = self.settling
        self._later(program.success_seconds, lambda: self.expire(item))

    def on_settle_exit(self, watched):
        item = self.settling
        if item is None or watched is not item.tracked:
            return
        item.exited(self.w.watcher, self.w.table)
        if item.done:
            self.settled()

    def expire(self, item):
        if self.settling is item and not item.done:
            item.expire(self.w.table)
            if not item.done:  # stretched (waiting for a launcher's exit status)
                self._later(max(0.0, item.deadline - self.w.clock()), lambda: self.expire(item))
                return
            self.settled()

    def settled(self):
        item, self.settling = self.settling, None
        self._cancel()
        self.w.watcher.discard(item.tracked)
        item.tracked = None  # its key is item: a cycle that only a full gc pass would free
        if item.error:
            self._unlock()
            self.start_failed(item.error, item.leftover)
            return
        notes = item.confirm(self.w.state)  # pidfile and launch record, under the lock
        self._unlock()
        for note in notes:
            self.emit("note", note, item.info.pid)
        reason = self.start_reason
        probing.settled(self, item)
        self.attach(item.info, "started")
        if not self.running:
            return
        if self.changed_while_starting:
            self.changed_while_starting = False
            edited = item.program != self.program and self._launch_keys_differ(item.program)
            if edited:
                self.restart("config changed while it was starting", "config_changed")
                return
        program = self.program
        hooks.run(self, "post_start", lambda result: None, item.info.pid)
        if reason == "planned_restart":
            self.restarts += 1
            self.emit("restarted", "planned restart (restart_every)", item.info.pid)
            return
        if reason == "autostart":
            self.emit("autostarted", "it was down", item.info.pid,
                      subject="[usrsvcd] %s: started (it was down)" % program.name,
                      body="pid %d: %s\n" % (item.info.pid, item.info.cmdline_text))
            return
        self.restarts += 1
        alert = (item.info.pid, item.info.cmdline_text, self.down_reason or reason)
        if any(p[0].pid == self.last_exit_pid for p in self._exits):
            if self._alerts is _NO_ALERTS:
                self._alerts = {}
            self._alerts[self.last_exit_pid] = alert  # sent once its exit status is known
        else:  # known already (or never will be)
            known = self._exit_shown == self._exit_seq and self.last_exit is not None
            self._send_restart_alert(alert, self.last_exit_text if known else None)

    def start_failed(self, why, leftovers=()):
        self.failures += 1
        self.down_reason = "start failed: %s" % why.splitlines()[0]
        self.emit("start_failed", why.replace("\n", " | "), level="error")
        program = self.program
        retry = program.autorestart or program.autostart
        if leftovers:  # what the failed attempt launched must be gone before the next one
            self._to("stopping", "start failed; ending what it launched before the next"
                     " attempt: pid %s" % ", ".join(str(i.pid) for i in leftovers), "cleanup")
            self._stop_then(self.w.stopping(self, None, program.stop_signal,
                                            program.term_to_kill_seconds, leftovers),
                            (lambda: self.schedule_start("retry")) if retry else self._stay_down)
        elif retry:
            self.schedule_start("retry")
        else:
            self._stay_down()

    def _stay_down(self):
        self._to("stopped", self.down_reason or "stopped", "down")

    # -- stopping (monitor breach, config change) -----------------------------------------
    def restart(self, reason, event="restarting", planned=False):
        """Stop the running program and start it again (not counted in maxrestarts);
        ``planned`` (restart_every): a planned restart, never alerted as a failure."""
        if not self.running or self.stopping or self.state == "stopping":
            return
        self.down_reason, self.planned = reason, planned
        self._to("stopping", reason, event, self.info.pid)
        hooks.run(self, "pre_stop", lambda result: self._stop_for_restart(), self.info.pid)

    def _stop_for_restart(self):
        program = self.program
        family = self.w.family(program, self.info) if program.kill_descendants else []
        self._stop_then(self.w.stopping(self, self.info, program.stop_signal,
                                        program.term_to_kill_seconds, family),
                        self._restart_after_stop)

    def _restart_after_stop(self):
        self.emit("stopped_for_restart", self.down_reason)
        pid = self.info.pid if self.info is not None else None
        self._drop_main()
        hooks.run(self, "post_stop", lambda result: self._start_again(), pid)

    def _start_again(self):
        planned, self.planned = self.planned, False
        self.start("planned_restart" if planned else "restart", count=False)

    def _stop_then(self, stopping, then):
        self.stopping, self.after_stop = stopping, then
        stopping.begin(self.w.watcher, self.w.clock())
        self._stop_progress()

    def on_stop_exit(self, watched):
        if self.stopping is not None and watched.key is self.stopping:
            self.stopping.exited(watched, self.w.clock())
            self._stop_progress()

    def _stop_tick(self):
        if self.stopping is not None:
            self.stopping.tick(self.w.clock())
            self._stop_progress()

    def _launch_keys_differ(self, old):
        from ..proc.record import digests

        return digests(old) != digests(self.program)

    def _stop_progress(self):
        stopping = self.stopping
        if stopping.done:
            self._cancel()
            stopping.close()
            if stopping.error:
                self.emit("stop_failed", stopping.error, level="error")
            self.stopping, then, self.after_stop = None, self.after_stop, None
            then()
            return
        deadline = stopping.deadline()
        if deadline is not None:
            self._later(max(0.0, deadline - self.w.clock()), self._stop_tick)

    # -- exit status (Linux 6.15+: from the pidfd, once init has reaped it) --------------
    def _collect_exit(self, watched):
        """Keep the pidfd of the process that just ended to read its exit status,
        which the kernel has once init reaps it (lazily: 1-2 s here). Several
        can be pending when a program crash-loops faster than that."""
        self.last_exit_pid = watched.pid
        self._exit_seq += 1
        if watched.fd is None or not self.w.exit_supported():
            watched.close()
            self.last_exit_text = self.w.exit_unknown_text()
            self.emit("exit_status", self.last_exit_text, watched.pid)
            return
        while len(self._exits) >= MAX_PENDING_EXITS:
            self._finish_exit(self._exits[0], None)
        pending = [watched, 0, None, self._exit_seq, self.w.wall()]
        if self._exits is _NO_EXITS:
            self._exits = []
        self._exits.append(pending)
        pending[2] = self.w.call_later(EXIT_POLLS[0], lambda: self._poll_exit(pending))

    def _poll_exit(self, pending):
        if pending not in self._exits:
            return
        status = self.w.exit_status(pending[0], pending[4])
        pending[1] += 1
        if status is None and pending[1] < len(EXIT_POLLS):
            pending[2] = self.w.call_later(EXIT_POLLS[pending[1]], lambda: self._poll_exit(pending))
            return
        self._finish_exit(pending, status)

    def _finish_exit(self, pending, status):
        self._exits.remove(pending)
        self.w.cancel(pending[2])
        watched = pending[0]
        watched.close()
        text = status.describe() if status else \
            "exit status unknown (init had not reaped it after %gs)" % sum(EXIT_POLLS)
        self.emit("exit_status", text, watched.pid)
        alert = self._alerts.pop(watched.pid, None) if self._alerts else None
        if alert is not None:
            self._send_restart_alert(alert, text)
        if pending[3] < self._exit_shown:
            return  # older than the exit status shown now
        self._exit_shown = pending[3]
        self.last_exit, self.last_exit_text = status, text

    def _close_exits(self):
        for pending in list(self._exits):
            self._exits.remove(pending)
            self.w.cancel(pending[2])
            pending[0].close()
        for alert in self._alerts.values():
            self._send_restart_alert(alert)
        self._alerts = _NO_ALERTS

    def _send_restart_alert(self, alert, status_text=None):
        pid, cmdline, why = alert
        if status_text and why.startswith("exited after"):
            why = "%s, %s" % (status_text, why)
        self.emit("restarted", why, pid,
                  subject="[usrsvcd] %s: restarted (%s)" % (self.name, why),
                  body="%s was restarted: %s\npid %d: %s\n" % (self.name, why, pid, cmdline))

    # -- leaving -------------------------------------------------------------------------
    def disable(self):
        """enabled = False (a reread): left as it is, no longer watched or restarted."""
        pid = self.info.pid if self.running else None
        self.forget()
        self._to("disabled", "enabled = False: left running, no longer monitored or restarted"
                 if pid else "enabled = False", "disabled", pid)

    def forget(self):
        """Let go of everything (removed by a reread, disabled, or the daemon exits)."""
        self._launching = self.hook_wait = None
        self._cancel()
        hooks.cancel_every(self)
        if self.job is not None:
            from . import jobs

            jobs.forget(self)
        if self.logger is not None:
            self.logger.forget()
        self._close_exits()
        self._drop_main()
        if self.settling is not None:
            self.w.watcher.discard(self.settling.tracked)
            self.settling.close()
            self.settling = None
        if self.stopping is not None:
            self.stopping.close()
            self.stopping = self.after_stop = None
        self._unlock()

    def _drop_main(self):
        watched, self.watched = self.watched, None
        if watched is None:
            return
        if watched.exited and watched.keep and not watched.closed:
            self._collect_exit(watched)  # its exit was reported: keep it for the status
        else:
            self.w.watcher.discard(watched)

    def _lock(self):
        """The program's lock, at once (TryAgain if a usrsvc holds it); None when
        the runtime state directory is refused (removed, then made again by
        another user): usrsvcd goes on without it, as every usrsvc refuses that
        directory too (the daemon logs it: Daemon._check_state)."""
        try:
            return self.w.state.lock(self.name, timeout=0)
        except (UnsafePathError, PermissionProblem):
            return None

    def _unlock(self):
        if self.lock_fd is not None:
            fd, self.lock_fd = self.lock_fd, None
            os.close(fd)

    # -- events from the watcher, routed by the loop ---------------------------------------
    def on_watch(self, kind, watched):
        if kind == "main":
            self.on_exit(watched)
        elif kind == "settle":
            self.on_settle_exit(watched)
        elif kind == "stop":
            self.on_stop_exit(watched)
        elif kind == "job":
            from . import jobs

            jobs.on_exit(self, watched)
        elif kind == "logger" and self.logger is not None:
            self.logger.on_exit(watched)
        elif kind == "logger":
            watched.close()


def _stamp(path):
    """(mtime, inode) of a pidfile: a cheap way to notice it changed."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ino)


def _duration(seconds):
    if seconds < 1:
        return "%.2fs" % seconds
    if seconds < 120:
        return "%.1fs" % seconds
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 120:
        return "%dm%02ds" % (minutes, secs)
    return "%dh%02dm" % divmod(minutes, 60)


__all__ = ["ProgramState", "STATES"]
