"""The one atomic file write: a temp file of an unpredictable name, then rename.

The temp file is created with O_EXCL|O_NOFOLLOW beside the target, so
nothing planted in advance (a symlink, a file of that name) is written
through or reused, and rename() replaces a symlink at the target instead
of following it. A reader sees the old file or the new one, never half.
Imports nothing from usrsvcmod: every layer may use it.
"""

import os


def write(path, data, mode=0o600):
    """Replace ``path`` with ``data`` (bytes) atomically; raises OSError."""
    directory = os.path.dirname(path) or "."
    temp = os.path.join(directory, ".%s.%s.tmp" % (os.path.basename(path), os.urandom(6).hex()))
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.rename(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
