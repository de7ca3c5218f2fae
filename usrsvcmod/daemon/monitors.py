"""Monitors: rss_limit (of the process or, rss_scope = tree, its whole tree) and
activityfile, checked after ``monitor_after`` seconds.

Each check runs in a worker thread so a hung filesystem (an activity file
on a dead NFS mount) never stalls the loop or another program's checks;
a check still running at the next tick is reported, not stacked.
"""

import os
import time

from ..proc import procfs


def breach(program, pid, now=None):
    """A description of the limit this process breaks, or None."""
    monitoring = program.monitoring
    now = time.time() if now is None else now
    if monitoring.rss_limit:
        tree = monitoring.rss_scope == "tree"  # the process and its descendants (workers)
        rss = procfs.tree_rss_kb(pid) if tree else procfs.rss_kb(pid)
        if rss is not None and rss > monitoring.rss_limit:
            return "rss_limit: RSS %s%d KiB > limit %d KiB" % (
                "of the process tree " if tree else "", rss, monitoring.rss_limit)
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
        self.deliver = deliver  # deliver(state, pid, result_or_exception)

    def submit(self, state, pid):
        import threading

        state.monitor_busy = True
        program = state.program

        def job():
            try:
                result = breach(program, pid)
            except Exception as err:  # noqa: BLE001 - reported by the loop
                result = err
            self.deliver(state, pid, result)

        threading.Thread(target=job, name="monitor-%s" % program.name, daemon=True).start()


class MonitorDuty:
    """The daemon's side of monitoring: ticks, results, restarts on a breach.

    Checks run in worker threads; each result comes back to the loop through
    the daemon's inbox (``submit``), the only way another thread reaches
    program state. A breach restarts the program (ProgramState.restart: the
    one stop primitive, then a start that does not count toward maxrestarts).
    """

    def __init__(self, daemon):
        self.daemon = daemon
        self.pool = MonitorPool(self._deliver)
        self.timer = None

    def schedule(self):
        d = self.daemon
        d.cancel(self.timer)
        self.timer = None
        if any(p.program.monitoring.active for p in d.programs.values()):
            self.timer = d.call_later(d.config.main.monitor_interval, self._tick)

    def _tick(self):
        self.timer = None
        now, d = time.time(), self.daemon
        for state in d.programs.values():
            monitoring = state.program.monitoring
            if not (monitoring.active and state.running and state.state == "running"):
                continue
            if now - state.info.start_time < monitoring.monitor_after:
                continue
            if state.monitor_busy:
                state.emit("monitor_slow", "the previous check has not finished; skipped",
                           state.info.pid, "error")
                continue
            self.pool.submit(state, state.info.pid)
        self.schedule()

    def _deliver(self, state, pid, result):
        """Called in a worker thread: hand the result to the loop."""
        self.daemon.submit(self.result, state, pid, result)

    def result(self, state, pid, result):
        state.monitor_busy = False
        if isinstance(result, Exception):
            state.emit("monitor_error", "%s: %s" % (type(result).__name__, result), pid, "error")
            return
        if result is None or not state.running or state.info.pid != pid or state.state != "running":
            return
        if self.daemon.programs.get(state.name) is not state:
            return  # removed by a reread meanwhile
        state.restart(result, "monitor_breach")
