"""usrsvcd's side of [[Requires]] and ``type = oneshot``.

``gate``: before any start (autostart, restart, retry) a program whose
requirements do not hold yet waits in ``starting``, with the reason naming
what it waits for, and looks again on a timer of the loop: never a blocking
call, and never skipped, however long a requirement takes or how often it
restarts meanwhile; it starts at the first look where every condition holds.

Oneshot jobs: run once per boot (their result, oneshot.py's record in the
runtime state directory, outlives a usrsvcd restart and is forgotten at
reboot), never restarted once finished. The job is not our child: its exit
is seen on its pidfd and its exit status read from it once init has reaped
it (Linux 6.15+); where that cannot be known, the result says so and counts
as failed (a job must prove it exited 0).
"""

from .. import oneshot
from ..config import deps

WAIT_LOOK = 0.5  # seconds between two looks at a waiting program's requirements
EXIT_POLLS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4)  # as program.py: init reaps lazily


class Job:
    """The run in flight of one oneshot (ProgramState.job)."""

    __slots__ = ("watched", "record", "deadline_timer", "error", "polls", "killed")

    def __init__(self, watched, record):
        self.watched, self.record = watched, record
        self.deadline_timer = None
        self.error = None
        self.polls = 0
        self.killed = False


# -- ordering ------------------------------------------------------------------------------
def facts(daemon, name):
    """deps.Facts of program ``name`` as usrsvcd knows it now."""
    other = daemon.programs.get(name)
    if other is None:
        return deps.Facts()
    if other.program.oneshot:
        return deps.Facts(result=oneshot.exit_code_of(oneshot.read(daemon.state, name)))
    # its state, and the process itself: a requirement that died in the same turn
    # (both killed at once) is not "running" while its exit waits to be routed, nor
    # while a SIGKILL sent to it has not yet been acted on
    running = other.running and other.state == "running" and _alive(other)
    return deps.Facts(running=running, ready=running and bool(other.ready))


def _alive(other):
    from ..proc import procfs

    info = getattr(other, "info", None)
    return info is None or (procfs.alive(info.pid, info.start_time)
                            and not procfs.dying(info.pid))


def requirements(ps):
    """Its [[Requires]], and in init mode the oneshot jobs that run first (initmode.py)."""
    implicit = getattr(ps.w, "implicit", None)
    extra = implicit.get(ps.name, ()) if implicit else ()
    return tuple(ps.program.requires) + tuple(extra)


def waiting_for(ps):
    """The first requirement of ``ps`` that does not hold, as text; None if all do."""
    for name, condition in requirements(ps):
        found = facts(ps.w, name)
        if deps.holds(condition, found):
            continue
        text = "waiting for %s %s" % (name, deps.describe(condition))
        if deps.hopeless(condition, found):
            text += " (its last run failed: usrsvc start %s runs it again)" % name
        return text
    return None


def gate(ps, reason, count):
    """True when ``ps`` may start now; else it waits (state and a timer)."""
    if not requirements(ps):
        return True
    why = waiting_for(ps)
    if why is None:
        return True
    if ps.w.state.is_stopped(ps.name):
        ps._to("stopped_by_user", "stopped with usrsvc stop; stays down", "down")
        return False
    if (ps.state, ps.reason) != ("starting", why):
        ps._to("starting", why, "waiting")
    ps._later(WAIT_LOOK, lambda: ps.start(reason, count))
    return False


# -- oneshot jobs ------------------------------------------------------------------------------
def sync(ps):
    """The periodic look at a oneshot; True if its state changed."""
    if ps.job is not None or ps._launching or ps.state == "starting":
        return False  # running under us, or waiting for its requirements
    record = oneshot.read(ps.w.state, ps.name)
    first, ps.seen = not ps.seen, True
    if record is not None and record["state"] == "running":
        if oneshot.alive(record):  # run by a usrsvc start (or a usrsvcd before us)
            return _set(ps, "running", "run by %s, pid %s" % (record.get("by"), record["pid"]))
        return _set(ps, "failed", "its last run ended unseen (the usrsvc running it was"
                    " interrupted); usrsvc start %s runs it again" % ps.name)
    if record is not None:
        return _set(ps, record["state"], oneshot.describe(record))
    if ps.w.state.is_stopped(ps.name):
        return _set(ps, "stopped_by_user", "stopped with usrsvc stop; stays down")
    if first and ps.program.autostart:
        ps.start("autostart")
        return True
    return _set(ps, "stopped", "not run this boot" + ("" if ps.program.autostart
                                                      else "; autostart is off"))


def _set(ps, state, reason):
    if (ps.state, ps.reason) == (state, reason):
        return False
    ps._to(state, reason, state if state in ("done", "failed") else None)
    return True


