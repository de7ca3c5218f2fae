"""usrsvc -H without a network: host lists, the ssh argv, quoting, rows from what
each host answered (fake runs), the exit code over hosts, the merged table."""

import json
import shlex
import threading

import pytest

from usrsvcmod import cli, remote
from usrsvcmod.errors import UsageError


def test_hosts_are_split_on_commas_in_order_each_once():
    assert remote.parse_hosts(["web1,deploy@web2", "web1", " db "]) == [
        "web1", "deploy@web2", "db"]


@pytest.mark.parametrize("value, says", [
    ("a,,b", "empty host"), ("-oProxyCommand=x", "cannot start with '-'"),
    ("user@-x", "cannot start with '-'"), ("a b", "spaces"), ("a\x1bb", "control"),
])
def test_a_bad_host_is_a_usage_error(value, says):
    with pytest.raises(UsageError) as caught:
        remote.parse_hosts([value])
    assert says in caught.value.message


def test_ssh_is_the_users_own_in_batch_mode_with_a_connect_timeout():
    argv = remote.ssh_argv({})
    assert argv[0] == "ssh" and "BatchMode=yes" in argv
    assert "ConnectTimeout=%d" % remote.CONNECT_TIMEOUT in argv
    custom = remote.ssh_argv({"USRSVC_SSH": "ssh -F '/my dir/config' -i key"})
    assert custom[:5] == ["ssh", "-F", "/my dir/config", "-i", "key"]
    for bad in ("ssh '", "   "):
        with pytest.raises(UsageError):
            remote.ssh_argv({"USRSVC_SSH": bad})


def test_the_remote_command_comes_from_the_option_then_the_environment():
    assert remote.remote_command(None, {}) == "usrsvc"
    assert remote.remote_command(None, {"USRSVC_REMOTE_COMMAND": "~/.venv/bin/usrsvc"}) == \
        "~/.venv/bin/usrsvc"
    assert remote.remote_command("/opt/u/bin/usrsvc", {"USRSVC_REMOTE_COMMAND": "x"}) == \
        "/opt/u/bin/usrsvc"
    with pytest.raises(UsageError):
        remote.remote_command(" ", {})


@pytest.mark.parametrize("name", ["web;touch x", "$(id)", "`id`", "a'b", "-n", "a b\nc", "*"])
def test_every_word_reaches_the_remote_shell_as_one_word(name):
    words = remote.remote_words("status", [name, "all"], config="my dir/u.cfg",
                                options=["-n", "5"])
    line = remote.command_line("~/bin/usrsvc", words)
    assert shlex.split(line) == ["~/bin/usrsvc", "--json", "--config", "my dir/u.cfg", "-n",
                                 "5", "--", "status", name, "all"]
    assert line.startswith("~/bin/usrsvc ")  # the user's own command stays as written
    argv = remote.ssh_call(["ssh", "-T"], "deploy@web1", line)
    assert argv == ["ssh", "-T", "--", "deploy@web1", line]


def run(host, code, stdout=b"", stderr=b""):
    return remote.HostRun(host, code, stdout, stderr)


def test_a_json_answer_gives_one_row_per_program_with_its_host():
    answer = [{"name": "web", "state": "running", "pid": 42, "exit_code": 0,
               "uptime_s": 3.5, "message": "running", "notes": []},
              {"name": "worker", "state": "stopped", "pid": None, "exit_code": 1,
               "message": "not running"}]
    rows, warnings, code = remote.rows_of(run("h1", 1, json.dumps(answer).encode(),
                                              b"usrsvc: warning: something odd\n"))
    assert [(r.host, r.name, r.state, r.pid, r.code) for r in rows] == [
        ("h1", "web", "running", 42, 0), ("h1", "worker", "stopped", None, 1)]
    assert code == 1 and warnings == ["warning: something odd"]
    assert rows[0].as_dict()["host"] == "h1" and rows[0].as_dict()["pid"] == 42


def test_fields_of_an_unexpected_type_are_dropped():
    hostile = [{"name": ["x"], "state": 3, "pid": "12; rm", "uptime_s": "long",
                "rss_kb": True, "exit_code": "0", "notes": "n", "last_exit": "x",
                "host": "forged"}]
    rows, _, _ = remote.rows_of(run("h1", 0, json.dumps(hostile).encode()))
    row = rows[0]
    assert (row.name, row.state, row.pid, row.uptime_s, row.rss_kb) == (
        None, "unknown", None, None, None)
    assert row.code == 1 and row.notes == [] and row.last_exit is None
    assert row.as_dict()["host"] == "h1"
    cli._table(rows, "status", None, hosts=True)  # renders, no exception


