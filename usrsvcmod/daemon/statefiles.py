"""What usrsvcd tells ``usrsvcd status`` and ``usrsvcd reread``: two small JSON files.

Both live in the runtime state directory, written atomically (temp file
and rename), so a reader never sees half a file.
"""

import json
import os


def write_status(directory, snapshot):
    """The daemon's last snapshot (see events.snapshot), for ``usrsvcd status`` and ``usrsvc status``."""
    _write(os.path.join(directory, "usrsvcd.status"), snapshot)


def write_reload(directory, generation, status, problems):
    _write(os.path.join(directory, "usrsvcd.reload"),
           {"generation": generation, "pid": os.getpid(), "status": status, "problems": problems})


def _write(path, data):
    """Atomically: a temp file of an unpredictable name, never through a symlink."""
    temp = "%s.%s.tmp" % (path, os.urandom(6).hex())
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
        os.rename(temp, path)
    except (OSError, ValueError):
        try:
            os.unlink(temp)
        except OSError:
            pass  # status files are a courtesy: never a reason to stop
