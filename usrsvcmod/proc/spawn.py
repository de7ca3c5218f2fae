"""Launch a program detached: double fork, new session, clean slate.

The first child starts a new session and spawns the program, then exits,
so the program's parent becomes init (or the nearest subreaper). The
program gets /dev/null on stdin, its log files on stdout and stderr, no
other descriptors (ours are close-on-exec; inherited strays are closed),
its working directory and umask, default signal dispositions and an empty
signal mask. A close-on-exec pipe reports a failed exec (errno and
message) to the caller at once.
"""

import os
import signal

from ..errors import LaunchError, PermissionProblem
from . import cspawn, fdlimit

# a launch opens /dev/null, the logs and a pipe, and its first child makes three copies
LAUNCH_ROOM = 8
_ALL_SIGNALS = tuple(s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP))


class Launch:
    """A launched program: its pid and start time (for identity), and the
    session the launch made (every process it starts inherits it)."""

    __slots__ = ("program", "pid", "start_time", "sid", "ticks", "middle")

    def __init__(self, program, pid, start_time, sid=None, ticks=None):
        self.program = program
        self.pid = pid
        self.start_time = start_time
        self.sid = sid
        self.ticks = ticks
        self.middle = None  # the first child, when it had not exited yet (to reap)


def open_log(path, program=None, key="stdout"):
    """Open a log file for appending, creating its directory if it is missing.

    Its directory is opened and checked first (paths.open_dir: not another
    user's, not reached through their symlink, sticky if everyone may write
    it); the file is opened in it with O_NOFOLLOW (a symlink planted at the
    path is refused, never appended through) and O_NONBLOCK (a FIFO without
    a reader fails at once instead of freezing usrsvcd), then must be a
    regular file of ours or root's, or /dev/null. The service gets it back
    blocking. Any failure is PermissionProblem (exit 136, as 1.5.13),
    whatever the reason, with the setting to fix when ``program`` is given.
    """
    if path == "-":  # stdout = -: a pipe of usrsvcd --init, never a file named "-"
        return _console_fd(program, key)
    import errno
    import fcntl

    from . import paths

    try:
        directory, name = os.path.split(os.path.abspath(path))
        if path.endswith("/") or not name:
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        dir_fd = paths.open_dir(directory, create=True)
        try:
            fd = _open_in(dir_fd, name, path)
        finally:
            os.close(dir_fd)
        try:
            _check_log(fd, path)
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        except BaseException:
            os.close(fd)
            raise
        return fd
    except OSError as err:
        raise PermissionProblem(_log_message(path, err, program, key), path=path) from None


console = None  # usrsvcd --init sets it: daemon/console.Console (the pipes to its stdout)


def _console_fd(program, key):
    """The write end of the pipe usrsvcd --init reads ``program``'s ``key``
    stream from; anywhere else, ConfigError (130): nobody would read it."""
    if console is None or program is None:
        from ..errors import ConfigError
        from ..initmode import problem

        raise ConfigError([problem(program, key if key in ("stdout", "stderr") else None)]
                          if program is not None else ["'-' is not a log file (usrsvcd --init"
                                                       " only)"])
    return console.writer(program, "stderr" if key == "stderr" else "stdout")


def _open_in(dir_fd, name, path):
    """Open ``name`` in the checked directory. When that fails, say what is
    there if it is the cause (a symlink, another user's file, a FIFO without
    a reader: the kernel's protected_* settings may answer EACCES for them)."""
    import stat

    from . import paths

    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        return os.open(name, flags, 0o644, dir_fd=dir_fd)
    except OSError as err:
        try:
            st = os.lstat(name, dir_fd=dir_fd)
        except OSError:
            st = None
        failure = err
    if st is not None and stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(name, dir_fd=dir_fd)
        except OSError:
            target = "?"
        raise paths.Refused(path, "%s is a symlink (to %s, owned by %s); log files are opened"
                            " without following symlinks, so that nobody can point one at a"
                            " file of yours" % (path, target, paths.owner(st.st_uid)),
                            "set {key} to the file itself, not a symlink to it")
    if st is not None:
        _check_log_stat(st, path)
        paths.check_file(path, st)
    failure.filename = path  # not the name relative to the directory fd
    raise failure


