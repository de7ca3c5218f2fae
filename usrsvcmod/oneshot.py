"""``type = oneshot``: init jobs run to completion, and their result.

A oneshot is launched like a service (detached, its own session, its
logs), but success is its exit status 0 within ``timeout``, not a process
that lives on. ``usrsvc start`` reaps it itself: during a start usrsvc is a
child subreaper, so once the launcher's middle process exits the job is
reparented to us and waitpid() gives its exact status. usrsvcd reads the
status from the job's pidfd instead (daemon/oneshot.py).

The result is runtime state, one small JSON file per job in the state
directory (``NAME.oneshot``): while it runs, its pid and start time; after,
its exit code or signal and when. The state directory is forgotten at
reboot, so is the result: a job runs once per boot, as systemd's
``RemainAfterExit`` units do.
"""

import json
import os
import time

from . import exitcodes

KIND = "oneshot"


def _file(state, name):
    return state._file(KIND, name)


def read(state, name):
    """The job's record (a dict), or None: never run this boot, or unreadable."""
    if state is None:
        return None
    data = state.read(_file(state, name), limit=1 << 16)
    if not data:
        return None
    try:
        record = json.loads(data)
    except ValueError:
        return None
    return record if isinstance(record, dict) and record.get("state") in (
        "running", "done", "failed") else None


def write(state, name, record):
    """Only under the program's lock (or by the daemon, which takes it too)."""
    state.write(_file(state, name), json.dumps(record, sort_keys=True).encode())


def clear(state, name):
    try:
        os.unlink(_file(state, name), dir_fd=state.dirfd())
    except FileNotFoundError:
        pass


def finished(record, status, error=None):
    """The record of a run that ended with ``status`` (exitinfo.ExitStatus or None)."""
    out = {"state": "failed", "pid": record.get("pid"), "started_at": record.get("started_at"),
           "at": round(time.time(), 2), "by": record.get("by")}
    if status is not None:
        out.update(status.as_json())
        out["at"] = round(status.at or out["at"], 2)
        if status.signal is None and status.code == 0 and not error:
            out["state"] = "done"
    if error:
        out["error"] = error
    return out


def exit_code_of(record):
    """deps.Facts.result: the exit code, -1 for a signal or an unknown status,
    None while it runs (or never ran)."""
    if record is None or record["state"] == "running":
        return None
    if record.get("code") is not None and not record.get("error"):
        return record["code"]
    return -1


def alive(record):
    """Whether the job a "running" record names is still running."""
    from .proc import procfs

    pid, started = record.get("pid"), record.get("start_time")
    if not isinstance(pid, int):
        return False
    info = procfs.read(pid)
    if info is None or info.zombie:
        return False
    return started is None or abs(info.start_time - started) < 0.05


def describe(record):
    """``done (exit 0, 12:03:04)``, ``failed (exit 3)``, ``failed (killed by SIGKILL)``."""
    if record["state"] == "running":
        return "running (pid %s)" % record.get("pid")
    when = time.strftime("%H:%M:%S", time.localtime(record.get("at") or 0))
    if record.get("signal") is not None:
        from .proc.exitinfo import signal_name

        what = "killed by %s" % (signal_name(record["signal"]) or "signal %d" % record["signal"])
    elif record.get("code") is not None:
        what = "exit %d" % record["code"]
    else:
        what = "exit status unknown"
    if record["state"] == "done":
        return "done (%s, %s)" % (what, when)
    text = "failed (%s, %s)" % (what, when)
    if record.get("error"):
        text += ": %s" % record["error"]
    return text


def status_result(session, program, health=False):
    """``usrsvc status`` of a oneshot: running, done, failed or not run yet."""
    from .actions import Result

    record = read(session.state, program.name)
    if record is not None and record["state"] == "running":
        if alive(record):
            result = Result(program, "running", None, describe(record))
            result.pid = record.get("pid")
            return result
        record = None  # the usrsvc that ran it died before it finished: unknown
        message = "not running; its last run's end was not seen (usrsvc start interrupted?)"
        return Result(program, "stopped", None, message, exitcodes.FAILURE)
    if record is None:
        stopped = session.state is not None and session.state.is_stopped(program.name)
        if not program.enabled:
            return Result(program, "disabled", None, "not run (disabled)",
                          exitcodes.SUCCESS if health else exitcodes.FAILURE)
        if stopped:
            return Result(program, "stopped_by_user", None, "not run (stopped with usrsvc stop)",
                          exitcodes.SUCCESS if health else exitcodes.FAILURE)
        return Result(program, "stopped", None, "not run yet (since boot)", exitcodes.FAILURE)
    result = Result(program, record["state"], None, describe(record),
                    exitcodes.SUCCESS if record["state"] == "done" else exitcodes.FAILURE)
    result.last_exit = {k: record[k] for k in ("code", "signal", "core", "at") if k in record}
    return result


def start(session, programs, parallel=False, again=False):
    """Run each job to its end (all at once with ``parallel``); a job already
    done this boot is left alone unless ``again`` (restart)."""
    from .actions import _locked

    def body(held):
        for program in held:
            session.state.clear_stopped(program.name)
        return _run_batch(session, held, again)

    session.progress.phase("started", programs)
    if parallel:
        return _locked(session, programs, body)
    return [r for p in programs for r in _locked(session, [p], body)]


