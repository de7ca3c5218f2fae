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
                 "pidfile", "message", "code", "notes", "config_changed", "leftover_pids",
                 "restarts", "last_exit", "reason", "next_retry", "stdout", "stderr",
                 "rss_tree", "stopped_pid", "logger")

    def __init__(self, program, state, info=None, message="", code=exitcodes.SUCCESS, notes=(),
                 found=None):
        self.name = program.name
        self.state = state
        self.pidfile = program.pidfile
        self.message = message
        self.code = code
        self.notes = list(notes)
        self.config_changed = list(found.changed) if found is not None and info is not None else []
        self.leftover_pids = [i.pid for i in found.leftovers] if found is not None else []
        self.stdout, self.stderr = program.stdout, program.stderr or program.stdout
        # what only usrsvcd knows (see with_daemon); None when it is not running
        self.restarts = self.last_exit = self.reason = self.next_retry = None
        self.pid = info.pid if info else None
        self.started_at = round(info.start_time, 2) if info else None
        self.uptime_s = round(max(0.0, time.time() - info.start_time), 1) if info else None
        self.rss_kb = procfs.rss_kb(info.pid) if info else None
        # with its descendants (a master's workers): what the program costs in all
        self.rss_tree = procfs.tree_rss_kb(info.pid, self.rss_kb, getattr(info, "threads", None)) \
            if info and self.rss_kb is not None else None
        self.stopped_pid = None  # the pid a stop ended (restart says which)
        self.cmdline = info.cmdline_text if info else None
        # {"command", "pid", "state"} of its logger (logger = COMMAND), else None
        self.logger = None

    @property
    def ok(self):
        return self.code == exitcodes.SUCCESS

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__ if k not in ("code", "notes")} | {
            "exit_code": self.code, "notes": self.notes}


class NoProgress:
    """Where actions report programs settling; the CLI gives a live one on a TTY."""

    def phase(self, verb, programs):
        """A batch of ``programs`` begins to be ``verb`` ("started", "stopped")."""

    def settled(self, name, ok):
        """Program ``name`` of the current phase is done (``ok``: as asked)."""


class Session:
    """One command's view: the programs' runtime state and a shared process table."""

    def __init__(self, state, lock_timeout=None, progress=None):
        self.state = state
        self.lock_timeout = lock_timeout
        self.nofile = None  # the open-files limit services get, if ours was raised
        self.progress = progress or NoProgress()
        self._table = None
        self._tree = None

    def table(self):
        if self._table is None:
            self._table = identity.ProcessTable()
        return self._table

    def tree(self):
        """The table if one was built, else the cheaper ProcessTree (family's needs)."""
        if self._table is None and self._tree is None:
            self._tree = identity.ProcessTree()
        return self._table if self._table is not None else self._tree

    def forget_table(self):
        self._table = self._tree = None

    def find(self, program, dirs=None):
        """Look the program up; nothing is written (see identity.Found.repairs).
        ``dirs``: a pidfile.Dirs shared by the lookups of one command."""
        return identity.find(program, self.table, self.state, dirs=dirs)

    def find_and_repair(self, program, stopping=False):
        """Look up and repair the pidfile and launch record: only under the program's lock.
        ``stopping``: the pidfile is not (re)written for a process about to be stopped."""
        found = self.find(program)
        if stopping:
            found.repairs = [r for r in found.repairs if r[0] != "write_pidfile"]
        found.notes.extend(identity.repair(program, found, self.state))
        return found


def _changed(found):
    return " (config changed since start: %s)" % ", ".join(found.changed) if found.changed else ""


def _leftovers(found, held=True):
    """"2 leftover processes of its last run hold on: pids 7, 9" (held=False: no verb)."""
    count = len(found.leftovers)
    plural = count > 1
    verb = (" hold on" if plural else " holds on") if held else ""
    return "%d leftover process%s of its last run%s: pid%s %s" % (
        count, "es" if plural else "", verb, "s" if plural else "",
        ", ".join(str(i.pid) for i in found.leftovers))


