"""The measurements of issue 5, each against one World.

Every function returns plain data (lists of seconds, counts) for results.json;
statistics and ratios are computed later by the report.
"""

import os
import resource
import signal
import subprocess
import time

from . import procs
from .world import BenchError

POLL_SLEEP = 0.0002  # seconds slept between /proc polls: ~0.3 ms per cycle


# -- timing whole commands ----------------------------------------------------
def time_command(world, argv, trials, timeout=600):
    """Wall time of ``argv`` as a whole process, ``trials`` times."""
    samples, codes = [], []
    for _ in range(trials):
        code, seconds, _out = world.run(argv, timeout=timeout, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        samples.append(seconds)
        codes.append(code)
    return {"samples": samples, "exit_codes": sorted(set(codes))}


def time_floor(tracker, argv, trials):
    samples, codes = [], set()
    for _ in range(trials):
        code, seconds, _out = tracker.run(argv, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
        samples.append(seconds)
        codes.add(code)
    if codes != {0}:
        raise BenchError(f"floor {' '.join(argv)} exited {sorted(codes)}")
    return {"samples": samples, "python": argv[0]}


# -- watching for a new process -------------------------------------------------
class NewProcessWatch:
    """Find the first live process whose argv carries ``token``.

    Polls /proc/loadavg's last-allocated pid every ~0.3 ms and looks only at
    pids allocated since the watch began, so one poll costs microseconds even
    with thousands of processes (a full /proc scan would cost milliseconds and
    blur the figure).  A fresh pid whose argv does not match yet (a fork that
    has not exec'd) is re-read on later polls.
    """

    def __init__(self, token):
        self.token = token
        self.start_pid = procs.last_pid()
        self.seen_last = self.start_pid
        self.candidates = set()
        self.gaps = []

    def _grow(self):
        last = procs.last_pid()
        if last == self.seen_last:
            return
        if last > self.seen_last:
            self.candidates.update(range(self.seen_last + 1, last + 1))
        else:  # pid numbers wrapped: fall back to a full scan this once
            self.candidates.update(procs.all_pids())
        self.seen_last = last

    def poll(self):
        self._grow()
        for pid in list(self.candidates):
            argv = procs.cmdline(pid)
            if argv is None:
                self.candidates.discard(pid)
                continue
            if self.token in argv[1:] and procs.is_alive(pid):
                return pid
        return None

    def wait(self, t0_ns, timeout, also=None):
        """Poll until found; returns (pid, seconds since t0) or (None, None)."""
        deadline = t0_ns + int(timeout * 1e9)
        previous = time.perf_counter_ns()
        while True:
            pid = self.poll()
            now = time.perf_counter_ns()
            self.gaps.append(now - previous)
            previous = now
            if pid is not None:
                return pid, (now - t0_ns) / 1e9
            if now > deadline:
                return None, None
            if also is not None:
                also()
            time.sleep(POLL_SLEEP)


def gap_summary(gaps):
    if not gaps:
        return {}
    ordered = sorted(gaps)
    return {"median_ms": ordered[len(ordered) // 2] / 1e6, "max_ms": ordered[-1] / 1e6,
            "p99_ms": ordered[int(len(ordered) * 0.99)] / 1e6}


# -- 1. crash recovery --------------------------------------------------------
def crash_recovery(world, trials, rng, timeout=60.0, wait_range=(0.2, 1.2)):
    """SIGKILL a random service at a random moment; time until a new one is alive.

    A trial whose service never comes back counts as a failure; two failures
    in a row end the measurement (the manager has evidently given up).
    """
    samples, failures, gaps, streak = [], 0, [], 0
    for _ in range(trials):
        time.sleep(world.settle + rng.uniform(*wait_range))
        name = rng.choice(world.names)
        token = world.tokens[name]
        try:
            victim = world.wait_all_alive([name], timeout=20.0)[token][0]
        except BenchError:
            failures += 1
            streak += 1
            if streak >= 2:
                break
            continue
        watch = NewProcessWatch(token)
        t0 = time.perf_counter_ns()
        world.tracker.kill(victim, signal.SIGKILL)
        pid, seconds = watch.wait(t0, timeout)
        gaps.extend(watch.gaps)
        if pid is None:
            failures += 1
            streak += 1
            if streak >= 2:
                break
        else:
            samples.append(seconds)
            streak = 0
    if not samples:
        raise BenchError(f"{world.peer.key}: no crash was recovered ({failures} failures)")
    return {"samples": samples, "failures": failures, "poll": gap_summary(gaps)}


# -- 8. mass crash ------------------------------------------------------------------
MASS_POLL_SLEEP = 0.001  # coarser than a single crash: the figures are tens of ms or more


def victims_of(peer, world, timeout=30.0):
    """token -> (pid, identity) of every service, as the manager reports them.

    Each pid comes from the manager's own status or pidfiles and is accepted
    only while it is alive and carries its service's token among its
    arguments, so a stale pidfile or a recycled pid can never make the bench
    signal anything else.  Retries until the manager's view is complete.
    """
    deadline = time.monotonic() + timeout
    while True:
        reported = peer.service_pids(world)
        victims, wrong = {}, []
        for name in world.names:
            token, pid = world.tokens[name], reported.get(name)
            ident = procs.identity(pid) if pid else None
            if ident and world.index.match(procs.cmdline(pid)) == token:
                victims[token] = (pid, ident)
            else:
                wrong.append(f"{name}={pid}")
        if not wrong:
            return victims
        if time.monotonic() > deadline:
            raise BenchError(f"{world.peer.key}: the manager does not report a live pid for "
                             f"{len(wrong)} of {world.n} services: {' '.join(wrong[:5])}")
        time.sleep(0.1)


def pin(victims, tracker):
    """Open a pidfd per victim and re-check its identity: a pidfd cannot be
    recycled, so what is signalled through it is exactly what was checked."""
    fds = []
    try:
        for pid, ident in victims.values():
            if pid in tracker.protected:
                raise BenchError(f"refusing to signal protected pid {pid}")
            fd = os.pidfd_open(pid)
            fds.append(fd)
            if procs.identity(pid) != ident:
                raise BenchError(f"pid {pid} changed before the kill")
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return fds


class MassWatch:
    """Watch for a new live process of each of ``victims``' tokens (one not
    among the victims), the same cheap way as NewProcessWatch: only pids
    allocated since the watch began are read."""

    def __init__(self, world, victims):
        self.index = world.index
        self.tokens = set(victims)
        self.old = {ident for _pid, ident in victims.values()}
        self.seen = {}  # token -> [(pid, seconds since the first kill), ...]
        self.known = set()  # identities already in self.seen
        self.pending = set(self.tokens)
        self.seen_last = procs.last_pid()
        self.since = procs.uptime_ticks() - 1  # start times (ticks) a new process can have
        self.candidates = set()
        self.gaps = []

    def _grow(self):
        last = procs.last_pid()
        if last == self.seen_last:
            return
        if last > self.seen_last:
            self.candidates.update(range(self.seen_last + 1, last + 1))
        else:  # pid numbers wrapped (pid_max is small here): one full scan, keeping
            # only processes started since the watch began
            for pid in procs.all_pids():
                ident = procs.identity(pid)
                if ident and ident[1] >= self.since:
                    self.candidates.add(pid)
        self.seen_last = last

    def poll(self, seconds):
        self._grow()
        for pid in list(self.candidates):
            argv = procs.cmdline(pid)
            if argv is None:
                self.candidates.discard(pid)
                continue
            token = self.index.match(argv)
            if token is None:
                continue  # not ours, or forked but not exec'd yet: read again later
            self.candidates.discard(pid)
            ident = procs.identity(pid)
            if ident is None or ident in self.old or ident in self.known \
                    or token not in self.tokens:
                continue
            self.known.add(ident)
            self.seen.setdefault(token, []).append((pid, seconds))
            self.pending.discard(token)

    def back(self):
        """token -> when its earliest process that is alive now appeared; a
        token none of whose new processes is alive now goes back to pending."""
        out = {}
        for token, found in self.seen.items():
            alive = [s for pid, s in found if procs.is_alive(pid)]
            if alive:
                out[token] = min(alive)
            else:
                self.pending.add(token)
        return out

    def extra(self):
        """New processes beyond one per service (a service started twice)."""
        return sum(len(found) - 1 for found in self.seen.values())

    def wait(self, t0_ns, timeout):
        deadline = t0_ns + int(timeout * 1e9)
        previous = time.perf_counter_ns()
        while True:
            now = time.perf_counter_ns()
            self.poll((now - t0_ns) / 1e9)
            self.gaps.append(now - previous)
            previous = now
            if not self.pending:
                back = self.back()
                if not self.pending:  # all N alive together
                    return max(back.values())
            if now > deadline:
                return None
            time.sleep(MASS_POLL_SLEEP)


def mass_crash(peer, world, trials, wait=1.0, timeout=None):
    """SIGKILL every service at once; time until every one is alive again.

    Before each trial: every service up, then ``settle + wait`` seconds so
    each manager counts it as started (startsecs, min_uptime).  The pids come
    from the manager (``victims_of``) and are pinned with pidfds; the clock
    starts just before the first SIGKILL and stops at the poll that finds the
    last service's new process alive (a pid not among the victims, carrying
    the service's token, not a zombie), once all N are confirmed alive
    together.  A trial that does not recover within ``timeout`` is a failure;
    two in a row end the measurement.
    """
    timeout = timeout or 60.0 + world.n * 0.5
    ensure_fds(world.n + 256)  # one pidfd per victim
    samples, details, gaps, failures, streak, dups = [], [], [], 0, 0, 0
    for _ in range(trials):
        try:
            world.wait_all_alive(timeout=60 + world.n * 0.2)
        except BenchError:
            failures += 1
            break
        time.sleep(world.settle + wait)
        dups = max(dups, duplicates(world))
        victims = victims_of(peer, world)
        watch = MassWatch(world, victims)
        fds = pin(victims, world.tracker)
        try:
            t0 = time.perf_counter_ns()
            for fd in fds:
                signal.pidfd_send_signal(fd, signal.SIGKILL)
            sent = time.perf_counter_ns()
        finally:
            for fd in fds:
                os.close(fd)
        seconds = watch.wait(t0, timeout)
        gaps.extend(watch.gaps)
        back = sorted(min(s for _pid, s in found) for found in watch.seen.values())
        details.append({
            "all_alive": seconds, "kill_spread": (sent - t0) / 1e9,
            "first": back[0] if back else None,
            "median_service": back[len(back) // 2] if back else None,
            "down_at_timeout": len(watch.pending) if seconds is None else 0,
            "down_names": sorted(name for name, token in world.tokens.items()
                                 if token in watch.pending)[:20] if seconds is None else [],
            "extra_processes": watch.extra()})
        if seconds is None:
            failures += 1
            streak += 1
            if streak >= 2:
                break
        else:
            samples.append(seconds)
            streak = 0
    if samples:  # a copy started late would show up within the settle window
        time.sleep(world.settle)
        dups = max(dups, duplicates(world))
    if not samples:
        raise BenchError(f"{world.peer.key}: no mass crash was recovered ({failures} failures)")
    return {"n": world.n, "samples": samples, "failures": failures, "trials": details,
            "duplicates": dups, "poll": gap_summary(gaps)}


def ensure_fds(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def duplicates(world):
    return sum(len(pids) - 1 for pids in world.alive_map().values())


# -- 2. manager restart and manager kill -9 --------------------------------------
def disturbed(before, after):
    """Services whose original process (pid, start time) is gone.

    A service that kept its process but gained a second copy is not counted
    here; copies are counted separately as duplicates.
    """
    return sorted(token for token, idents in before.items()
                  if not idents <= after.get(token, set()))


def manager_restart(peer, world, settle_extra=2.0):
    world.wait_all_alive()
    before = world.identities()
    t0 = time.perf_counter()
    peer.restart_manager(world)
    command_seconds = time.perf_counter() - t0
    world.wait_all_alive(timeout=120 + world.n * 0.2)
    time.sleep(world.settle + settle_extra)
    after = world.identities()
    changed = disturbed(before, after)
    return {"n": world.n, "services": len(before), "disturbed": len(changed),
            "command_seconds": command_seconds,
            "duplicates": sum(max(0, len(v) - 1) for v in after.values())}


def manager_kill(peer, world, settle_extra=4.0):
    world.wait_all_alive()
    before = world.identities()
    peer.kill_manager_and_start(world)
    time.sleep(world.settle + settle_extra)
    alive = world.alive_map()
    after = world.identities()
    return {"n": world.n, "services": len(before),
            "duplicates": sum(max(0, len(v) - 1) for v in alive.values()),
            "processes": sum(len(v) for k, v in alive.items() if k in before),
            "down": sum(1 for token in before if token not in alive),
            "disturbed": len(disturbed(before, after))}


# -- 4. start all / stop all ----------------------------------------------------
def wait_none_alive(world, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not world.alive_map():
            return True
        time.sleep(0.05)
    return False


def start_stop(peer, world, cycles):
    """Time ``start all`` and ``stop all`` (the peer's own commands)."""
    if peer.startstop_without_daemon:
        peer.stop_daemon(world)
    world.run(peer.stop_all(world), timeout=900)
    if not wait_none_alive(world):
        raise BenchError(f"{peer.key}: services still alive after stop all")
    starts, all_alive, stops, left, leftovers = [], [], [], [], []
    for _ in range(cycles):
        t0 = time.perf_counter()
        code, seconds, out = world.run(peer.start_all(world), timeout=900)
        if code != 0:
            raise BenchError(f"{peer.key}: start all exited {code}: "
                             + out.decode("utf-8", "replace")[-1500:])
        world.wait_all_alive(timeout=300)
        all_alive.append(time.perf_counter() - t0)
        starts.append(seconds)
        time.sleep(world.settle + 0.5)
        before = world.identities()
        code, seconds, out = world.run(peer.stop_all(world), timeout=900)
        stops.append(seconds)
        after = world.identities()
        left.append(sum(len(p) for p in after.values()))
        survived = sorted(t for t, ids in after.items() if ids & before.get(t, set()))
        if after:
            leftovers.append({"survived": survived,
                              "respawned": sorted(set(after) - set(survived)),
                              "still_alive_after_5s": None})
            wait_none_alive(world, timeout=5)
            leftovers[-1]["still_alive_after_5s"] = sorted(world.alive_map())
        wait_none_alive(world, timeout=30)
    world.run(peer.start_all(world), timeout=900)
    world.wait_all_alive(timeout=300)
    if peer.startstop_without_daemon:
        peer.start_daemon(world)
    return {"start": starts, "start_all_alive": all_alive, "stop": stops,
            "left_after_stop": left, "leftovers": leftovers}


def shell_stop(peer, world):
    """Stop all of the shell variant; count the workers left alive."""
    workers = procs.TokenIndex(world.worker_tokens())
    deadline = time.monotonic() + 60
    while len(workers.scan()) < 2 * world.n:
        if time.monotonic() > deadline:
            raise BenchError(f"{peer.key}: shell workers did not all start")
        time.sleep(0.1)
    time.sleep(world.settle + 0.5)
    if peer.startstop_without_daemon:
        peer.stop_daemon(world)
    code, seconds, _out = world.run(peer.stop_all(world), timeout=900)
    at_return = sum(len(p) for p in workers.scan().values())
    time.sleep(1.0)
    later = sum(len(p) for p in workers.scan().values())
    shells = sum(len(p) for p in world.alive_map().values())
    return {"n": world.n, "workers": 2 * world.n, "stop_seconds": seconds,
            "exit_code": code, "workers_left_at_return": at_return,
            "workers_left_after_1s": later, "shells_left": shells}


# -- 5/6. idle cost and periodic passes ---------------------------------------------
def wait_still(peer, world, timeout, span=2.0, share=0.02):
    """Wait until the daemon used at most ``share`` of a core over ``span``
    seconds (at most ``timeout``); returns the seconds waited."""
    pid = peer.daemon_pid(world)
    t0 = time.monotonic()
    if not pid:
        return 0.0
    last = procs.run_ns(pid)
    while last is not None and time.monotonic() - t0 < timeout:
        time.sleep(span)
        now = procs.run_ns(pid)
        if now is None or now - last <= span * share * 1e9:
            break
        last = now
    return time.monotonic() - t0


def idle_cost(peer, world, window, sample=0.002, burst_gap=0.02):
    """CPU, RSS and wake-ups of the daemon over ``window`` seconds of idling.

    CPU comes from schedstat (ns, all threads), which also shows each periodic
    pass as a burst of CPU time: bursts are separated by ``burst_gap`` of
    silence; each burst's CPU time is the cost of one pass.
    """
    pid = peer.daemon_pid(world)
    if not pid:
        raise BenchError(f"{peer.key}: no daemon pid for the idle measurement")
    ticks0 = procs.cpu_ticks(pid)
    switches0 = procs.context_switches(pid)
    ns0 = last_ns = procs.run_ns(pid)
    t0 = time.perf_counter()
    bursts, current, last_change = [], None, None
    while True:
        now = time.perf_counter()
        if now - t0 >= window:
            break
        ns = procs.run_ns(pid)
        if ns is None:
            raise BenchError(f"{peer.key}: daemon exited during the idle window")
        if ns != last_ns:
            if current is None or now - last_change > burst_gap:
                current = {"start": now - t0, "cpu_ns": 0}
                bursts.append(current)
            current["cpu_ns"] += ns - last_ns
            current["end"] = now - t0
            last_change = now
            last_ns = ns
        time.sleep(sample)
    elapsed = time.perf_counter() - t0
    ticks1 = procs.cpu_ticks(pid)
    switches1 = procs.context_switches(pid)
    ns1 = procs.run_ns(pid)
    child_ticks = ticks1[1] - ticks0[1]
    return {
        "n": world.n, "window": elapsed, "pid": pid,
        "cpu_percent": (ns1 - ns0) / (elapsed * 1e9) * 100,
        "children_cpu_percent": child_ticks / procs.CLK_TCK / elapsed * 100,
        "rss_kib": procs.rss_kib(pid),
        "wakeups_per_s": (switches1[0] - switches0[0]) / elapsed,
        "involuntary_per_s": (switches1[1] - switches0[1]) / elapsed,
        "bursts": [{"start": round(b["start"], 4), "cpu_ms": b["cpu_ns"] / 1e6,
                    "span_ms": (b["end"] - b["start"]) * 1e3} for b in bursts],
    }


# -- 7. reload -------------------------------------------------------------------
def reload(peer, world, timeout=60.0):
    """Add one program and reread; time until it runs; count disturbed services."""
    world.wait_all_alive()
    before = world.identities()
    name = world.new_program()
    argv = peer.add_program(world, name)
    watch = NewProcessWatch(world.tokens[name])
    t0 = time.perf_counter_ns()
    proc = world.tracker.popen(argv, env=world.env, cwd=world.home,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid, seconds = watch.wait(t0, timeout)
    code = proc.wait(timeout=timeout)
    command_seconds = (time.perf_counter_ns() - t0) / 1e9
    world.tracker.spawned.discard(proc.pid)
    time.sleep(world.settle + 1.0)
    after = world.identities()
    return {"n": world.n, "services": len(before), "seconds_to_running": seconds,
            "exit_code": code,
            "command_seconds_upper": command_seconds,
            "disturbed": len(disturbed(before, after))}
