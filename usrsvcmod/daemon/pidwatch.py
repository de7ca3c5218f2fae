"""Pidfiles watched by inotify: usrsvcd learns that one changed when it changes.

The periodic pass used to stat every running program's pidfile to notice one
rewritten by hand; at 10,000 programs that alone cost more than the whole idle
budget. Each directory holding pidfiles now gets one inotify watch; an event
names the file, and only the program(s) whose pidfile it is are looked at, in
the same turn of the loop. The events are a hint, never evidence: the look
that follows is the full one (lock, identity rule), so a hostile user making
noise in a shared directory (/tmp) costs us a stat per event, nothing more.

A directory that cannot be watched (missing, another user's, the per-user
watch limit reached) leaves its programs to the periodic stat, as before, and
is tried again at each pass. When the kernel drops events (queue overflow) or a
watched directory goes away, every program concerned is looked at.
"""

import os
import struct

from ..proc import inotify

IN_CLOSE_WRITE = 0x008
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x01000000
GONE = inotify.IN_DELETE_SELF | inotify.IN_MOVE_SELF | IN_IGNORED
MASK = (IN_CLOSE_WRITE | inotify.IN_MODIFY | inotify.IN_ATTRIB | inotify.DIR_EVENTS
        | inotify.IN_DELETE_SELF | inotify.IN_MOVE_SELF | inotify.IN_DONT_FOLLOW | IN_ONLYDIR)
_HEAD = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then the name)


class PidfileWatch:
    """One inotify descriptor for every pidfile directory of the config.

    Kept small at 10,000 programs: the programs' own path strings are the keys,
    and what is remembered per program is only the exception (``uncovered``: the
    names whose directory is not watched, usually none)."""

    def __init__(self, ino, on_change):
        self.ino = ino  # inotify.Inotify (its libc and fd)
        self.on_change = on_change  # (set of program names) -> None
        self.paths = {}  # pidfile path -> program name (a tuple of names if shared)
        self.wanted = {}  # directory -> [pidfile paths in it]
        self.wds = {}  # watch descriptor -> directory
        self.dirs = {}  # directory -> watch descriptor
        self.uncovered = set()  # names of the programs whose pidfile's directory is not watched
        self.lost = set()  # watched directories that went away (removed, renamed) since

    @classmethod
    def open(cls, on_change):
        ino = inotify.open_inotify()
        return cls(ino, on_change) if ino is not None else None

    @property
    def fd(self):
        return self.ino.fd

    def configure(self, pidfiles):
        """``pidfiles``: (program name, pidfile path) of every program; watches follow."""
        paths, wanted = {}, {}
        for name, path in pidfiles:
            if not path:
                continue
            if not os.path.isabs(path):
                path = os.path.abspath(path)
            had = paths.get(path)
            paths[path] = name if had is None else (had if isinstance(had, tuple) else (had,)) + (name,)
            wanted.setdefault(os.path.dirname(path), []).append(path)
        for directory in [d for d in self.dirs if d not in wanted]:
            self._drop(directory, remove=True)
        self.paths, self.wanted = paths, wanted
        self.uncovered = set()
        for directory in wanted:
            if directory not in self.dirs:
                self.uncovered.update(self._names(directory))
        self.refresh()

    def _names(self, directory):
        for path in self.wanted.get(directory, ()):
            names = self.paths.get(path)
            if isinstance(names, tuple):
                yield from names
            elif names is not None:
                yield names

    def refresh(self):
        """Watch every wanted directory not watched yet (each pass: one may have
        appeared, or come back after it was removed). Its programs are looked at
        then: their pidfiles may be missing from the new directory, and the looks
        that followed its removal may have come before it was back."""
        back = set()
        for directory in self.wanted:
            if directory not in self.dirs:
                wd = self.ino.libc.inotify_add_watch(self.ino.fd, os.fsencode(directory), MASK)
                if wd >= 0:
                    self.dirs[directory] = wd
                    self.wds[wd] = directory
                    names = set(self._names(directory))
                    if directory in self.lost:
                        self.lost.discard(directory)
                        back.update(names)
                    self.uncovered.difference_update(names)
        if back:
            self.on_change(back)

    def readable(self, _revents=None):
        """The descriptor has events: the programs whose pidfile changed are looked at."""
        names, everything = set(), False
        while True:
            try:
                data = os.read(self.ino.fd, 65536)
            except (BlockingIOError, InterruptedError):
                break
            if not data:
                break
            at = 0
            while at + _HEAD.size <= len(data):
                wd, mask, _cookie, length = _HEAD.unpack_from(data, at)
                name = data[at + _HEAD.size:at + _HEAD.size + length].rstrip(b"\0")
                at += _HEAD.size + length
                if mask & IN_Q_OVERFLOW:
                    everything = True
                    continue
                directory = self.wds.get(wd)
                if directory is None:
                    continue
                if mask & GONE:  # the directory itself went: poll until it is back
                    self._drop(directory, remove=False)
                    self.lost.add(directory)
                    names.update(self._names(directory))
                    continue
                found = self.paths.get(os.path.join(directory, os.fsdecode(name)))
                if isinstance(found, tuple):
                    names.update(found)
                elif found is not None:
                    names.add(found)
        if everything:
            for directory in self.wanted:
                names.update(self._names(directory))
        if names:
            self.on_change(names)

    def _drop(self, directory, remove):
        wd = self.dirs.pop(directory, None)
        self.uncovered.update(self._names(directory))
        if wd is not None:
            self.wds.pop(wd, None)
            if remove:
                self.ino.libc.inotify_rm_watch(self.ino.fd, wd)

    def close(self):
        self.ino.close()
        self.dirs, self.wds = {}, {}
