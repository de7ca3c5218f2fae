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
    write("usrsvcd.status", _json(snapshot))
    write("usrsvcd.view", view(snapshot))


def view(snapshot):
    """``usrsvcd.view``: indexed (see indexed.py), so ``status NAME`` reads its
    head and one program's entry, never ten thousand: the head is {"pid": the
    daemon's pid}, each program's entry its snapshot (marshal). Read by
    actions.daemon_view."""
    import marshal

    from .. import indexed

    return indexed.pack({"pid": snapshot["pid"]}, [
        (name, marshal.dumps(entry)) for name, entry in snapshot["programs"].items()])
