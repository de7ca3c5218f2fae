"""env_file, env_pass and [[EnvCommand]] against real services, through usrsvc
and usrsvcd: the environment the service was exec'd with is read from
/proc/PID/environ, and the secrets a command prints must appear nowhere
else: not in usrsvc's output, `status --json`, `checkconfig`, usrsvcd's log,
its status file, or any file of the runtime state directory."""

import json
import os
import uuid

from conftest import alive, wait_for
from daemon_support import daemon, new_pid  # noqa: F401 (fixture)

MAIN = "[Main]\nreconcile_interval = 0.5\nmonitor_interval = 0.2\n"


def environ_of(pid):
    """The environment ``pid`` was exec'd with."""
    with open("/proc/%d/environ" % pid, "rb") as handle:
        items = [i.decode() for i in handle.read().split(b"\0") if i]
    return dict(item.split("=", 1) for item in items)


def secret():
    return "s3cr3t-" + uuid.uuid4().hex


def script(env, name, body):
    """An executable shell script in HOME (mode 0700)."""
    path = os.path.join(env.home, name)
    with open(path, "w") as handle:
        handle.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o700)
    return path


def private(env, name, text):
    path = os.path.join(env.home, name)
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)
    return path


def state_files(env):
    """Every regular file under the runtime state directory, as bytes."""
    root = os.path.join(env.env["XDG_RUNTIME_DIR"])
    found = {}
    for top, _, files in os.walk(root):
        for name in files:
            path = os.path.join(top, name)
            try:
                with open(path, "rb") as handle:
                    found[path] = handle.read()
            except OSError:
                pass
    return found


def assert_nowhere(value, *texts, files=None):
    for text in texts:
        assert value not in text, text
    for path, data in (files or {}).items():
        assert value.encode() not in data, path


ENV_FILE = """\
# a comment, then the forms people write
export EXPORTED=from-export
; another comment
QUOTED="two words # not a comment"
SINGLE='$HOME stays literal'
ESCAPED="a \\"quote\\" and a \\\\ backslash"
   SPACED   =   trimmed value   
MULTI="line one
line two"
OVERRIDDEN=from-first-file
INHERITED_TOO=from-file
"""


def test_env_files_quotes_comments_export_optional_and_precedence(env):
    first = private(env, "app.env", ENV_FILE)
    second = private(env, "late.env", "OVERRIDDEN=from-second-file\nBY_FILE=file\n"
                                      "BY_COMMAND=file\nBY_ENV=file\n")
    command = script(env, "secrets.sh", "echo BY_COMMAND=command\necho BY_ENV=command\n")
    missing = os.path.join(env.home, "absent.env")
    env.write(env.program("svc", env.service(), env_file="%s, -%s, %s" % (first, missing, second))
              + "  [[EnvCommand]]\n  command = %s\n  timeout = 20s\n" % command
              + "  [[Env]]\n  BY_ENV = env-section\n")
    env.run("start", "svc", check=0, env={"INHERITED_TOO": "from-caller", "CALLER": "kept"})
    seen = environ_of(env.pid_of("svc"))
    assert seen["EXPORTED"] == "from-export"
    assert seen["QUOTED"] == "two words # not a comment"
    assert seen["SINGLE"] == "$HOME stays literal"
    assert seen["ESCAPED"] == 'a "quote" and a \\ backslash'
    assert seen["SPACED"] == "trimmed value"
    assert seen["MULTI"] == "line one\nline two"
    # inherited < env_file (in order) < [[EnvCommand]] < [[Env]]
    assert seen["CALLER"] == "kept"
    assert seen["INHERITED_TOO"] == "from-file"
    assert seen["OVERRIDDEN"] == "from-second-file"
    assert seen["BY_FILE"] == "file"
    assert seen["BY_COMMAND"] == "command"
    assert seen["BY_ENV"] == "env-section"


