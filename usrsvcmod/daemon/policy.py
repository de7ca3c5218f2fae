"""Restart policy, as 1.5.13 pinned it, in pure functions over a Tracker.

- autostart applies the first time the daemon sees a program down;
- autorestart applies to a program seen running that stops;
- maxrestarts counts start attempts, the first included, and resets once
  the program is seen running; 0 means unlimited;
- the first restart after a crash is immediate; later attempts of the same
  series are at least ``restart_delay`` apart, doubling up to
  ``restart_delay_max`` when that is set (crash-loop backoff);
- monitor restarts do not count toward maxrestarts.
"""

# Consecutive failed starts are never retried faster than this, so a program
# that cannot even exec does not spin the daemon when restart_delay is 0.
MIN_RETRY_GAP = 0.5


class Tracker:
    """What the daemon knows about one program."""

    def __init__(self, program):
        self.program = program
        self.watched = None  # Watched of the running process
        self.info = None  # its ProcInfo
        self.pidfile_stamp = None  # (mtime, inode) of the pidfile we trust
        self.settling = None  # a Settling while a start is in flight
        self.stopping = None  # a monitor restart in progress: (reason, deadline)
        self.seen = False  # has the daemon looked at it yet
        self.attempts = 0  # start attempts since it was last seen running
        self.last_attempt = None  # clock() of the last start attempt
        self.gave_up = False
        self.due = None  # clock() of the next scheduled start, or None
        self.down_reason = None  # why it went down (for the alert)
        self.monitor_busy = False
        self.family = []  # ProcInfo of its descendants, noted while it runs
        self.orphans = set()  # Watched leftovers of a crash being ended
        self.after_orphans = "restart"  # the start that follows once they are gone
        self.lock_fd = None
        self.start_reason = None
        self.leftovers = []  # Watched descendants of a monitor restart in progress
        self.was_user_stopped = False  # the daemon saw the user's stop mark

    @property
    def running(self):
        return self.watched is not None and not self.watched.exited

    def seen_running(self):
        """It runs: the maxrestarts counter and the backoff series start over."""
        self.attempts = 0
        self.gave_up = False
        self.due = None


def gap(program, attempts):
    """Least seconds between attempt number ``attempts`` and the next one."""
    if attempts <= 0:
        return 0.0
    base = max(program.restart_delay, MIN_RETRY_GAP)
    if program.restart_delay_max > 0:
        return max(program.restart_delay, min(base * 2 ** (attempts - 1), program.restart_delay_max))
    return base


def next_start(tracker, now, crashed=False):
    """When to try the next start, or None to stay down (gave up)."""
    program = tracker.program
    if program.maxrestarts and tracker.attempts >= program.maxrestarts:
        return None
    if crashed and tracker.attempts == 0:
        return now  # the first restart after a crash is immediate
    if tracker.last_attempt is None:
        return now
    return max(now, tracker.last_attempt + gap(program, tracker.attempts))


def wants_start(tracker, first_sight, user_stopped):
    """Should a program found down be started?"""
    program = tracker.program
    if not program.enabled or user_stopped or tracker.gave_up:
        return False
    if first_sight:
        return program.autostart
    return program.autorestart