def test_ssh_failure_is_an_unreachable_row_with_its_message():
    rows, warnings, code = remote.rows_of(run(
        "down", 255, b"", b"ssh: connect to host 127.0.0.1 port 9: Connection refused\r\n"))
    assert len(rows) == 1 and rows[0].state == "unreachable" and rows[0].name is None
    assert rows[0].message == "ssh: connect to host 127.0.0.1 port 9: Connection refused"
    assert code == 1 and warnings == []


def test_a_remote_usrsvc_that_fails_without_json_gives_its_code_and_reason():
    rows, _, code = remote.rows_of(run("h", 133, b"", b"usrsvc: no program named 'x'\n"))
    assert rows[0].state == "error" and code == 133
    assert rows[0].message == "usrsvc: no program named 'x'"
    rows, _, code = remote.rows_of(run("h", 127, b"", b"sh: 1: usrsvc: not found\n"))
    assert code == 1 and "--remote-command" in rows[0].message
    rows, _, code = remote.rows_of(run("h", 77, b"garbage", b""))
    assert code == 1 and rows[0].message == "garbage"


def test_log_lines_carry_the_host_and_a_host_that_did_not_answer_is_a_problem():
    lines, problems, code = remote.log_lines_of(run(
        "h1", 1, b'{"program": "web", "stream": "stdout", "message": "hi"}\nnot json\n',
        b"usrsvc: web: stderr log missing\n"))
    assert lines == [{"host": "h1", "program": "web", "stream": "stdout", "message": "hi"}]
    assert problems == ["web: stderr log missing"] and code == 1
    lines, problems, code = remote.log_lines_of(run("h2", 255, b"", b"ssh: no route\n"))
    assert lines == [] and problems == ["ssh: no route"] and code == 1


@pytest.mark.parametrize("codes, expected", [
    ([0, 0], 0), ([0, 133], 133), ([137, 137, 0], 137), ([1, 133], 1), ([], 0)])
def test_the_exit_code_is_the_usual_rule_over_hosts(codes, expected):
    assert remote.exit_code(codes) == expected


def test_hosts_run_at_once_up_to_the_limit_and_keep_their_order():
    running, most, lock = [0], [0], threading.Lock()
    gate = threading.Barrier(3, timeout=10)

    def runner(argv):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            gate.wait()  # three at once, or the barrier breaks
        except threading.BrokenBarrierError:
            pass
        with lock:
            running[0] -= 1
        return 0, argv[-1].encode(), b""

    hosts = ["h%d" % i for i in range(6)]
    runs = remote.run_all(hosts, lambda host: [host], runner=runner, limit=3)
    assert [r.host for r in runs] == hosts and [r.stdout for r in runs] == [
        h.encode() for h in hosts]
    assert most[0] == 3


def test_the_merged_table_has_a_host_column_and_says_why_below():
    rows = [remote.Row("web1", {"name": "app", "state": "running", "pid": 7, "exit_code": 0,
                                "message": "running", "cmdline": "app --serve"}),
            remote.host_error(run("web2", 255, b"", b"ssh: connect to host web2: refused"))]
    text = cli._table(rows, "status", None, hosts=True).splitlines()
    assert text[0].split()[:4] == ["HOST", "NAME", "STATE", "PID"]
    assert text[1].split()[:4] == ["web1", "app", "RUNNING", "7"]
    assert text[2].split()[:4] == ["web2", "-", "UNREACHABLE", "-"]
    assert text[3] == "web2: ssh: connect to host web2: refused"


def test_options_for_the_hosts_are_parsed_and_passed_on():
    opts = cli.parse(["-H", "a,b", "-Hc", "--host=d", "--remote-command", "~/u", "-P",
                      "--lock-timeout", "5", "logs", "-n", "3", "--stderr", "web"])
    assert opts.hosts == ["a,b", "c", "d"] and opts.remote_command == "~/u"
    assert cli._passed_options(opts) == ["--parallel", "--lock-timeout", "5.0", "-n", "3",
                                         "--stderr"]


@pytest.mark.parametrize("argv, says", [
    (["-H", "a"], "expected an action after -H"),
    (["-H", "a", "signal", "web", "HUP"], "not 'signal'"),
    (["-H", "a", "start"], "expected a program name after start"),
    (["-H", "a", "logs", "-f", "web"], "-f does not go with -H"),
    (["-H", "a", "status", "-n", "3"], "options of usrsvc logs"),
    (["--remote-command", "x", "status"], "goes with -H"),
])
def test_what_h_does_not_do_is_a_usage_error(argv, says):
    import io

    err = io.StringIO()
    assert cli.run(argv, io.StringIO(), err) == 1
    assert says in err.getvalue(), err.getvalue()