def _run_batch(session, programs, again):
    from .actions import Result
    from .errors import UsrsvcError
    from .proc import spawn

    spawn.become_subreaper()
    results, runs = [], []
    for program in programs:
        record = read(session.state, program.name)
        if not program.enabled:
            results.append(Result(program, "stopped", None, "program is disabled",
                                  exitcodes.PROGRAM_DISABLED))
        elif record is not None and record["state"] == "running" and alive(record):
            results.append(Result(program, "running", None, "already running (pid %s)"
                                  % record.get("pid"), exitcodes.TRY_AGAIN))
        elif record is not None and record["state"] == "done" and not again:
            results.append(Result(program, "done", None, "already " + describe(record)))
        else:
            runs.append(program)
    offsets = {p.name: spawn.log_offsets(p) for p in runs}
    waiting = []
    for program, launch in spawn.launch_many(runs, nofile=session.nofile):
        if isinstance(launch, UsrsvcError):
            results.append(Result(program, "failed", None, launch.message,
                                  exitcodes.code_for(launch)))
            continue
        if launch.middle:  # from now on the job is our child (we are its subreaper)
            spawn.reap([launch.middle], block=True)
        record = {"state": "running", "pid": launch.pid, "start_time": launch.start_time,
                  "started_at": round(time.time(), 2), "by": "usrsvc"}
        write(session.state, program.name, record)
        waiting.append((program, launch, record))
    for program, launch, status, error in wait_all(waiting):
        record = finished(waiting[[w[1] for w in waiting].index(launch)][2], status, error)
        write(session.state, program.name, record)
        results.append(_outcome(program, record, spawn.log_tail(program, offsets[program.name])))
        session.progress.settled(program.name, record["state"] == "done")
    return results


def _outcome(program, record, tail):
    from .actions import Result

    text = describe(record)
    if record["state"] == "done":
        result = Result(program, "done", None, text)
    else:
        if tail:
            text += "\n  last lines of the log:\n    " + "\n    ".join(tail)
        result = Result(program, "failed", None, text, exitcodes.FAILED_TO_LAUNCH)
    result.last_exit = {k: record[k] for k in ("code", "signal", "core", "at") if k in record}
    return result


def wait_all(waiting, clock=time.monotonic):
    """Wait for each (program, launch, record) job, our child, to end within its
    program's timeout; a job over time is stopped (its stop_signal to its whole
    process group, then SIGKILL). Yields (program, launch, ExitStatus, error)."""
    import select

    from .proc.exitinfo import ExitStatus

    poller, fds, left = select.poll(), {}, {}
    for program, launch, _ in waiting:
        try:
            fd = os.pidfd_open(launch.pid)
        except OSError:
            fd = None
        left[launch.pid] = [program, launch, clock() + program.timeout, fd, None]
        if fd is not None:
            fds[fd] = launch.pid
            poller.register(fd, select.POLLIN)
    try:
        while left:
            for pid, entry in list(left.items()):
                got, status = _reap(pid)
                if got:
                    del left[pid]
                    yield entry[0], entry[1], ExitStatus.from_wait_status(status), entry[4]
                    continue
                now = clock()
                if now >= entry[2]:
                    entry[2] = _overtime(entry, now)
            if left:
                nearest = min(e[2] for e in left.values())
                poller.poll(max(10, min(500, int((nearest - clock()) * 1000) + 1)))
    finally:
        for fd in fds:
            os.close(fd)


def _reap(pid):
    try:
        got, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True, None
    return got == pid, status


def _overtime(entry, now):
    """Its timeout passed: the stop signal first, SIGKILL after term_to_kill_seconds.
    The job is our unreaped child, so its pid cannot have been reused."""
    import signal

    program = entry[0]
    if entry[4] is None:
        entry[4] = "ran over its timeout (%gs) and was stopped" % program.timeout
        sig, wait = program.stop_signal, program.term_to_kill_seconds
    else:
        sig, wait = signal.SIGKILL, 3600.0
    try:
        os.killpg(entry[1].pid, sig)
    except OSError:
        try:
            os.kill(entry[1].pid, sig)
        except OSError:
            pass
    return now + wait


def stop(session, programs):
    """Stop a job that is still running, and forget the result of its last run
    (the next start runs it again); remembered as a user's stop."""
    from .actions import Result, _locked

    def body(held):
        results = []
        for program in held:
            session.state.mark_stopped(program.name)
            record = read(session.state, program.name)
            message = "not running"
            if record is not None and record["state"] == "running" and alive(record):
                message = _end(program, record)
            elif record is not None and record["state"] != "running":
                message = "not running; forgot its last result, %s" % describe(record)
            clear(session.state, program.name)
            results.append(Result(program, "stopped", None, message))
            session.progress.settled(program.name, True)
        return results

    session.progress.phase("stopped", programs)
    return [r for p in programs for r in _locked(session, [p], body)]


def _end(program, record):
    """A job run by another usrsvc or usrsvcd: signal its process group while it is
    the one recorded (pid and start time), wait, then SIGKILL."""
    import signal

    pid = record["pid"]
    deadline = time.monotonic() + program.term_to_kill_seconds
    how = "stop signal"
    for sig in (program.stop_signal, signal.SIGKILL):
        if not alive(record):
            break
        try:
            os.killpg(pid, sig)
        except OSError:
            pass
        while alive(record) and time.monotonic() < deadline:
            time.sleep(0.05)
        if alive(record):
            how = "SIGKILL after %gs" % program.term_to_kill_seconds
            deadline = time.monotonic() + 5
    return "stopped pid %d (%s)" % (pid, how)
