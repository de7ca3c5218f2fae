"""The program files that the collection's usrsvc_program module writes are read by
the real usrsvc as they were meant: commas, '#' and quotes in values survive, and
subsections land where usrsvc looks for them. (The module's own code, loaded from
the collection without Ansible.)"""

import importlib.util
import json
import os
import sys

from conftest import alive

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROGRAM_FILE = os.path.join(ROOT, "ansible_collections", "usrsvc", "core", "plugins",
                            "module_utils", "usrsvc_program_file.py")


def program_file():
    spec = importlib.util.spec_from_file_location("usrsvc_program_file", PROGRAM_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rendered_values_reach_the_process_unchanged(env):
    rendered = program_file()
    conf_d = os.path.join(env.home, "usrsvc.d")
    os.mkdir(conf_d, 0o700)
    env.write("[Main]\nconfig_dir = usrsvc.d\n")
    os.chmod(env.cfg, 0o600)
    command = "%s -c 'import time; time.sleep(600)' %s 'a, b' '#not-a-comment' 'x  y'" % (
        sys.executable, env.token)
    text = rendered.render("odd", {
        "command": command, "pidfile": "~/run/odd.pid", "stdout": "~/logs/odd.log",
        "success_seconds": 0.3, "autostart": False,
    }, {"env": {"GREETING": 'say "hello", world # twice'}, "monitoring": {"rss_limit": "500M"}})
    rendered.write(os.path.join(conf_d, "odd.cfg"), text)
    check = env.run("checkconfig", check=0)
    assert os.path.join(conf_d, "odd.cfg") in check.stdout
    started = env.run("--json", "start", "odd", check=0)
    pid = json.loads(started.stdout)[0]["pid"]
    assert alive(pid)
    with open("/proc/%d/cmdline" % pid, "rb") as handle:
        argv = handle.read().split(b"\0")
    assert argv[-5:-1] == [env.token.encode(), b"a, b", b"#not-a-comment", b"x  y"]
    with open("/proc/%d/environ" % pid, "rb") as handle:
        assert b'GREETING=say "hello", world # twice' in handle.read().split(b"\0")
    env.run("stop", "odd", check=0)


def test_a_refused_value_names_the_key(env):
    rendered = program_file()
    conf_d = os.path.join(env.home, "usrsvc.d")
    os.mkdir(conf_d, 0o700)
    env.write("[Main]\nconfig_dir = usrsvc.d\n")
    os.chmod(env.cfg, 0o600)
    rendered.write(os.path.join(conf_d, "bad.cfg"), rendered.render(
        "bad", {"command": "sleep 5", "pidfile": "~/run/b.pid", "stdout": "~/logs/b.log",
                "success_seconds": "soon"}, {}))
    check = env.run("checkconfig")
    assert check.returncode == 130
    assert "success_seconds" in check.stdout + check.stderr
    assert "soon" in check.stdout + check.stderr