def status(session, programs, health=False):
    """Read-only: finding a program never writes or removes a file.

    With ``health`` (``status all``), a program that is down because it is
    disabled or because the user stopped it is not a failure, so the exit
    code answers "is everything up that should be?". When usrsvcd runs, its
    last snapshot adds its state, restarts, last exit and next retry.
    """
    view = daemon_view(session.state, whole=len(programs) > 1)
    results = []
    dirs = pidfile.Dirs()  # each pidfile directory walked and checked once
    known = getattr(getattr(session, "config", None), "digests", None) or {}
    if session.state is not None and len(programs) > 1:
        session.state.pin()
    try:
        for program in programs:
            results.append(_status_one(session, program, health, view, dirs, known))
    finally:
        if session.state is not None:
            session.state.unpin()
        dirs.close()
        if view is not None:
            view.close()
    return results


def _status_one(session, program, health, view, dirs, known):
    if program.oneshot:
        from . import oneshot

        return oneshot.status_result(session, program, health)
    found = session.find(program, dirs)
    found.digests = known.get(program.name)
    if found.pid:
        result = Result(program, "running", found.info, "running" + _changed(found),
                        notes=found.notes, found=found)
    elif not program.enabled:
        result = Result(program, "disabled", None, "not running (disabled)",
                        exitcodes.SUCCESS if health else exitcodes.FAILURE, found.notes, found)
    elif session.state is not None and session.state.is_stopped(program.name):
        result = Result(program, "stopped_by_user", None, "not running (stopped with usrsvc stop)",
                        exitcodes.SUCCESS if health else exitcodes.FAILURE, found.notes, found)
    else:
        message = "not running"
        if found.leftovers:
            message += "; %s (usrsvc stop ends them)" % _leftovers(found)
        result = Result(program, "stopped", None, message, exitcodes.FAILURE, found.notes, found)
    if view is not None:
        with_daemon(result, view.get(program.name))
    return _with_logger(session, program, result)


def _with_logger(session, program, result, info=None):
    """Say where a program with ``logger`` sends its output, and if its logger runs."""
    if not program.logger or session.state is None:
        return result
    if info is None:
        from .proc import logger

        info = logger.find(session.state, program)
    result.logger = {"command": program.logger, "pid": info.pid if info else None,
                     "state": "running" if info else "stopped"}
    return result


class DaemonView:
    """usrsvcd's last snapshot (usrsvcd.view, see statefiles.view), one program's
    entry read and unpacked when asked for; ``close()`` lets its file go."""

    def __init__(self, reader, close, index=None):
        self.reader, self._close = reader, close
        self.index = index  # every entry's place, when all of them will be asked for

    def get(self, name):
        import marshal

        try:
            blob = self.reader.blob(name, self.index)
            return marshal.loads(blob) if blob is not None else None
        except (ValueError, EOFError, TypeError, OSError):
            return None

    def close(self):
        self._close()
        self._close = lambda: None


def daemon_view(state, whole=False):
    """usrsvcd's last snapshot if a usrsvcd runs for this config, else None.

    Read only if it is a file of ours that nobody else can write, from our
    private state directory (it is marshal data). ``whole``: every program
    will be asked for (the file is read at once); else it stays open (the
    caller closes the view) and each entry is read when asked for."""
    if state is None:
        return None
    from . import indexed

    got = state.open_own("usrsvcd.view")
    if got is None:
        return None
    fd, size = got
    keep = False
    try:
        if whole:
            data = os.pread(fd, size, 0)
            reader = indexed.Reader(lambda offset, length: data[offset:offset + length], size)
        else:
            reader = indexed.Reader(lambda offset, length: os.pread(fd, length, offset), size)
        info = procfs.read(int(reader.head["pid"]))
        if info is None or info.zombie or not info.cmdline \
                or not info.cmdline[0].startswith("usrsvcd:"):
            return None  # the daemon that wrote it is gone
        if whole:
            return DaemonView(reader, lambda: None, reader.index())
        keep = True
        return DaemonView(reader, lambda: os.close(fd))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    finally:
        if not keep:
            os.close(fd)


