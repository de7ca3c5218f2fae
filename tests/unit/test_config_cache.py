"""The CLI's config cache: used while every stamp matches, never when stale or unsafe."""

import os

import pytest

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
    return cache.cached(str(cfg), only, cache_dir=_dir(cfg))


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
    assert cache._read(str(cfg), path) is None
    os.chmod(path, 0o600)
    assert cache._read(str(cfg), path) is not None


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
                if node.module is None:  # from .. import atomic: a leaf, below every layer
                    assert [alias.name for alias in node.names] == ["atomic"], path.name
    atomic = pathlib.Path(package.__file__).parent.parent / "atomic.py"
    for node in ast.walk(ast.parse(atomic.read_text())):
        assert not isinstance(node, ast.ImportFrom), "atomic.py must import nothing of usrsvcmod"