def test_env_pass_lets_through_only_the_named_variables(env):
    env.write(env.program("svc", env.service(), inherit_env="False",
                          env_pass="KEEP_ME, PATH, NOT_SET_ANYWHERE"))
    env.run("start", "svc", check=0, env={"KEEP_ME": "yes", "DROP_ME": "no"})
    seen = environ_of(env.pid_of("svc"))
    assert seen["KEEP_ME"] == "yes" and seen["PATH"] == env.env["PATH"]
    assert "DROP_ME" not in seen and "HOME" not in seen and "XDG_RUNTIME_DIR" not in seen
    assert "NOT_SET_ANYWHERE" not in seen


def test_env_pass_with_inherit_env_on_is_a_warning(env):
    env.write(env.program("svc", env.service(), env_pass="LANG"))
    checked = env.run("checkconfig", check=0)
    assert "env_pass has no effect while inherit_env = True" in checked.stderr


def test_a_secret_from_the_command_reaches_the_service_and_nothing_else(env):
    value = secret()
    command = script(env, "secrets.sh", "echo API_TOKEN=%s\necho '# fetched' >&2\n" % value)
    filed = secret()
    envfile = private(env, "app.env", "FILE_SECRET=%s\n" % filed)
    env.write(env.program("svc", env.service(), env_file=envfile)
              + "  [[EnvCommand]]\n  command = %s\n" % command
              + "  [[Env]]\n  PLAIN = %s\n" % "config-value-xyz")
    outputs = [env.run("start", "svc", check=0)]
    pid = env.pid_of("svc")
    seen = environ_of(pid)
    assert seen["API_TOKEN"] == value and seen["FILE_SECRET"] == filed
    outputs += [env.run("status", "svc", check=0), env.run("--json", "status", "svc", check=0),
                env.run("status", "all", check=0), env.run("checkconfig", check=0),
                env.run("checkconfig", "svc", check=0), env.run("restart", "svc", check=0)]
    shown = outputs[5].stdout
    assert "API_TOKEN" not in shown  # the command is not run by checkconfig
    assert "FILE_SECRET" in shown and "PLAIN = ********" in shown
    assert "config-value-xyz" not in shown
    texts = [o.stdout + o.stderr for o in outputs]
    json.loads(outputs[2].stdout)
    assert_nowhere(value, *texts, files=state_files(env))
    assert_nowhere(filed, *texts, files=state_files(env))
    assert environ_of(env.pid_of("svc"))["API_TOKEN"] == value  # fetched again at restart


def test_under_usrsvcd_the_secret_reaches_the_service_and_not_the_log(env, daemon):
    value = secret()
    command = script(env, "secrets.sh", "echo DB_PASSWORD=%s\n" % value)
    env.write(MAIN + env.program("svc", env.service())
              + "  [[EnvCommand]]\n  command = %s\n  timeout = 10s\n" % command)
    daemon.start()
    pid = new_pid(env, "svc", None)
    assert pid and environ_of(pid)["DB_PASSWORD"] == value
    os.kill(pid, 9)  # the restart after a crash fetches it again
    again = new_pid(env, "svc", pid)
    assert again and environ_of(again)["DB_PASSWORD"] == value
    status = daemon.cmd("status")
    wait_for(lambda: any(name.endswith("usrsvcd.status") for name in state_files(env)))
    assert_nowhere(value, daemon.text(), status.stdout + status.stderr,
                   env.run("--json", "status", "svc").stdout, files=state_files(env))


def test_a_failing_command_fails_the_start_without_showing_its_output(env):
    value = secret()
    command = script(env, "secrets.sh", "echo TOKEN=%s\necho 'vault: permission denied' >&2\n"
                                        "exit 3\n" % value)
    env.write(env.program("svc", env.service()) + "  [[EnvCommand]]\n  command = %s\n" % command)
    failed = env.run("start", "svc", check=137)
    assert "[[EnvCommand]]" in failed.stdout + failed.stderr
    assert "exit status 3" in failed.stdout + failed.stderr
    assert_nowhere(value, failed.stdout, failed.stderr, files=state_files(env))
    assert env.pid_of("svc") is None  # nothing was launched
    assert env.run("status", "svc").returncode != 0
    with open(os.path.join(env.home, "logs", "svc.log")) as handle:
        assert "vault: permission denied" in handle.read()  # its stderr, in the program's log


