"""Reading /proc, and keeping track of every process the bench starts.

Nothing here uses psutil: the bench must run with a bare python3 (the smoke
test runs it before any bench dependency is installed), and reading a few
/proc files directly is also cheaper, which matters inside the polling loops.

Cleanup never matches broad patterns.  A process is ours when

- we spawned it (its pid is in the tracker), or
- it descends from a process we spawned, or
- its environment carries this run's marker variable (every command the bench
  starts gets ``USRSVC_BENCH_RUN=<random id>``, and the managers pass their
  environment on to the services), or
- one of its arguments starts with this run's token prefix (every service runs
  ``sleep <token>`` where the token is a number unique to this run).
"""

import os
import select
import signal
import subprocess
import tempfile
import time

MARKER_VAR = "USRSVC_BENCH_RUN"
WORLD_VAR = "USRSVC_BENCH_WORLD"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _read(path, mode="rb"):
    try:
        with open(path, mode) as handle:
            return handle.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError):
        return None
    except OSError:
        return None


def cmdline(pid):
    """argv of ``pid`` as a list of str, or None if it is gone."""
    raw = _read(f"/proc/{pid}/cmdline")
    if raw is None:
        return None
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0")[:-1]]


def stat_fields(pid):
    """Fields of /proc/PID/stat after the command name (index 0 = state)."""
    raw = _read(f"/proc/{pid}/stat")
    if not raw:
        return None
    close = raw.rfind(b")")
    return raw[close + 2:].split()


def state(pid):
    fields = stat_fields(pid)
    return fields[0].decode() if fields else None


def is_alive(pid):
    """True while ``pid`` exists and is not a zombie (a zombie has exited)."""
    st = state(pid)
    return st is not None and st not in ("Z", "X")


def identity(pid):
    """(pid, start time in clock ticks), the pair that survives pid reuse."""
    fields = stat_fields(pid)
    if not fields or fields[0] in (b"Z", b"X"):
        return None
    return (pid, int(fields[19]))


def ppid(pid):
    fields = stat_fields(pid)
    return int(fields[1]) if fields else None


def children(pid):
    """Live children of ``pid``, from /proc/PID/task/*/children."""
    out = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        raw = _read(f"/proc/{pid}/task/{tid}/children")
        if raw:
            out.extend(int(part) for part in raw.split())
    return [child for child in out if is_alive(child)]


def environ_has(pid, needle):
    raw = _read(f"/proc/{pid}/environ")
    return bool(raw) and needle in raw


def all_pids():
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def last_pid():
    """The most recently allocated pid, from /proc/loadavg (cheap to poll)."""
    raw = _read("/proc/loadavg")
    return int(raw.rsplit(b" ", 1)[1]) if raw else 0


def uptime_ticks():
    """Now, in the clock ticks since boot that /proc/PID/stat start times use."""
    raw = _read("/proc/uptime")
    return int(float(raw.split()[0]) * CLK_TCK) if raw else 0


def cpu_ticks(pid):
    """utime+stime of the process (all threads) and of its reaped children."""
    fields = stat_fields(pid)
    if not fields:
        return None
    own = int(fields[11]) + int(fields[12])
    children = int(fields[13]) + int(fields[14])
    return own, children


def rss_kib(pid):
    raw = _read(f"/proc/{pid}/status", "r")
    if not raw:
        return None
    for line in raw.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def context_switches(pid):
    """(voluntary, involuntary) context switches summed over every thread."""
    vol = invol = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        raw = _read(f"/proc/{pid}/task/{tid}/status", "r")
        if not raw:
            continue
        for line in raw.splitlines():
            if line.startswith("voluntary_ctxt_switches:"):
                vol += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                invol += int(line.split()[1])
    return vol, invol


def run_ns(pid):
    """Nanoseconds on CPU summed over threads, from schedstat (fine-grained)."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        raw = _read(f"/proc/{pid}/task/{tid}/schedstat")
        if raw:
            total += int(raw.split()[0])
    return total


def wait_exit(pid, timeout):
    """Block until child ``pid`` has exited (not reaped), or ``timeout``."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd (Linux < 5.3): a coarser fallback
        return _wait_exit_polling(pid, timeout)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(None if timeout is None else timeout * 1000))
    finally:
        os.close(fd)


def _wait_exit_polling(pid, timeout):
    deadline = None if timeout is None else time.monotonic() + timeout
    while is_alive(pid):
        if deadline is not None and time.monotonic() > deadline:
            return False
        time.sleep(0.0005)
    return True


class TokenIndex:
    """Maps argv tokens to the services they name.

    A service is found by an exact argument (``sleep 912345...``), never by
    argv[0], because pm2 and supervisord run ``/usr/bin/sleep`` while others
    run what the config says.
    """

    def __init__(self, tokens=()):
        self.tokens = set(tokens)

    def add(self, token):
        self.tokens.add(token)

    def match(self, argv):
        if not argv:
            return None
        for arg in argv[1:]:
            if arg in self.tokens:
                return arg
        return None

    def scan(self):
        """token -> list of live pids, over one pass of /proc."""
        found = {}
        for pid in all_pids():
            token = self.match(cmdline(pid))
            if token is not None and is_alive(pid):
                found.setdefault(token, []).append(pid)
        return found


