"""Monitors: rss_limit and activityfile, checked after ``monitor_after`` seconds.

Each check runs in a worker thread so a hung filesystem (an activity file
on a dead NFS mount) never stalls the loop or another program's checks;
a check still running at the next tick is reported, not stacked.
"""

import os
import signal
import time

from ..proc import identity, procfs
from ..proc.watch import send


def breach(program, pid, now=None):
    """A description of the limit this process breaks, or None."""
    monitoring = program.monitoring
    now = time.time() if now is None else now
    if monitoring.rss_limit:
        rss = procfs.rss_kb(pid)
        if rss is not None and rss > monitoring.rss_limit:
            return "rss_limit: RSS %d KiB > limit %d KiB" % (rss, monitoring.rss_limit)
    if monitoring.activityfile:
        try:
            age = now - os.stat(monitoring.activityfile).st_mtime
        except FileNotFoundError:
            return "activityfile: %s is missing" % monitoring.activityfile
        except OSError as err:
            return "activityfile: %s cannot be read: %s" % (monitoring.activityfile, err.strerror)
        if age > monitoring.activityfile_limit:
            return "activityfile: %s unchanged for %.1fs > limit %gs" % (
                monitoring.activityfile, age, monitoring.activityfile_limit)
    return None


class MonitorPool:
    """Runs breach() checks off the loop; results come back through ``deliver``.

    One short-lived daemon thread per check: a check hung on a dead mount
    holds only its own thread (the program's next checks are skipped while
    it hangs) and never keeps the daemon from exiting.
    """

    def __init__(self, deliver):
        self.deliver = deliver  # deliver(tracker, pid, result_or_exception)

    def submit(self, tracker, pid):
        import threading

        tracker.monitor_busy = True
        program = tracker.program

        def job():
            try:
                result = breach(program, pid)
            except Exception as err:  # noqa: BLE001 - reported by the loop
                result = err
            self.deliver(tracker, pid, result)

        threading.Thread(target=job, name="monitor-%s" % program.name, daemon=True).start()


class MonitorDuty:
    """The daemon's side of monitoring: ticks, results, restarts on a breach.

    A breach restarts the program without blocking the loop: the stop
    signal now, SIGKILL after ``term_to_kill_seconds``, then (when its pidfd
    says it is gone) its leftover descendants are ended and it is started
    again, a start that does not count toward ``maxrestarts``.
    """

    def __init__(self, daemon):
        self.daemon = daemon
        self.pool = MonitorPool(self._deliver)
        self.timer = None

    def schedule(self):
        d = self.daemon
        d.cancel(self.timer)
        self.timer = None
        if any(t.program.monitoring.active for t in d.trackers.values()):
            self.timer = d.call_later(d.config.main.monitor_interval, self._tick)

    def _tick(self):
        self.timer = None
        now, d = time.time(), self.daemon
        for tracker in d.trackers.values():
            monitoring = tracker.program.monitoring
            if not (monitoring.active and tracker.running and not tracker.stopping):
                continue
            if now - tracker.info.start_time < monitoring.monitor_after:
                continue
            if tracker.monitor_busy:
                d.log.error(tracker.program.name, "monitor_slow",
                            "the previous check has not finished; skipped", tracker.info.pid)
                continue
            self.pool.submit(tracker, tracker.info.pid)
        self.schedule()

    def _deliver(self, tracker, pid, result):
        """Called in a worker thread: hand over to the loop."""
        self.daemon.results.append((tracker, pid, result))
        try:
            os.write(self.daemon.wake_w, b"m")
        except OSError:
            pass

    def result(self, tracker, pid, result):
        d = self.daemon
        tracker.monitor_busy = False
        if isinstance(result, Exception):
            d.log.error(tracker.program.name, "monitor_error",
                        "%s: %s" % (type(result).__name__, result), pid)
            return
        if result is None or not tracker.running or tracker.info.pid != pid or tracker.stopping:
            return
        d.log.event(tracker.program.name, "monitor_breach", result, pid)
        self.restart(tracker, result)

    def restart(self, tracker, reason):
        """Stop the running program (stop signal, SIGKILL later) and start it again."""
        d, program = self.daemon, tracker.program
        tracker.leftovers = []
        if program.kill_descendants:
            table = identity.ProcessTable()
            for info in identity.family(table, program, tracker.info.pid):
                tracker.leftovers.append(d.watcher.add(info.pid, info.start_time, None))
        timer = d.call_later(program.term_to_kill_seconds, lambda: self._kill_stuck(tracker))
        tracker.stopping = (reason, timer)
        try:
            send(tracker.watched, program.stop_signal)
        except PermissionError as err:
            d.log.error(program.name, "stop_failed", err.strerror, tracker.info.pid)

    def _kill_stuck(self, tracker):
        if tracker.stopping and tracker.running:
            self.daemon.log.event(tracker.program.name, "kill", "still running after"
                                  " term_to_kill_seconds", tracker.info.pid)
            send(tracker.watched, signal.SIGKILL)

    def stopped(self, tracker):
        """The program is gone: end its leftover descendants (stop signal, SIGKILL later)."""
        d = self.daemon
        family = [w for w in tracker.leftovers if not w.exited]
        tracker.leftovers = []
        for watched in family:
            send(watched, tracker.program.stop_signal)

        def finish():
            for watched in family:
                send(watched, signal.SIGKILL)
                d.watcher.discard(watched)

        if family:
            d.call_later(tracker.program.term_to_kill_seconds, finish)
