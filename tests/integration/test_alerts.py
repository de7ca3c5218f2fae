"""Email alerts through a recording sendmail and a real SMTP server on loopback."""

import os
import re
import signal
import stat
import time

import pytest

from conftest import wait_for
from daemon_support import daemon, new_pid  # noqa: F401 (fixture)

RECORDER = r"""#!/bin/sh
# a sendmail stand-in: one file per mail, its arguments first. Like sendmail,
# a line holding a single dot ends the message unless -i or -oi is given.
n=$(date +%s%N)
dot_ends=yes
for arg in "$@"; do
    case $arg in -i|-oi) dot_ends=no ;; esac
done
{
    echo "ARGS: $*"
    if [ $dot_ends = yes ]; then sed '/^\.$/,$d'; else cat; fi
} > "{outdir}/.mail.$n.$$"
mv "{outdir}/.mail.$n.$$" "{outdir}/mail.$n.$$"
"""
TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}"


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mails(folder):
    found = []
    for name in sorted(n for n in os.listdir(folder) if not n.startswith(".")):
        with open(os.path.join(folder, name)) as handle:
            found.append(handle.read())
    return found


def parse(mail):
    """(the stand-in's arguments, the message) of a recorded mail."""
    import email
    from email import policy

    args, _, text = mail.partition("\n")
    return args[len("ARGS: "):].split(), email.message_from_string(text, policy=policy.default)


def _sendmail(env):
    outdir = os.path.join(env.home, "mails")
    os.makedirs(outdir)
    script = os.path.join(env.home, "sendmail")
    with open(script, "w") as handle:
        handle.write(RECORDER.replace("{outdir}", outdir))
    os.chmod(script, stat.S_IRWXU)
    return script, outdir


def test_sendmail_alert_on_restart_and_rate_limit(env, daemon):
    script, outdir = _sendmail(env)
    env.write("[Main]\nsendmail_path = %s\nalert_interval = 300\n" % script
              + env.program("a", env.service(), email_alerts="ops@example.com, dev@example.com"))
    daemon.start()
    assert wait_for(lambda: len(mails(outdir)) == 1, timeout=15), daemon.text()
    first = mails(outdir)[0]
    assert "ARGS: -oi ops@example.com dev@example.com" in first
    _, message = parse(first)
    assert message["Date"].datetime and re.fullmatch(r"<.+@.+>", message["Message-ID"])
    assert "Subject: [usrsvcd] a: started (it was down)" in first
    pid = new_pid(env, "a", None)
    for _ in range(2):  # a flapping program: no new mail within alert_interval
        os.kill(pid, signal.SIGKILL)
        pid = new_pid(env, "a", pid)
        assert pid
    time.sleep(1.0)
    assert len(mails(outdir)) == 1, mails(outdir)


def test_sendmail_alert_when_giving_up(env, daemon):
    script, outdir = _sendmail(env)
    env.write("[Main]\nsendmail_path = %s\nalert_interval = 0\n" % script
              + env.program("a", env.service("--exit", 2), email_alerts="ops@example.com",
                            maxrestarts=2, success_seconds=1))
    daemon.start()
    assert wait_for(lambda: any("gave up" in m for m in mails(outdir)), timeout=20), daemon.text()


def test_smtp_alert(env, daemon):
    controller_mod = pytest.importorskip("aiosmtpd.controller")
    from aiosmtpd.handlers import Message

    received = []

    class Collect(Message):
        def handle_message(self, message):
            received.append(message)

    port = free_port()
    controller = controller_mod.Controller(Collect(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        env.write("[Main]\nsmtp_host = 127.0.0.1\nsmtp_port = %d\nemail_from = usrsvcd@example.com\n"
                  "alert_timeout = 5\n" % port
                  + env.program("a", env.service(), email_alerts="ops@example.com"))
        daemon.start()
        assert wait_for(lambda: received, timeout=15), daemon.text()
        message = received[0]
        assert message["To"] == "ops@example.com"
        assert message["From"] == "usrsvcd@example.com"
        assert "a: started" in message["Subject"]
    finally:
        controller.stop()


def test_alert_failure_is_logged_not_fatal(env, daemon):
    env.write("[Main]\nsmtp_host = 127.0.0.1\nsmtp_port = 9\nalert_timeout = 2\n"
              + env.program("a", env.service(), email_alerts="ops@example.com"))
    proc = daemon.start()
    daemon.wait_logged("alert_failed")
    pid = new_pid(env, "a", None)
    os.kill(pid, signal.SIGKILL)
    assert new_pid(env, "a", pid)
    assert proc.poll() is None


def test_sendmail_keeps_a_line_with_a_single_dot(env, daemon):
    """The started alert quotes the command line; one with a line holding only a
    dot would end the message early for a sendmail run without -oi."""
    script, outdir = _sendmail(env)
    command = "'''%s'''" % env.service("--tag", "'before\n.\nafter-the-dot'")
    env.write("[Main]\nsendmail_path = %s\n" % script
              + env.program("a", command, email_alerts="ops@example.com"))
    daemon.start()
    assert wait_for(lambda: len(mails(outdir)) == 1, timeout=15), daemon.text()
    args, message = parse(mails(outdir)[0])
    assert args == ["-oi", "ops@example.com"]
    assert " before\n.\nafter-the-dot\n" in message.get_content(), mails(outdir)


def _state_dir(env):
    """The runtime state directory of this HOME's config (it holds usrsvcd.pid)."""
    for root, _, files in os.walk(os.path.join(env.env["XDG_RUNTIME_DIR"], "usrsvc")):
        if "usrsvcd.pid" in files:
            return root
    return None


def _held(env):
    import json

    folder = _state_dir(env)
    try:
        with open(os.path.join(folder, "usrsvcd.alerts")) as handle:
            entry = json.load(handle)["programs"].get("a", {})
    except (OSError, TypeError, ValueError):
        return []
    return [subject for _, subject in entry.get("held", [])]


def test_held_alerts_survive_usrsvcd_restart_and_go_once(env, daemon):
    script, outdir = _sendmail(env)
    env.write("[Main]\nsendmail_path = %s\nalert_interval = 15\n" % script
              + env.program("a", env.service(), email_alerts="ops@example.com"))
    daemon.start()
    assert wait_for(lambda: len(mails(outdir)) == 1, timeout=15), daemon.text()
    pid = new_pid(env, "a", None)
    for _ in range(2):  # two restarts within alert_interval: held back, kept in state
        os.kill(pid, signal.SIGKILL)
        pid = new_pid(env, "a", pid)
        assert pid
    assert wait_for(lambda: len(_held(env)) == 2, timeout=10), (_held(env), daemon.text())
    held = _held(env)
    result = daemon.cmd("restart")
    assert result.returncode == 0, result.stderr
    assert "held back" not in daemon.text()  # the old daemon did not send the summary
    assert wait_for(lambda: len(mails(outdir)) == 2, timeout=30), daemon.text()
    _, message = parse(mails(outdir)[1])
    assert message["Subject"] == "[usrsvcd] a: 2 alert(s) held back"
    summary = message.get_content()
    for subject in held:
        assert re.search(r"  - %s  %s" % (TIME, re.escape(subject)), summary), summary
    with open(os.path.join(_state_dir(env), "usrsvcd.log")) as handle:
        assert "alerts_restored" in handle.read()  # sent by the new daemon, from state
    time.sleep(2.0)  # nothing more comes: neither the summary again nor an old alert
    assert len(mails(outdir)) == 2, mails(outdir)
    assert _held(env) == []
