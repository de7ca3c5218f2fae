"""What usrsvcd tells ``usrsvcd status`` and ``usrsvcd reread``: small files.

They live in the runtime state directory, written atomically (temp file
and rename) relative to its held descriptor by ``write(name, bytes)``
(Daemon._state_writer), so a reader never sees half a file.
"""

import json


def write_status(write, snapshot):
    """The daemon's last snapshot (see events.snapshot): JSON for ``usrsvcd status``
    and tools, and ``usrsvcd.view`` for ``usrsvc status NAME``, which must not pay
    for ``import json`` nor for parsing a thousand programs to show one: marshal
    data with one blob per program (as the config cache)."""
    write("usrsvcd.status", json.dumps(snapshot).encode())
    import marshal

    view = {"pid": snapshot["pid"], "programs": {
        name: marshal.dumps(entry) for name, entry in snapshot["programs"].items()}}
    write("usrsvcd.view", marshal.dumps(view))


def write_reload(write, generation, status, problems):
    import os

    write("usrsvcd.reload", json.dumps({"generation": generation, "pid": os.getpid(),
                                        "status": status, "problems": problems}).encode())
