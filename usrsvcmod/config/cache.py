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

The file is indexed (see ``indexed.py``), so ``usrsvc status NAME`` of one
program among ten thousand reads the head (the stamps and the rest below),
one bucket of the index and that program's blob, never the whole file. A
program's blob holds its fields and its launch digests, worked out once
here, not by every ``status all``.

A cache is a hint, never a source of errors: a blob that is not exactly
what this version of usrsvc, on this Python, writes (another version's
fields, another marshal format, a truncated or garbled file) is "no
cache", so the next run parses and writes a good one. Hence the header
(format, package and Python versions) and the shape check of every
decoded value below.
"""

import marshal
import os
import sys

from .. import __version__, indexed
from . import main_config_path
from .model import Config, Hooks, Main, Monitoring, Probe, Program

VERSION = 7
NAME = "config.cache"
RACY = 2.0  # seconds: files modified more recently than this are not cached
# what this usrsvc on this Python writes: anything else is another format
HEADER = ("usrsvc config cache", VERSION, __version__, tuple(sys.version_info[:2]),
          marshal.version)
# marshal raises these on a blob it cannot decode (truncated, another format)
_UNDECODABLE = (EOFError, ValueError, TypeError, OverflowError)


def _kinds(*kinds):
    def check(value):
        return type(value) in kinds

    check.kinds = frozenset(kinds)  # what _fits tests inline
    return check


def _tuple_of(check):
    return lambda value: type(value) is tuple and all(check(item) for item in value)


_STR = _kinds(str)
_OPT_STR = _kinds(str, type(None))
_BOOL = _kinds(bool)
_INT = _kinds(int)
_OPT_INT = _kinds(int, type(None))
_SECONDS = _kinds(float)
_STRS = _tuple_of(_STR)
_ENV = _tuple_of(lambda item: type(item) is tuple and len(item) == 2
                 and _STR(item[0]) and _STR(item[1]))
MONITORING_SHAPE = {"monitor_after": _SECONDS, "rss_limit": _INT, "activityfile": _OPT_STR,
                    "activityfile_limit": _SECONDS, "rss_scope": _STR}
HOOKS_SHAPE = {"pre_start": _OPT_STR, "post_start": _OPT_STR, "pre_stop": _OPT_STR,
               "post_stop": _OPT_STR, "timeout": _SECONDS}
PROBE_SHAPE = {"section": _STR, "kind": _STR, "target": _STR,
               "http_status": _tuple_of(lambda r: type(r) is tuple and len(r) == 2
                                        and all(map(_INT, r))),
               "interval": _SECONDS, "probe_timeout": _SECONDS, "timeout": _SECONDS,
               "failures": _INT, "after": _SECONDS}
def _shaped(record, shape):
    """A check that ``value`` fits ``shape`` (its checks compiled at first use)."""
    compiled = []

    def check(value):
        if not compiled:
            compiled.append(_compiled(record, shape))
        return _fits(value, record, shape, compiled[0])

    return check


_PROBE_FITS = _shaped(Probe, PROBE_SHAPE)
_OPT_PROBE = lambda value: value is None or _PROBE_FITS(value)  # noqa: E731
# the type of every field as the loader makes it (a test keeps these tables
# in step with the model's slots)
PROGRAM_SHAPE = {
    "name": _STR, "command": _STR, "argv": _STRS, "useshell": _BOOL, "pidfile": _OPT_STR,
    "stdout": _STR, "stderr": _OPT_STR, "enabled": _BOOL, "autopid": _BOOL,
    "scan_for_process": _BOOL, "proctitle_re": _STR, "autostart": _BOOL,
    "autorestart": _BOOL, "maxrestarts": _INT, "restart_delay": _SECONDS,
    "restart_delay_max": _SECONDS, "success_seconds": _SECONDS,
    "term_to_kill_seconds": _SECONDS, "inherit_env": _BOOL, "email_alerts": _STRS,
    "directory": _STR, "umask": _OPT_INT, "stop_signal": _INT, "kill_descendants": _BOOL,
    "stdout_maxbytes": _INT, "stdout_backups": _INT, "stderr_maxbytes": _INT,
    "stderr_backups": _INT,
    "env": _ENV, "monitoring": _shaped(Monitoring, MONITORING_SHAPE),
    "source": _STR, "title_suffix": _OPT_STR, "proctitle_risky": _BOOL,
    "reload_signal": _INT, "group": _OPT_STR, "logger": _OPT_STR,
    "restart_every": _SECONDS, "hooks": _shaped(Hooks, HOOKS_SHAPE),
    "readiness": _OPT_PROBE, "liveness": _OPT_PROBE,
    "type": _STR, "timeout": _SECONDS, "requires": _ENV,
    "env_file": _STRS, "env_pass": _STRS,
    "env_command": lambda value: value is None or (
        type(value) is tuple and len(value) == 2 and _STR(value[0]) and _SECONDS(value[1])),
}
MAIN_SHAPE = {
    "path": _STR, "config_dir": _OPT_STR, "pidfile": _OPT_STR, "usrsvcd_stdout": _OPT_STR,
    "usrsvcd_stderr": _OPT_STR, "sendmail_path": _STR, "log_format": _STR,
    "reconcile_interval": _SECONDS, "monitor_interval": _SECONDS, "alert_interval": _SECONDS,
    "alert_timeout": _SECONDS, "smtp_host": _OPT_STR, "smtp_port": _INT,
    "smtp_security": _STR, "smtp_user": _OPT_STR, "smtp_password_file": _OPT_STR,
    "email_from": _OPT_STR, "restart_on_change": _BOOL, "usrsvcd_log_maxbytes": _INT,
    "http_listen": _OPT_STR, "http_token_file": _OPT_STR, "http_password_hash": _OPT_STR,
    "http_allow_remote": _BOOL, "http_tls_cert": _OPT_STR, "http_tls_key": _OPT_STR,
    "ready_file": _OPT_STR,
}


def _stamp_shape(item):
    """(path, inode, size, mtime_ns, uid, mode): see _stamp()."""
    return type(item) is tuple and len(item) == 6 and _STR(item[0]) and all(map(_INT, item[1:]))


def _env_shape(item):
    return type(item) is tuple and len(item) == 2 and _STR(item[0]) and _OPT_STR(item[1])


def _compiled(record, shape):
    """The slot-order checks of ``shape``: a set of types for a plain field (one
    ``in`` test), else its check."""
    return tuple(getattr(shape[name], "kinds", shape[name]) for name in record.__slots__)


def _fits(values, record, shape, checks=None):
    """Whether ``values`` (a tuple in ``record``'s slot order) has ``shape``."""
    if type(values) is not tuple or len(values) != len(record.__slots__):
        return False
    for value, check in zip(values, checks or _compiled(record, shape)):
        if not (type(value) in check if type(check) is frozenset else check(value)):
            return False
    return True


def _list_of(value, check):
    return type(value) is list and all(check(item) for item in value)


_PROGRAM_CHECKS = _compiled(Program, PROGRAM_SHAPE)
PAYLOAD_SHAPE = {
    "main": lambda value: _fits(value, Main, MAIN_SHAPE),
    "files": _STRS, "warnings": _STRS, "env_used": _STRS,
    "stamps": lambda value: _list_of(value, _stamp_shape) and bool(value),
    "env": lambda value: _list_of(value, _env_shape),
}


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


def _records(config, digests=None):
    """Plain data for marshal, and each program's blob: (fields, launch digests).
    ``digests(program)``: the store's (usrsvc: proc.record's), a dict of strings,
    or None (none, or they depend on more than the config: an env file's content)."""
    blobs = []
    for program in config.programs.values():
        values = [getattr(program, name) for name in Program.__slots__]
        values[Program.__slots__.index("monitoring")] = tuple(
            getattr(program.monitoring, n) for n in Monitoring.__slots__)
        values[Program.__slots__.index("hooks")] = program.hooks._values()
        for field in ("readiness", "liveness"):
            probe = getattr(program, field)
            values[Program.__slots__.index(field)] = None if probe is None else probe._values()
        known = digests(program) if digests is not None else None
        blobs.append((program.name, marshal.dumps((tuple(values), known))))
    return blobs, {
        "main": tuple(getattr(config.main, name) for name in Main.__slots__),
        "files": config.files,
        "warnings": config.warnings,
        "env_used": config.env_used,
    }


_MONITORING = Program.__slots__.index("monitoring")
_HOOKS = Program.__slots__.index("hooks")
_PROBES = (Program.__slots__.index("readiness"), Program.__slots__.index("liveness"))


def _program(name, blob):
    """(the Program in ``blob``, its launch digests or None), or None when it is
    not one this version wrote."""
    try:
        values, known = marshal.loads(blob)
    except _UNDECODABLE:
        return None
    if not _fits(values, Program, PROGRAM_SHAPE, _PROGRAM_CHECKS) or values[0] != name:
        return None
    if known is not None and not (type(known) is dict and all(map(_STR, known))
                                  and all(map(_STR, known.values()))):
        return None
    values = list(values)
    values[_MONITORING] = Monitoring._from_values(values[_MONITORING])
    values[_HOOKS] = Hooks._from_values(values[_HOOKS])
    for at in _PROBES:
        if values[at] is not None:
            values[at] = Probe._from_values(values[at])
    return Program._from_values(values), known


def _decode(data):
    """The payload of a cache head, or None unless it is exactly what _write makes."""
    if type(data) is not tuple or len(data) != 2 or data[0] != HEADER:
        return None
    payload = data[1]
    if type(payload) is not dict or set(payload) != set(PAYLOAD_SHAPE):
        return None
    if not all(check(payload[key]) for key, check in PAYLOAD_SHAPE.items()):
        return None
    return payload


def _fresh(path, data):
    """Whether the cache was made from ``path`` and nothing it was made from changed."""
    if data["stamps"][0][0] != path or data["main"][0] != path:
        return False
    for stamp in data["stamps"]:
        if _stamp(stamp[0]) != stamp:
            return False
    return data["env"] == [(name, os.environ.get(name)) for name, _ in data["env"]]


def _source(store, whole):
    """(read(offset, length), size, close()) of the cache file, or None. A store
    with ``open_own`` (RuntimeState) gives a descriptor to read parts of (all
    of it at once when ``whole``); else ``read(name)`` gives the bytes."""
    import os

    opener = getattr(store, "open_own", None)
    if opener is None:
        data = store.read(NAME)
        if data is None:
            return None
        return (lambda offset, length: data[offset:offset + length]), len(data), (lambda: None)
    got = opener(NAME)
    if got is None:
        return None
    fd, size = got
    if whole:
        try:
            data = os.pread(fd, size, 0)
        finally:
            os.close(fd)
        return (lambda offset, length: data[offset:offset + length]), len(data), (lambda: None)
    return (lambda offset, length: os.pread(fd, length, offset)), size, (lambda: os.close(fd))


def _read(path, store, only=None):
    """The cached Config, or None when absent, unreadable, stale or not of this version."""
    try:
        source = _source(store, only is None)
    except (OSError, ValueError):  # ValueError: a path with a NUL byte
        return None
    if source is None:
        return None
    read, size, close = source
    try:
        return _load(path, indexed.Reader(read, size), only)
    except (OSError, ValueError):
        return None
    finally:
        close()


def _load(path, reader, only):
    data = _decode(reader.head)
    if data is None or not _fresh(path, data):
        return None
    if only is None:
        blobs = reader.items()
    else:
        names = reader.names() if len(only) > indexed.PER_BUCKET else None
        blobs = [(name, reader.blob(name)) for name in (names or sorted(only))
                 if names is None or name in only]
    if blobs is None:
        return None
    programs, digests = {}, {}
    for name, blob in blobs:
        if blob is None:
            if only is None:
                return None  # indexed but unreadable
            continue  # not a program of this config (select_programs says so)
        got = _program(name, blob)
        if got is None:
            return None
        programs[name], known = got
        if known is not None:
            digests[name] = known
    if only is not None:  # in the order of the config, as a parse gives them
        order = {name: i for i, name in enumerate(reader.names() or ())} \
            if len(programs) > 1 else {}
        programs = dict(sorted(programs.items(), key=lambda item: order.get(item[0], 0)))
    return Config(main=Main(**dict(zip(Main.__slots__, data["main"]))), programs=programs,
                  files=data["files"], warnings=data["warnings"], env_used=data["env_used"],
                  digests=digests)


def _write(config, store):
    import time

    stamps = _stamps(config)
    if any(stamp[3] > (time.time() - RACY) * 1e9 for stamp in stamps):
        return  # mtimes are coarse: a file this fresh could change unseen (git's "racy" rule)
    blobs, data = _records(config, getattr(store, "digests", None))
    data["stamps"] = stamps
    data["env"] = _env(config)
    store.write(NAME, indexed.pack((HEADER, data), blobs))


def cached(path=None, only=None, store=None):
    """Like load(path, only), from ``store`` when every stamp still matches.

    ``store`` is the caller's private directory as an object with
    ``read(name)`` (bytes of a regular file of ours nobody else can write,
    else None) and ``write(name, data)`` (atomic): usrsvc's RuntimeState,
    which reaches the file relative to the directory it checked and holds.
    Without one, this is a plain load.
    """
    from ..errors import UsrsvcError

    path = main_config_path(path)
    if store is not None:
        config = _read(path, store, only)
        if config is not None:
            return config
    from .loader import load_partial

    # with ``only``, only the named programs must be valid: a problem elsewhere is one
    # warning, and such a partial Config is never cached
    config, skipped = load_partial(path, only)
    if store is not None and not skipped:
        try:
            _write(config, store)
        except (OSError, UsrsvcError, ValueError):
            pass  # no cache, no harm: the next run parses again
    return config
