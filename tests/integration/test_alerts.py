"""Email alerts through a recording sendmail and a real SMTP server on loopback."""

import os
import signal
import stat
import time

import pytest

from conftest import wait_for
from daemon_support import daemon, new_pid  # noqa: F401 (fixture)

RECORDER = """#!/bin/sh
# a sendmail stand-in: one file per mail, the recipients first
n=$(date +%s%N)
{ echo "ARGS: $*"; cat; } > "{outdir}/mail.$n.$$"
"""


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mails(folder):
    found = []
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name)) as handle:
            found.append(handle.read())
    return found


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
    assert "ARGS: ops@example.com dev@example.com" in first
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