_FIX_REGULAR = "set {key} to a regular file in a directory of yours (or to /dev/null to discard" \
               " the output)"


def _check_log(fd, path):
    from . import paths

    st = os.fstat(fd)
    _check_log_stat(st, path)
    paths.check_file(path, st)


def _check_log_stat(st, path):
    """Only a regular file, or the null device, takes a service's output:
    a FIFO freezes whoever opens it (until a reader comes) and the service
    when nobody reads; a socket or a device is nobody's log."""
    import stat

    from . import paths

    if stat.S_ISREG(st.st_mode):
        return
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == _null_device():
        return
    kinds = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISDIR, "a directory"))
    kind = next((name for test, name in kinds if test(st.st_mode)), "not a regular file")
    raise paths.Refused(path, "%s is %s, owned by %s; a log file must be a regular file"
                        % (path, kind, paths.owner(st.st_uid)), _FIX_REGULAR)


def _null_device():
    try:
        return os.stat(os.devnull).st_rdev
    except OSError:
        return os.makedev(1, 3)


def _log_message(path, err, program, key):
    import errno

    from . import paths

    reason = err.strerror or str(err)
    if err.filename and err.filename != path and not isinstance(err, paths.Refused):
        reason = "%s: %s" % (err.filename, reason)  # its directory could not be made
    if isinstance(err, paths.Refused):
        fix = err.fix.format(key=key)
    elif err.errno == errno.EISDIR:
        fix = "%s is a directory: set %s to a file (e.g. %s/%s.log)" % (
            path, key, path.rstrip("/"), program.name if program else "output")
    elif err.errno in (errno.ENOTDIR, errno.EEXIST):
        fix = "a part of its path is not a directory: set %s to a file in a directory" \
              " of yours" % key
    elif err.errno == errno.ENOSPC:
        fix = "its filesystem is full: free some space"
    elif err.errno == errno.EROFS:
        fix = "its filesystem is read-only: set %s to a file on a writable one" % key
    else:
        fix = "make it writable by you (chmod u+w, or its directory's permissions; chattr -i if" \
              " it is immutable), or set %s to another file" % key
    where = ""
    if program is not None:
        where = " (%s: [Program:%s] %s = %s)" % (program.source, program.name, key, path)
    return "cannot open log file %s: %s%s. Fix: %s" % (path, reason, where, fix)


def environment(program, base=None):
    """The program's environment (envbuild.py: inherited or passed, env files,
    EnvCommand, [[Env]]); raises ConfigError or EnvCommandError."""
    if not (program.env_file or program.env_pass or program.env_command):
        env = dict(os.environ if base is None else base) if program.inherit_env else {}
        env.update(program.env)
    else:
        from . import envbuild

        env = envbuild.build(program, base)
    if program.env_command is not None:  # hooks and exec probes of this run reuse it
        _SECRET_ENV[program.name] = env
    readiness = getattr(program, "readiness", None)
    if readiness is not None and readiness.kind == "notify":  # [[Readiness]] notify = yes
        from .sdnotify import address

        env = dict(env, NOTIFY_SOCKET=address(program))
    return env


_SECRET_ENV = {}  # program name -> the environment its EnvCommand last gave, in this process


def helper_environment(program):
    """The environment of a hook or an exec probe of ``program``: the one its last
    launch in this process built when it has an [[EnvCommand]] (the secret
    command runs once per start, not once per probe or hook), else built again
    without running the EnvCommand and without failing on an env file: a secret
    store that is down, or an env file removed, must never keep a stop (its
    pre_stop/post_stop) or a probe from running."""
    env = _SECRET_ENV.get(program.name)
    if env is not None:
        return dict(env)
    if not (program.env_file or program.env_pass or program.env_command):
        return environment(program)
    from ..errors import UsrsvcError
    from . import envbuild

    base = os.environ
    env = dict(base) if program.inherit_env else {
        name: base[name] for name in program.env_pass if name in base}
    for entry in program.env_file:
        try:
            env.update(envbuild.read_file(program, entry))
        except UsrsvcError:
            continue
    env.update(program.env)
    return env


