"""What the soak counts (COUNTS), and its bounds: after each fault settles, and
continuously in a sampler thread; the logs once everything is stopped."""

import json
import os
import re
import time

COUNTS = (
    "lost",                      # should run, not running after SETTLE_BOUND
    "duplicated",                # two live instances of one program (or two daemons)
    "stopped_but_running",       # stopped by the user, yet alive
    "disturbed",                 # a pid changed with no fault touching that program
    "decoys_killed",             # a decoy (foreign pid planted in a pidfile) died
    "daemon_gaps",               # no usrsvcd for over DAEMON_GAP_BOUND while it should run
    "daemon_stop_left_running",  # usrsvcd stop returned, the daemon still ran
    "unclean_daemon_stop",       # usrsvcd stop/restart ended the daemon without its clean exit
    "tracebacks",                # in any command's output or usrsvcd's log
    "hung_commands",             # a command over COMMAND_TIMEOUT
    "command_errors",            # a command's exit status other than the documented one
    "log_lines_lost",            # a spewer's numbered lines with a gap, a repeat or a tear
    "status_wrong",              # usrsvc status --json disagrees with the processes
    "pidfile_wrong",             # a pidfile not naming the running process after PIDFILE_BOUND
)
SETTLE_BOUND = 30.0       # seconds for the wanted state to come back after a fault
DAEMON_GAP_BOUND = 30.0
COMMAND_TIMEOUT = 90.0
PIDFILE_BOUND = 10.0      # seconds for damaged pidfiles to be rewritten (reconcile_interval 2)
STOP_BOUND = 5.0          # after usrsvcd stop returned 0, the daemon must be gone by then
SAMPLE_EVERY = 1.0
SPEW_LINES = 20           # per 0.1 s: 20 * ~80 bytes, about 16 KB/s per spewer
SPEW_MAXBYTES = 32 * 1024
SPEW_BACKUPS = 200
LINE = re.compile(rb"^(\d+) (\d+) \.{60}$")


