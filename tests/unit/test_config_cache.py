"""The CLI's config cache: used while every stamp matches, never when stale or unsafe."""

import os

import pytest

from conftest import DirStore

from usrsvcmod.config import cache, load

PROGRAM = "[Program:a]\ncommand = sleep %s\npidfile = %s/a.pid\nstdout = %s/a.log\n"


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "RACY", -10.0)  # the files here are seconds old at most
    (tmp_path / "state").mkdir(mode=0o700)
    cfg = tmp_path / "usrsvc.cfg"
    cfg.write_text("[Main]\nconfig_dir = d\n" + PROGRAM % (1, tmp_path, tmp_path))
    (tmp_path / "d").mkdir()
    return tmp_path, cfg


def cached(cfg, only=None):
    """The cache as usrsvc uses it: in a private directory the caller names."""
    return cache.cached(str(cfg), only, DirStore(_dir(cfg)))


def _dir(cfg):
    return os.path.join(os.path.dirname(str(cfg)), "state", "key")


def _file(cfg):
    return os.path.join(_dir(cfg), cache.NAME)


def test_second_load_comes_from_the_cache_and_equals_a_parse(setup, monkeypatch):
    tmp_path, cfg = setup
    first = cached(cfg)
    assert os.path.exists(_file(cfg))
    import usrsvcmod.config.loader as loader

    monkeypatch.setattr(loader, "load", lambda *a, **k: pytest.fail("parsed again"))
    second = cached(cfg)
    assert second.programs == first.programs and second.main == first.main


def test_an_edit_or_a_new_file_invalidates(setup):
    tmp_path, cfg = setup
    cached(cfg)
    cfg.write_text("[Main]\nconfig_dir = d\n" + PROGRAM % (22, tmp_path, tmp_path))
    assert cached(cfg).programs["a"].command == "sleep 22"
    (tmp_path / "d" / "b.cfg").write_text((PROGRAM % (3, tmp_path, tmp_path)).replace(":a]", ":b]"))
    assert set(cached(cfg).programs) == {"a", "b"}


def test_environment_used_by_paths_is_part_of_the_key(setup, monkeypatch):
    tmp_path, cfg = setup
    monkeypatch.setenv("LOGROOT", str(tmp_path / "one"))
    cfg.write_text("[Program:a]\ncommand = sleep 1\npidfile = $LOGROOT/a.pid\nstdout = x.log\n")
    assert cached(cfg).programs["a"].pidfile == str(tmp_path / "one" / "a.pid")
    monkeypatch.setenv("LOGROOT", str(tmp_path / "two"))
    assert cached(cfg).programs["a"].pidfile == str(tmp_path / "two" / "a.pid")


def test_a_cache_others_could_write_is_ignored(setup):
    tmp_path, cfg = setup
    cached(cfg)
    path = _file(cfg)
    os.chmod(path, 0o666)
    assert cache._read(str(cfg), DirStore(_dir(cfg))) is None
    os.chmod(path, 0o600)
    assert cache._read(str(cfg), DirStore(_dir(cfg))) is not None


def test_an_error_elsewhere_does_not_stop_the_named_program(setup):
    tmp_path, cfg = setup
    cfg.write_text(PROGRAM % (1, tmp_path, tmp_path) + "[Program:b]\ncommand = x\n")
    assert set(cached(cfg, {"a"}).programs) == {"a"}
    with pytest.raises(Exception):
        load(str(cfg))


def test_files_modified_just_now_are_not_cached(setup, monkeypatch):
    tmp_path, cfg = setup
    monkeypatch.setattr(cache, "RACY", 2.0)
    cached(cfg)
    assert not os.path.exists(_file(cfg))


def test_without_a_directory_nothing_is_cached(setup, monkeypatch):
    tmp_path, cfg = setup
    assert cache.cached(str(cfg)).programs["a"].command == "sleep 1"
    assert not os.path.exists(_dir(cfg))