def _middle(program, env, out_fd, err_fd, null_fd, report_fd, nofile):
    """In the first child: clean slate, spawn the program, report, exit.

    This throwaway process takes the program's working directory, umask and
    open-files limit, closes every descriptor the program must not inherit,
    then spawns it with libc's posix_spawnp (vfork + exec: about a millisecond
    less than subprocess) in a session of its own, with every signal at its
    default (glibc's two internal ones included) and an empty mask. A failed
    chdir or exec comes back as OSError, which goes up the pipe with the PATH
    that was searched.
    """
    try:
        import fcntl

        # stdin, stdout, stderr in place (through copies above 2, so that no
        # target overwrites a source), then nothing else: strays a caller
        # passed us without close-on-exec must not reach the program, and the
        # program's own fds must fit under the open-files limit set below
        copies = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in (null_fd, out_fd, err_fd)]
        for target, fd in enumerate(copies):
            os.dup2(fd, target)
        report_fd = os.dup2(report_fd, 3, inheritable=False)
        os.closerange(4, 1 << 20)
        if nofile is not None:  # the caller raised its own limit; the program gets the usual one
            import resource

            resource.setrlimit(resource.RLIMIT_NOFILE, nofile)
        os.chdir(program.directory)
        if program.umask is not None:
            os.umask(program.umask)
        if cspawn.available():
            os.environ["PATH"] = env.get("PATH") or os.defpath  # what posix_spawnp searches
            pid = cspawn.spawnp(program.argv[0], program.argv, env)
        else:
            pid = _popen(program, env)
        os.write(report_fd, b"P %d\n" % pid)
    except OSError as err:  # "E errno NUL filename NUL message NUL the PATH searched"
        what = os.fsencode(str(err.filename)) if err.filename else b""
        os.write(report_fd, b"E %d\0%s\0%s\0%s" % (
            err.errno or 0, what, (err.strerror or str(err)).encode(errors="replace"),
            os.fsencode(os.pathsep.join(os.get_exec_path(env)))))
    except BaseException as err:  # anything: report it rather than run parent code
        os.write(report_fd, b"E 0\0\0%s\0" % repr(err).encode(errors="replace"))
    finally:
        os._exit(0)


