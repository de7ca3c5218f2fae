"""What usrsvcd tells ``usrsvcd status`` and ``usrsvcd reread``: two small JSON files.

Both live in the runtime state directory, written atomically (temp file
and rename), so a reader never sees half a file.
"""

import json
import os


def tracker_state(tracker):
    if tracker.running:
        return "running"
    if tracker.settling:
        return "starting"
    if tracker.gave_up:
        return "gave_up"
    if tracker.due is not None:
        return "restart_pending"
    if not tracker.program.managed:
        return "unmanaged"
    return "stopped"


def write_status(directory, files, trackers):
    programs = {name: {"state": tracker_state(t), "pid": t.info.pid if t.running else None,
                       "attempts": t.attempts}
                for name, t in trackers.items()}
    _write(os.path.join(directory, "usrsvcd.status"),
           {"pid": os.getpid(), "files": list(files), "programs": programs})


def write_reload(directory, generation, status, problems):
    _write(os.path.join(directory, "usrsvcd.reload"),
           {"generation": generation, "pid": os.getpid(), "status": status, "problems": problems})


def _write(path, data):
    temp = "%s.%d.tmp" % (path, os.getpid())
    try:
        with open(temp, "w") as handle:
            json.dump(data, handle)
        os.rename(temp, path)
    except OSError:
        pass  # status files are a courtesy: never a reason to stop
