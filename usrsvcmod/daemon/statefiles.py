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


def _json(snapshot):
    """``json.dumps(snapshot).encode()``, byte for byte, one program at a time.

    json.dumps of the whole snapshot first builds a list of every key, value and
    separator as a separate string (about seven times the size of the result: 2 MB
    for 1000 programs), and the daemon's heap kept that high-water mark for good.
    Each program's entry is encoded on its own here, so only the small pieces and
    the result are alive at once."""
    dumps = json.dumps
    items = []
    for key, value in snapshot.items():
        if key == "programs":
            text = "{%s}" % ", ".join(["%s: %s" % (dumps(name), dumps(entry))
                                       for name, entry in value.items()])
        else:
            text = dumps(value)
        items.append("%s: %s" % (dumps(key), text))
    return ("{%s}" % ", ".join(items)).encode()


def write_reload(write, generation, status, problems):
    import os

    write("usrsvcd.reload", json.dumps({"generation": generation, "pid": os.getpid(),
                                        "status": status, "problems": problems}).encode())
