"""What will fail at start, found before it does: the warnings of ``checkconfig``.

``check(config)`` looks at a valid Config the way a start would meet it:
the command (found in the program's PATH, executable, no unexpanded
``~``), the working directory, the log and pidfile paths, the sendmail
program of email alerts, and a default ``proctitle_re`` that would also
match a pager or an editor opened on the program's script. It reads the
filesystem but never writes to it, and returns human lines, each naming
the file, the section, the key and its value, what is wrong and the fix.
Both ``usrsvc checkconfig`` and ``usrsvcd checkconfig`` print them.
"""

import os

SENDMAIL_CANDIDATES = ("/usr/sbin/sendmail", "/usr/bin/sendmail")


def check(config, environ=None):
    """Warning lines for ``config`` (a validated Config); an empty list if all looks right."""
    environ = os.environ if environ is None else environ
    warnings = []
    for program in config.programs.values():
        warnings.extend(program_warnings(program, environ))
    warnings.extend(_sendmail(config, environ))
    warnings.extend(_own_logs(config.main))
    return warnings


def summary(config):
    """The lines checkconfig prints on stdout: the files read and every program's flags."""
    lines = ["configuration OK: %s" % ", ".join(config.files),
             "%d program(s):" % len(config.programs)]
    for program in config.programs.values():
        flags = ["enabled" if program.enabled else "disabled",
                 "autostart" if program.autostart else "no autostart",
                 "autorestart" if program.autorestart else "no autorestart"]
        if program.monitoring.active:
            flags.append("monitored")
        lines.append("  %-20s %s  (%s)" % (program.name, ", ".join(flags), program.source))
    return lines


def _rotation(program, out):
    """A log with a size limit on a filesystem that cannot collapse: rotated by
    copy-and-truncate, which loses what the program writes meanwhile."""
    from .proc.rotate import collapse_problem
    from .rotation import log_limits

    for stream, path, maxbytes, _ in log_limits(program):
        shared = _shared_rotation(path, "%s_maxbytes = %d" % (stream, maxbytes)) \
            if maxbytes else None
        if shared:
            out.append("%s: %s" % (_where(program, stream, path), shared))
        problem = collapse_problem(path) if maxbytes else None
        if problem:
            out.append("%s: %s, so its rotation (%s_maxbytes = %d) falls back to copy-and-truncate,"
                       " which can lose the lines written while it copies. Fix: put the log on"
                       " ext4 or xfs, or leave %s_maxbytes at 0"
                       % (_where(program, stream, path), problem, stream, maxbytes, stream))


def _shared_rotation(path, maxbytes_key):
    """Why rotating the log at ``path`` is at another account's mercy: its
    directory is writable by others (sticky or not), where anyone may plant
    PATH.1 and stop the rotation for good (a planted file there is not ours to
    remove). None for a directory of our own."""
    import stat

    directory = os.path.dirname(os.path.abspath(path))
    try:
        st = os.stat(directory)
    except OSError:
        return None  # said elsewhere (a missing directory)
    group = st.st_mode & stat.S_IWGRP and st.st_gid != os.getegid()
    if not (st.st_mode & stat.S_IWOTH or group):
        return None
    return ("its directory %s is writable by other accounts (mode %04o): any of them can plant"
            " %s.1 there, which stops its rotation (%s) for good, and a file of theirs in a"
            " shared directory is not yours to remove. Fix: put the log in a directory only you"
            " can write (e.g. mkdir -m 700 ~/logs)"
            % (directory, stat.S_IMODE(st.st_mode), path, maxbytes_key))


def _own_logs(main):
    """usrsvcd's own logs, rotated by usrsvcd_log_maxbytes, in a shared directory."""
    out = []
    maxbytes = getattr(main, "usrsvcd_log_maxbytes", 0)
    for key in ("usrsvcd_stdout", "usrsvcd_stderr"):
        path = getattr(main, key, None)
        if not maxbytes or not path or path == "stdout":
            continue
        problem = _shared_rotation(path, "usrsvcd_log_maxbytes = %d" % maxbytes)
        if problem:
            out.append("%s: [Main] %s = %s: %s" % (main.path, key, path, problem))
    return out


