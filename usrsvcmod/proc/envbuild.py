"""A program's environment at launch, in the documented order:

1. the caller's environment (``inherit_env = True``), or only the names of
   ``env_pass`` from it (``inherit_env = False``);
2. each ``env_file`` in order (a later file wins);
3. the output of ``[[EnvCommand]]``, run now (secrets fetched fresh);
4. ``[[Env]]``, which always has the last word.

Values are passed to the launch and nowhere else: never written to disk,
never put in a message. Errors name the file, line, variable or command,
never a value. Env files are opened like config files (files.open_file:
no directory or symlink of anyone else's on the way, owned by this user,
writable by nobody else): whoever can write one can set LD_PRELOAD for
the program.
"""

import os

from ..errors import ConfigError, LaunchError

MAX_OUTPUT = 1 << 20  # bytes of EnvCommand output kept; more fails the start
MAX_FILE = 1 << 20


class EnvCommandError(LaunchError):
    """[[EnvCommand]] failed, timed out or printed something else than NAME=VALUE."""


def needs_work(program):
    """Whether building the environment reads files or runs a command (the daemon
    does that in a worker thread, off its loop)."""
    return bool(program.env_file) or program.env_command is not None


def build(program, base=None):
    """The environment to launch ``program`` with; raises ConfigError (an env file
    missing, unsafe or malformed: exit 130) or EnvCommandError (exit 137)."""
    base = os.environ if base is None else base
    if program.inherit_env:
        env = dict(base)
    else:
        env = {name: base[name] for name in program.env_pass if name in base}
    for entry in program.env_file:
        env.update(read_file(program, entry))
    if program.env_command is not None:
        env.update(run_command(program, env))
    env.update(program.env)
    return env


def _where(program, key):
    return "%s: [Program:%s] %s" % (program.source, program.name, key)


def read_file(program, entry):
    """The assignments of one ``env_file`` entry (``-/path``: optional)."""
    from ..config.files import open_file
    from . import envfile

    optional = entry.startswith("-")
    path = entry[1:] if optional else entry
    try:
        with os.fdopen(open_file(path), "rb") as handle:
            data = handle.read(MAX_FILE + 1)
    except ConfigError as err:
        raise ConfigError(["%s: %s" % (_where(program, "env_file"), line)
                           for line in err.problems]) from None
    except FileNotFoundError:
        if optional:
            return []
        raise ConfigError("%s: %s does not exist. Fix: create it, or mark it optional with a"
                          " leading '-' (env_file = -%s)"
                          % (_where(program, "env_file"), path, path)) from None
    except OSError as err:
        raise ConfigError("%s: cannot read %s: %s" % (_where(program, "env_file"), path,
                                                     err.strerror or err)) from None
    if len(data) > MAX_FILE:
        raise ConfigError("%s: %s is larger than %d bytes; is it an environment file?"
                          % (_where(program, "env_file"), path, MAX_FILE))
    try:
        return envfile.parse(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError("%s: %s is not UTF-8 text (bad byte at offset %d)"
                          % (_where(program, "env_file"), path, err.start)) from None
    except ValueError as err:
        raise ConfigError("%s: %s: %s. Fix the file (systemd EnvironmentFile syntax:"
                          " KEY=VALUE, '#' comments, quotes)"
                          % (_where(program, "env_file"), path, err)) from None


def content_digest(program):
    """What the env files say now, as one short digest for the launch record (so
    `usrsvc update` sees an edited env file); None without env_file. A missing
    optional file and an unreadable one count as their own states."""
    if not program.env_file:
        return None
    parts = []
    for entry in program.env_file:
        try:
            parts.append(sorted(read_file(program, entry)))
        except ConfigError as err:
            parts.append(("unreadable", err.message))
    return parts


def run_command(program, env):
    """Run the program's [[EnvCommand]] with ``env``; its NAME=VALUE lines.

    Through ``/bin/sh -c`` (pipes work: ``pass show app | head -1``), in the
    program's directory, in a session of its own so that a timeout ends all
    it started; stdin is /dev/null, stderr goes to the program's log (it is
    the command's own diagnostics), stdout is read here, bounded in size and
    time, and never stored.
    """
    import subprocess

    command, timeout = program.env_command
    where = "%s: [Program:%s] [[EnvCommand]] command" % (program.source, program.name)
    err_fd = _stderr_fd(program)
    try:
        proc = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=err_fd, cwd=program.directory,
                                env=env, start_new_session=True, close_fds=True)
    except OSError as err:
        raise EnvCommandError("%s cannot run: %s; nothing was started"
                              % (where, err.strerror or err)) from None
    finally:
        if err_fd is not subprocess.DEVNULL:
            os.close(err_fd)
    output, why = _read_bounded(proc, timeout)
    status = proc.wait()
    log = program.stderr or program.stdout
    if why is not None:
        raise EnvCommandError("%s %s and was killed; nothing was started (its stderr is in %s)."
                              " Fix: run it by hand to see why%s"
                              % (where, why, log, ", or raise [[EnvCommand]] timeout"
                                 if why.startswith("ran") else ""))
    if status != 0:
        raise EnvCommandError("%s failed with %s; nothing was started (its stderr is in %s)."
                              " Fix: run it by hand as this user: %s"
                              % (where, _status_text(status), log, command))
    from . import envfile

    try:
        return envfile.parse_output(output.decode("utf-8", "surrogateescape"))
    except ValueError as err:
        raise EnvCommandError("%s: %s; nothing was started. Fix: make it print only NAME=VALUE"
                              " lines on stdout (anything else to stderr)"
                              % (where, err)) from None


