"""Restart policy, in pure functions (no processes, no clock of their own).

- autostart applies the first time the daemon sees a program down; autorestart
  to a program seen running that stops;
- a program is *stable* once it has stayed up ``success_seconds`` plus a
  minute: only then do the failure series and the maxrestarts count start over
  (a program that dies 3 s after each start is a crash loop, not a success);
- the first restart after a crash is immediate; every further failure of a
  series waits twice as long as the previous one, from 1 s up to
  ``restart_delay_max`` (60 s by default), and never less than
  ``restart_delay``; a start that fails outright (exec error, death within
  ``success_seconds``) waits from the first one;
- ``restart_delay_max = 0`` turns backoff off: crashes are restarted at once
  and failed starts retried every MIN_RETRY_GAP seconds (1.5.13's pace);
- maxrestarts counts start attempts, the first included; 0 = unlimited;
  monitor and config-change restarts do not count.
"""

MIN_RETRY_GAP = 0.5  # a start that fails at once is never retried faster than this
BACKOFF_START = 1.0
STABLE_AFTER = 60.0  # seconds beyond success_seconds


def stable(program, uptime):
    """Has a process that ran ``uptime`` seconds proved the program sound?"""
    return uptime is not None and uptime >= program.success_seconds + STABLE_AFTER


def retry_delay(program, failures, crashed):
    """Seconds to wait before the next start, after ``failures`` consecutive
    failures (this one included); ``crashed``: this one was a crash."""
    if failures <= 0:
        return 0.0
    cap = program.restart_delay_max
    if cap <= 0:
        return 0.0 if crashed else max(program.restart_delay, MIN_RETRY_GAP)
    if crashed and failures == 1:
        return 0.0  # the first restart after a crash is immediate
    steps = failures - 1 if crashed else failures  # crashes start one step later
    return max(program.restart_delay, min(BACKOFF_START * 2 ** (steps - 1), cap))


def next_start(program, attempts, failures, last_attempt, now, crashed):
    """When to start next (a clock value), or None: give up (maxrestarts)."""
    if program.maxrestarts and attempts >= program.maxrestarts:
        return None
    due = now + retry_delay(program, failures, crashed)
    if last_attempt is not None and program.restart_delay and failures > 1:
        due = max(due, last_attempt + program.restart_delay)
    return due


def wants_start(program, first_sight, user_stopped, gave_up):
    """Should a program found down be started?"""
    if not program.enabled or user_stopped or gave_up:
        return False
    return program.autostart if first_sight else program.autorestart
