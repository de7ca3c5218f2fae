"""The default proctitle_re, and matching it without ``re``."""

import re

import pytest

from usrsvcmod.config.loader import default_proctitle_re


@pytest.mark.parametrize("command, words", [
    ("cd /srv && exec ./app --port 80 >> log 2>&1", "./app --port 80"),
    ("FOO=1 python3 x.py 2>&1 | logger", "python3 x.py"),
    ("exec sleep 5", "sleep 5"),
    ("./ticker.sh --every 4 | while read -r line; do echo \"$line\"; done", "./ticker.sh --every 4"),
    ("export A=1; ulimit -n 99 && exec gunicorn app:x", "gunicorn app:x"),
    ("grep x /proc/self/status > out; exec svc tok", "svc tok"),
    ("sleep 4343 & sleep 4344; echo done", "sleep 4343"),
    ("myserver --port 80", "myserver --port 80"),
])
def test_useshell_default_follows_the_command_the_shell_runs(command, words):
    pattern, suffix = default_proctitle_re((), command, True)
    assert suffix == words
    assert re.search(pattern, "/bin/sh " + words)


def test_plain_default_matches_interpreters_and_paths_not_prefixes():
    pattern, suffix = default_proctitle_re(("./ticker.sh", "--every", "5"), "./ticker.sh --every 5", False)
    assert re.search(pattern, "/bin/sh ./ticker.sh --every 5")
    assert re.search(pattern, "./ticker.sh --every 5")
    assert not re.search(pattern, "/bin/sh ./ticker.sh --every 50")
    assert not re.search(pattern, "x./ticker.sh --every 5")


@pytest.mark.parametrize("text", ["sleep 5", "/usr/bin/sleep 5", "nice sleep 5", "xsleep 5",
                                  "sleep 55", "sleep 5 ", "a\tsleep 5", "sleep"])
def test_string_match_agrees_with_the_regex(text):
    from usrsvcmod.proc.identity import _matches
    from usrsvcmod.proc.procfs import ProcInfo

    pattern, suffix = default_proctitle_re(("sleep", "5"), "sleep 5", False)

    class P:
        proctitle_re, title_suffix = pattern, suffix

    info = ProcInfo(1, 0, 0, "S", 0.0, 0, text.split(" "))
    assert _matches(P, info)[0] == bool(re.search(pattern, info.cmdline_text))


@pytest.mark.parametrize("command, words", [
    ("~/apps/tick.sh tok | sed s/a/b/", "/home/web/apps/tick.sh tok"),
    ("$HOME/apps/tick.sh tok 2>&1 | cat", "/home/web/apps/tick.sh tok"),
    ("${APP}/run --name \"$NAME\" | cat", "/srv/app/run --name two words"),
    ("cd ~ && exec ./srv '$HOME' x~y", "./srv $HOME x~y"),
    ("exec $BIN --tag \\$HOME", "/opt/bin/svc --tag $HOME"),
    ("./run $UNSET tok", "./run tok"),
])
def test_useshell_default_expands_home_and_vars_as_the_shell_will(command, words):
    environ = {"HOME": "/home/web", "APP": "/srv/app", "NAME": "two words", "BIN": "/opt/bin/svc"}
    used = set()
    pattern, suffix = default_proctitle_re((), command, True, environ, used)
    assert suffix == words
    assert re.search(pattern, "/bin/bash " + words)
    assert "HOME" in used or "APP" in used or "BIN" in used or "UNSET" in used


def test_tilde_user_expands_to_that_users_home():
    import pwd

    root_home = pwd.getpwnam("root").pw_dir
    _, suffix = default_proctitle_re((), "~root/bin/svc tok", True, {}, set())
    assert suffix == root_home + "/bin/svc tok"
