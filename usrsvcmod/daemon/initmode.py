"""usrsvcd --init: a container's PID 1 (Simplevisor's "suitable PID 1").

Everywhere else usrsvcd is never a service's parent and services outlive
it. In a container they cannot: when its PID 1 exits, the kernel kills
every process of the namespace. So init mode reverses the rule, on purpose:

- ``become_init`` splits the process in two. The parent stays PID 1 (or,
  started with ``--init`` elsewhere, a child subreaper): it forwards
  SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2 and SIGQUIT to the daemon and
  reaps every process that ends under it with ``waitpid(-1)``; it exits
  with the daemon's exit status. The daemon is its child and works as
  everywhere else: its services are reparented to the reaper, not to it, so
  the reaper never takes an exit status that the daemon's own code waits
  for (launch middles, hooks, EnvCommands, probes), and the daemon reads
  services' and jobs' exit statuses from their pidfds once the reaper has
  reaped them, as it does under any init.
- ``prepare``: a container start is a boot: results of oneshot jobs and
  user stops left in the state directory by an earlier run are forgotten.
- ``implicit_requires``: oneshot jobs run first, one after the other in
  dependency then config order, and services start after them (extra
  ``done`` requirements, each added only where it makes no cycle: a job
  that requires a service still gets it first).
- a job that fails ends the daemon with FAILED_TO_LAUNCH (Daemon.init_failed);
- ``stop_all``: on SIGTERM or SIGINT every program is stopped, dependents
  first, each with its ``stop_signal`` and ``term_to_kill_seconds``.
"""

import os
import signal

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGQUIT)
_PR_SET_PDEATHSIG = 1


# -- the reaper ---------------------------------------------------------------------------
def become_init():
    """Fork; the child returns (it runs the daemon), the parent reaps until the
    daemon exits and then exits with its status (it never returns)."""
    import sys

    from ..proc import spawn

    if os.getpid() != 1:
        spawn.become_subreaper()  # orphans come to us, as they would to PID 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    parent = os.getpid()
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    child = os.fork()
    if child == 0:
        os.close(write_fd)
        _die_with(parent)
        _hear_reaped(read_fd)
        return
    os.close(read_fd)
    os.set_blocking(write_fd, False)
    _reap_until(child, write_fd)


def _die_with(parent):
    """The daemon gets SIGTERM (and stops everything) if the reaper is gone."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it went before the prctl
        os.kill(os.getpid(), signal.SIGTERM)


REAPED = {}  # pid -> wait status, as the reaper told (the daemon's side; the last 4096)


def reaped_status(pid):
    """The wait status the reaper got for ``pid`` (init mode), or None. A job
    that ends before the daemon opened its pidfd leaves no exit status there:
    the reaper, which collected it, says what it was."""
    return REAPED.get(pid)


def _hear_reaped(fd):
    """A thread reading the reaper's ``PID STATUS`` lines into REAPED."""
    import threading

    def listen():
        pending = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                try:
                    pid, status = (int(x) for x in line.split())
                except ValueError:
                    continue
                REAPED[pid] = status
                if len(REAPED) > 4096:
                    REAPED.pop(next(iter(REAPED)))

    threading.Thread(target=listen, name="reaped", daemon=True).start()


def _reap_until(child, status_fd=None):
    def forward(signum, frame):
        try:
            os.kill(child, signum)
        except OSError:
            pass

    for sig in FORWARDED:
        signal.signal(sig, forward)
    try:
        from setproctitle import setproctitle

        setproctitle("usrsvcd: init (reaper of pid %d)" % child)
    except ImportError:
        pass
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:  # cannot be: the daemon is our child
            os._exit(1)
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)
        if status_fd is not None:
            try:  # never blocks: a daemon that does not read loses a status, not us
                os.write(status_fd, b"%d %d\n" % (pid, status))
            except OSError:
                pass


# -- the daemon's side ----------------------------------------------------------------------
def prepare(state, config):
    """A container start is a boot: forget earlier results and stops."""
    from .. import oneshot
    from ..errors import UsrsvcError

    for name in config.programs:
        try:
            oneshot.clear(state, name)
            state.clear_stopped(name)
        except (OSError, UsrsvcError):
            pass  # the state directory refused: the loop says so at its first look


def implicit_requires(config):
    """name -> ((job, "done"), ...): the autostart oneshot jobs each program
    waits for in init mode, on top of its own [[Requires]]."""
    from ..config import deps

    graph = config.programs
    active = {n for n, p in graph.items() if p.enabled and p.autostart}
    order = [n for level in deps.levels(graph, active) for n in level]
    jobs = [n for n in order if graph[n].oneshot]
    edges = {n: [r for r, _ in graph[n].requires] for n in graph}
    extra = {}

    def reaches(start, goal):
        seen, todo = set(), [start]
        while todo:
            name = todo.pop()
            if name == goal:
                return True
            if name not in seen:
                seen.add(name)
                todo.extend(edges.get(name, ()))
        return False

    def add(name, job):
        if job in edges[name] or reaches(job, name):
            return
        edges[name].append(job)
        extra.setdefault(name, []).append((job, "done"))

    for at, job in enumerate(jobs):
        for earlier in jobs[:at]:
            add(job, earlier)
    for name in order:
        if not graph[name].oneshot:
            for job in jobs:
                add(name, job)
    return {name: tuple(reqs) for name, reqs in extra.items()}


def stop_all(daemon):
    """Every enabled program, dependents first (a level at once, the last
    started first), each with its stop signal and grace; said in the log."""
    from .. import actions, oneshot
    from ..config import deps

    graph, log = daemon.config.programs, daemon.log
    session = actions.Session(daemon.state)
    session.nofile = daemon.nofile
    names = {n for n, p in graph.items() if p.enabled}
    for level in deps.stop_levels(graph, names):
        level = list(reversed(level))
        services = [graph[n] for n in level if not graph[n].oneshot]
        jobs = [graph[n] for n in level if graph[n].oneshot]
        for name in level:
            log.event(name, "stopping", "usrsvcd --init is exiting")
        results = []
        try:
            if services:
                results += actions.stop(session, services, parallel=len(services) > 1, user=False)
            if jobs:
                results += oneshot.stop(session, jobs)
        except Exception:  # noqa: BLE001 - the next level is still stopped
            log.exception("stopping %s" % ", ".join(level))
        for result in results:
            if result.ok:
                log.event(result.name, "stopped", result.message)
            else:
                log.error(result.name, "stop_failed", result.message)