def _where(program, key, value):
    return "%s: [Program:%s] %s = %s" % (program.source, program.name, key, value)


def program_path(program, environ=None):
    """(the PATH the program's exec searches, where it comes from)."""
    environ = os.environ if environ is None else environ
    for key, value in program.env:
        if key == "PATH":
            return value, "PATH from its [[Env]]"
    from_files = _path_from_env_files(program)
    if from_files is not None:
        return from_files
    if not program.inherit_env and "PATH" in program.env_pass and environ.get("PATH") is not None:
        return environ["PATH"], "PATH passed by env_pass"
    if program.inherit_env and environ.get("PATH") is not None:
        return environ["PATH"], "inherited PATH"
    if program.inherit_env:
        return os.defpath, "default PATH (none is set)"
    return os.defpath, "default PATH (inherit_env = False and no PATH in [[Env]])"


def _path_from_env_files(program):
    """(PATH, origin) when the last env_file that sets PATH does, else None."""
    if not program.env_file:
        return None
    from .errors import ConfigError
    from .proc.envbuild import read_file

    found = None
    for entry in program.env_file:
        try:
            for key, value in read_file(program, entry):
                if key == "PATH":
                    found = (value, "PATH from env_file %s" % entry.lstrip("-"))
        except ConfigError:
            pass  # reported by _env_files
    return found


def program_warnings(program, environ=None):
    environ = os.environ if environ is None else environ
    out = []
    directory_ok = _directory(program, out)
    if not program.useshell:
        _command(program, environ, directory_ok, out)
    _proctitle(program, directory_ok, out)  # for useshell: the command after ~/$VAR expansion
    for key in ("stdout", "stderr"):
        path = getattr(program, key)
        if path:
            problem = _file_problem(path)
            if problem:
                out.append("%s: %s; usrsvc start would fail with exit 136. %s"
                           % (_where(program, key, path), problem[0], problem[1]))
    _rotation(program, out)
    problem = _pidfile_problem(program.pidfile) if program.pidfile else None  # oneshot: none
    if problem and program.autopid:
        out.append("%s: %s, so the pidfile cannot be written (the program would still start, but"
                   " could then only be found by its launch record or a scan). %s"
                   % (_where(program, "pidfile", program.pidfile), problem[0], problem[1]))
    _env_files(program, out)
    return out


def start_blockers(program, environ=None):
    """What would certainly make a start of ``program`` fail now (its working
    directory, a non-shell command that cannot be found or run): a restart
    checks these first, so a typo in an edited command never takes down the
    process that still runs. Each is a sentence with the setting and its fix."""
    environ = os.environ if environ is None else environ
    out = []
    if _directory(program, out) and not program.useshell:
        found = []
        _command(program, environ, True, found)
        out.extend(m for m in found if "the start would fail" in m)  # not a literal ~ argument
    return out


def _env_files(program, out):
    """An env file that is missing, unsafe or malformed fails every start (130)."""
    if not program.env_file:
        return
    from .errors import ConfigError
    from .proc.envbuild import read_file

    for entry in program.env_file:
        try:
            read_file(program, entry)
        except ConfigError as err:
            out.append("%s; usrsvc start would fail with exit 130" % err.message)


def _directory(program, out):
    path = program.directory
    if os.path.isdir(path):
        if not os.access(path, os.X_OK):
            out.append("%s: the working directory cannot be entered (permission denied); the"
                       " start would fail. Fix: chmod u+x %s, or set directory to one you can"
                       " enter" % (_where(program, "directory", path), path))
            return False
        return True
    what = "is not a directory" if os.path.exists(path) else "does not exist"
    out.append("%s: the working directory %s; the start would fail. Fix: create it (mkdir -p"
               " %s) or set directory to an existing one" % (_where(program, "directory", path),
                                                             what, path))
    return False


