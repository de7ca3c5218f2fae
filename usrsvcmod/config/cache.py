"""A validated config, remembered between runs of ``usrsvc``.

Importing the parser (configobj, and ``re`` under it) costs more than the
rest of ``usrsvc status NAME`` together. So after a full load the tool
stores the validated result (plain data, ``marshal``) in a private
directory its caller names (usrsvc: the runtime state directory), stamped
with what it was made from: every file's
inode, size, mtime, owner and mode, the config_dir's listing stamp and the
environment variables its paths used. The next run checks those stamps
(one ``stat`` per file) and rebuilds the objects without parsing; any
difference means a full load. Only ``usrsvc`` uses it; the daemon and
``checkconfig`` always parse.
"""

import marshal
import os

from . import main_config_path
from .model import Config, Main, Monitoring, Program

VERSION = 4
NAME = "config.cache"
RACY = 2.0  # seconds: files modified more recently than this are not cached


def _stamp(path):
    st = os.stat(path)
    return (path, st.st_ino, st.st_size, st.st_mtime_ns, st.st_uid, st.st_mode)


def _stamps(config):
    stamps = [_stamp(path) for path in config.files]
    if config.main.config_dir:
        stamps.append(_stamp(config.main.config_dir))  # a file added or removed
    return stamps


def _env(config):
    names = ("HOME",) + tuple(config.env_used)
    return [(name, os.environ.get(name)) for name in names]


def _records(config):
    """Plain data for marshal. Each program is its own marshal blob, so a run
    that needs one program of thousands unpacks one (bytes load in no time)."""
    programs = []
    for program in config.programs.values():
        values = [getattr(program, name) for name in Program.__slots__]
        values[Program.__slots__.index("monitoring")] = tuple(
            getattr(program.monitoring, n) for n in Monitoring.__slots__)
        programs.append((program.name, marshal.dumps(tuple(values))))
    return {
        "version": VERSION,
        "main": tuple(getattr(config.main, name) for name in Main.__slots__),
        "programs": programs,
        "files": config.files,
        "warnings": config.warnings,
        "env_used": config.env_used,
    }


def _program(blob):
    values = dict(zip(Program.__slots__, marshal.loads(blob)))
    values["monitoring"] = Monitoring(**dict(zip(Monitoring.__slots__, values["monitoring"])))
    return Program(**values)


def _read(path, cache_file, only=None):
    """The cached Config, or None when absent, unreadable or stale."""
    try:
        from .safety import is_private_dir

        if not is_private_dir(os.path.dirname(cache_file)):
            return None
        fd = os.open(cache_file, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            st = os.fstat(fd)
            if st.st_uid != os.geteuid() or st.st_mode & 0o077:
                return None
            data = marshal.load(handle)
        if data.get("version") != VERSION or data["stamps"][0][0] != path:
            return None
        for stamp in data["stamps"]:
            if _stamp(stamp[0]) != tuple(stamp):
                return None
        if [tuple(item) for item in data["env"]] != [(n, os.environ.get(n)) for n, _ in data["env"]]:
            return None
    except (OSError, EOFError, ValueError, TypeError, KeyError, IndexError):
        return None
    programs = {name: _program(blob) for name, blob in data["programs"]
                if only is None or name in only}
    return Config(main=Main(**dict(zip(Main.__slots__, data["main"]))), programs=programs,
                  files=data["files"], warnings=data["warnings"], env_used=data["env_used"])


def _write(config, cache_file):
    import time

    from .safety import private_dir

    stamps = _stamps(config)
    if any(stamp[3] > (time.time() - RACY) * 1e9 for stamp in stamps):
        return  # mtimes are coarse: a file this fresh could change unseen (git's "racy" rule)
    data = _records(config)
    data["stamps"] = stamps
    data["env"] = _env(config)
    directory = os.path.dirname(cache_file)
    private_dir(os.path.dirname(directory))
    private_dir(directory)
    from .. import atomic

    atomic.write(cache_file, marshal.dumps(data))


def cached(path=None, only=None, cache_dir=None):
    """Like load(path, only), from ``cache_dir`` when every stamp still matches.

    ``cache_dir`` is a private directory of the caller's (it and its parent
    are created 0700 when missing); without one, this is a plain load.
    """
    from ..errors import UsrsvcError

    path = main_config_path(path)
    cache_file = os.path.join(cache_dir, NAME) if cache_dir else None
    if cache_file:
        config = _read(path, cache_file, only)
        if config is not None:
            return config
    from .loader import load_partial

    # with ``only``, only the named programs must be valid: a problem elsewhere is one
    # warning, and such a partial Config is never cached
    config, skipped = load_partial(path, only)
    if cache_file and not skipped:
        try:
            _write(config, cache_file)
        except (OSError, UsrsvcError, ValueError):
            pass  # no cache, no harm: the next run parses again
    return config
