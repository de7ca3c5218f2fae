"""Reading one config file: bytes -> text -> configobj, every failure a reported problem."""

import os

from ..errors import ConfigError
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


def read(path, report):
    """Parse one file; on any problem report it (naming the file) and return None."""
    try:
        st = os.stat(path)
        if not os.path.isfile(path):
            report.error("%s: expected a regular config file" % path)
            return None
        safety.check(path, st)
        with open(path, "rb") as handle:
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
