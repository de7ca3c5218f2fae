"""Timers for the loop: a heap of (due, seq, callback); cancelling blanks the callback."""

import heapq
import itertools


class Timers:
    def __init__(self, clock):
        self.clock = clock
        self._heap = []
        self._seq = itertools.count()

    def call_later(self, delay, fn):
        """Run ``fn`` on the loop ``delay`` seconds from now; returns a handle for cancel()."""
        entry = [self.clock() + max(0.0, delay), next(self._seq), fn]
        heapq.heappush(self._heap, entry)
        return entry

    @staticmethod
    def cancel(entry):
        if entry is not None:
            entry[2] = None

    def due(self):
        """Pop and return the callbacks whose time has come, in order."""
        now = self.clock()
        ready = []
        while self._heap and self._heap[0][0] <= now:
            _, _, fn = heapq.heappop(self._heap)
            if fn is not None:
                ready.append(fn)
        return ready

    def timeout(self):
        """Seconds until the next timer (None: no timer at all)."""
        while self._heap and self._heap[0][2] is None:
            heapq.heappop(self._heap)
        if not self._heap:
            return None
        return max(0.0, self._heap[0][0] - self.clock())
