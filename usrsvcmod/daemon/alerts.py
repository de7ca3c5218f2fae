"""Email alerts, sent off the loop with a timeout, rate limited per program.

Through sendmail (``sendmail_path``, or found as 1.5.13 does: /usr/sbin,
/usr/bin, then $PATH) or SMTP when ``[Main] smtp_host`` is set. A failure
is logged, never fatal. A flapping program gets at most one mail per
``alert_interval``; what was held back is summed up in the next mail (or
in a summary when the interval ends).

The email package, getpass and shutil are imported when a mail is made (on
the first alert), not at start: a daemon that never sends one would hold
them (about 1.5 MB with what they import) for nothing.
"""

import os
import socket
import threading
import time


def find_sendmail(setting):
    if setting and setting != "auto":
        return setting if os.access(setting, os.X_OK) else None
    import shutil

    for candidate in ("/usr/sbin/sendmail", "/usr/bin/sendmail"):
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("sendmail")


class Alerter:
    def __init__(self, main, log, clock=time.monotonic, schedule=None):
        self.main = main
        self.log = log
        self.clock = clock
        self.schedule = schedule  # schedule(delay, fn): run fn on the loop later
        self.last_sent = {}  # program -> clock()
        self.held = {}  # program -> [subjects held back]
        self.threads = []

    def configure(self, main):
        self.main = main

    def alert(self, program, subject, body):
        """Queue a mail about ``program`` (a config Program) to its email_alerts."""
        if not program.email_alerts:
            return
        name = program.name
        now = self.clock()
        last = self.last_sent.get(name)
        interval = self.main.alert_interval
        if last is not None and now - last < interval:
            first_held = name not in self.held
            self.held.setdefault(name, []).append(subject)
            if first_held and self.schedule is not None:
                self.schedule(interval - (now - last), lambda: self._flush(program))
            return
        held = self.held.pop(name, [])
        if held:
            body += "\n\n%d earlier alert(s) for %s were held back by alert_interval (%gs):\n%s" % (
                len(held), name, interval, "\n".join("  - " + s for s in held))
        self.last_sent[name] = now
        self._send_async(program, subject, body)

    def _flush(self, program):
        held = self.held.pop(program.name, [])
        if held:
            self.last_sent[program.name] = self.clock()
            self._send_async(program, "[usrsvcd] %s: %d alert(s) held back" % (program.name, len(held)),
                             "While alert_interval (%gs) held mail back, usrsvcd noted:\n%s"
                             % (self.main.alert_interval, "\n".join("  - " + s for s in held)))

    def _message(self, program, subject, body):
        import getpass
        from email.message import EmailMessage

        message = EmailMessage()
        sender = self.main.email_from or "%s@%s" % (getpass.getuser(), socket.gethostname())
        message["From"] = sender
        message["To"] = ", ".join(program.email_alerts)
        message["Subject"] = subject
        message.set_content(body + "\n")
        return message

    def _send_async(self, program, subject, body):
        message = self._message(program, subject, body)
        thread = threading.Thread(target=self._send, args=(program, message), daemon=True,
                                  name="alert-%s" % program.name)
        self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()

    def _send(self, program, message):
        try:
            if self.main.smtp_host:
                self._smtp(program, message)
            else:
                self._sendmail(program, message)
            self.log.event(program.name, "alert_sent", message["Subject"],
                           to=", ".join(program.email_alerts))
        except Exception as err:  # noqa: BLE001 - any failure is logged, never fatal
            self.log.error(program.name, "alert_failed", "%s: %s" % (type(err).__name__, err))

    def _sendmail(self, program, message):
        import subprocess

        path = find_sendmail(self.main.sendmail_path)
        if not path:
            raise RuntimeError("no sendmail found (set [Main] sendmail_path or smtp_host)")
        subprocess.run([path] + list(program.email_alerts), input=message.as_bytes(),
                       stdin=None, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=self.main.alert_timeout, check=True)

    def _smtp(self, program, message):
        import smtplib

        main = self.main
        timeout = main.alert_timeout
        if main.smtp_security == "ssl":
            client = smtplib.SMTP_SSL(main.smtp_host, main.smtp_port, timeout=timeout)
        else:
            client = smtplib.SMTP(main.smtp_host, main.smtp_port, timeout=timeout)
        with client:
            if main.smtp_security == "starttls":
                client.starttls()
            if main.smtp_user:
                password = ""
                if main.smtp_password_file:
                    with open(main.smtp_password_file) as handle:
                        password = handle.read().strip()
                client.login(main.smtp_user, password)
            client.send_message(message, to_addrs=list(program.email_alerts))

    def wait(self, timeout=2.0):
        """Give mails in flight a moment on the way out."""
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