def run(ps, reason):
    """Launch the job (called by ProgramState.start once its gate is open)."""
    why = ps._take_lock()
    if why:
        ps._busy(why, reason, False)
        return
    try:
        record = oneshot.read(ps.w.state, ps.name)
        stopped = ps.w.state.is_stopped(ps.name)
    finally:
        ps._unlock()
    if stopped:
        ps._to("stopped_by_user", "stopped with usrsvc stop; stays down", "down")
        return
    if record is not None and (record["state"] != "running" or oneshot.alive(record)):
        sync(ps)  # done, failed, or run by a usrsvc meanwhile: never a second run
        return
    ps._to("starting", reason)
    token = ps._launching = object()
    ps.w.launch(ps.program, lambda launch, offsets: _launched(ps, token, launch),
                lambda: token is ps._launching)


def _launched(ps, token, launch):
    if token is not ps._launching:
        return
    ps._launching = None
    if isinstance(launch, Exception):
        record = oneshot.finished({"by": "usrsvcd"}, None,
                                  getattr(launch, "message", None) or str(launch))
        _finish(ps, record)
        return
    record = {"state": "running", "pid": launch.pid, "start_time": launch.start_time,
              "started_at": round(ps.w.wall(), 2), "by": "usrsvcd"}
    oneshot.write(ps.w.state, ps.name, record)
    watched = ps.w.watcher.add(launch.pid, launch.start_time, (ps, "job"), keep=True)
    ps.job = Job(watched, record)
    ps._to("running", "oneshot job, pid %d" % launch.pid, "launched", launch.pid)
    ps.job.deadline_timer = ps.w.call_later(ps.program.timeout, lambda: _overtime(ps))
    if watched.exited:
        on_exit(ps, watched)


def _overtime(ps):
    """Over its timeout: the stop signal to its process group, SIGKILL later."""
    import os
    import signal

    job = ps.job
    if job is None or job.watched.exited:
        return
    sig = signal.SIGKILL if job.killed else ps.program.stop_signal
    if job.error is None:
        job.error = "ran over its timeout (%gs) and was stopped" % ps.program.timeout
        ps.emit("timeout", job.error, job.watched.pid, level="error")
    job.killed = True
    try:  # the pidfd is still open and the process has not exited: its pid is its own
        os.killpg(job.watched.pid, sig)
    except OSError:
        pass
    job.deadline_timer = ps.w.call_later(ps.program.term_to_kill_seconds, lambda: _overtime(ps))


def on_exit(ps, watched):
    """The job's pidfd says it ended: read its exit status once init reaps it."""
    job = ps.job
    if job is None or watched is not job.watched:
        watched.close()
        return
    ps.w.cancel(job.deadline_timer)
    if not ps.w.exit_supported() and not getattr(ps.w, "init_mode", False):
        _done(ps, None, ps.w.exit_unknown_text())
        return
    _poll(ps)  # (init mode: the reaper tells the status of a job that ended unwatched)


def _poll(ps):
    job = ps.job
    if job is None:
        return
    status = ps.w.exit_status(job.watched)
    if status is None and job.polls < len(EXIT_POLLS):
        job.polls += 1
        job.deadline_timer = ps.w.call_later(EXIT_POLLS[job.polls - 1], lambda: _poll(ps))
        return
    unknown = None if status is not None else \
        "exit status unknown (init had not reaped it after %gs)" % sum(EXIT_POLLS)
    _done(ps, status, unknown)


def _done(ps, status, unknown):
    job, ps.job = ps.job, None
    job.watched.close()
    error = job.error or unknown
    record = oneshot.finished(job.record, status, error)
    if ps.w.state.is_stopped(ps.name):  # usrsvc stop ended it: its result is forgotten
        ps._to("stopped_by_user", "stopped with usrsvc stop; stays down", "stopped",
               job.record.get("pid"))
        return
    _finish(ps, record)


def _finish(ps, record):
    try:
        oneshot.write(ps.w.state, ps.name, record)
    except Exception as err:  # the state directory refused: said, the state still shown
        ps.emit("note", "cannot record the job's result: %s" % err, level="error")
    text = oneshot.describe(record)
    if record["state"] == "done":
        ps._to("done", text, "done", record.get("pid"))
        return
    program = ps.program
    ps._to("failed", text, "failed", record.get("pid"), level="error",
           subject="[usrsvcd] %s: oneshot job failed" % program.name,
           body="%s %s.\nIts log: %s\nRun it again with: usrsvc start %s"
           % (program.name, text, program.stdout, program.name))
    if getattr(ps.w, "init_mode", False):  # a container's init job: the container fails
        ps.w.init_failed(ps.name, text)


def forget(ps):
    """The daemon lets go (exit, reread): the job keeps running; its record says
    "running", so the next usrsvcd finds it, and its end is then unseen."""
    job, ps.job = ps.job, None
    if job is not None:
        ps.w.cancel(job.deadline_timer)
        job.watched.close()
