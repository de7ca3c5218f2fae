"""Email alerts, sent off the loop with a timeout, rate limited per program.

Through sendmail (``sendmail_path``, or found as 1.5.13 does: /usr/sbin,
/usr/bin, then $PATH) or SMTP when ``[Main] smtp_host`` is set. A failure
is logged, never fatal. A flapping program gets at most one mail per
``alert_interval``; what was held back, with the time of each alert, is
summed up in the next mail (or in a summary when the interval ends).

What is held back, and when each program was last mailed, is kept in the
runtime state directory (``usrsvcd.alerts``, rewritten at each change), so
a ``usrsvcd restart`` neither forgets a pending summary nor mails again
what the old daemon already sent: the new daemon loads it at start. Every
change happens on the loop (alert, flush, restore); the send threads only
send.

The email package, getpass and shutil are imported when a mail is made (on
the first alert), not at start: a daemon that never sends one would hold
them (about 1.5 MB with what they import) for nothing.
"""

import os
import socket
import threading
import time

STORE_NAME = "usrsvcd.alerts"
HELD_MAX = 50  # alerts listed in one summary; the rest are counted


def find_sendmail(setting):
    if setting and setting != "auto":
        return setting if os.access(setting, os.X_OK) else None
    import shutil

    for candidate in ("/usr/sbin/sendmail", "/usr/bin/sendmail"):
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("sendmail")


def when(wall):
    """An alert's time as a reader of the mail wants it: local, with its offset."""
    return time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(wall))


def held_lines(held, more=0):
    lines = ["  - %s  %s" % (when(at), subject) for at, subject in held]
    if more:
        lines.append("  - ... and %d more" % more)
    return "\n".join(lines)


class Held:
    """Alerts of one program waiting for its alert_interval to end."""

    __slots__ = ("to", "items", "more")

    def __init__(self, to, items=(), more=0):
        self.to = tuple(to)
        self.items = list(items)  # [(wall time, subject)], oldest first
        self.more = more  # held beyond HELD_MAX: counted only

    def add(self, at, subject):
        if len(self.items) < HELD_MAX:
            self.items.append((at, subject))
        else:
            self.more += 1

    @property
    def count(self):
        return len(self.items) + self.more


