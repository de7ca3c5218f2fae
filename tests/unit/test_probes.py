"""[[Readiness]] / [[Liveness]]: config parsing and the pure probe loop."""

import socket

import pytest

from test_config import files, load_error, program_text  # noqa: F401 (fixture)
from usrsvcmod.config import load, spec
from usrsvcmod.config.model import Probe
from usrsvcmod.proc import probes


def test_readiness_and_liveness_are_read_with_units_and_defaults(files):  # noqa: F811
    text = program_text(**{"defaults": "d"}) + (
        "[[Readiness]]\nhttp = http://127.0.0.1:8000/health\nhttp_status = 200, 204\n"
        "timeout = 1m30s\ninterval = 500ms\n[[Liveness]]\ntcp = 127.0.0.1:8000\n") + \
        "[DefaultSettings:d]\n[[Monitoring]]\nmonitor_after = 7\n" \
        "[[Liveness]]\nexec = true\nfailures = 5\n"
    program = load(files.write("main.cfg", text)).programs["p"]
    ready, live = program.readiness, program.liveness
    assert (ready.kind, ready.http_status, ready.timeout, ready.interval) == (
        "http", ((200, 200), (204, 204)), 90.0, 0.5)
    assert ready.probe_timeout == 2.0
    # the program's own kind replaces the inherited one; other keys merge
    assert (live.kind, live.target, live.failures, live.interval) == ("tcp", "127.0.0.1:8000",
                                                                      5, 10.0)
    assert live.after == 7.0  # default: monitor_after


def test_without_sections_nothing_changes(files):  # noqa: F811
    program = load(files.write("main.cfg", program_text())).programs["p"]
    assert program.readiness is None and program.liveness is None


@pytest.mark.parametrize("body, words", [
    ("[[Readiness]]\ntcp = 127.0.0.1:1\nexec = true\n", "sets 'exec' and 'tcp'"),
    ("[[Readiness]]\ninterval = 1\n", "names no probe; set one of: tcp, http"),
    ("[[Readiness]]\ntcp = localhost\n", "expected HOST:PORT"),
    ("[[Readiness]]\nhttp = ftp://x/\n", "expected an http:// or https:// URL"),
    ("[[Readiness]]\nhttp = http://x/\nhttp_status = 700\n", "expected HTTP statuses"),
    ("[[Readiness]]\ntcp = 127.0.0.1:1\nhttp_status = 200\n", "only for an http probe"),
    ("[[Readiness]]\ntcp = 127.0.0.1:1\ntimeout = 5 parsecs\n", "expected a duration"),
    ("[[Liveness]]\nnotify = yes\n", "unknown key 'notify'"),
    ("[[Readiness]]\nlog = (\n", "expected a valid regular expression"),
    ("[[Readines]]\ntcp = 127.0.0.1:1\n", "did you mean 'Readiness'"),
])
def test_bad_probe_sections_are_errors_naming_file_section_and_key(files, body, words):  # noqa: F811
    path = files.write("main.cfg", program_text() + body)
    problems = load_error(path).problems
    assert any(words in p and path in p and "[Program:p]" in p for p in problems), problems


def test_two_kinds_in_a_default_section_are_an_error_too(files):  # noqa: F811
    text = program_text(defaults="d") + "[DefaultSettings:d]\n[[Liveness]]\ntcp = h:1\nfile = /x\n"
    path = files.write("main.cfg", text)
    assert any("[DefaultSettings:d][[Liveness]] sets 'file' and 'tcp'" in p
               for p in load_error(path).problems)


def test_durations_and_statuses():
    convert = spec.duration()
    assert convert("30s") == 30 and convert("5m") == 300 and convert("1h30m") == 5400
    assert convert("250ms") == 0.25 and convert("2.5") == 2.5
    for bad in ("", "s", "5x", "-1", "1h 30", "nan"):
        with pytest.raises(ValueError):
            convert(bad)
    assert spec.http_statuses("2xx, 304") == ((200, 299), (304, 304))


def _probe(kind, target, **values):
    fields = dict(section="Readiness", kind=kind, target=target, http_status=((200, 399),),
                  interval=0.5, probe_timeout=1.0, timeout=3.0, failures=0, after=0.0)
    fields.update(values)
    return Probe(**fields)


def test_wait_ready_quotes_the_last_error_at_the_deadline(monkeypatch):
    clock = [0.0]
    answers = iter([(False, "first"), (False, "connection refused on h:1")] * 10)
    monkeypatch.setattr(probes, "bounded", lambda probe, target: next(answers))
    target = probes.ProbeTarget(None, 42, 0.0)
    why = probes.wait_ready(_probe("tcp", "h:1"), target, 3.0, lambda: True,
                            clock=lambda: clock[0],
                            sleep=lambda s: clock.__setitem__(0, clock[0] + s))
    assert why.startswith("not ready: ") and why.endswith("after 3s")


def test_wait_ready_stops_at_the_process_death_and_passes_when_ok(monkeypatch):
    monkeypatch.setattr(probes, "bounded", lambda probe, target: (False, "refused"))
    lives = iter([True, False])
    why = probes.wait_ready(_probe("tcp", "h:1"), probes.ProbeTarget(None, 42, 0.0), 1e9,
                            lambda: next(lives), sleep=lambda s: None)
    assert why == "pid 42 exited before it was ready (last probe: refused)"
    monkeypatch.setattr(probes, "bounded", lambda probe, target: (True, None))
    assert probes.wait_ready(_probe("tcp", "h:1"), probes.ProbeTarget(None, 42, 0.0), 1e9,
                             lambda: True) is None


def test_tcp_probe_against_a_real_listener_and_a_closed_port():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert probes.run(_probe("tcp", "127.0.0.1:%d" % port), None) == (True, None)
    ok, error = probes.run(_probe("tcp", "127.0.0.1:%d" % port), None)
    assert not ok and error == "connection refused on 127.0.0.1:%d" % port