def _command(program, environ, directory_ok, out):
    word = program.argv[0] if program.argv else ""
    tilde = [w for w in program.argv if w.startswith("~")]
    if tilde:
        if word.startswith("~"):
            what = "the start would fail: there is no program named %s" % word
        else:
            what = "the program gets %s literally" % " and ".join(tilde)
        out.append("%s: '~' is not expanded in a command without useshell, so %s. Fix: write the"
                   " full path (%s), or set useshell = True"
                   % (_where(program, "command", program.command), what,
                      os.path.expanduser(tilde[0])))
    if not word or word.startswith("~"):
        return
    if "/" in word:
        if not os.path.isabs(word) and not directory_ok:
            return  # relative to a working directory that is already reported
        path = os.path.normpath(os.path.join(program.directory, word))
        relative = "" if os.path.isabs(word) else " (relative to the working directory %s)" \
            % program.directory
        problem = exec_problem(path, word)
        if problem:
            out.append("%s: %s%s; the start would fail. %s"
                       % (_where(program, "command", program.command), problem[0], relative,
                          problem[1]))
        return
    search, origin = program_path(program, environ)
    found, unusable = None, None
    for entry in search.split(os.pathsep):
        base = entry or "."
        if not os.path.isabs(base):
            base = os.path.join(program.directory, base)
        candidate = os.path.join(base, word)
        if os.path.isfile(candidate):
            if os.access(candidate, os.X_OK):
                found = candidate
                break
            unusable = unusable or candidate
    if found:
        return
    if unusable:
        out.append("%s: '%s' is found in PATH as %s, but that file is not executable; the start"
                   " would fail. Fix: chmod +x %s, or write the full path of the right program"
                   % (_where(program, "command", program.command), word, unusable, unusable))
    else:
        out.append("%s: command '%s' not found in PATH (%s: %s); the start would fail. Fix: write"
                   " its full path in command, or set PATH in the program's [[Env]]"
                   % (_where(program, "command", program.command), word, origin, search))


def exec_problem(path, shown):
    """(what is wrong, the fix) for the file to execute (``shown`` as the config wrote it),
    or None if it can be run."""
    if os.path.isdir(path):
        return "%s is a directory, not a program" % shown, "Fix: name the program inside it"
    if not os.path.exists(path):
        if os.path.lexists(path):
            return ("%s is a symlink to %s, which does not exist" % (shown, os.readlink(path)),
                    "Fix: point the symlink at the program, or write the program's path")
        return "%s does not exist" % shown, "Fix: write the program's full path"
    if not os.access(path, os.X_OK):
        return ("%s is not executable" % shown,
                "Fix: chmod +x %s, or run it through its interpreter (command = sh %s ...)"
                % (path, path))
    interpreter = _shebang(path)
    if interpreter and "/" in interpreter[0] and not os.access(interpreter[0], os.X_OK):
        return ("%s starts with #!%s, which does not exist or is not executable"
                % (shown, " ".join(interpreter)), "Fix: correct its #! line")
    return None


def _shebang(path):
    """The words of a script's ``#!`` line, or None."""
    import stat

    try:  # never blocking: a FIFO in the program's place must not hang checkconfig
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        head = os.read(fd, 256)
    except OSError:
        return None
    finally:
        os.close(fd)
    if not head.startswith(b"#!"):
        return None
    words = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").split()
    return words or None


def _nearest(path):
    """The nearest existing ancestor of ``path`` (itself if it exists)."""
    while not os.path.lexists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def _dir_problem(directory):
    """(problem, fix) when files cannot be created in ``directory`` (made if missing), or None."""
    if os.path.isdir(directory):
        if not os.access(directory, os.W_OK | os.X_OK):
            return ("directory %s is not writable by you" % directory,
                    "Fix: chmod u+w %s, or choose a path in a directory of yours" % directory)
        return None
    if os.path.lexists(directory):
        return ("%s is not a directory" % directory,
                "Fix: choose a path in a directory (or remove %s)" % directory)
    ancestor = _nearest(directory)
    if not os.path.isdir(ancestor):
        return ("directory %s cannot be created: %s is not a directory" % (directory, ancestor),
                "Fix: choose a path in a directory of yours")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return ("directory %s cannot be created: %s is not writable by you" % (directory, ancestor),
                "Fix: create it (mkdir -p %s) with the right owner, or choose a path in a"
                " directory of yours" % directory)
    return None