def _status_text(status):
    if status < 0:
        import signal

        try:
            return "signal %s" % signal.Signals(-status).name
        except ValueError:
            return "signal %d" % -status
    return "exit status %d" % status


def _stderr_fd(program):
    """The program's stderr log, appended to (opened as spawn opens it: no symlink
    of anyone else's); /dev/null when it cannot be opened (the launch reports that)."""
    import subprocess

    from ..errors import UsrsvcError
    from .spawn import open_log

    path = program.stderr or program.stdout
    try:
        return open_log(path, program, "stderr" if program.stderr else "stdout")
    except (UsrsvcError, OSError):
        return subprocess.DEVNULL


def _read_bounded(proc, timeout):
    """(stdout bytes, None) once it closes, or (partial, why) after killing the
    command's whole session at the deadline or past MAX_OUTPUT bytes."""
    import selectors
    import subprocess
    import time

    deadline = time.monotonic() + timeout
    chunks, size, why = [], 0, None
    fd = proc.stdout.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                why = "ran longer than its timeout of %g s" % timeout
                break
            if not selector.select(left):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_OUTPUT:
                why = "printed more than %d bytes" % MAX_OUTPUT
                break
    proc.stdout.close()
    if why is not None:
        _kill_session(proc)
    elif proc.poll() is None:  # closed its stdout but still runs: wait what is left
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            why = "ran longer than its timeout of %g s" % timeout
            _kill_session(proc)
    return b"".join(chunks), why


def _kill_session(proc):
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: the command and all it started
    except OSError:
        pass
    proc.wait()


def prepare(programs, base=None):
    """name -> environment (or the UsrsvcError building it raised) of each program
    whose env files or EnvCommand need work, built side by side in threads (a
    `start all` waits for the slowest secret command, not for their sum)."""
    import threading

    from ..errors import UsrsvcError

    todo = [program for program in programs if needs_work(program)]
    found = {}

    def one(program):
        try:
            found[program.name] = _environment(program, base)
        except UsrsvcError as err:
            found[program.name] = err

    if len(todo) == 1:
        one(todo[0])
        return found
    threads = [threading.Thread(target=one, args=(program,), daemon=True) for program in todo]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return found


def _environment(program, base):
    """The whole environment of a launch (spawn.environment: this module's part,
    and what a launch adds, such as a [[Readiness]] NOTIFY_SOCKET)."""
    from .spawn import environment

    return environment(program, base)
