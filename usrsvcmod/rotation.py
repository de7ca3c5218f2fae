"""``usrsvc logs --rotate``: rotate programs' logs without usrsvcd, returning results.

The same engine and the same rules as usrsvcd's rotation (proc/rotate.py):
a log is rotated when it outgrew its ``stdout_maxbytes`` / ``stderr_maxbytes``
(``force``: whatever its size, and also when no limit is set), keeping
``*_backups`` numbered backups. A log file shared by several programs (or a
program's stdout and stderr in one file) is rotated once.
"""

import os

from . import exitcodes


def log_limits(program):
    """[(stream, path, maxbytes, backups)] of the program's log files (stderr left
    out when it goes to the stdout file)."""
    found = [("stdout", program.stdout, program.stdout_maxbytes, program.stdout_backups)]
    if program.stderr and program.stderr != program.stdout:
        found.append(("stderr", program.stderr, program.stderr_maxbytes,
                      program.stderr_backups))
    return found


class Rotation:
    """What happened to one log of one program. Field names are the JSON schema."""

    __slots__ = ("name", "stream", "path", "rotated", "method", "removed", "backup",
                 "message", "code")

    def __init__(self, name, stream, path, outcome=None, message="", code=exitcodes.SUCCESS):
        self.name, self.stream, self.path = name, stream, path
        self.rotated = bool(outcome and outcome.removed)
        self.method = outcome.method if outcome else None
        self.removed = outcome.removed if outcome else 0
        self.backup = outcome.backup if outcome else None
        self.message = message or (outcome.describe() if outcome else "")
        self.code = code

    @property
    def ok(self):
        return self.code == exitcodes.SUCCESS

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__ if k != "code"} | {
            "exit_code": self.code}


def rotate_logs(session, programs, force=False, rotator=None):
    """Rotate the logs of ``programs`` that outgrew their limit (all, with ``force``);
    one Rotation per log file looked at."""
    from .proc.rotate import Rotator

    rotator = rotator or Rotator(session.state, session.lock_timeout or 30.0)
    results, seen = [], set()
    for program in programs:
        for stream, path, maxbytes, backups in log_limits(program):
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            results.append(_one(rotator, program.name, stream, path, maxbytes, backups, force))
    return results


def _one(rotator, name, stream, path, maxbytes, backups, force):
    from .errors import TryAgain

    if not maxbytes and not force:
        return Rotation(name, stream, path, message="%s: no %s_maxbytes set; not rotated"
                        " (--force rotates it anyway)" % (path, stream))
    try:
        outcome = rotator.rotate(path, maxbytes, backups, force=force)
    except TryAgain as err:
        return Rotation(name, stream, path, message=err.message, code=exitcodes.TRY_AGAIN)
    except OSError as err:
        fix = getattr(err, "fix", None)
        text = "cannot rotate %s: %s" % (path, err.strerror or err)
        if fix:
            text += "; " + fix.format(key="%s (in [Program:%s])" % (stream, name))
        return Rotation(name, stream, path, message=text,
                        code=exitcodes.INSUFFICIENT_PERMISSIONS)
    if outcome is None:
        return Rotation(name, stream, path, message="%s: %s" % (
            path, "not rotated: missing or no regular file" if force else
            "within its limit of %d bytes; not rotated" % maxbytes))
    return Rotation(name, stream, path, outcome)