def test_a_command_past_its_timeout_is_killed_with_what_it_started(env):
    marker = os.path.join(env.home, "child.pid")
    command = script(env, "slow.sh", "sleep 300 &\necho $! > %s\nwait\n" % marker)
    env.write(env.program("svc", env.service())
              + "  [[EnvCommand]]\n  command = %s\n  timeout = 500ms\n" % command)
    failed = env.run("start", "svc", check=137)
    assert "timeout of 0.5 s" in failed.stdout + failed.stderr
    assert wait_for(lambda: os.path.exists(marker) and open(marker).read().strip())
    child = int(open(marker).read())
    assert wait_for(lambda: not alive(child), timeout=5)
    assert env.pid_of("svc") is None


def test_output_that_is_not_name_value_names_the_line_not_the_text(env):
    value = secret()
    command = script(env, "bad.sh", "echo GOOD=1\necho\necho 'just %s'\n" % value)
    env.write(env.program("svc", env.service()) + "  [[EnvCommand]]\n  command = %s\n" % command)
    failed = env.run("start", "svc", check=137)
    assert "line 3 of its output" in failed.stdout + failed.stderr
    assert_nowhere(value, failed.stdout, failed.stderr)


def test_a_syntax_error_in_an_env_file_names_file_and_line(env):
    value = secret()
    path = private(env, "app.env", "OK=1\n%s\n" % value)
    env.write(env.program("svc", env.service(), env_file=path))
    failed = env.run("start", "svc", check=130)
    text = failed.stdout + failed.stderr
    assert path in text and "line 2" in text and value not in text
    checked = env.run("checkconfig")
    assert "line 2" in checked.stderr and value not in checked.stdout + checked.stderr
    missing = os.path.join(env.home, "nope.env")
    env.write(env.program("svc", env.service(), env_file=missing))
    failed = env.run("start", "svc", check=130)
    assert "does not exist" in failed.stdout + failed.stderr and "-" + missing in failed.stdout \
        + failed.stderr


def test_an_env_file_others_can_write_is_refused(env):
    path = private(env, "app.env", "A=1\n")
    os.chmod(path, 0o666)
    env.write(env.program("svc", env.service(), env_file=path))
    failed = env.run("start", "svc", check=130)
    assert "writable by others" in failed.stdout + failed.stderr


def test_an_edited_env_file_is_a_change_a_new_secret_is_not(env):
    path = private(env, "app.env", "MODE=one\n")
    counter = os.path.join(env.home, "n")
    command = script(env, "rotating.sh", "n=$(cat %s 2>/dev/null || echo 0); n=$((n+1));"
                                         " echo $n > %s; echo ROTATING=$n\n" % (counter, counter))
    env.write(env.program("svc", env.service(), env_file=path)
              + "  [[EnvCommand]]\n  command = %s\n" % command)
    env.run("start", "svc", check=0)
    pid = env.pid_of("svc")
    assert environ_of(pid)["ROTATING"] == "1"
    assert "config changed" not in env.run("status", "svc", check=0).stdout
    nothing = env.run("update", "svc", check=0)
    assert env.pid_of("svc") == pid, nothing.stdout
    private(env, "app.env", "MODE=two\n")
    assert "config changed since start: env" in env.run("status", "svc", check=0).stdout
    env.run("update", "svc", check=0)
    newer = env.pid_of("svc")
    assert newer != pid and environ_of(newer)["MODE"] == "two"
    assert environ_of(newer)["ROTATING"] == "2"


