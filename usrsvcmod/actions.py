"""start / stop / restart / status over many programs, returning Results.

Nothing here prints or exits: the CLI turns Results into text, JSON and an
exit code. A whole ``start all --parallel`` is one process waiting on every
launch at once; ``stop all --parallel`` likewise.
"""

import os
import time

from . import exitcodes
from .errors import LaunchError, PermissionProblem, ProgramDisabled, TryAgain, UsrsvcError
from .proc import identity, pidfile, procfs


class Result:
    """What happened to one program. Field names are the JSON schema."""

    __slots__ = ("name", "state", "pid", "started_at", "uptime_s", "rss_kb", "cmdline",
                 "pidfile", "message", "code", "notes")

    def __init__(self, program, state, info=None, message="", code=exitcodes.SUCCESS, notes=()):
        self.name = program.name
        self.state = state
        self.pidfile = program.pidfile
        self.message = message
        self.code = code
        self.notes = list(notes)
        self.pid = info.pid if info else None
        self.started_at = round(info.start_time, 2) if info else None
        self.uptime_s = round(max(0.0, time.time() - info.start_time), 1) if info else None
        self.rss_kb = procfs.rss_kb(info.pid) if info else None
        self.cmdline = info.cmdline_text if info else None

    @property
    def ok(self):
        return self.code == exitcodes.SUCCESS

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__ if k not in ("code", "notes")} | {
            "exit_code": self.code, "notes": self.notes}


class Session:
    """One command's view: the programs' runtime state and a shared process table."""

    def __init__(self, state, lock_timeout=None):
        self.state = state
        self.lock_timeout = lock_timeout
        self.nofile = None  # the open-files limit services get, if ours was raised
        self._table = None

    def table(self):
        if self._table is None:
            self._table = identity.ProcessTable()
        return self._table

    def forget_table(self):
        self._table = None

    def find(self, program):
        return identity.find(program, self.table)


def status(session, programs):
    results = []
    for program in programs:
        found = session.find(program)
        if found.pid:
            results.append(Result(program, "running", found.info, "running", notes=found.notes))
        else:
            results.append(Result(program, "stopped", None, "not running",
                                  exitcodes.FAILURE, found.notes))
    return results


def _locked(session, programs, body):
    """Run ``body`` holding every program's lock (taken in name order)."""
    fds, results = [], {}
    try:
        held = []
        for program in sorted(programs, key=lambda p: p.name):
            try:
                kwargs = {} if session.lock_timeout is None else {"timeout": session.lock_timeout}
                fds.append(session.state.lock(program.name, **kwargs))
                held.append(program)
            except TryAgain as err:
                results[program.name] = Result(program, "unknown", None, err.message,
                                               exitcodes.TRY_AGAIN)
            except OSError as err:  # e.g. EMFILE with thousands of programs at once
                results[program.name] = Result(program, "unknown", None, "cannot take its lock: %s"
                                               % (err.strerror or err), exitcodes.FAILURE)
        for result in body([p for p in programs if p in held]):
            results[result.name] = result
    finally:
        for fd in fds:
            os.close(fd)
    return [results[p.name] for p in programs if p.name in results]


def start(session, programs, parallel=False, user=True):
    """Start each program not already running; waits out success windows.

    The user's stop mark is cleared only once the program's lock is held: a
    usrsvcd still working through the exits of a `stop all` sees either the
    mark or the lock, never a window in which to start a copy of its own.
    """
    def body(held):
        if user:
            for program in held:
                session.state.clear_stopped(program.name)
        return _start_batch(session, held)

    if parallel:
        return _locked(session, programs, body)
    return [r for p in programs for r in _locked(session, [p], body)]


def _start_batch(session, programs):
    from .proc import settle, spawn

    spawn.become_subreaper()
    results, settlings, todo, offsets, notes = [], [], [], {}, {}
    for program in programs:
        if not program.enabled:
            results.append(Result(program, "stopped", None, "program is disabled",
                                  exitcodes.PROGRAM_DISABLED))
            continue
        found = session.find(program)
        if found.pid:
            results.append(Result(program, "running", found.info, "already running",
                                  notes=found.notes))
            continue
        offsets[program.name] = spawn.log_offsets(program)
        notes[program.name] = found.notes
        todo.append(program)
    for program, launch in spawn.launch_many(todo, nofile=session.nofile):
        if isinstance(launch, UsrsvcError):
            results.append(Result(program, "failed", None, launch.message,
                                  exitcodes.code_for(launch), notes[program.name]))
        else:
            settlings.append(settle.Settling(launch, offsets[program.name]))
    settle.settle_all(settlings)
    session.forget_table()
    _end_leftovers(settlings)
    for item in settlings:
        program = item.program
        if item.error:
            if item.leftover:
                item.error += "\n  stopped what it launched: pid %s" % ", ".join(
                    str(i.pid) for i in item.leftover)
            results.append(Result(program, "failed", None, "failed to start: " + item.error,
                                  exitcodes.FAILED_TO_LAUNCH))
            continue
        notes = []
        if program.autopid:
            try:
                pidfile.write(program.pidfile, item.info.pid)
            except OSError as err:
                notes.append("cannot write pidfile %s: %s" % (program.pidfile, err.strerror))
        results.append(Result(program, "running", item.info, "started", notes=notes))
    return results


def _end_leftovers(settlings):
    from .proc import kill

    targets = [kill.StopTarget(item.program, item.leftover[0], item.program.stop_signal,
                               item.program.term_to_kill_seconds, item.leftover[1:])
               for item in settlings if item.error and item.leftover]
    kill.stop_many(targets)


def stop(session, programs, parallel=False, user=True):
    """Stop each program (stop signal, then SIGKILL, then leftover descendants)."""
    if parallel:
        return _locked(session, programs, lambda held: _stop_batch(session, held, user))
    return [r for p in programs for r in _locked(session, [p], lambda h: _stop_batch(session, h, user))]


def _stop_batch(session, programs, user):
    from .proc import kill

    results, targets = [], []
    for program in programs:
        if user:
            session.state.mark_stopped(program.name)
        found = session.find(program)
        if not found.pid:
            results.append(Result(program, "stopped", None, "not running", notes=found.notes))
            continue
        descendants = identity.family(session.table(), program, found.pid) if program.kill_descendants else ()
        targets.append(kill.StopTarget(program, found.info, program.stop_signal,
                                       program.term_to_kill_seconds, descendants))
    kill.stop_many(targets)
    session.forget_table()
    for target in targets:
        program = target.key
        if target.error:
            results.append(Result(program, "running", target.info, target.error, exitcodes.FAILURE))
            continue
        if program.autopid:
            pidfile.remove(program.pidfile, expected_pid=target.info.pid)
        how = "SIGKILL after %gs" % program.term_to_kill_seconds if target.killed else "stop signal"
        extra = ", %d descendant(s) ended" % len(target.descendants) if target.descendants else ""
        results.append(Result(program, "stopped", None, "stopped pid %d (%s%s)"
                              % (target.info.pid, how, extra)))
    return results


def restart(session, programs, parallel=False):
    stopped = {r.name: r for r in stop(session, programs, parallel)}
    again = [p for p in programs if stopped[p.name].ok]
    started = {r.name: r for r in start(session, again, parallel)}
    return [started.get(p.name, stopped[p.name]) for p in programs]


__all__ = ["Result", "Session", "status", "start", "stop", "restart",
           "LaunchError", "PermissionProblem", "ProgramDisabled"]
