"""What usrsvcd tells ``usrsvcd status`` and ``usrsvcd reread``: two small JSON files.

Both live in the runtime state directory, written atomically (temp file
and rename), so a reader never sees half a file.
"""

import json
import os


def write_status(directory, snapshot):
    """The daemon's last snapshot (see events.snapshot): JSON for ``usrsvcd status``
    and tools, and ``usrsvcd.view`` for ``usrsvc status NAME``, which must not pay
    for ``import json`` nor for parsing a thousand programs to show one: marshal
    data with one blob per program (as the config cache)."""
    _write(os.path.join(directory, "usrsvcd.status"), snapshot)
    import marshal

    view = {"pid": snapshot["pid"], "programs": {
        name: marshal.dumps(entry) for name, entry in snapshot["programs"].items()}}
    _write(os.path.join(directory, "usrsvcd.view"), marshal.dumps(view))


def write_reload(directory, generation, status, problems):
    _write(os.path.join(directory, "usrsvcd.reload"),
           {"generation": generation, "pid": os.getpid(), "status": status, "problems": problems})


def _write(path, data):
    from .. import atomic

    try:
        atomic.write(path, data if isinstance(data, bytes) else json.dumps(data).encode())
    except (OSError, ValueError):
        pass  # status files are a courtesy: never a reason to stop
