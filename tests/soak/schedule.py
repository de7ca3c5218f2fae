"""The soak's fault schedule: a pure function of the seed and the program names.

``Schedule(seed, names, spewers, decoys)`` yields ``Fault`` values one by one. It keeps
its own model of which programs the user has stopped (the schedule decides every stop
and start itself), so the sequence never depends on what happened at run time: the
same seed gives the same faults in the same order, only their timing varies.
"""

import collections
import random

Fault = collections.namedtuple("Fault", "kind targets params")
Fault.__doc__ = """One fault: its kind, the programs it touches and its parameters.

``targets`` are the programs whose pid may change because of it (the disturbed check
spares them); ``params`` is a tuple of (key, value) pairs (see ``Fault.get``)."""
Fault.get = lambda self, key, default=None: dict(self.params).get(key, default)

# kind -> weight: how often each fault fires, relatively
WEIGHTS = {
    "kill_service": 14,
    "kill_daemon": 4,
    "daemon_restart": 3,
    "daemon_stop_start": 3,
    "daemon_pause": 3,
    "pidfile": 10,
    "daemon_pidfile": 3,
    "bad_config": 3,
    "concurrent": 6,
    "user_stop": 5,
    "user_start": 5,
    "rotate": 3,
    "storm": 4,
    "race": 5,
    "api": 2,  # a no-op where usrsvcd has no API socket
}
PIDFILE_DAMAGE = ("garbage", "foreign", "empty", "deleted")
DAEMON_PIDFILE_DAMAGE = ("garbage", "foreign", "empty", "deleted")
STORM_DAEMON = ("restart", "kill_start", "stop_start", "pause")
DAEMON_FOLLOW_UP = ("none", "status", "restart", "stop_start")
BAD_CONFIGS = ("syntax", "bad_value", "no_command", "unknown_section_key")
CONCURRENT_OPS = ("start", "stop", "restart")


