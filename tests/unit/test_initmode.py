"""Container init mode's pure parts: the implicit order of oneshot jobs, the
console records, and the check that refuses stdout = - elsewhere."""

import io
import json
import os
import types

import pytest

from usrsvcmod import initmode
from usrsvcmod.daemon import initmode as daemon_init
from usrsvcmod.daemon.console import MAX_LINE, Console
from usrsvcmod.daemon.log import EventLog
from usrsvcmod.errors import ConfigError


def program(name, oneshot=False, requires=(), enabled=True, autostart=True, stdout="/l",
            stderr=None):
    return types.SimpleNamespace(name=name, oneshot=oneshot, requires=tuple(requires),
                                 enabled=enabled, autostart=autostart, stdout=stdout,
                                 stderr=stderr, source="/c/usrsvc.cfg")


def config(*programs):
    return types.SimpleNamespace(programs={p.name: p for p in programs})


def test_jobs_run_one_after_the_other_and_services_after_them():
    got = daemon_init.implicit_requires(config(
        program("web"), program("migrate", oneshot=True), program("seed", oneshot=True)))
    assert got == {"seed": (("migrate", "done"),),
                   "web": (("migrate", "done"), ("seed", "done"))}


def test_a_job_that_requires_a_service_gets_it_first_without_a_cycle():
    got = daemon_init.implicit_requires(config(
        program("db"), program("migrate", oneshot=True, requires=[("db", "started")]),
        program("web", requires=[("migrate", "done")]), program("cache")))
    assert "db" not in got  # migrate requires db: db must not wait for migrate
    assert got["cache"] == (("migrate", "done"),)
    assert "web" not in got  # its own [[Requires]] says it already


def test_jobs_follow_requirements_before_config_order():
    got = daemon_init.implicit_requires(config(
        program("second", oneshot=True, requires=[("first", "done")]),
        program("first", oneshot=True)))
    assert got == {}  # second already waits for first; first never waits for second


def test_disabled_and_manual_jobs_are_not_waited_for():
    got = daemon_init.implicit_requires(config(
        program("web"), program("off", oneshot=True, enabled=False),
        program("manual", oneshot=True, autostart=False)))
    assert got == {}


def test_console_output_is_refused_outside_init_mode():
    with pytest.raises(ConfigError) as caught:
        initmode.refuse([program("ok"), program("web", stdout="-"),
                         program("api", stderr="-")])
    problems = caught.value.problems
    assert len(problems) == 2
    assert "[Program:web] stdout = -" in problems[0] and "usrsvcd --init" in problems[0]
    assert "[Program:api] stderr = -" in problems[1]
    initmode.refuse([program("ok")])  # nothing to say


def test_open_log_of_dash_without_init_is_a_config_error(tmp_path, monkeypatch):
    from usrsvcmod.proc import spawn

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(spawn, "console", None)
    with pytest.raises(ConfigError):
        spawn.open_log("-", program("web", stdout="-"), "stdout")
    assert not os.path.exists(tmp_path / "-")  # never a file named "-"


def _log(fmt):
    log = EventLog(fmt)
    log.out = log.err = io.StringIO()
    return log


def test_json_records_carry_program_stream_time_message():
    log = _log("json")
    log.output("web", "stderr", "bad \x1b[31mthing\"")
    record = json.loads(log.out.getvalue())
    assert set(record) == {"program", "stream", "time", "message"}
    assert record["program"] == "web" and record["stream"] == "stderr"
    assert record["message"] == "bad \x1b[31mthing\""  # JSON escapes it; kept exact
    assert record["time"].endswith("Z") and "T" in record["time"]


def test_text_records_are_name_bar_line_escaped():
    log = _log("text")
    log.output("web", "stdout", "hello \x1b[2J world")
    line = log.out.getvalue()
    assert line.startswith("web | hello ") and "\x1b" not in line and line.count("\n") == 1


def test_console_pipes_lines_and_cuts_long_ones():
    log = _log("json")
    console = Console(log)
    web = program("web", stdout="-")
    fd = console.writer(web, "stdout")
    again = console.writer(web, "stdout")  # a restart: the same pipe
    os.write(fd, b"one\r\ntw")
    os.write(again, b"o\n" + b"x" * (MAX_LINE + 5) + b"\nbad \xff byte\nno newline")
    os.close(fd)
    os.close(again)
    console.close()
    messages = [json.loads(line)["message"] for line in log.out.getvalue().splitlines()]
    assert messages == ["one", "two", "x" * MAX_LINE, "xxxxx", "bad \ufffd byte", "no newline"]
    assert len(console.readers) == 1
