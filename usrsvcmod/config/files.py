"""Reading one config file: opened so that nobody can swap it (then checked as opened),
bytes -> text -> configobj, every failure a reported problem."""

import errno
import os
import stat

from ..errors import ConfigError, UnsafePathError
from . import safety, spec

class ParsedFile:
    """One parsed config file, with a lazily built raw (comma-preserving) view."""

    def __init__(self, path, lines, parsed):
        self.path = path
        self.lines = lines
        self.parsed = parsed
        self.context = spec.Context(path)
        self._raw = None

    def raw(self, section_path, key):
        """The value as written, for a key configobj split at commas."""
        if self._raw is None:
            from configobj import ConfigObj

            self._raw = ConfigObj(self.lines, list_values=False, interpolation=False)
        node = self._raw
        for name in section_path:
            node = node[name]
        return _strip_value(node[key])


def _strip_value(text):
    """Drop an inline ``# comment`` and one pair of surrounding quotes."""
    text = text.strip()
    if text[:1] in ("'", '"'):
        end = text.find(text[0], 1)
        if end > 0 and not text[end + 1:].strip().strip("#"):
            return text[1:end]
        if end > 0 and text[end + 1:].lstrip().startswith("#"):
            return text[1:end]
    for marker in (" #", "\t#"):
        cut = text.find(marker)
        if cut >= 0:
            text = text[:cut]
    return text.rstrip()


def _parse_unsplit(lines):
    """The file parsed without list values, each value unquoted, or None.

    configobj's list syntax rejects some commas in a value that is not meant
    as a list (``awk -F, '{print $1}'``, ``a,,b``); such a file still loads.
    """
    from configobj import ConfigObj, ConfigObjError

    try:
        parsed = ConfigObj(lines, list_values=False, interpolation=False)
    except (ConfigObjError, ValueError, TypeError, IndexError, KeyError, RecursionError):
        return None
    parsed.walk(lambda section, key: section.__setitem__(key, _strip_value(section[key])))
    return parsed


OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # a FIFO must not hang
KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
         (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def _checked(fd, path, real, regular):
    """``fd`` once what it is open on (fstat: not a name someone could swap) passes.

    ``real``: the path opened, named too when ``path`` led there through a symlink.
    """
    try:
        st = os.fstat(fd)
        where = "" if real == path else " (%s, reached through a symlink)" % real
        if regular and not stat.S_ISREG(st.st_mode):
            found = next((name for test, name in KINDS if test(st.st_mode)), "not a regular file")
            raise ConfigError("%s: expected a regular config file, found %s%s"
                              % (path, found, where))
        why = safety.problem(real, st)
        if why:
            raise UnsafePathError(["%s: refused: %s" % (path, why)])
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_file(path, dir_fd=None):
    """A read-only fd on config file ``path``, checked after it is open.

    Stat-then-open by name lets someone who can write a directory on the way
    swap the file in between (renameat2 RENAME_EXCHANGE); so: every directory
    to it is checked first (safety.resolve), the real path is opened without
    following a last symlink, and the open file is what gets checked.
    ``dir_fd``: an open, checked config_dir holding ``path``'s last component,
    opened relative to it; a symlink there is followed like a main file's.
    Raises ConfigError (UnsafePathError) or OSError.
    """
    if dir_fd is not None:
        try:
            fd = os.open(os.path.basename(path), OPEN_FLAGS, dir_fd=dir_fd)
            return _checked(fd, path, path, True)
        except OSError as err:
            if err.errno != errno.ELOOP:
                raise
    real = safety.resolve(path)
    return _checked(os.open(real, OPEN_FLAGS), path, real, True)


def open_dir(path):
    """A read-only fd on directory ``path`` (config_dir), checked like open_file()."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    real = safety.resolve(path)
    return _checked(os.open(real, flags), path, real, False)


def read(path, report, dir_fd=None):
    """Parse one file; on any problem report it (naming the file) and return None.

    ``dir_fd``: see open_file().
    """
    try:
        with os.fdopen(open_file(path, dir_fd), "rb") as handle:
            data = handle.read()
    except ConfigError as err:
        for line in err.problems:
            report.error(line)
        return None
    except OSError as err:
        report.error("%s: cannot read config file: %s" % (path, err.strerror or err))
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        report.error("%s: not UTF-8 text (bad byte at offset %d); is this a config file?"
                     % (path, err.start))
        return None
    if "\0" in text:
        report.error("%s: contains NUL bytes; is this a config file?" % path)
        return None
    lines = text.splitlines()
    from configobj import ConfigObj, ConfigObjError

    try:
        parsed = ConfigObj(lines, interpolation=False)
    except ConfigObjError as err:
        parsed = _parse_unsplit(lines)
        if parsed is not None:
            return ParsedFile(path, lines, parsed)
        for item in getattr(err, "errors", None) or [err]:
            line = getattr(item, "line_number", None)
            where = "line %s: " % line if line else ""
            report.error("%s: %s%s" % (path, where, getattr(item, "msg", str(item))))
        return None
    except (ValueError, TypeError, IndexError, KeyError, RecursionError) as err:
        report.error("%s: cannot parse: %s" % (path, err))
        return None
    return ParsedFile(path, lines, parsed)