class Schedule:
    """An endless, seeded sequence of faults over ``names`` (the program names); only
    of ``kinds`` when given."""

    def __init__(self, seed, names, spewers=(), decoys=1, kinds=None):
        self.rng = random.Random(seed)
        self.gap_rng = random.Random("gaps-%d" % seed)
        self.names = list(names)
        self.spewers = [name for name in names if name in set(spewers)]
        self.decoys = decoys
        self.stopped = set()  # programs the user stopped, as this schedule decided
        self.kinds = sorted(kinds or WEIGHTS)  # a subset of WEIGHTS for a targeted soak
        self.weights = [WEIGHTS[kind] for kind in self.kinds]

    def __iter__(self):
        return self

    def __next__(self):
        while True:
            kind = self.rng.choices(self.kinds, self.weights)[0]
            fault = getattr(self, "_" + kind)()
            if fault is not None:
                return fault

    def take(self, count):
        return [next(self) for _ in range(count)]

    # each returns a Fault, or None when it does not apply now (another kind is drawn)
    def _running(self):
        return sorted(set(self.names) - self.stopped)

    def _pick_running(self):
        running = self._running()
        return self.rng.choice(running) if running else None

    def _kill_service(self):
        count = 1 if self.rng.random() < 0.8 else self.rng.randint(2, 4)
        running = self._running()
        if not running:
            return None
        targets = self.rng.sample(running, min(count, len(running)))
        return Fault("kill_service", tuple(sorted(targets)), ())

    def _kill_daemon(self):
        return Fault("kill_daemon", (), (("down_seconds", round(self.rng.uniform(0, 2), 2)),))

    def _daemon_restart(self):
        return Fault("daemon_restart", (), ())

    def _daemon_stop_start(self):
        return Fault("daemon_stop_start", (), (("down_seconds", round(self.rng.uniform(0, 2), 2)),))

    def _daemon_pause(self):
        # a service dies while the daemon is stopped: it must be restarted after SIGCONT
        victim = self._pick_running() if self.rng.random() < 0.5 else None
        params = (("seconds", round(self.rng.uniform(0.3, 3), 2)),
                  # and, sometimes, a usrsvcd command meets the stopped daemon
                  ("during", self.rng.choice(("none", "none", "status", "stop", "restart"))))
        return Fault("daemon_pause", (victim,) if victim else (), params)

    def _pidfile(self):
        target = self._pick_running()
        if target is None:
            return None
        damage = self.rng.choice(PIDFILE_DAMAGE)
        params = (("damage", damage),)
        if damage == "foreign":
            params += (("decoy", self.rng.randrange(self.decoys)),)
        # then, sometimes, something that must look at the damaged pidfile
        # none: the daemon alone must see through it; kill: it must restart the
        # program; restart, stop_start: usrsvc must act on the right process
        then = self.rng.choice(("none", "none", "kill", "stop_start", "restart"))
        params += (("then", then),)
        return Fault("pidfile", (target,) if then != "none" else (), params + (("program", target),))

    def _daemon_pidfile(self):
        damage = self.rng.choice(DAEMON_PIDFILE_DAMAGE)
        params = (("damage", damage), ("then", self.rng.choice(DAEMON_FOLLOW_UP)))
        if damage == "foreign":
            params += (("decoy", self.rng.randrange(self.decoys)),)
        return Fault("daemon_pidfile", (), params)

    def _bad_config(self):
        victim = self._pick_running() if self.rng.random() < 0.4 else None
        params = (("variant", self.rng.choice(BAD_CONFIGS)),
                  ("program", self.rng.choice(self.names)))
        return Fault("bad_config", (victim,) if victim else (), params + (("victim", victim),))

    def _concurrent(self):
        subset = self.rng.sample(self.names, min(len(self.names), self.rng.randint(2, 4)))
        shells = []
        start_all = False
        for _ in range(self.rng.randint(3, 5)):
            ops = []
            for _ in range(self.rng.randint(1, 3)):
                draw = self.rng.random()
                if draw < 0.08:
                    ops.append(("start_all",))
                    start_all = True
                elif draw < 0.2:  # the same through usrsvcd's API (a no-op without one)
                    ops.append(("api", self.rng.choice(CONCURRENT_OPS), self.rng.choice(subset)))
                else:
                    ops.append((self.rng.choice(CONCURRENT_OPS), self.rng.choice(subset)))
            shells.append(tuple(ops))
        # where the burst leaves things: each program of the subset ends started or
        # stopped; a `start all` also started the user-stopped ones, stopped again after
        limit = len(self.names) // 3
        end_stopped = set()
        for name in sorted(subset):
            if self.rng.random() < 0.25 and len(self.stopped - set(subset)) + len(end_stopped) < limit:
                end_stopped.add(name)
        before = set(self.stopped)
        self.stopped = (before - set(subset)) | end_stopped
        # `start all` starts only what is down: the user-stopped ones, not the others
        touched = set(subset) | (before if start_all else set())
        final_stop = sorted(self.stopped & touched)
        final_start = sorted(touched - self.stopped)
        params = (("shells", tuple(shells)), ("final_stop", tuple(final_stop)),
                  ("final_start", tuple(final_start)))
        return Fault("concurrent", tuple(sorted(touched)), params)

    def _storm(self):
        """A concurrent burst while the daemon is restarted, killed or paused and other
        programs are killed, all at once."""
        burst = self._concurrent()
        spare = sorted(set(self._running()) - set(burst.targets))
        victims = self.rng.sample(spare, min(len(spare), self.rng.randint(1, 3)))
        params = burst.params + (("daemon", self.rng.choice(STORM_DAEMON)),
                                 ("victims", tuple(sorted(victims))))
        return Fault("storm", tuple(sorted(set(burst.targets) | set(victims))), params)

    def _race(self):
        """SIGKILL of a program and, at once, a usrsvc command on it: the daemon's
        restart and the command meet (a stop must win, a start or restart must not
        make two)."""
        target = self._pick_running()
        if target is None:
            return None
        action = self.rng.choice(("stop", "start", "restart"))
        if action == "stop":
            if len(self.stopped) >= len(self.names) // 3:
                action = "restart"
            else:
                self.stopped.add(target)
        return Fault("race", (target,), (("action", action),))

    def _api(self):
        paths = ("/api/v1/programs", "/healthz", "/metrics", "/api/v1")
        return Fault("api", (), (("paths", tuple(self.rng.sample(paths, 2))),))

    def _user_stop(self):
        if len(self.stopped) >= len(self.names) // 3:
            return None
        target = self._pick_running()
        if target is None:
            return None
        self.stopped.add(target)
        return Fault("user_stop", (target,), ())

    def _user_start(self):
        if not self.stopped:
            return None
        target = self.rng.choice(sorted(self.stopped))
        self.stopped.discard(target)
        return Fault("user_start", (target,), ())

    def _rotate(self):
        if not self.spewers:
            return None
        target = self.rng.choice(self.spewers)
        return Fault("rotate", (), (("program", target), ("force", self.rng.random() < 0.5)))

    def gap(self):
        """Quiet seconds before the next fault (from a generator of their own, so the
        fault sequence does not depend on how often this is asked)."""
        return round(self.gap_rng.uniform(0.2, 1.5), 2)