def scan_table():
    """pid -> (ppid, argv) for every process, one pass."""
    table = {}
    for pid in all_pids():
        fields = stat_fields(pid)
        argv = cmdline(pid)
        if fields is None or argv is None:
            continue
        if fields[0] in (b"Z", b"X"):
            continue
        table[pid] = (int(fields[1]), argv)
    return table


def descendants(root, table=None):
    table = table if table is not None else scan_table()
    children = {}
    for pid, (parent, _argv) in table.items():
        children.setdefault(parent, []).append(pid)
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class Tracker:
    """Every process the bench starts, and the means to end them all.

    ``popen`` is the only way the bench starts a process.  ``cleanup`` kills
    (by pid) what we spawned, what descends from it, and what carries this
    run's marker or token prefix, repeating until nothing is left.
    """

    def __init__(self, run_id, token_prefix):
        self.run_id = run_id
        self.token_prefix = token_prefix
        self.spawned = set()
        self._ancestors = {ident for ident in map(identity, self._ancestry()) if ident}
        self.base_env = dict(os.environ)
        self.base_env[MARKER_VAR] = run_id

    @property
    def protected(self):
        """Pids of the bench and its ancestors that are still those processes: one
        that ended gives its pid back, and a service that got the number again (pid
        numbers wrap at 32768 here) is the bench's to end, not to spare."""
        return {ident[0] for ident in self._ancestors if identity(ident[0]) == ident}

    @staticmethod
    def _ancestry():
        pids, pid = set(), os.getpid()
        while pid and pid not in pids:
            pids.add(pid)
            pid = ppid(pid) or 0
        return pids

    def env(self, extra=None):
        env = dict(self.base_env)
        if extra:
            env.update(extra)
        return env

    def popen(self, argv, env=None, **kwargs):
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(argv, env=env or self.env(), **kwargs)
        self.spawned.add(proc.pid)
        return proc

    def run(self, argv, env=None, timeout=600, **kwargs):
        """Run to completion; returns (returncode, seconds, output bytes).

        The end is taken when the process exits, seen through a pidfd: the
        timeout-based ``Popen.wait`` polls with sleeps of up to 50 ms, which
        would round every figure up.  Output goes to a temporary file, not a
        pipe, so reading it never stands in the way of the clock.
        """
        capture = "stdout" not in kwargs
        sink = tempfile.TemporaryFile() if capture else None
        if capture:
            kwargs["stdout"] = sink
            kwargs.setdefault("stderr", subprocess.STDOUT)
        try:
            start = time.perf_counter()
            proc = self.popen(argv, env=env, **kwargs)
            exited = wait_exit(proc.pid, timeout)
            elapsed = time.perf_counter() - start
            if not exited:
                self._kill_tree(proc.pid)
                proc.wait()
                self.spawned.discard(proc.pid)
                raise subprocess.TimeoutExpired(argv, timeout)
            proc.wait()
            self.spawned.discard(proc.pid)
            out = b""
            if capture:
                sink.seek(0)
                out = sink.read()
            return proc.returncode, elapsed, out
        finally:
            if sink is not None:
                sink.close()

    def _kill_tree(self, pid):
        for child in descendants(pid) + [pid]:
            self.kill(child)

    def kill(self, pid, sig=signal.SIGKILL, protected=None):
        if pid <= 1 or pid in (self.protected if protected is None else protected):
            return False
        try:
            os.kill(pid, sig)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    def owned(self, pid, argv, needle, token_prefix):
        """Is this process one the bench started (see the module doc)? The
        caller leaves out the protected ones."""
        for arg in (argv or [])[1:]:
            if arg.startswith(token_prefix) and arg.isdigit() and len(arg) >= 14:
                return True
        return environ_has(pid, needle)

    def sweep(self, world=None, rounds=8):
        """SIGKILL every owned process, or only those of one world.

        ``world`` is a (marker, token_prefix) pair.  Returns how many
        processes were killed.  Repeats because a manager killed mid-spawn may
        leave a child that only appears after the first pass.
        """
        if world is None:
            needle = f"{MARKER_VAR}={self.run_id}".encode()
            prefix = self.token_prefix
        else:
            needle = f"{WORLD_VAR}={world[0]}".encode()
            prefix = world[1]
        killed = 0
        for _ in range(rounds):
            table = scan_table()
            targets = {pid for pid, (_pp, argv) in table.items()
                       if self.owned(pid, argv, needle, prefix)}
            if world is None:
                for root in list(self.spawned):
                    if root in table:
                        targets.add(root)
                        targets.update(descendants(root, table))
            protected = self.protected
            targets -= protected
            if not targets:
                break
            for pid in targets:
                if self.kill(pid, protected=protected):
                    killed += 1
            self.reap()
            time.sleep(0.05)
        return killed

    def reap(self):
        """Collect any exited direct children so they do not linger as zombies."""
        while True:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.spawned.discard(pid)

    def cleanup(self):
        return self.sweep(world=None)