class Checks:
    """The checks of a Soak (a mixin: it uses the Soak's state, scan(), cli() and count())."""

    def problems(self, snap):
        with self.lock:
            stopped = set(self.stopped)
        return {
            "lost": [n for n in self.names if n not in stopped and not snap.programs[n]],
            "duplicated": [n for n in self.names if len(snap.programs[n]) > 1],
            "stopped_but_running": [n for n in sorted(stopped) if snap.programs[n]],
            "daemon": [] if (snap.daemons or not self.daemon_wanted) else ["none"],
        }

    def wait_settled(self, bound):
        deadline = time.monotonic() + bound
        while True:
            snap = self.scan()
            if not any(self.problems(snap).values()) or time.monotonic() >= deadline:
                return snap
            time.sleep(0.5)

    def sampler(self):
        """Continuous checks between and during faults (twice a second)."""
        previous, gap_since = None, None
        while not self.done.wait(SAMPLE_EVERY):
            snap = self.scan()
            now = time.monotonic()
            with self.lock:
                stopped = {n: t for n, t in self.stopped.items() if n not in self.busy}
                wanted = self.daemon_wanted
            if previous is not None:
                for name, pids in snap.programs.items():
                    if len(pids) > 1 and sorted(previous.programs[name]) == sorted(pids):
                        self.count("duplicated", "%s runs twice: pids %s" % (name, pids),
                                   key=(name, tuple(sorted(pids))))
                    if (name in stopped and now - stopped[name] > 1.0 and pids
                            and previous.programs[name] == pids):
                        self.count("stopped_but_running", "%s was stopped by the user, runs as %s"
                                   % (name, pids), key=(name, tuple(pids)))
                if len(snap.daemons) > 1 and sorted(previous.daemons) == sorted(snap.daemons):
                    self.count("duplicated", "two usrsvcd for one config: %s" % snap.daemons,
                               key=("usrsvcd", tuple(sorted(snap.daemons))))
            if wanted and not snap.daemons:
                gap_since = gap_since or now
                if now - gap_since > DAEMON_GAP_BOUND:
                    self.count("daemon_gaps", "no usrsvcd for %.0f s" % (now - gap_since),
                               key=("gap", gap_since))
            else:
                gap_since = None
            self.check_decoys()
            previous = snap

    def check_decoys(self):
        with self.lock:
            for index, proc in enumerate(self.decoys):
                if proc.poll() is not None and not proc.ours:
                    self.decoys[index] = self.start_decoy(index)
                    dead = proc
                    break
            else:
                return
        self.count("decoys_killed", "decoy pid %d died (%s)" % (dead.pid, dead.returncode))

    def settle(self, fault, before):
        """Wait for the wanted state; count what is still wrong, and any pid that changed
        although the fault did not touch its program."""
        begun = time.monotonic()
        snap = self.wait_settled(SETTLE_BOUND)
        problems = self.problems(snap)
        self.log("  settled in %.2f s%s" % (time.monotonic() - begun, "" if not any(
            problems.values()) else ": still " + repr({k: v for k, v in problems.items() if v})))
        for name in problems["lost"]:
            self.count("lost", "%s not running %.0f s after %s" % (name, SETTLE_BOUND, fault.kind))
        for name in problems["duplicated"]:
            self.count("duplicated", "%s runs as %s after %s" % (name, snap.programs[name], fault.kind),
                       key=(name, tuple(sorted(snap.programs[name]))))
        for name in problems["stopped_but_running"]:
            self.count("stopped_but_running", "%s stopped by the user, runs as %s after %s" % (
                name, snap.programs[name], fault.kind), key=(name, tuple(snap.programs[name])))
        for name in self.names:
            old, new = before.pid(name), snap.pid(name)
            if name not in fault.targets and old and new and old != new:
                self.count("disturbed", "%s: pid %d -> %d, %s did not touch it" % (
                    name, old, new, fault.kind))
        if problems["daemon"]:
            self.log("no usrsvcd after %s: starting one" % fault.kind)
            self.daemon_up()
        # put things back as they should be, so the next faults start from a known state
        if problems["lost"]:
            self.cli("start", *problems["lost"], expect=None)
        if problems["stopped_but_running"]:
            self.cli("stop", *problems["stopped_but_running"], expect=None)
        if any(problems.values()):
            snap = self.wait_settled(SETTLE_BOUND)
        else:
            self.check_status(snap)
            self.check_pidfiles(snap)
        return snap

    def pidfile_errors(self, snap):
        """Pidfiles that do not name the live process: program (or usrsvcd) -> content."""
        def content(name):
            try:
                with open(os.path.join(self.home, "run", name + ".pid")) as handle:
                    return handle.read().strip()
            except OSError as err:
                return "(%s)" % err.strerror

        wrong = {}
        for name in self.names:
            pid = snap.pid(name)
            if pid and content(name) != str(pid):
                wrong[name] = (content(name), pid)
        if len(snap.daemons) == 1 and content("usrsvcd") != str(snap.daemons[0]):
            wrong["usrsvcd"] = (content("usrsvcd"), snap.daemons[0])
        return wrong

    def check_pidfiles(self, snap):
        """A damaged pidfile of a running program (or of usrsvcd) is rewritten by the
        daemon's next reconcile (docs/daemon.md)."""
        deadline = time.monotonic() + PIDFILE_BOUND
        while True:
            wrong = self.pidfile_errors(snap)
            if not wrong or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
            fresh = self.scan()
            if any(fresh.pid(n) != snap.pid(n) for n in self.names) or fresh.daemons != snap.daemons:
                return  # something moved meanwhile: the next settle looks again
        for name, (text, pid) in sorted(wrong.items()):
            self.count("pidfile_wrong", "%s.pid holds %r %.0f s after the fault, the process is "
                       "pid %d" % (name, text, PIDFILE_BOUND, pid), key=(name, text, pid))

    def check_status(self, snap):
        """What usrsvc status says of each program must be what runs (pid included)."""
        proc = self.cli("--json", "status", "all")
        if proc is None:
            return
        try:
            shown = {item["name"]: item for item in json.loads(proc.stdout)}
        except (ValueError, KeyError, TypeError):
            self.count("status_wrong", "usrsvc --json status all printed no JSON list: %r"
                       % proc.stdout[:300])
            return
        with self.lock:
            stopped = set(self.stopped)
        for name in self.names:
            item = shown.get(name) or {}
            want = ("stopped_by_user", None) if name in stopped else ("running", snap.pid(name))
            if (item.get("state"), item.get("pid")) != want:
                self.count("status_wrong", "usrsvc status %s: %s pid %s, but %s pid %s runs" % (
                    name, item.get("state"), item.get("pid"), want[0], snap.programs[name]),
                    key=(name, item.get("state"), item.get("pid"), want))

    def check_tracebacks_in_daemon_log(self):
        path = os.path.join(self.home, "usrsvcd.log")
        try:
            with open(path, errors="replace") as handle:
                text = handle.read()
        except OSError:
            return
        for match in re.finditer(r"Traceback", text):
            self.count("tracebacks", "usrsvcd.log:\n" + text[max(0, match.start() - 300):match.start() + 2000])

    def check_logs(self):
        """Each spewer's kept backups and live log, in order: every process's numbered
        lines must follow each other with no gap, no repeat and no torn line. A rotation
        cut short by a SIGKILL of usrsvcd may leave its copy in a hidden temp file
        (.NAME.log.*.tmp, rotate.py: "at worst twice, never nowhere"): lines found
        there are not counted as lost; the leftovers are reported."""
        logs = os.path.join(self.home, "logs")
        from usrsvcmod.proc.rotate import collapse_problem

        problem = collapse_problem(os.path.join(logs, "x.log"))
        if problem:  # copy-and-truncate loses lines by design (docs/logs.md)
            self.log_check_skipped = problem
            self.log("log check skipped: %s, so rotation copies and truncates" % problem)
            return
        for name in self.spewers:
            path = os.path.join(logs, name + ".log")
            parts = []
            for index in range(SPEW_BACKUPS, 0, -1):
                try:
                    with open("%s.%d" % (path, index), "rb") as handle:
                        parts.append(handle.read())
                except FileNotFoundError:
                    continue
            try:
                with open(path, "rb") as handle:
                    parts.append(handle.read())
            except FileNotFoundError:
                continue
            spare = set()
            temps = [t for t in os.listdir(logs) if t.startswith("." + name + ".log.")
                     and t.endswith(".tmp")]
            for temp in temps:
                with open(os.path.join(logs, temp), "rb") as handle:
                    for line in handle.read().split(b"\n"):
                        match = LINE.match(line)
                        if match:
                            spare.add((int(match.group(1)), int(match.group(2))))
            last, bad = {}, []
            for number, line in enumerate(b"".join(parts).split(b"\n")):
                if not line or line.startswith(b"service "):
                    continue
                match = LINE.match(line)
                if not match:
                    if number > 0:  # the oldest backup may start inside a line
                        bad.append("torn line %r" % line[:90])
                    continue
                pid, seq = int(match.group(1)), int(match.group(2))
                if pid in last and seq != last[pid] + 1:
                    missing = range(last[pid] + 1, seq)
                    if seq <= last[pid] or not all((pid, n) in spare for n in missing):
                        bad.append("pid %d: line %d after line %d" % (pid, seq, last[pid]))
                last[pid] = seq
            self.log("log %s: %d backups, %d processes, %d problems%s" % (
                name, len(parts) - 1, len(last), len(bad), "; rotation leftovers: %s" % (
                    " ".join(temps)) if temps else ""))
            if temps:
                self.leftovers += len(temps)
            for problem in bad[:5]:
                self.count("log_lines_lost", "%s.log: %s" % (name, problem))
            if len(bad) > 5:
                with self.lock:
                    self.counts["log_lines_lost"] += len(bad) - 5
