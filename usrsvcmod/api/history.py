"""The last hour of each program, for the status page's sparklines.

The daemon calls ``observe`` from a timer with the programs as the API shows
them, and ``event`` from its event sink. Memory is bounded whatever the rate
of either, and small (about 0.6 KB per program for the RSS): RSS is kept as
one sample per minute (the minute's highest figure, so a spike is not
averaged away) in a ring of two fixed arrays; events in a short ring per
program; and a program that leaves the configuration leaves the history on
the next ``observe``. Pure data, no clock of its own: ``now`` and ``at`` are
wall-clock seconds passed in, which keeps it testable without sleeping.
"""

import array
import collections

WINDOW = 3600.0  # seconds shown on the page
SLOTS = 60  # RSS samples kept per program: one a minute over the window
MAX_EVENTS = 30  # timeline marks kept per program
MAX_REASON = 120  # characters of an event's reason kept for its tooltip

# Daemon event names (snake_case, SPEC §6) drawn on the timeline, by kind.
# Other events (notes, probes passing, hooks) change a row but mark nothing.
KINDS = {
    "restarted": "restart",  # (an autostart is drawn by its "launched")
    "launched": "start",
    "exited": "exit",
    "failed": "exit",
    "start_failed": "failure",
    "gave_up": "failure",
    "stopped": "stop",
}


class _Ring:
    """``size`` slots: slot number (-1: empty) and the slot's highest KiB."""

    __slots__ = ("slot", "kb")

    def __init__(self, size):
        self.slot = array.array("q", [-1]) * size
        self.kb = array.array("Q", [0]) * size

    def put(self, slot, kb):
        i = slot % len(self.slot)
        if self.slot[i] == slot:
            self.kb[i] = max(self.kb[i], kb)
        else:
            self.slot[i], self.kb[i] = slot, kb

    def between(self, first, last):
        """(slot, kb) of the slots ``first`` to ``last`` that hold a sample, oldest first."""
        slots, kbs, size = self.slot, self.kb, len(self.slot)
        out = []
        for slot in range(max(first, last - size + 1), last + 1):
            i = slot % size
            if slots[i] == slot:
                out.append((slot, kbs[i]))
        return out


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
        self._rss = {}  # name -> _Ring
        self._events = {}  # name -> deque of (at, kind, event name, reason)

    def observe(self, programs, now):
        """Record the RSS of every program in ``programs`` (dicts with a ``name``;
        a dict name -> fields works too) and forget programs no longer there."""
        if isinstance(programs, dict):
            programs = [dict(fields, name=name) for name, fields in programs.items()]
        seen = set()
        slot = int(now // self.step)
        for program in programs:
            name = _name(program)
            if name is None:
                continue
            seen.add(name)
            ring = self._rss.get(name)
            if ring is None:
                ring = self._rss[name] = _Ring(self.slots)
            kb = rss_of(program)
            if kb is not None:
                ring.put(slot, int(kb))
        for name in set(self._rss) - seen:
            del self._rss[name]
        for name in set(self._events) - seen:
            del self._events[name]

    def event(self, name, program, at, reason=""):
        """A daemon event: kept (bounded) if the timeline draws its kind."""
        kind = KINDS.get(name)
        if kind is None or not isinstance(program, str):
            return
        marks = self._events.get(program)
        if marks is None:
            marks = self._events[program] = collections.deque(maxlen=self.max_events)
        marks.append((at, kind, name, (reason or "")[:MAX_REASON]))
        while marks and marks[0][0] < at - self.window:
            marks.popleft()

    # -- what the page reads --------------------------------------------------------
    def rss(self, name, now):
        """[(at, kb), ...] oldest first, within the window ending at ``now``; ``at``
        is the middle of the sample's minute (the latest: ``now``)."""
        ring = self._rss.get(name)
        if ring is None:
            return []
        current = int(now // self.step)
        step = self.step
        return [(min(now, (slot + 0.5) * step), kb)
                for slot, kb in ring.between(current - self.slots + 1, current)]

    def events(self, name, now):
        """[(at, kind, event name, reason), ...] oldest first, within the window."""
        return [mark for mark in self._events.get(name, ()) if mark[0] >= now - self.window]

    def names(self):
        return set(self._rss) | set(self._events)