def with_daemon(result, entry):
    """Add what usrsvcd knows of the program (its snapshot ``entry``) to ``result``."""
    if not isinstance(entry, dict):
        return
    result.restarts = entry.get("restarts")
    result.last_exit = entry.get("last_exit")
    result.reason = entry.get("reason")
    # a planned start is news only while nothing runs: one started by hand
    # meanwhile (usrsvc restart) is found by usrsvcd's next look, not doubled
    result.next_retry = entry.get("next_retry") if result.pid is None else None
    state = entry.get("state")
    if result.pid is None and result.state == "stopped" \
            and state in ("starting", "stopping", "backoff", "gave_up"):
        result.state = state
        result.message += "; usrsvcd: %s: %s" % (state, entry.get("reason"))
    if result.pid is not None and state in ("starting", "unhealthy") \
            and entry.get("pid") == result.pid:  # waiting to be ready; liveness failing
        result.state = state
        result.message += "; usrsvcd: %s: %s" % (state, entry.get("reason"))
    text = entry.get("last_exit_text")
    if text and result.last_exit is not None:
        result.last_exit = dict(result.last_exit, text=text)


class _Seen:
    """A process as usrsvcd's snapshot describes it (what Result reads of a ProcInfo)."""

    __slots__ = ("pid", "start_time", "cmdline_text")

    def __init__(self, pid, start_time, cmdline_text):
        self.pid, self.start_time, self.cmdline_text = pid, start_time, cmdline_text


def from_daemon(program, entry):
    """The Result ``usrsvc --json status`` gives, built from usrsvcd's snapshot
    ``entry`` of the program instead of a look at /proc: the API's schema (one
    contract for both). Its state is the daemon's."""
    info = None
    if entry.get("pid") and entry.get("started_at") is not None:
        info = _Seen(entry["pid"], entry["started_at"], entry.get("cmdline"))
    state = entry.get("state") or "unknown"
    up = state in ("running", "unhealthy", "done") or (info is not None and state == "starting")
    result = Result(program, state, info, entry.get("reason") or "",
                    exitcodes.SUCCESS if up else exitcodes.FAILURE)
    with_daemon(result, entry)
    result.state = state
    return result


def _locked(session, programs, body):
    """Run ``body`` holding every program's lock (taken in name order)."""
    fds, results = [], {}
    try:
        held = set()  # names: a list and Program.__eq__ made this quadratic (minutes at 10,000)
        for program in sorted(programs, key=lambda p: p.name):
            try:
                kwargs = {} if session.lock_timeout is None else {"timeout": session.lock_timeout}
                fds.append(session.state.lock(program.name, **kwargs))
                held.add(program.name)
            except TryAgain as err:
                results[program.name] = Result(program, "unknown", None, err.message,
                                               exitcodes.TRY_AGAIN)
                session.progress.settled(program.name, False)
            except OSError as err:  # e.g. EMFILE despite the slices (see _parallel)
                results[program.name] = Result(program, "unknown", None, _lock_error(err),
                                               exitcodes.FAILURE)
                session.progress.settled(program.name, False)
        for result in body([p for p in programs if p.name in held]):
            results[result.name] = result
    finally:
        for fd in fds:
            os.close(fd)
    return [results[p.name] for p in programs if p.name in results]


def _lock_error(err):
    import errno

    if err.errno in (errno.EMFILE, errno.ENFILE):
        from .proc import fdlimit

        return "cannot take its lock: " + fdlimit.shortage()
    return "cannot take its lock: %s" % (err.strerror or err)


# descriptors one program of a parallel batch holds at once: its lock, and
# while it settles or stops a pidfd (or two: a descendant, the launcher)
BATCH_COST = 2


def _parallel(session, programs, body, preload, launches=False):
    """``body`` over every program at once, or in slices when our open-files
    limit cannot hold them all (a lock each, a pidfd each, and the reserve
    for launches, imports and state files kept free).

    What the batch will import is imported first: with the descriptors held
    by its locks, a lazy import failing for EMFILE would end the command
    half-way, every lock taken and nothing done.
    """
    from .proc import fdlimit, paths

    if len(programs) > 1:
        preload()
    zygote = None
    if launches:  # before the locks: its forks must not copy them (proc/zygote.py)
        from .proc import zygote as zygotes

        zygote = zygotes.start() if zygotes.wanted(len(programs)) else None
    try:
        room = (fdlimit.free() - fdlimit.RESERVE - paths.HELD_MAX) // BATCH_COST
        size = max(1, room)
        results = []
        with paths.held_dirs():  # the pidfile and log directories walked once, not per program
            for at in range(0, len(programs), size):
                results += _locked(session, programs[at:at + size], body)
        return results
    finally:
        if zygote is not None:
            zygote.close()


