"""The soak's view of processes: /proc read directly (no psutil), by the run's token."""

import os
import shutil
import sys


def command_path(name):
    beside = os.path.join(os.path.dirname(sys.executable), name)
    return beside if os.path.exists(beside) else (shutil.which(name) or name)

def alive(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")

class Snapshot:
    """Who runs now: program -> live pids, the daemon pids, every pid of the run."""

    def __init__(self, names):
        self.programs = {name: [] for name in names}
        self.daemons = []
        self.ours = []

    def pid(self, name):
        pids = self.programs[name]
        return pids[0] if len(pids) == 1 else None


def in_home(home):
    """Our processes working in ``home`` or below (services run there), whatever their argv."""
    found, prefix, me = [], home.rstrip("/") + "/", os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            cwd = os.readlink("/proc/%s/cwd" % entry)
        except OSError:
            continue
        if (cwd.rstrip("/") + "/").startswith(prefix) and alive(int(entry)):
            found.append(int(entry))
    return found