def _popen(program, env):
    """The portable way (subprocess's vfork path), where libc's spawn is not at hand."""
    import subprocess

    for sig in _ALL_SIGNALS:
        if signal.getsignal(sig) != signal.SIG_DFL:  # None (set outside Python) too
            try:
                signal.signal(sig, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
    return subprocess.Popen(list(program.argv), env=env, close_fds=True, restore_signals=True,
                            start_new_session=True).pid


def launch(program, env=None, nofile=None, streams=None):
    """Start ``program`` detached; return a Launch or raise LaunchError.

    Returns once the exec happened (or failed): the caller then watches the
    pid for the success window. ``streams``: see launch_many.
    """
    return _finish(program, _begin(program, env, nofile, streams))


def launch_many(programs, nofile=None, streams=None, envs=None):
    """Launch several programs at once: every first child is forked before any
    report is awaited, so their execs overlap. Yields (program, Launch or UsrsvcError).

    Each launch begun holds a report pipe until it is finished; when the
    open-files limit leaves no room for the next one, the launches begun so
    far are finished first (their pipes closed), then it is tried again.
    ``streams(program)``, for a program with a ``logger``, gives the
    descriptors (stdin, stdout, stderr) to hand it instead of /dev/null and
    its log files (they are ours to close); None: the usual ones.
    ``envs``: name -> the environment already built (or the error building it
    raised), for programs whose env files or EnvCommand were dealt with beforehand.
    """
    begun = []
    base = dict(os.environ)  # decoded once, not once per program (38 µs per variable and launch)
    for program in programs:
        pending = _try_begin(program, nofile, streams, envs, base)
        if _no_room(pending) and begun:
            yield from _finish_all(begun)
            begun = []
            pending = _try_begin(program, nofile, streams, envs, base)
        begun.append((program, pending))
    yield from _finish_all(begun)


def _try_begin(program, nofile, streams=None, envs=None, base=None):
    """_begin, with any failure as the error to report for this program."""
    from ..errors import UsrsvcError

    env = (envs or {}).get(program.name)
    if isinstance(env, UsrsvcError):
        return env
    try:
        return _begin(program, env, nofile, streams, base)
    except UsrsvcError as err:
        return err
    except OSError as err:  # fork or pipe failing (EAGAIN, EMFILE): this one fails
        import errno

        if err.errno in (errno.EMFILE, errno.ENFILE):
            return _shortage(program)
        return LaunchError("cannot launch %r: %s" % (program.command, err.strerror or err),
                           errno=err.errno)


def _no_room(pending):
    import errno

    return isinstance(pending, LaunchError) and pending.fields.get("errno") == errno.EMFILE


def _shortage(program):
    import errno

    return LaunchError("cannot launch %r: %s (%s: [Program:%s])" % (
        program.command, fdlimit.shortage(), program.source, program.name), errno=errno.EMFILE)


def _finish_all(begun):
    from ..errors import UsrsvcError

    for program, pending in begun:
        if isinstance(pending, UsrsvcError):
            yield program, pending
            continue
        try:
            yield program, _finish(program, pending)
        except UsrsvcError as err:
            yield program, err


def _begin(program, env, nofile, streams=None, base=None):
    """Fork the first child; returns (its pid, the read end of its report pipe).
    ``base``: os.environ as a dict, when the caller made one for many launches."""
    if env is None:
        env = environment(program, base)
    cspawn.available()  # load libc's spawn once, in the parent, not in every child

    out_fd = err_fd = null_fd = read_fd = write_fd = -1
    try:
        # /dev/null first: its number says whether the rest fits under the limit
        # (a log file failing for EMFILE would read as a permission problem)
        null_fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        if fdlimit.in_reserve(null_fd, LAUNCH_ROOM):
            raise _shortage(program)
        given = streams(program) if streams is not None else None
        if given is not None:
            os.close(null_fd)
            null_fd, out_fd, err_fd = given
        else:
            out_fd = open_log(program.stdout, program, "stdout")
            err_fd = out_fd if program.stderr is None else open_log(program.stderr, program,
                                                                    "stderr")
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        from .zygote import current

        zygote = current()
        if zygote is not None and zygote.send(program, env, out_fd, err_fd, null_fd, write_fd,
                                              nofile):
            first = None  # the zygote's child, not ours (see zygote.py)
        else:
            first = os.fork()
            if first == 0:
                _middle(program, env, out_fd, err_fd, null_fd, write_fd, nofile)
        pending, read_fd = (first, read_fd), -1
    finally:
        for fd in {out_fd, err_fd, null_fd, read_fd, write_fd}:
            if fd >= 0:
                os.close(fd)
    return pending


def _finish(program, pending):
    """Wait for the first child's report: "P pid" once the program is exec'd
    (then the first child is left to exit and be reaped later: tearing down a
    copy of a big daemon takes a millisecond that a mass restart need not
    wait for), or an error report followed by its exit."""
    first, read_fd = pending
    chunks = []
    try:
        while True:
            chunk = os.read(read_fd, 4096)
            if not chunk:
                break
            chunks.append(chunk)
            if chunks[0].startswith(b"P ") and chunk.endswith(b"\n"):
                break
    finally:
        os.close(read_fd)
        got = first if first is None else os.waitpid(first, os.WNOHANG)[0]
    launch = _outcome(program, b"".join(chunks))
    if got != first:
        launch.middle = first  # the caller reaps it (see reap)
    return launch


def reap(pids, block=False):
    """Reap the first children (waiting for them with ``block``); returns those
    still running."""
    left = []
    for pid in pids:
        try:
            got, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            continue
        if got != pid:
            left.append(pid)
    return left


def _outcome(program, report):
    pid = None
    if report.startswith(b"P "):
        line, _, report = report.partition(b"\n")
        pid = int(line[2:])
    if report.startswith(b"E "):
        fields = (report[2:].split(b"\0") + [b""] * 4)[:4]
        number = int(fields[0] or 0)
        filename = os.fsdecode(fields[1]) if fields[1] else None
        message = fields[2].decode(errors="replace")
        raise LaunchError(exec_failure(program, number, filename, message, os.fsdecode(fields[3])),
                          errno=number, pid=pid)
    if pid is None:
        raise LaunchError("launching %r failed: the intermediate process died" % program.command)
    from . import procfs

    info = procfs.read(pid)
    if info is None:
        return Launch(program, pid, None)
    return Launch(program, pid, info.start_time, info.sid, info.ticks)


def exec_failure(program, number, filename, message, exec_path):
    """Why the exec of ``program`` failed, with the setting to fix (and how)."""
    import errno

    from .. import preflight

    head = "cannot execute %r" % program.command
    where = "%s: [Program:%s]" % (program.source, program.name)
    word = program.argv[0] if program.argv else ""
    if filename and filename == program.directory and filename != word:
        if number == errno.ENOENT:
            what = "does not exist"
            fix = "create it (mkdir -p %s) or set directory to an existing one" % filename
        elif number == errno.ENOTDIR:
            what = "is not a directory"
            fix = "set directory to a directory"
        else:
            what = "cannot be entered"
            fix = "make it accessible (chmod u+x) or set directory to another one"
        return ("%s: the working directory %s %s (%s), so the command was not run; it is the"
                " working directory that is wrong (%s directory = %s), not the command. Fix: %s"
                % (head, filename, what, message, where, filename, fix))
    setting = "%s command = %s" % (where, program.command)
    if program.useshell:
        return "%s: %s: %s (%s)" % (head, filename or word, message, setting)
    if word.startswith("~"):
        return ("%s: %s: %s; '~' is not expanded in a command without useshell (%s). Fix: write"
                " the full path (%s), or set useshell = True"
                % (head, word, message, setting, os.path.expanduser(word)))
    if "/" not in word and number in (errno.ENOENT, errno.EACCES, errno.ENOTDIR):
        _, origin = preflight.program_path(program)
        if number == errno.ENOENT:
            return ("%s: command '%s' not found in PATH (%s: %s) (%s). Fix: write its full path in"
                    " command, or set PATH in the program's [[Env]]"
                    % (head, word, origin, exec_path, setting))
        return ("%s: '%s' found in PATH (%s: %s) is not executable: %s (%s). Fix: chmod +x it, or"
                " write the full path of the right program" % (head, word, origin, exec_path,
                                                              message, setting))
    path = os.path.normpath(os.path.join(program.directory, word))
    problem = preflight.exec_problem(path, word) if "/" in word else None
    if number == errno.ENOEXEC:
        return ("%s: %s: %s: it is neither a binary nor a script with a #! line (%s). Fix: add a"
                " #! line (e.g. #!/bin/sh) to it, or put its interpreter first (command = sh %s"
                " ...)" % (head, word, message, setting, word))
    if problem:
        return "%s: %s: %s; %s (%s). %s" % (head, word, message, problem[0], setting, problem[1])
    return "%s: %s: %s (%s)" % (head, filename or word, message, setting)


def become_subreaper():
    """Orphans of what we launch come back to us while we live (exit statuses).

    Only the short-lived ``usrsvc`` uses this; when it exits they pass on
    to init. Silently a no-op where prctl is unavailable.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def exit_status(pid):
    """Reap ``pid`` if it is our child; a description of how it ended, or None."""
    try:
        got, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return None
    if got != pid:
        return None
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return "killed by signal %s" % name
    return "exited with status %d" % os.WEXITSTATUS(status)


def log_tail(program, offsets, lines=8, limit=4096):
    """The last lines the program wrote to its logs since ``offsets`` (path -> size).

    Only from a regular file, opened without following a symlink or waiting
    for a FIFO's writer: something swapped in since the launch must not
    freeze usrsvcd or show it another file."""
    import stat

    out = []
    for path in dict.fromkeys(p for p in (program.stdout, program.stderr) if p):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            with open(fd, "rb") as handle:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    continue
                size = st.st_size
                start = max(offsets.get(path, 0), size - limit)
                handle.seek(start)
                out.extend(handle.read().decode("utf-8", "replace").splitlines())
        except OSError:
            continue
    return out[-lines:]


def log_offsets(program):
    sizes = {}
    for path in (program.stdout, program.stderr):
        if path and path != "-":
            try:
                sizes[path] = os.stat(path).st_size
            except OSError:
                sizes[path] = 0
    return sizes