def _preload_common():
    import errno  # noqa: F401
    import fcntl  # noqa: F401
    import re  # noqa: F401
    import signal  # noqa: F401

    from . import atomic  # noqa: F401
    from .proc import exitinfo, kill, record  # noqa: F401

    record._digest("")  # its lazy import of blake2b


def _preload_start():
    from . import preflight  # noqa: F401 (explaining a failed exec)
    from .proc import cspawn, settle, spawn  # noqa: F401

    _preload_common()
    cspawn.available()  # libc through ctypes
    spawn.become_subreaper()


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

    session.progress.phase("started", programs)
    if parallel:
        return _parallel(session, programs, body, _preload_start, launches=True)
    return [r for p in programs for r in _locked(session, [p], body)]


def _start_batch(session, programs):
    from .proc import logger, settle, spawn

    spawn.become_subreaper()
    results, settlings, todo, offsets, notes, ending = [], [], [], {}, {}, []
    for program in programs:
        if not program.enabled:
            results.append(Result(program, "stopped", None, "program is disabled",
                                  exitcodes.PROGRAM_DISABLED))
            continue
        found = session.find_and_repair(program)
        if found.pid:  # its logger may have died meanwhile (no usrsvcd): start it again
            failed = _start_logger(session, program, found.notes)
            results.append(failed or _with_logger(session, program, Result(
                program, "running", found.info, "already running" + _changed(found),
                notes=found.notes, found=found)))
            continue
        refused = _unsafe_pidfile(program)
        if refused is not None:
            results.append(Result(program, "failed", None, refused.message,
                                  exitcodes.code_for(refused), found.notes))
            continue
        if found.leftovers:
            ending.append((program, found))
        notes[program.name] = found.notes
        failed = _start_logger(session, program, found.notes)
        if failed is not None:
            results.append(failed)
            continue
        todo.append(program)
    for program, found in _end_descendants(session, ending):
        notes[program.name].append("ended %s first" % _leftovers(found, held=False))
    envs = _environments(todo)  # first: a pre_start hook gets the secrets the launch gets
    todo = _pre_start(todo, notes, results)
    for program in todo:
        offsets[program.name] = spawn.log_offsets(program)
    listeners, refused = _ready_listen(todo, notes, results)
    refused = {p.name for p in refused}
    todo = [p for p in todo if p.name not in refused]
    streams = logger.service_streams(session.state)
    for program, launch in spawn.launch_many(todo, nofile=session.nofile, streams=streams,
                                             envs=envs):
        if isinstance(launch, UsrsvcError):
            results.append(Result(program, "failed", None, launch.message,
                                  exitcodes.code_for(launch), notes[program.name]))
        else:
            settlings.append(settle.Settling(launch, offsets[program.name]))
    if len(settlings) == 1 and not settlings[0].program.logger:
        # alone (and no logger of ours just started beside it), whatever is
        # handed to us, the subreaper, during its window came from its launch
        settlings[0].sole_launch = True
    for result in results:  # settled before any wait: running, disabled, refused, exec failed
        session.progress.settled(result.name, result.ok)
    confirmed = {}

    def settled(item):
        # confirmed while the others' windows still run, not all in a row after
        # the last one: the pidfile and record writes of 1,000 starts took seconds
        if not item.error and item.program.readiness is None:
            confirmed[item.program.name] = item.confirm(session.state)
        session.progress.settled(item.program.name, not item.error)

    settle.settle_all(settlings, on_done=settled)
    spawn.reap([item.launch.middle for item in settlings if item.launch.middle], block=True)
    session.forget_table()
    if listeners or any(p.readiness is not None for p in todo):
        from .proc import ready

        ready.wait_all(settlings, listeners, session.table)  # [[Readiness]]
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
        confirm = confirmed.get(program.name)
        if confirm is None:
            confirm = item.confirm(session.state)  # after its readiness
        results.append(_with_logger(session, program, Result(
            program, "running", item.info, "started", notes=notes[program.name] + confirm)))
        _hook_note(program, "post_start", item.info.pid, results[-1].notes)
    return results


