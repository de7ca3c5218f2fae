"""Pure parts of the environment keys: the env-file and command-output parsers,
the duration/size converters, the precedence of build() and the launch
record's digest of the environment."""

import os

import pytest

from usrsvcmod.config import spec
from usrsvcmod.config.model import Monitoring, Program
from usrsvcmod.proc import envbuild, envfile, record


def test_env_file_syntax_as_systemd_reads_it():
    text = ("# comment\n; comment\n\nexport A=1\nB = \"two  words\"  \nC='$x \\n'\n"
            "D=\"q \\\" b \\\\ d \\$ n \\n\"\nE=  plain value  \nF=con\\\ntinued\n"
            "G=\"multi\nline\"\nH=\nI=a'b c'd\nJ=x # not a comment\n")
    assert envfile.parse(text) == [
        ("A", "1"), ("B", "two  words"), ("C", "$x \\n"), ("D", 'q " b \\ d $ n \\n'),
        ("E", "plain value"), ("F", "continued"), ("G", "multi\nline"), ("H", ""),
        ("I", "ab cd"), ("J", "x # not a comment")]


@pytest.mark.parametrize("text, line", [
    ("A=1\nnot an assignment\n", 2),
    ("1BAD=x\n", 1),
    ("A=1\nB=\"never closed\nC=2\n", 2),
    ("A='open\n", 1),
])
def test_env_file_errors_name_the_line_and_never_the_text(text, line):
    with pytest.raises(ValueError) as caught:
        envfile.parse(text)
    message = str(caught.value)
    assert message.startswith("line %d:" % line)
    assert "never closed" not in message or "quote" in message
    assert "assignment" not in message and "BAD" not in message


def test_command_output_is_literal_name_value_lines():
    assert envfile.parse_output("A=\"q\" \\x\r\n\n# note\nexport B= x \nC=a=b\n") == [
        ("A", "\"q\" \\x"), ("B", " x "), ("C", "a=b")]
    with pytest.raises(ValueError, match="line 2 of its output") as caught:
        envfile.parse_output("A=1\nhunter2\n")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("text, seconds", [
    ("30", 30.0), ("1.5", 1.5), ("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0),
    ("1.5h", 5400.0), ("250ms", 0.25), ("1d", 86400.0), (" 2 m ", 120.0), ("1m30s", 90.0),
])
def test_durations(text, seconds):
    assert spec.seconds()(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5q", "1h 30", "m", "-1", "30s5", "nan", "2d"])
def test_bad_durations_say_what_is_expected(text):
    with pytest.raises(ValueError, match="number of seconds"):
        spec.seconds(0.0, 86400)(text)


def test_positive_seconds_takes_units_and_refuses_zero():
    assert spec.positive_seconds("2m") == 120.0
    with pytest.raises(ValueError, match="greater than 0"):
        spec.positive_seconds("0s")


@pytest.mark.parametrize("text, kib", [
    ("100000", 100000), ("0", 0), ("100M", 102400), ("2G", 2097152), ("512K", 512),
    ("1.5M", 1536), ("1K", 1),
])
def test_rss_limit_plain_is_kib_and_units_convert(text, kib):
    assert spec.kib(text) == kib


@pytest.mark.parametrize("text", ["1.5", "-2", "lots", "5X"])
def test_rss_limit_refuses_what_is_not_a_size(text):
    with pytest.raises(ValueError, match="KiB"):
        spec.kib(text)


def test_env_file_list_and_names():
    ctx = spec.Context("/etc/usrsvc/usrsvc.cfg")
    assert spec.env_files("a.env, -/x/b.env", ctx) == ("/etc/usrsvc/a.env", "-/x/b.env")
    with pytest.raises(ValueError, match="comma list of paths"):
        spec.env_files("a.env, -", ctx)
    assert spec.env_names("LANG, TZ") == ("LANG", "TZ")
    with pytest.raises(ValueError, match="variable names"):
        spec.env_names("LANG, 9X")


def program(tmp_path, **changes):
    values = dict(
        name="p", command="true", argv=("true",), useshell=False, pidfile="/x.pid",
        stdout=str(tmp_path / "p.log"), stderr=None, enabled=True, autopid=True,
        scan_for_process=True, proctitle_re="true", autostart=True, autorestart=True,
        maxrestarts=0, restart_delay=0.0, restart_delay_max=60.0, success_seconds=2.0,
        term_to_kill_seconds=8.0, inherit_env=True, email_alerts=(), directory=str(tmp_path),
        umask=None, stop_signal=15, kill_descendants=True, stdout_maxbytes=0, stdout_backups=10,
        stderr_maxbytes=0, stderr_backups=10, env=(), monitoring=Monitoring(
            monitor_after=30.0, rss_limit=0, activityfile=None, activityfile_limit=120.0,
            rss_scope="process"),
        source="/cfg", title_suffix=None, proctitle_risky=False, reload_signal=1, group=None,
        logger=None)
    values.update(changes)
    return Program(**values)


def write(path, text):
    path.write_text(text)
    os.chmod(path, 0o600)
    return str(path)


def test_build_applies_the_documented_order(tmp_path):
    first = write(tmp_path / "a.env", "X=file1\nY=file1\nZ=file1\nW=file1\n")
    second = write(tmp_path / "b.env", "Y=file2\n")
    base = {"X": "caller", "ONLY_CALLER": "c", "PATH": "/bin:/usr/bin"}
    built = envbuild.build(program(
        tmp_path, env_file=(first, "-" + str(tmp_path / "none.env"), second),
        env_command=("echo Z=command; echo W=command", 10.0), env=(("W", "env"),)), base)
    assert built["ONLY_CALLER"] == "c"
    assert (built["X"], built["Y"], built["Z"], built["W"]) == ("file1", "file2", "command", "env")


def test_env_pass_takes_only_named_variables_without_inherit_env(tmp_path):
    base = {"A": "1", "B": "2", "PATH": "/bin"}
    built = envbuild.build(program(tmp_path, inherit_env=False, env_pass=("A", "MISSING")), base)
    assert built == {"A": "1"}


def test_the_env_digest_of_a_program_without_the_new_keys_is_unchanged(tmp_path):
    plain = program(tmp_path, env=(("B", "2"), ("A", "1")))
    assert record._value(plain, "env") == [("A", "1"), ("B", "2")]  # what older records hold


def test_the_env_digest_follows_env_file_content_not_command_output(tmp_path):
    path = tmp_path / "a.env"
    write(path, "A=1\n")
    one = program(tmp_path, env_file=(str(path),), env_command=("date +X=%N", 5.0))
    before = record.digests(one)["env"]
    assert record.digests(one)["env"] == before  # the command's output never counts
    write(path, "A=2\n")
    assert record.digests(one)["env"] != before