class Alerter:
    def __init__(self, main, log, clock=time.monotonic, schedule=None, store=None,
                 lookup=None, wall=time.time):
        self.main = main
        self.log = log
        self.clock = clock
        self.wall = wall
        self.schedule = schedule  # schedule(delay, fn): run fn on the loop later
        self.store = store  # (read(name) -> bytes or None, write(name, bytes)), or None
        self.lookup = lookup or (lambda name: None)  # name -> its config Program, or None
        self.last_sent = {}  # program -> (clock(), wall()) of its last mail
        self.held = {}  # program -> Held
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
        if last is not None and now - last[0] < interval:
            held = self.held.get(name)
            if held is None:
                held = self.held[name] = Held(program.email_alerts)
                self._schedule_flush(name, held, interval - (now - last[0]))
            held.add(self.wall(), subject)
            self._save()
            return
        held = self.held.pop(name, None)
        if held is not None:
            body += "\n\n%d earlier alert(s) for %s were held back by alert_interval (%gs):\n%s" % (
                held.count, name, interval, held_lines(held.items, held.more))
        self._sent(name)
        self._send_async(name, program.email_alerts, subject, body)

    def _schedule_flush(self, name, held, delay):
        if self.schedule is not None:
            self.schedule(max(0.0, delay), lambda: self._flush(name, held))

    def _flush(self, name, held):
        if self.held.get(name) is not held:
            return  # already summed up in a mail that went out since
        del self.held[name]
        program = self.lookup(name)
        to = program.email_alerts if program is not None else held.to
        if not to:
            self._save()
            self.log.event(name, "alerts_dropped", "%d held alert(s) not mailed: email_alerts"
                           " is no longer set" % held.count)
            return
        self._sent(name)
        self._send_async(name, to, "[usrsvcd] %s: %d alert(s) held back" % (name, held.count),
                         "While alert_interval (%gs) held mail back, usrsvcd noted:\n%s"
                         % (self.main.alert_interval, held_lines(held.items, held.more)))

    def _sent(self, name):
        """A mail about ``name`` goes out now (saved before it leaves, so a daemon
        started after this one never sends it again)."""
        self.last_sent[name] = (self.clock(), self.wall())
        self._save()

    # -- kept across usrsvcd restarts ----------------------------------------------------
    def _save(self):
        if self.store is None:
            return
        import json

        now, interval = self.wall(), self.main.alert_interval
        programs = {}
        for name, (_, at) in self.last_sent.items():
            if now - at < interval:  # older ones no longer hold anything back
                programs[name] = {"last_sent": at}
        for name, held in self.held.items():
            programs.setdefault(name, {}).update(
                to=list(held.to), held=[[at, subject] for at, subject in held.items],
                more=held.more)
        self.store[1](STORE_NAME, json.dumps({"version": 1, "programs": programs}).encode())

    def restore(self):
        """At start: what an earlier usrsvcd held back is summed up when its
        interval ends (at once if it ended while no daemon ran); its mails still
        count toward the rate limit."""
        if self.store is None:
            return
        import json

        data = self.store[0](STORE_NAME)
        if not data:
            return
        try:
            programs = json.loads(data)["programs"]
            entries = [(str(name), _entry(entry)) for name, entry in programs.items()]
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            self.log.error(None, "state_error", "ignored an unreadable %s (%s): alerts held by the"
                           " previous usrsvcd are lost" % (STORE_NAME, err))
            return
        now, clock = self.wall(), self.clock()
        restored = 0
        for name, (last, held) in entries:
            if last is not None:
                self.last_sent[name] = (clock - max(0.0, now - last), last)
            if held is not None and held.count:
                self.held[name] = held
                due = (last if last is not None else now) + self.main.alert_interval - now
                self._schedule_flush(name, held, due)
                restored += held.count
        if restored:
            self.log.event(None, "alerts_restored", "%d alert(s) held back by the previous usrsvcd"
                           " will be summed up when their alert_interval ends" % restored)

    # -- sending ----------------------------------------------------------------------------
    def _message(self, to, subject, body):
        from email.utils import formatdate, make_msgid, parseaddr

        from ..escape import one_line, printable

        import getpass
        from email.message import EmailMessage

        message = EmailMessage()
        sender = self.main.email_from or "%s@%s" % (getpass.getuser(), socket.gethostname())
        message["From"] = sender
        message["To"] = ", ".join(to)
        message["Subject"] = one_line(subject)
        message["Date"] = formatdate(self.wall(), localtime=True)
        # a domain given: make_msgid would otherwise ask DNS (socket.getfqdn), maybe slowly
        domain = parseaddr(sender)[1].rpartition("@")[2] or socket.gethostname() or "localhost"
        message["Message-ID"] = make_msgid("usrsvcd", domain=domain)
        message.set_content(printable(body) + "\n")
        return message

    def _send_async(self, name, to, subject, body):
        message = self._message(to, subject, body)
        thread = threading.Thread(target=self._send, args=(name, to, message), daemon=True,
                                  name="alert-%s" % name)
        self.threads = [t for t in self.threads if t.is_alive()] + [thread]
        thread.start()

    def _send(self, name, to, message):
        try:
            if self.main.smtp_host:
                self._smtp(to, message)
            else:
                self._sendmail(to, message)
            self.log.event(name, "alert_sent", message["Subject"], to=", ".join(to))
        except Exception as err:  # noqa: BLE001 - any failure is logged, never fatal
            self.log.error(name, "alert_failed", "%s: %s" % (type(err).__name__, err))

    def _sendmail(self, to, message):
        import subprocess

        path = find_sendmail(self.main.sendmail_path)
        if not path:
            raise RuntimeError("no sendmail found (set [Main] sendmail_path or smtp_host)")
        # -oi: a line holding a single dot is text, not the end of the message
        subprocess.run([path, "-oi"] + list(to), input=message.as_bytes(),
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=self.main.alert_timeout, check=True)

    def _smtp(self, to, message):
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
            client.send_message(message, to_addrs=list(to))

    def wait(self, timeout=2.0):
        """Give mails in flight a moment on the way out."""
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def _entry(entry):
    """(last_sent wall time or None, Held or None) from one program's saved entry."""
    last = entry.get("last_sent")
    last = float(last) if last is not None else None
    held = None
    if entry.get("held") or entry.get("more"):
        to, items = entry.get("to") or [], entry.get("held") or []
        if not isinstance(to, list) or not isinstance(items, list):
            raise TypeError("'to' or 'held' is not a list")
        held = Held([str(a) for a in to], [(float(at), str(subject)) for at, subject in items],
                    int(entry.get("more", 0)))
    return last, held
