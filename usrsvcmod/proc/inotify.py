"""inotify as a wake-up call: sleep until a watched file or directory changes.

A follower (``usrsvc logs -f``) must not poll faster than it needs. The
events are not parsed: any of them means "look again", and the caller
re-checks everything it follows (which it must do anyway, since a watch can
be missed or refused). Through ctypes on libc, no dependency; when inotify
is unavailable (no libc symbol, the per-user limit reached) ``open()``
returns None and the caller polls on a deadline instead.
"""

import os

IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_DONT_FOLLOW = 0x02000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

FILE_EVENTS = IN_MODIFY | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF | IN_DONT_FOLLOW
DIR_EVENTS = IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE


class Inotify:
    """One inotify descriptor and its watches (closed with close())."""

    def __init__(self, libc, fd):
        self.libc, self.fd = libc, fd
        self.watched = set()

    def watch(self, path, mask):
        """Watch ``path`` (once per path and mask); False when the kernel refuses."""
        if (path, mask) in self.watched:
            return True
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            return False
        self.watched.add((path, mask))
        return True

    def forget(self, path, mask):
        """Let the next watch() of ``path`` add it again (its inode changed)."""
        self.watched.discard((path, mask))

    def wait(self, timeout):
        """Sleep until an event or ``timeout`` seconds; True on an event (all read)."""
        import select

        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not ready:
            return False
        while True:
            try:
                if not os.read(self.fd, 65536):
                    break
            except BlockingIOError:
                break
        return True

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def open_inotify():
    """An Inotify, or None where inotify cannot be had."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    except (OSError, AttributeError):
        return None
    fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
    if fd < 0:
        return None
    return Inotify(libc, fd)
