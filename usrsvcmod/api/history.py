"""The last hour of each program, for the status page's sparklines.

The daemon calls ``observe`` from a timer with the programs as the API shows
them, and ``event`` from its event sink. Memory is bounded whatever the rate
of either: RSS is kept as one sample per time slot (the slot's highest
figure, so a spike is not averaged away), events as a fixed-length ring per
program, and a program that leaves the configuration leaves the history on
the next ``observe``. Pure data, no clock of its own: ``now`` and ``at`` are
wall-clock seconds passed in, which keeps it testable without sleeping.
"""

import collections

WINDOW = 3600.0  # seconds shown on the page
SLOTS = 120  # RSS samples kept per program: one per 30 s over the window
MAX_EVENTS = 60  # timeline marks kept per program

# Daemon event names (snake_case, SPEC §6) drawn on the timeline, by kind.
# Other events (notes, probes passing, hooks) change a row but mark nothing.
KINDS = {
    "restarted": "restart",
    "autostarted": "restart",
    "launched": "start",
    "exited": "exit",
    "failed": "exit",
    "start_failed": "failure",
    "gave_up": "failure",
    "stopped": "stop",
}


def rss_of(program):
    """The figure the page plots: the process's resident memory (``rss_kb``, the
    figure of the RSS column; its descendants' total is shown beside it)."""
    value = program.get("rss_kb")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _name(program):
    name = program.get("name")
    return name if isinstance(name, str) else None


class History:
    """RSS samples and timeline marks per program, over the last ``window`` seconds."""

    def __init__(self, window=WINDOW, slots=SLOTS, max_events=MAX_EVENTS):
        self.window = float(window)
        self.step = self.window / slots
        self.slots = slots
        self.max_events = max_events
        self._rss = {}  # name -> deque of [slot, at, kb]
        self._events = {}  # name -> deque of (at, kind, event name, reason)

    def observe(self, programs, now):
        """Record the RSS of every program in ``programs`` (dicts with a ``name``;
        a dict name -> fields works too) and forget programs no longer there."""
        if isinstance(programs, dict):
            programs = [dict(fields, name=name) for name, fields in programs.items()]
        seen = set()
        for program in programs:
            name = _name(program)
            if name is None:
                continue
            seen.add(name)
            kb = rss_of(program)
            samples = self._rss.setdefault(name, collections.deque(maxlen=self.slots + 1))
            if kb is not None:
                slot = int(now // self.step)
                if samples and samples[-1][0] == slot:
                    last = samples[-1]
                    last[1], last[2] = now, max(last[2], kb)
                else:
                    samples.append([slot, now, kb])
            self._trim(samples, now)
        for name in set(self._rss) - seen:
            del self._rss[name]
        for name in set(self._events) - seen:
            del self._events[name]

    def event(self, name, program, at, reason=""):
        """A daemon event: kept (bounded) if the timeline draws its kind."""
        kind = KINDS.get(name)
        if kind is None or not isinstance(program, str):
            return
        marks = self._events.setdefault(program, collections.deque(maxlen=self.max_events))
        marks.append((at, kind, name, reason or ""))
        while marks and marks[0][0] < at - self.window:
            marks.popleft()

    def _trim(self, samples, now):
        while samples and samples[0][1] < now - self.window:
            samples.popleft()

    # -- what the page reads --------------------------------------------------------
    def rss(self, name, now):
        """[(at, kb), ...] oldest first, within the window ending at ``now``."""
        return [(at, kb) for _, at, kb in self._rss.get(name, ()) if at >= now - self.window]

    def events(self, name, now):
        """[(at, kind, event name, reason), ...] oldest first, within the window."""
        return [mark for mark in self._events.get(name, ()) if mark[0] >= now - self.window]

    def names(self):
        return set(self._rss) | set(self._events)