def test_the_config_package_imports_nothing_above_it():
    import ast
    import pathlib

    import usrsvcmod.config as package

    for path in pathlib.Path(package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                assert node.module in ("errors", None), "%s imports ..%s" % (path.name, node.module)
                if node.module is None:  # from .. import atomic: a leaf, below every layer;
                    # __version__: the package's one line, what the cache is keyed by
                    assert [alias.name for alias in node.names] in (
                        ["atomic"], ["__version__"], ["__version__", "indexed"]), path.name
    for name in ("atomic.py", "indexed.py"):
        module = pathlib.Path(package.__file__).parent.parent / name
        for node in ast.walk(ast.parse(module.read_text())):
            assert not isinstance(node, ast.ImportFrom), "%s must import nothing of usrsvcmod" % name


# --- a cache of another shape is no cache ----------------------------------------------------

def _good(cfg):
    cached(cfg)
    with open(_file(cfg), "rb") as handle:
        return handle.read()


def _unpack(good):
    """(header, payload, [(name, program blob)]) of a cache file (see cache._write)."""
    from usrsvcmod import indexed

    reader = indexed.Reader(lambda offset, length: good[offset:offset + length], len(good))
    header, payload = reader.head
    return header, payload, reader.items()


def _pack(header, payload, blobs=()):
    """A cache file of ``header``, ``payload`` and ``blobs``."""
    from usrsvcmod import indexed

    return indexed.pack((header, payload), list(blobs))


def _retarget(good, **changes):
    """``good`` with its head's top tuple changed: bucket spans, order span, base."""
    import marshal

    length = int.from_bytes(good[:8], "little")
    head, count, spans, order, base = marshal.loads(good[8:8 + length])
    top = dict(head=head, count=count, spans=spans, order=order, base=base)
    top.update(changes)
    new = marshal.dumps(tuple(top.values()))
    return len(new).to_bytes(8, "little") + new + good[8 + length:]


def _hostile(good):
    """Blobs that are not what this version writes, each a way a cache goes wrong."""
    import marshal
    import sys

    header, payload, blobs = _unpack(good)
    name, blob = blobs[0]
    fields, known = marshal.loads(blob)
    older = dict(payload, version=4)  # what 2.0.0 wrote before the header
    other_python = (header[:3] + ((sys.version_info[0], sys.version_info[1] - 1),) + header[4:])
    argv_list = fields[:2] + (list(fields[2]),) + fields[3:]
    return {
        "a list": marshal.dumps([1, 2, 3]),
        "an older dict with wrong types": marshal.dumps({"version": 4, "main": {}, "programs": 7,
                                                         "stamps": "x", "env": None}),
        "an older version's dict": marshal.dumps(older),
        "the unindexed format of version 6": marshal.dumps((header, payload)),
        "a bucket past the end of the file": _retarget(good, spans=((0, 1 << 30),)),
        "a bucket that is garbage": _retarget(good, spans=((0, 3),)),
        "the names past the end of the file": _retarget(good, order=(0, 1 << 30)),
        "a base past the end of the file": _retarget(good, base=1 << 30),
        "a head whose base is not a number": _retarget(good, base=None),
        "a truncated blob": good[:len(good) // 2],
        "an empty file": b"",
        "not marshal at all": b"\x00\xffgarbage\x00",
        "a head longer than the file": (len(good) * 2).to_bytes(8, "little") + good[8:],
        "header only": _pack(header, {}, blobs),
        "header and a garbage payload": _pack(header, "garbage", blobs),
        "header and every value None": _pack(header, dict.fromkeys(payload), blobs),
        "header and a missing field": _pack(
            header, {k: v for k, v in payload.items() if k != "env"}, blobs),
        "header and an extra field": _pack(header, dict(payload, extra=1), blobs),
        "main as a dict": _pack(header, dict(payload, main=dict(enumerate(payload["main"]))),
                                blobs),
        "main of the wrong arity": _pack(header, dict(payload, main=payload["main"][:-1]), blobs),
        "a program of the wrong arity": _pack(header, payload,
                                              [(name, marshal.dumps((fields[:-1], known)))]),
        "a program with argv as a list": _pack(header, payload,
                                               [(name, marshal.dumps((argv_list, known)))]),
        "a program blob that is garbage": _pack(header, payload, [(name, b"\x01\x02")]),
        "a program blob without its digests": _pack(header, payload,
                                                    [(name, marshal.dumps(fields))]),
        "digests as a list": _pack(header, payload,
                                   [(name, marshal.dumps((fields, list(known or ()))))]),
        "a program under another name": _pack(header, payload, [("b", blob)]),
        "stamps as a dict": _pack(header, dict(payload, stamps={"a": 1}), blobs),
        "no stamps": _pack(header, dict(payload, stamps=[]), blobs),
        "a stamp path with a NUL": _pack(
            header, dict(payload, stamps=[("/x\0y", 1, 2, 3, 4, 5)]), blobs),
        "another package version": _pack((header[0], header[1], "0.0.1") + header[3:],
                                         payload, blobs),
        "another Python version": _pack(other_python, payload, blobs),
        "another cache format": _pack((header[0], header[1] - 1) + header[2:], payload, blobs),
    }


def test_every_blob_not_of_this_version_is_no_cache_and_is_replaced(setup):
    tmp_path, cfg = setup
    good = _good(cfg)
    expected = load(str(cfg))
    for what, blob in _hostile(good).items():
        with open(_file(cfg), "wb") as handle:
            handle.write(blob)
        assert cache._read(str(cfg), DirStore(_dir(cfg))) is None, what
        config = cached(cfg)
        assert config.programs == expected.programs and config.main == expected.main, what
        with open(_file(cfg), "rb") as handle:
            assert handle.read() == good, "%s: the next write replaces it" % what


def test_a_bad_program_blob_is_no_cache_even_when_only_it_is_asked_for(setup):
    import marshal

    tmp_path, cfg = setup
    header, payload, _ = _unpack(_good(cfg))
    with open(_file(cfg), "wb") as handle:
        handle.write(_pack(header, payload, [("a", marshal.dumps(((1, 2), None)))]))
    assert cache._read(str(cfg), DirStore(_dir(cfg)), {"a"}) is None
    assert cached(cfg, {"a"}).programs["a"].command == "sleep 1"


def test_the_header_names_this_package_and_this_python():
    import sys

    import usrsvcmod

    assert usrsvcmod.__version__ in cache.HEADER
    assert tuple(sys.version_info[:2]) in cache.HEADER


def test_the_shape_tables_cover_every_field_of_the_model():
    from usrsvcmod.config.model import Main, Monitoring, Program

    assert set(cache.PROGRAM_SHAPE) == set(Program.__slots__)
    assert set(cache.MAIN_SHAPE) == set(Main.__slots__)
    assert set(cache.MONITORING_SHAPE) == set(Monitoring.__slots__)


def test_a_config_with_every_key_set_fits_the_shape(tmp_path, monkeypatch):
    """What the loader makes with every key set (and with none) is what the cache accepts."""
    monkeypatch.setattr(cache, "RACY", -10.0)
    (tmp_path / "state").mkdir(mode=0o700)
    cfg = tmp_path / "usrsvc.cfg"
    cfg.write_text(
        "[Main]\nconfig_dir = d\npidfile = x.pid\nusrsvcd_stdout = d.log\nusrsvcd_stderr = e.log\n"
        "sendmail_path = /usr/sbin/sendmail\nlog_format = json\nreconcile_interval = 3\n"
        "monitor_interval = 2\nalert_interval = 1\nalert_timeout = 4\nsmtp_host = h\n"
        "smtp_port = 25\nsmtp_security = ssl\nsmtp_user = u\nsmtp_password_file = pw\n"
        "email_from = a@b\nrestart_on_change = yes\n"
        "[Program:full]\ncommand = sleep 5\npidfile = p\nstdout = o\nstderr = e\nuseshell = yes\n"
        "enabled = no\nautopid = no\nscan_for_process = no\nproctitle_re = ^sleep 5$\n"
        "autostart = no\nautorestart = no\nmaxrestarts = 3\nrestart_delay = 1\n"
        "restart_delay_max = 9\nsuccess_seconds = 1\nterm_to_kill_seconds = 2\n"
        "inherit_env = no\nemail_alerts = a@b, c@d\ndirectory = /\numask = 022\n"
        "stop_signal = INT\nkill_descendants = no\n[[Env]]\nA = 1\n[[Monitoring]]\n"
        "monitor_after = 1\nrss_limit = 5\nactivityfile = act\nactivityfile_limit = 7\n"
        "[Program:bare]\ncommand = sleep 6\npidfile = p2\nstdout = o2\n")
    (tmp_path / "d").mkdir()
    first = cached(cfg)
    assert cache._read(str(cfg), DirStore(_dir(cfg))) == first
