"""[[Requires]] and type = oneshot: the graph rules (deps.py) and the config errors."""

import pytest

from usrsvcmod.config import deps
from usrsvcmod.config import load
from usrsvcmod.errors import ConfigError


class P:
    """The fields deps.py reads from a Program."""

    def __init__(self, name, requires=(), oneshot=False, enabled=True):
        self.name, self.requires, self.oneshot, self.enabled = name, tuple(requires), oneshot, enabled
        self.success_seconds = 2.0


def graph(*programs):
    return {p.name: p for p in programs}


CHAIN = graph(P("web", [("migrate", "done"), ("db", "ready")]),
              P("migrate", [("db", "started")], oneshot=True), P("db"), P("other"))


def test_levels_put_requirements_first_and_keep_the_config_order_within_a_level():
    assert deps.levels(CHAIN, {"web", "migrate", "db", "other"}) == [
        ["db", "other"], ["migrate"], ["web"]]
    assert deps.stop_levels(CHAIN, {"web", "migrate", "db"}) == [["web"], ["migrate"], ["db"]]


def test_closure_and_dependents():
    assert deps.closure(CHAIN, ["web"]) == {"web", "migrate", "db"}
    assert deps.closure(CHAIN, ["db"]) == {"db"}
    assert deps.dependents(CHAIN, "db") == ["web", "migrate"]
    assert deps.dependents(CHAIN, "db", transitive=False) == ["web", "migrate"]
    assert deps.dependents(CHAIN, "migrate") == ["web"]


def test_conditions():
    down, up = deps.Facts(), deps.Facts(running=True, ready=True)
    starting = deps.Facts(running=True, ready=False)
    assert not deps.holds("started", down) and deps.holds("started", starting)
    assert not deps.holds("ready", starting) and deps.holds("ready", up)
    assert deps.holds("done", deps.Facts(result=0))
    assert not deps.holds("done", deps.Facts(result=3))
    assert deps.hopeless("done", deps.Facts(result=3))
    assert not deps.hopeless("done", deps.Facts())
    assert deps.holds("exited", deps.Facts(result=3)) and not deps.holds("exited", down)


def test_problems_name_each_one():
    bad = graph(P("a", [("b", "started")]), P("b", [("c", "started")]), P("c", [("a", "ready")]),
                P("d", [("dbb", "started"), ("e", "done"), ("off", "started")]), P("e"),
                P("off", enabled=False), P("db"))
    errors, _ = deps.problems(bad)
    texts = [(name, key, text) for name, key, text in errors]
    assert ("a", "b", "requirements form a cycle: a -> b -> c -> a; remove one of them") in texts
    assert any(n == "d" and k == "dbb" and "did you mean 'db'" in t for n, k, t in texts)
    assert any(n == "d" and k == "e" and "'done' applies to a oneshot" in t for n, k, t in texts)
    assert any(n == "d" and k == "off" and "is disabled" in t for n, k, t in texts)
    assert len([t for _, _, t in texts if "cycle" in t]) == 1


def test_ready_without_readiness_is_a_warning():
    errors, warnings = deps.problems(CHAIN)
    assert errors == []
    assert [(n, k) for n, k, _ in warnings] == [("web", "db")]
    assert "success_seconds (2s)" in warnings[0][2]
    _, warnings = deps.problems(CHAIN, lambda program: object())
    assert warnings == []


def _write(tmp_path, text):
    path = tmp_path / "usrsvc.cfg"
    path.write_text(text)
    path.chmod(0o644)
    return str(path)


def _program(name, extra="", pidfile=True):
    text = "[Program:%s]\ncommand = /bin/true %s\nstdout = /tmp/never-used/%s.log\n" % (
        name, name, name)
    if pidfile:
        text += "pidfile = /tmp/never-used/%s.pid\n" % name
    return text + extra


def test_a_oneshot_needs_no_pidfile_and_requires_load(tmp_path):
    path = _write(tmp_path, _program("db") + _program("migrate", "type = oneshot\ntimeout = 60\n"
                                                      "[[Requires]]\ndb = started\n", False)
                  + _program("web", "[[Requires]]\nmigrate = done\ndb = started\n"))
    config = load(path)
    migrate = config.programs["migrate"]
    assert migrate.oneshot and migrate.pidfile is None and migrate.timeout == 60.0
    assert config.programs["web"].requires == (("migrate", "done"), ("db", "started"))
    assert config.programs["db"].type == "service" and config.programs["db"].requires == ()


def test_a_service_still_needs_its_pidfile(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(_write(tmp_path, _program("web", pidfile=False)))
    assert "missing required key 'pidfile'" in str(caught.value.problems)


@pytest.mark.parametrize("extra, expected", [
    ("[[Requires]]\ndbb = started\n", "[Program:web][[Requires]] dbb: no program named 'dbb';"
                                      " did you mean 'db'?"),
    ("[[Requires]]\ndb = done\n", "[Program:web][[Requires]] db: 'done' applies to a oneshot"),
    ("[[Requires]]\ndb = running\n", "[Program:web][Requires] db = 'running': expected one of:"
                                     " started, ready, done, exited"),
    ("[[Requires]]\noff = started\n", "[Program:web][[Requires]] off: [Program:off] is disabled"),
])
def test_bad_requirements_are_config_errors_naming_file_section_and_key(tmp_path, extra, expected):
    path = _write(tmp_path, _program("db") + _program("off", "enabled = False\n")
                  + _program("web", extra))
    with pytest.raises(ConfigError) as caught:
        load(path)
    problems = "\n".join(caught.value.problems)
    assert path in problems and expected in problems, problems


def test_a_cycle_is_named(tmp_path):
    path = _write(tmp_path, _program("a", "[[Requires]]\nb = started\n")
                  + _program("b", "[[Requires]]\na = started\n"))
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert "requirements form a cycle: a -> b -> a" in "\n".join(caught.value.problems)


def test_requires_merge_from_defaultsettings_key_by_key(tmp_path):
    path = _write(tmp_path, "[DefaultSettings:app]\n[[Requires]]\ndb = started\nmq = started\n"
                  + _program("db") + _program("mq") + _program("cache")
                  + _program("web", "defaults = app\n[[Requires]]\nmq = ready\ncache = started\n"))
    web = load(path).programs["web"]
    assert dict(web.requires) == {"db": "started", "mq": "ready", "cache": "started"}