def _pre_start(programs, notes, results):
    """The programs whose pre_start hook (if any) passed; the others fail (137)."""
    if not any(p.hooks.pre_start for p in programs):
        return programs
    from .proc import hooks

    go, refused = hooks.before_start(programs)
    for program, why in refused:
        results.append(Result(program, "failed", None, "not started: " + why,
                              exitcodes.FAILED_TO_LAUNCH, notes[program.name]))
    return go


def _hook_note(program, moment, pid, notes):
    """A post_start, pre_stop or post_stop hook; its failure is a note (the action stands)."""
    if getattr(program.hooks, moment):
        from .proc import hooks

        failed = hooks.note(program, moment, pid)
        if failed:
            notes.append(failed)


def _ready_listen(programs, notes, results):
    """The NOTIFY_SOCKETs of the programs with ``notify = yes``, bound before the
    launch; a program whose socket cannot be had fails (137) without launching."""
    if not any(p.readiness is not None and p.readiness.kind == "notify" for p in programs):
        return {}, []
    from .proc import ready

    listeners, refused = ready.listen(programs)
    for program, why in refused:
        results.append(Result(program, "failed", None, "not started: " + why,
                              exitcodes.FAILED_TO_LAUNCH, notes[program.name]))
    return listeners, [p for p, _ in refused]


def _environments(programs):
    """Env files read and EnvCommands run for the programs about to launch (side
    by side); {} when none has any (no import)."""
    if not any(p.env_file or p.env_command for p in programs):
        return {}
    from .proc import envbuild

    return envbuild.prepare(programs)


def _start_logger(session, program, notes):
    """Start the program's logger first (a service with nobody reading its
    pipe would block on its first full buffer); a failed Result if it cannot."""
    if not program.logger:
        return None
    from .proc import logger

    try:
        info, started = logger.start(session.state, program, session.nofile)
    except UsrsvcError as err:
        return Result(program, "failed", None, err.message, exitcodes.code_for(err), notes)
    if started:
        notes.append("started its logger, pid %d" % info.pid)
    return None


def _unsafe_pidfile(program):
    """PermissionProblem (exit 136) when the pidfile usrsvc would write after the
    start sits where another user could redirect it; checked before launching,
    so nothing is started that could then only be written through their path."""
    if not program.autopid:
        return None
    try:
        pidfile.check(program.pidfile)
    except OSError as err:  # paths.Refused
        where = "%s: [Program:%s] pidfile = %s" % (program.source, program.name, program.pidfile)
        return PermissionProblem("not started: " + pidfile.refusal(program.pidfile, err, where),
                                 path=program.pidfile)
    return None


def _end_descendants(session, pairs):
    """End the leftover processes of each (program, Found); yields the pairs."""
    from .proc import kill

    if not pairs:
        return []
    targets = [kill.StopTarget(program, found.leftovers[0], program.stop_signal,
                               program.term_to_kill_seconds, found.leftovers[1:])
               for program, found in pairs]
    kill.stop_many(targets)
    session.forget_table()
    done = []
    for (program, found), target in zip(pairs, targets):
        if target.error is None:
            session.state.clear_record(program.name)
        done.append((program, found))
    return done


def _end_leftovers(settlings):
    from .proc import kill

    targets = [kill.StopTarget(item.program, item.leftover[0], item.program.stop_signal,
                               item.program.term_to_kill_seconds, item.leftover[1:])
               for item in settlings if item.error and item.leftover]
    kill.stop_many(targets)


def stop(session, programs, parallel=False, user=True):
    """Stop each program (stop signal, then SIGKILL, then leftover descendants)."""
    session.progress.phase("stopped", programs)
    if parallel:
        return _parallel(session, programs, lambda held: _stop_batch(session, held, user),
                         _preload_common)
    return [r for p in programs for r in _locked(session, [p], lambda h: _stop_batch(session, h, user))]


