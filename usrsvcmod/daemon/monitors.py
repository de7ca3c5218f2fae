"""Monitors: rss_limit and activityfile, checked after ``monitor_after`` seconds.

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