def _file_problem(path):
    """(problem, fix) when the log file ``path`` cannot be opened for appending, or None."""
    if os.path.isdir(path):
        return ("%s is a directory; expected a file" % path,
                "Fix: name a file (e.g. %s/output.log)" % path.rstrip("/"))
    if os.path.exists(path):
        if not os.access(path, os.W_OK):
            return ("%s is not writable by you" % path,
                    "Fix: chmod u+w %s, or choose another file" % path)
        return None
    return _dir_problem(os.path.dirname(path) or ".")


def _pidfile_problem(path):
    if os.path.isdir(path):
        return ("%s is a directory" % path,
                "Fix: name a file (e.g. %s/NAME.pid)" % path.rstrip("/"))
    return _dir_problem(os.path.dirname(path) or ".")


def _proctitle(program, directory_ok, out):
    """A one-path command with the default proctitle_re also matches `less PATH`."""
    suffix = program.title_suffix  # set only for the default proctitle_re
    if getattr(program, "oneshot", False):
        return  # a job is run to completion, never looked for by a scan
    if suffix is None or " " in suffix or "/" not in suffix or suffix.startswith("~"):
        return
    import re

    word, default = suffix, program.proctitle_re

    shown = [word]
    interpreter = _shebang(os.path.join(program.directory, word)) if directory_ok else None
    if interpreter:
        if os.path.basename(interpreter[0]) == "env" and len(interpreter) > 1 \
                and not interpreter[1].startswith("-"):
            interpreter = interpreter[1:]
        shown = interpreter[:1] + [word]
    suggestion = "^" + re.escape(" ".join(shown)).replace("\\ ", " ") + "$"
    out.append("%s: with the default proctitle_re %s, `tail -f %s` (or less, vi) matches too, so"
               " a scan could take a pager or an editor for this program, and stop would signal"
               " it. Fix: set proctitle_re to its own command line as ps shows it (e.g."
               " proctitle_re = %s), or give the command an argument nothing else has (e.g."
               " command = %s --%s)"
               % (_where(program, "command", program.command), default, word, suggestion, word,
                  program.name))


def _sendmail(config, environ):
    alerted = [p for p in config.programs.values() if p.email_alerts]
    main = config.main
    if not alerted or main.smtp_host:
        return []
    names = ", ".join("[Program:%s]" % p.name for p in alerted[:5]) + (
        " and %d more" % (len(alerted) - 5) if len(alerted) > 5 else "")
    where = "%s: [Main] sendmail_path = %s" % (main.path, main.sendmail_path)
    setting = main.sendmail_path
    if setting and setting != "auto":
        if os.path.isfile(setting) and os.access(setting, os.X_OK):
            return []
        what = "is not executable" if os.path.exists(setting) else "does not exist"
        return ["%s: %s %s, so the email_alerts of %s cannot be sent. Fix: set sendmail_path to"
                " your sendmail program, or set smtp_host" % (where, setting, what, names)]
    for candidate in SENDMAIL_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return []
    for entry in (environ.get("PATH") or os.defpath).split(os.pathsep):
        candidate = os.path.join(entry or ".", "sendmail")
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return []
    return ["%s: no sendmail found (%s, or in PATH), so the email_alerts of %s cannot be sent."
            " Fix: install one (e.g. the msmtp-mta or postfix package), set sendmail_path to it,"
            " or set smtp_host" % (where, ", ".join(SENDMAIL_CANDIDATES), names)]