def _stop_batch(session, programs, user):
    from .proc import kill

    results, targets = [], []
    for program in programs:
        if user:
            session.state.mark_stopped(program.name)
        found = session.find_and_repair(program, stopping=True)
        if found.leftovers:  # a crashed master's workers: they hold its port
            targets.append(kill.StopTarget(program, found.leftovers[0], program.stop_signal,
                                           program.term_to_kill_seconds, found.leftovers[1:]))
            targets[-1].found = found
            continue
        if not found.pid:
            results.append(Result(program, "stopped", None, "not running", notes=found.notes))
            session.progress.settled(program.name, True)
            continue
        descendants = ()
        if program.kill_descendants:
            record = found.record if found.how in ("record", "session") else None
            descendants = identity.family(session.tree(), program, found.pid, record)
        _hook_note(program, "pre_stop", found.pid, found.notes)
        targets.append(kill.StopTarget(program, found.info, program.stop_signal,
                                       program.term_to_kill_seconds, descendants))
        targets[-1].found = found
    kill.stop_many(targets, on_done=lambda t: session.progress.settled(t.key.name, not t.error))
    session.forget_table()
    for target in targets:
        program, found = target.key, target.found
        if target.error:
            results.append(Result(program, "running", target.info, target.error, exitcodes.FAILURE,
                                  found.notes))
            continue
        if program.autopid:
            left = pidfile.remove(program.pidfile, expected_pid=target.info.pid)
            if left:
                found.notes.append(left)
        session.state.clear_record(program.name)
        if found.leftovers:
            results.append(Result(program, "stopped", None, "not running; ended "
                                  + _leftovers(found, held=False), notes=found.notes))
            continue
        how = "SIGKILL after %gs" % program.term_to_kill_seconds if target.killed else "stop signal"
        ended = len(target.signalled)  # not those that exited with it on their own
        extra = ", %d descendant%s ended" % (ended, "s" if ended > 1 else "") if ended else ""
        _hook_note(program, "post_stop", target.info.pid, found.notes)
        results.append(Result(program, "stopped", None, "stopped pid %d (%s%s)"
                              % (target.info.pid, how, extra), notes=found.notes))
        results[-1].stopped_pid = target.info.pid
    by_name = {p.name: p for p in programs}
    for result in results:
        if result.state == "stopped" and by_name[result.name].logger:
            _stop_logger(session, by_name[result.name], result)
    return results


def _stop_logger(session, program, result):
    """After the service: the logger, once it has read what the pipe holds."""
    from .proc import logger

    ended = logger.stop(session.state, program)
    if ended is not None:
        result.notes.append(ended[1])
    _with_logger(session, program, result)


def restart(session, programs, parallel=False):
    """stop, then start what stopped; each result says which pid went and which came.
    A running program whose start would certainly fail now (an edited command
    not found, its working directory gone) is left running, and its result
    (137) says why."""
    kept = _kept_running(session, programs)
    going = [p for p in programs if p.name not in kept]
    stopped = {r.name: r for r in stop(session, going, parallel)} if going else {}
    again = [p for p in going if stopped[p.name].ok]
    started = {r.name: r for r in start(session, again, parallel)}
    stopped.update(kept)
    for name, result in started.items():
        result.stopped_pid = stopped[name].stopped_pid
        if result.ok and result.pid:
            before = stopped[name].message
            before = "was not running" if before == "not running" else before
            result.message = "%s, %s pid %d" % (
                before, "started" if result.message == "started" else result.message,
                result.pid)
    return [started.get(p.name, stopped[p.name]) for p in programs]


def _kept_running(session, programs):
    """{name: Result} of the running programs a restart must leave alone: their
    new start would fail at once (preflight.start_blockers)."""
    from . import preflight

    kept = {}
    for program in programs:
        blockers = preflight.start_blockers(program) if program.enabled else []
        if not blockers:
            continue
        found = session.find(program)
        if found.pid:
            kept[program.name] = Result(
                program, "running", found.info,
                "not restarted, its new settings would not start (%s); still running"
                % "; ".join(blockers),
                exitcodes.FAILED_TO_LAUNCH, found.notes, found)
    return kept


def try_restart(session, programs, parallel=False):
    """Restart the programs that are running (systemctl's try-restart); leave the others
    alone, as success. A program that stops in between is restarted all the same."""
    results, running = {}, []
    for program in programs:
        found = session.find(program)
        if found.pid:
            running.append(program)
        else:
            results[program.name] = Result(program, "stopped", None, "not running, left alone",
                                           notes=found.notes, found=found)
    for result in restart(session, running, parallel):
        results[result.name] = result
    return [results[p.name] for p in programs]