def test_env_command_from_default_settings_merges_key_by_key(env):
    command = script(env, "secrets.sh", "echo FROM_DEFAULTS=yes\n")
    env.write("[DefaultSettings:base]\n  [[EnvCommand]]\n  command = %s\n  timeout = 1m\n"
              % command + env.program("svc", env.service(), defaults="base")
              + "  [[EnvCommand]]\n  timeout = 5s\n")
    shown = env.run("checkconfig", "svc", check=0).stdout
    assert "command = %s" % command in shown and "timeout = 5" in shown
    env.run("start", "svc", check=0)
    assert environ_of(env.pid_of("svc"))["FROM_DEFAULTS"] == "yes"


def test_env_command_without_command_or_with_unknown_key_is_a_config_error(env):
    env.write(env.program("svc", env.service()) + "  [[EnvCommand]]\n  timeout = 5\n")
    failed = env.run("start", "svc", check=130)
    assert "[[EnvCommand]] missing required key 'command'" in failed.stderr
    env.write(env.program("svc", env.service()) + "  [[EnvCommand]]\n  command = true\n"
              "  timout = 5\n")
    failed = env.run("checkconfig", check=130)
    assert "unknown key 'timout'" in failed.stderr and "did you mean 'timeout'" in failed.stderr


def test_units_in_old_and_new_keys(env):
    env.write(MAIN.replace("0.5", "500ms") + env.program(
        "svc", env.service(), success_seconds="300ms", term_to_kill_seconds="3s",
        restart_delay="1m30s")
        + "  [[Monitoring]]\n  rss_limit = 100M\n  monitor_after = 1h\n")
    shown = env.run("checkconfig", "svc", check=0).stdout
    for line in ("success_seconds = 0.3", "term_to_kill_seconds = 3", "restart_delay = 90",
                 "rss_limit = 102400", "monitor_after = 3600"):
        assert line in shown, (line, shown)
    env.run("start", "svc", check=0)
    env.write(env.program("svc", env.service(), success_seconds="5 parsecs"))
    failed = env.run("start", "svc", check=130)
    assert "success_seconds" in failed.stderr and "30s, 5m, 1h30m" in failed.stderr
    env.write(env.program("svc", env.service()) + "  [[Monitoring]]\n  rss_limit = 1.5\n")
    assert "rss_limit" in env.run("checkconfig", check=130).stderr


def test_rss_limit_with_a_unit_is_enforced_by_usrsvcd(env, daemon):
    env.write(MAIN + env.program("hog", env.service("--rss-mb", "60"))
              + "  [[Monitoring]]\n  rss_limit = 20M\n  monitor_after = 0\n")
    daemon.start()
    pid = new_pid(env, "hog", None)
    assert pid
    assert new_pid(env, "hog", pid, timeout=30), daemon.text()
    daemon.wait_logged("rss")


def test_under_usrsvcd_a_failing_command_is_a_failed_start_retried_later(env, daemon):
    value = secret()
    body = "echo TOKEN=%s\nexit 2\n" % value
    command = script(env, "secrets.sh", body)
    env.write(MAIN + env.program("svc", env.service(), restart_delay_max="1s")
              + "  [[EnvCommand]]\n  command = %s\n  timeout = 10s\n" % command)
    daemon.start()
    daemon.wait_logged("[[EnvCommand]] command failed with exit status 2")
    assert env.pid_of("svc") is None
    script(env, "secrets.sh", body.replace("exit 2\n", ""))  # fixed: the next attempt starts it
    pid = new_pid(env, "svc", None, timeout=20)
    assert pid and environ_of(pid)["TOKEN"] == value
    assert_nowhere(value, daemon.text(), files=state_files(env))


def test_checkconfig_of_an_unknown_name_says_so(env):
    env.write(env.program("svc", env.service()))
    failed = env.run("checkconfig", "svx", check=133)
    assert "svc" in failed.stderr
