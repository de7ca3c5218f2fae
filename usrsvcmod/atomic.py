"""The one atomic file write: a temp file of an unpredictable name, then rename.

The temp file is created with O_EXCL|O_NOFOLLOW beside the target, so
nothing planted in advance (a symlink, a file of that name) is written
through or reused, and rename() replaces a symlink at the target instead
of following it. A reader sees the old file or the new one, never half.
With ``dir_fd``, ``path`` is a name relative to that (held, checked)
directory, and nothing is looked up by its path again.
Imports nothing from usrsvcmod: every layer may use it.
"""

import os


def write(path, data, mode=0o600, dir_fd=None):
    """Replace ``path`` with ``data`` (bytes) atomically; raises OSError."""
    directory, base = os.path.split(path)
    temp = os.path.join(directory, ".%s.%s.tmp" % (base, os.urandom(6).hex()))
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode,
                 dir_fd=dir_fd)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.rename(temp, path, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(temp, dir_fd=dir_fd)
        except OSError:
            pass
        raise