def send_signal(session, programs, signum=None):
    """Send ``signum`` (None: each program's reload_signal) to each program's process,
    as found by the identity rule, under the program's lock; not running is a
    failure (exit 1). Only the main process gets it: a master (nginx, gunicorn)
    passes it on to its workers as it sees fit."""
    def body(held):
        results = []
        for program in held:
            found = session.find_and_repair(program)
            sig = program.reload_signal if signum is None else signum
            if not found.pid:
                results.append(Result(program, "stopped", None, "not running", exitcodes.FAILURE,
                                      found.notes, found))
                continue
            error, exited = _signal_one(found.info, sig)
            if error:
                results.append(Result(program, "running", found.info, error, exitcodes.FAILURE,
                                      found.notes, found))
            elif exited:  # no memory, uptime or command line of a process that is gone
                results.append(Result(program, "stopped", None, "sent %s to pid %d; it exited"
                                      % (signal_name(sig), found.pid), notes=found.notes,
                                      found=found))
            else:
                results.append(Result(program, "running", found.info, "sent %s to pid %d"
                                      % (signal_name(sig), found.pid), notes=found.notes,
                                      found=found))
        return results

    return [r for p in programs for r in _locked(session, [p], body)]


def signal_name(number):
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return "signal %d" % number


def _signal_one(info, sig):
    """(None, exited) once sent to exactly ``info`` (a pidfd, opened and then checked
    to be the process that started at info.start_time: no pid-reuse race), ``exited``
    True when the signal ended it; else (why not, False)."""
    import signal

    gone = "pid %d exited before the signal could be sent" % info.pid
    try:
        fd = os.pidfd_open(info.pid)
    except ProcessLookupError:
        return gone, False
    except OSError as err:
        return "cannot signal pid %d: %s" % (info.pid, err.strerror), False
    try:
        if not procfs.alive(info.pid, info.start_time):
            return gone, False
        fatal = _fatal(info.pid, sig)
        signal.pidfd_send_signal(fd, sig)
        return None, _exits(fd, SIGNAL_SETTLE if fatal else 0)
    except ProcessLookupError:
        return gone, False
    except OSError as err:
        return "cannot signal pid %d: %s" % (info.pid, err.strerror), False
    finally:
        os.close(fd)


SIGNAL_SETTLE = 2.0  # how long a signal the process does not handle may take to end it
# signals whose default action does not end a process (signal(7))
_HARMLESS = ("SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG",
             "SIGWINCH")


def _fatal(pid, sig):
    """True when ``sig`` will end ``pid``: its default action terminates and the
    process neither catches nor ignores it (then we wait to say so; a HUP that
    reloads costs no wait)."""
    import signal

    if sig in {getattr(signal, name) for name in _HARMLESS if hasattr(signal, name)}:
        return False
    return sig == signal.SIGKILL or procfs.signal_handled(pid, sig) is False


def _exits(pidfd, timeout):
    """True when the process of ``pidfd`` exits within ``timeout`` seconds (a pidfd
    turns readable when its process ends)."""
    import select

    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


def update(session, programs, parallel=False):
    """Restart exactly the running programs whose launch settings changed since
    their recorded launch (supervisorctl's ``update``); leave the rest alone."""
    results, stale, changed = {}, [], {}
    for program in programs:
        found = session.find(program)
        if found.pid and found.changed:
            stale.append(program)
            changed[program.name] = found.changed
        elif found.pid:
            why = "unchanged" if found.record is not None else \
                "no launch record (not started by this usrsvc); left as it is"
            results[program.name] = Result(program, "running", found.info, why, notes=found.notes)
        else:
            results[program.name] = Result(program, "stopped", None, "not running",
                                           notes=found.notes)
    for result in restart(session, stale, parallel):
        if result.ok:
            result.message = "restarted: config changed since start (%s)" % ", ".join(
                changed[result.name]) if changed[result.name] else "restarted"
        results[result.name] = result
    return [results[p.name] for p in programs]


__all__ = ["Result", "Session", "status", "start", "stop", "restart", "update", "try_restart",
           "send_signal",
           "LaunchError", "PermissionProblem", "ProgramDisabled"]
