#!/usr/bin/env python3
"""A chaos soak: N programs under a real usrsvcd while seeded random faults fire.

  soak.py [--duration SECONDS | --faults K] [--programs N] [--seed SEED] [--only KINDS]
          [--keep] [--json FILE] [--schedule K]

Run it with the interpreter of the venv usrsvc is installed in (the commands are
taken from beside it, else from PATH), e.g. `.venv/bin/python tests/soak/soak.py`.
Everything runs in a temporary HOME; every process the soak starts carries the
run's token in its argv and is killed by pid at the end, also on failure or
Ctrl-C. Exit 0 when every count is 0, 1 otherwise; the report gives the seed
and the command that replays the same fault sequence (--seed S --faults K:
the same K faults in the same order; their timing may differ).

The faults (tests/soak/schedule.py) and the checks are described in
tests/soak/README.md.
"""

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SERVICE = os.path.join(os.path.dirname(HERE), "helpers", "service.py")
sys.path.insert(0, HERE)

from schedule import WEIGHTS, Schedule  # noqa: E402

COUNTS = (
    "lost",                      # should run, not running after SETTLE_BOUND
    "duplicated",                # two live instances of one program (or two daemons)
    "stopped_but_running",       # stopped by the user, yet alive
    "disturbed",                 # a pid changed with no fault touching that program
    "decoys_killed",             # a decoy (foreign pid planted in a pidfile) died
    "daemon_gaps",               # no usrsvcd for over DAEMON_GAP_BOUND while it should run
    "daemon_stop_left_running",  # usrsvcd stop returned, the daemon still ran
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


def command_path(name):
    beside = os.path.join(os.path.dirname(sys.executable), name)
    return beside if os.path.exists(beside) else (shutil.which(name) or name)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


class Snapshot:
    """Who runs now: program -> live pids, the daemon pids, every pid of the run."""

    def __init__(self, names):
        self.programs = {name: [] for name in names}
        self.daemons = []
        self.ours = []

    def pid(self, name):
        pids = self.programs[name]
        return pids[0] if len(pids) == 1 else None


class Soak:
    def __init__(self, seed, duration, programs, keep=False, out=sys.stdout, kinds=None,
                 faults=None):
        self.seed, self.duration, self.keep, self.out = seed, duration, keep, out
        self.max_faults = faults  # fire exactly this many (the duration is then no limit)
        self.kinds = sorted(kinds) if kinds else None
        self.token = "usrsvcsoak-" + uuid.uuid4().hex[:10]
        self.names = ["p%02d" % i for i in range(programs)]
        self.spewers = self.names[::5]
        self.words = {("%s-%s" % (self.token, name)).encode(): name for name in self.names}
        self.decoy_count = 2
        self.schedule = Schedule(seed, self.names, self.spewers, self.decoy_count, self.kinds)
        self.counts = dict.fromkeys(COUNTS, 0)
        self.fired = {}
        self.faults = []
        self.events = []
        self.lock = threading.Lock()
        self.stopped = {}        # user-stopped program -> when its stop returned
        self.busy = set()        # programs a fault is acting on right now
        self.daemon_wanted = False
        self.seen = set()        # (count, key) already counted, so one episode counts once
        self.decoys = []
        self.done = threading.Event()
        self.started = time.monotonic()
        self.cpu_before = cpu_times()
        self.error = None        # a traceback of the soak itself
        self.home = None
        self.leftovers = 0       # hidden temp files of rotations cut short (not a count)
        self.lock_timeouts = 0   # exit 11 in a concurrent burst (not a count)

    # bookkeeping ------------------------------------------------------------------------
    def log(self, text):
        line = "[%7.2fs] %s" % (time.monotonic() - self.started, text)
        with self.lock:
            self.events.append(line)
        if self.home:
            with open(os.path.join(self.home, "soak.log"), "a") as handle:
                handle.write(line + "\n")

    def count(self, what, detail, key=None):
        with self.lock:
            if key is not None:
                if (what, key) in self.seen:
                    return
                self.seen.add((what, key))
            self.counts[what] += 1
        self.log("COUNT %s: %s" % (what, detail))

    # setup ------------------------------------------------------------------------------
    def setup(self):
        self.home = tempfile.mkdtemp(prefix=self.token + "-")
        self.cfg = os.path.join(self.home, "usrsvc.cfg")
        for sub in ("run", "logs"):
            os.mkdir(os.path.join(self.home, sub))
        runtime = os.path.join(self.home, "xdg")
        os.mkdir(runtime, 0o700)
        self.environ = dict(os.environ, HOME=self.home, XDG_RUNTIME_DIR=runtime)
        self.environ.pop("USRSVC_CONFIG", None)
        self.usrsvc = [command_path("usrsvc"), "--config", self.cfg]
        self.usrsvcd = command_path("usrsvcd")
        self.write_config(self.good_config())
        for index in range(self.decoy_count):
            self.decoys.append(self.start_decoy(index))
        self.log("home %s, token %s, seed %d, %d programs (spewers: %s)" % (
            self.home, self.token, self.seed, len(self.names), " ".join(self.spewers)))
        self.daemon("start")
        self.daemon_wanted = True
        snap = self.wait_settled(60.0)
        problems = self.problems(snap)
        if any(problems.values()):
            raise RuntimeError("the programs did not come up: %s" % problems)
        return snap

    def good_config(self):
        lines = ["[Main]",
                 "pidfile = %s/run/usrsvcd.pid" % self.home,
                 "usrsvcd_stdout = %s/usrsvcd.log" % self.home,
                 "reconcile_interval = 2", "monitor_interval = 1", ""]
        for name in self.names:
            argv = [sys.executable, SERVICE, "%s-%s" % (self.token, name)]
            if name in self.spewers:
                argv += ["--spew", str(SPEW_LINES)]
            lines += ["[Program:%s]" % name,
                      "command = %s" % " ".join(argv),
                      "pidfile = %s/run/%s.pid" % (self.home, name),
                      "stdout = %s/logs/%s.log" % (self.home, name),
                      "success_seconds = 0.5",
                      "term_to_kill_seconds = 3",
                      # a program killed twice within a minute waits at most 2 s
                      "restart_delay_max = 2"]
            if name in self.spewers:
                lines += ["stdout_maxbytes = %d" % SPEW_MAXBYTES,
                          "stdout_backups = %d" % SPEW_BACKUPS]
            lines.append("")
        return "\n".join(lines)

    def bad_config(self, variant, name):
        good = self.good_config()
        section = "[Program:%s]\n" % name
        if variant == "syntax":
            return good + "\n[Program:broken\ncommand = x\n"
        if variant == "bad_value":
            return good.replace(section + "command", section + "success_seconds = soon\ncommand")
        if variant == "no_command":
            return good + "\n[Program:zz_nocommand]\npidfile = %s/run/zz.pid\nstdout = %s/logs/zz.log\n" % (
                self.home, self.home)
        # unknown_section_key: a key that does not exist
        return good.replace(section + "command", section + "restart_delya = 3\ncommand")

    def write_config(self, text):
        scratch = self.cfg + ".new"
        with open(scratch, "w") as handle:
            handle.write(text)
        os.chmod(scratch, 0o644)
        os.rename(scratch, self.cfg)

    def start_decoy(self, index):
        """A process of ours whose pid goes into pidfiles: nobody may signal it."""
        proc = subprocess.Popen([sys.executable, SERVICE, "%s-decoy%d" % (self.token, index)],
                                cwd=self.home, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        proc.ours = False  # set when the soak itself kills it
        return proc

    # commands ---------------------------------------------------------------------------
    def run(self, argv, expect=(0,)):
        """Run a command with a timeout; count hangs, tracebacks and unexpected exits."""
        shown = " ".join([os.path.basename(argv[0])]
                         + [a for a in argv[1:] if a not in ("--config", self.cfg)])
        begun = time.monotonic()
        try:
            proc = subprocess.run(argv, env=self.environ, cwd=self.home, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.count("hung_commands", "%s: no exit in %.0f s" % (shown, COMMAND_TIMEOUT))
            return None
        took = time.monotonic() - begun
        output = proc.stdout + proc.stderr
        self.log("  $ %s -> %d (%.2fs)" % (shown, proc.returncode, took))
        if "Traceback" in output:
            self.count("tracebacks", "%s:\n%s" % (shown, output[-3000:]))
        if expect is not None and proc.returncode not in expect:
            self.count("command_errors", "%s exited %d, expected %s:\n%s" % (
                shown, proc.returncode, "/".join(map(str, expect)), output.strip()[-1500:]))
        return proc

    def cli(self, *args, expect=(0,)):
        return self.run(self.usrsvc + list(args), expect=expect)

    def daemon(self, action, expect=(0,)):
        return self.run([self.usrsvcd, action, "--config", self.cfg], expect=expect)

    # looking --------------------------------------------------------------------------------
    def scan(self):
        snap = Snapshot(self.names)
        token = self.token.encode()
        title = ("usrsvcd: " + os.path.realpath(self.cfg)).encode()
        me = os.getpid()
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            pid = int(entry)
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as handle:
                    cmdline = handle.read()
            except OSError:
                continue
            if token not in cmdline or not alive(pid):
                continue
            snap.ours.append(pid)
            words = [w for w in cmdline.split(b"\0") if w]
            if len(words) == 1 and words[0].rstrip() == title:
                snap.daemons.append(pid)
                continue
            for word in words:
                name = self.words.get(word)
                if name:
                    snap.programs[name].append(pid)
                    break
        return snap

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

    # faults -----------------------------------------------------------------------------------
    def kill(self, pid, sig=signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    def kill_programs(self, names, wait=True):
        """SIGKILL the programs' processes; with ``wait``, return once they are dead (a
        settle that still saw a killed process alive would take it for the new one)."""
        snap = self.scan()
        pids = [pid for name in names for pid in snap.programs[name]]
        for pid in pids:
            self.kill(pid)
        if wait:
            self.wait_gone(pids)
        return pids

    def wait_gone(self, pids):
        self.wait(lambda: not any(alive(pid) for pid in pids), STOP_BOUND, every=0.01)

    def decoy_pid(self, index):
        with self.lock:
            return self.decoys[index].pid

    def do_kill_service(self, fault):
        self.kill_programs(fault.targets)

    def daemon_down(self, how):
        with self.lock:
            self.daemon_wanted = False
        if how == "kill":
            for pid in self.scan().daemons:
                self.kill(pid)
            self.wait(lambda: not self.scan().daemons, STOP_BOUND)
        else:
            proc = self.daemon("stop")
            if proc is not None and proc.returncode == 0:
                if not self.wait(lambda: not self.scan().daemons, STOP_BOUND):
                    pids = self.scan().daemons
                    self.count("daemon_stop_left_running",
                               "usrsvcd stop exited 0 and pid(s) %s still run" % pids)
                    for pid in pids:
                        self.kill(pid)

    def daemon_up(self):
        self.daemon("start")
        with self.lock:
            self.daemon_wanted = True

    def wait(self, predicate, bound, every=0.2):
        deadline = time.monotonic() + bound
        while not predicate():
            if time.monotonic() >= deadline:
                return False
            time.sleep(every)
        return True

    def do_kill_daemon(self, fault):
        self.daemon_down("kill")
        time.sleep(fault.get("down_seconds"))
        self.daemon_up()

    def do_daemon_restart(self, fault):
        self.daemon("restart")

    def do_daemon_stop_start(self, fault):
        self.daemon_down("stop")
        time.sleep(fault.get("down_seconds"))
        self.daemon_up()

    def do_daemon_pause(self, fault):
        pids = self.scan().daemons
        for pid in pids:
            self.kill(pid, signal.SIGSTOP)
        try:
            self.kill_programs(fault.targets)
            time.sleep(fault.get("seconds"))
            during = fault.get("during", "none")
            if during == "status":
                # a stopped daemon is still the daemon: found, said to run
                self.daemon("status")
            elif during == "restart":
                self.daemon("restart")
            elif during == "stop":
                self.daemon_down("stop")
                self.daemon_up()
        finally:
            for pid in pids:
                self.kill(pid, signal.SIGCONT)

    def damage(self, path, damage, decoy):
        if damage == "deleted":
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            return
        text = {"garbage": "12ab\x00 not a pid\n", "empty": "",
                "foreign": "%d\n" % self.decoy_pid(decoy or 0)}[damage]
        with open(path, "w") as handle:
            handle.write(text)

    def do_pidfile(self, fault):
        name = fault.get("program")
        self.damage(os.path.join(self.home, "run", name + ".pid"), fault.get("damage"),
                    fault.get("decoy"))
        then = fault.get("then")
        if then == "kill":
            self.kill_programs([name])
        elif then == "restart":
            self.cli("restart", name)
        elif then == "stop_start":
            self.cli("stop", name)
            if self.scan().programs[name]:
                self.count("stopped_but_running", "%s still runs after usrsvc stop (its pidfile "
                           "was %s)" % (name, fault.get("damage")))
            self.cli("start", name)

    def do_daemon_pidfile(self, fault):
        self.damage(os.path.join(self.home, "run", "usrsvcd.pid"), fault.get("damage"),
                    fault.get("decoy"))
        then = fault.get("then")
        if then == "status":
            self.daemon("status")
        elif then == "restart":
            self.daemon("restart")
        elif then == "stop_start":
            self.daemon_down("stop")
            self.daemon_up()

    def do_bad_config(self, fault):
        self.write_config(self.bad_config(fault.get("variant"), fault.get("program")))
        try:
            self.daemon("reread", expect=(130,))
            victim = fault.get("victim")
            if victim:
                # the daemon must still restart it, under the config it kept
                old = self.scan().programs[victim]
                self.kill_programs([victim])
                if not self.wait(lambda: [p for p in self.scan().programs[victim] if p not in old],
                                 SETTLE_BOUND):
                    self.count("lost", "%s not restarted within %.0f s while the config was "
                               "invalid (%s)" % (victim, SETTLE_BOUND, fault.get("variant")))
        finally:
            self.write_config(self.good_config())
        self.daemon("reread")

    def do_concurrent(self, fault):
        def shell(ops):
            # 11 ("locked by another usrsvc for over 30 s; try again") is a documented
            # answer when several shells queue on one program on a slow machine
            for op in ops:
                args = ("start", "all", "-P") if op[0] == "start_all" else op
                proc = self.cli(*args, expect=(0, 11))
                if proc is not None and proc.returncode == 11:
                    with self.lock:
                        self.lock_timeouts += 1

        threads = [threading.Thread(target=shell, args=(ops,)) for ops in fault.get("shells")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        final_stop, final_start = fault.get("final_stop"), fault.get("final_start")
        if final_stop:
            self.cli("stop", *final_stop)
        if final_start:
            self.cli("start", *final_start)
        now = time.monotonic()
        with self.lock:
            for name in fault.targets:
                self.stopped.pop(name, None)
            for name in final_stop:
                self.stopped[name] = now

    def do_storm(self, fault):
        def daemon():
            how = fault.get("daemon")
            if how == "restart":
                self.daemon("restart")
            elif how == "pause":
                self.do_daemon_pause(fault._replace(targets=(), params=(("seconds", 1.0),)))
            else:
                self.daemon_down("kill" if how == "kill_start" else "stop")
                self.daemon_up()

        helper = threading.Thread(target=daemon)
        helper.start()
        self.kill_programs(fault.get("victims"))
        try:
            self.do_concurrent(fault)
        finally:
            helper.join()

    def do_race(self, fault):
        name, action = fault.targets[0], fault.get("action")
        killed = self.kill_programs([name], wait=False)
        self.cli(action, name)
        self.wait_gone(killed)
        if action == "stop":
            with self.lock:
                self.stopped[name] = time.monotonic()

    def do_api(self, fault):
        """GETs over usrsvcd's API socket, when this usrsvcd has one (docs/api.md)."""
        import http.client
        import socket

        sockets = [os.path.join(root, "api.sock") for root, _, files
                   in os.walk(self.environ["XDG_RUNTIME_DIR"]) if "api.sock" in files]
        if not sockets:
            self.log("  no API socket: nothing to call")
            return
        for path in fault.get("paths"):
            conn = http.client.HTTPConnection("localhost", timeout=20)
            conn.sock = socket.socket(socket.AF_UNIX)
            conn.sock.settimeout(20)
            try:
                conn.sock.connect(sockets[0])
                conn.request("GET", path)
                reply = conn.getresponse()
                body = reply.read().decode("utf-8", "replace")
            except socket.timeout:
                self.count("hung_commands", "API GET %s: no answer in 20 s" % path)
                continue
            except OSError as err:
                self.count("command_errors", "API GET %s: %s" % (path, err))
                continue
            finally:
                conn.close()
            self.log("  API GET %s -> %d" % (path, reply.status))
            if "Traceback" in body:
                self.count("tracebacks", "API GET %s:\n%s" % (path, body[-2000:]))
            if reply.status != 200:
                self.count("command_errors", "API GET %s -> %d: %s" % (path, reply.status, body[:500]))

    def do_user_stop(self, fault):
        self.cli("stop", fault.targets[0])
        with self.lock:
            self.stopped[fault.targets[0]] = time.monotonic()

    def do_user_start(self, fault):
        with self.lock:
            self.stopped.pop(fault.targets[0], None)
        self.cli("start", fault.targets[0])

    def do_rotate(self, fault):
        args = ["logs", "--rotate"] + (["--force"] if fault.get("force") else [])
        self.cli(*(args + [fault.get("program")]))

    # the run ------------------------------------------------------------------------------------
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

    def loop(self, snap):
        deadline = self.started + self.duration
        for number, fault in enumerate(self.schedule, 1):
            time.sleep(self.schedule.gap())
            if self.max_faults is not None:
                if number > self.max_faults:
                    break
            elif time.monotonic() >= deadline:
                break
            self.faults.append(fault)
            self.fired[fault.kind] = self.fired.get(fault.kind, 0) + 1
            self.log("fault %d: %s %s %s" % (number, fault.kind, " ".join(fault.targets),
                                             dict(fault.params)))
            with self.lock:
                self.busy = set(fault.targets)
            try:
                getattr(self, "do_" + fault.kind)(fault)
            finally:
                with self.lock:
                    self.busy = set()
            snap = self.settle(fault, snap)

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

    def teardown(self):
        """Kill, by pid, every process of the run: daemons, services, decoys, commands."""
        self.done.set()
        with self.lock:
            decoys, self.decoys = list(self.decoys), []
        for proc in decoys:
            proc.ours = True
            proc.kill()
        for _ in range(5):
            snap = self.scan()
            pids = snap.daemons + snap.ours + self.in_home()
            if not pids:
                break
            for pid in pids:
                self.kill(pid)
            self.wait(lambda: not any(alive(p) for p in pids), 5.0)
        for proc in decoys:
            proc.wait(timeout=10)

    def in_home(self):
        """Our processes working in the soak's HOME (services run there), whatever their argv."""
        found, prefix = [], self.home.rstrip("/") + "/"
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                cwd = os.readlink("/proc/%s/cwd" % entry)
            except OSError:
                continue
            if (cwd.rstrip("/") + "/").startswith(prefix) and alive(int(entry)):
                found.append(int(entry))
        return found

    def execute(self):
        """Set up, fire faults for ``duration`` seconds, tear down; the report (a dict)."""
        try:
            snap = self.setup()
            sampler = threading.Thread(target=self.sampler, daemon=True)
            sampler.start()
            self.loop(snap)
            self.done.set()
            sampler.join()
            self.check_tracebacks_in_daemon_log()
        except Exception:  # the soak's own failure: reported with the seed, like a count
            import traceback

            self.error = traceback.format_exc()
            self.log("the soak itself failed:\n" + self.error)
        finally:
            self.done.set()
            if self.home:
                self.teardown()
                self.check_logs()
        return self.report()

    def report(self):
        mine, kids = cpu_times()
        digest = hashlib.sha256(repr(self.faults).encode()).hexdigest()[:16]
        return {"seed": self.seed, "duration": self.duration, "programs": len(self.names),
                "max_faults": self.max_faults, "error": self.error,
                "elapsed": round(time.monotonic() - self.started, 1),
                "counts": dict(self.counts), "faults": len(self.faults),
                "cpu_harness_s": round(mine - self.cpu_before[0], 1),
                "cpu_commands_s": round(kids - self.cpu_before[1], 1),
                "rotation_leftovers": self.leftovers, "lock_timeouts": self.lock_timeouts,
                "fired": dict(sorted(self.fired.items())), "schedule_digest": digest,
                "home": self.home, "reproduce": reproduce(self.seed, len(self.faults), len(self.names),
                                                      self.kinds)}

    def failed(self):
        return bool(self.error) or any(self.counts.values())

    def finish(self, result):
        """Print the report; remove HOME unless kept or failed (then its soak.log stays)."""
        text = format_report(result, self.events)
        print(text, file=self.out, flush=True)
        if self.home and not self.keep and not self.failed():
            shutil.rmtree(self.home, ignore_errors=True)
        return text


def cpu_times():
    """CPU seconds of this process and of its waited-for children, so far."""
    import resource

    mine = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime, kids.ru_utime + kids.ru_stime


def reproduce(seed, faults, programs, kinds=None):
    """The command that fires the same ``faults`` first faults of the seed's schedule."""
    here = os.path.relpath(os.path.abspath(__file__))
    python = os.path.relpath(sys.executable) if not os.path.isabs(here) else sys.executable
    line = "%s %s --seed %d --faults %d --programs %d" % (python, here, seed, faults, programs)
    return line + (" --only " + ",".join(kinds) if kinds else "")


def format_report(result, events=()):
    counts = result["counts"]
    planned = ("%d faults planned" % result["max_faults"] if result.get("max_faults") is not None
               else "%g s planned" % result["duration"])
    failed = bool(result.get("error")) or any(counts.values())
    lines = ["usrsvc soak: %s, seed %d, %s (%.0f s run), %d programs, %d faults" % (
        "FAILED" if failed else "ok", result["seed"], planned,
        result["elapsed"], result["programs"], result["faults"])]
    lines += ["  %-26s %d" % (name, value) for name, value in counts.items()]
    if "cpu_harness_s" in result:
        lines.append("CPU: %.1f s in the soak itself, %.1f s in the commands it ran" % (
            result["cpu_harness_s"], result["cpu_commands_s"]))
    if result.get("rotation_leftovers"):
        lines.append("note: %d rotation(s) cut short by a SIGKILL of usrsvcd left their copy in a "
                     "hidden temp file next to the log" % result["rotation_leftovers"])
    if result.get("lock_timeouts"):
        lines.append("note: %d command(s) of concurrent bursts gave up on a program's lock after "
                     "30 s (exit 11)" % result["lock_timeouts"])
    lines.append("faults fired: " + ", ".join("%s %d" % item for item in result["fired"].items()))
    lines.append("schedule digest: %s (the same seed gives the same one)" % result["schedule_digest"])
    if result.get("error"):
        lines.append("the soak itself failed:\n" + result["error"])
    if failed:
        lines.append("what happened (the full log is %s/soak.log):" % result["home"])
        lines += [event for event in events if "COUNT" in event][:40]
    lines.append("reproduce: " + result["reproduce"])
    return "\n".join(lines)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of faults (60)")
    parser.add_argument("--programs", type=int, default=20, help="programs under usrsvcd (20)")
    parser.add_argument("--seed", type=int, default=None, help="fault schedule seed (random)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary HOME")
    parser.add_argument("--json", help="also write the report as JSON to this file")
    parser.add_argument("--faults", type=int, help="fire exactly this many faults, however "
                        "long it takes (replays a run: its report gives the number)")
    parser.add_argument("--only", help="comma list of fault kinds to fire (default: all): "
                        + ",".join(sorted(WEIGHTS)))
    parser.add_argument("--schedule", type=int, metavar="K",
                        help="print the first K faults of the seed's schedule and exit")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10 ** 6)
    kinds = args.only.split(",") if args.only else None
    unknown = sorted(set(kinds or ()) - set(WEIGHTS))
    if unknown:
        print("soak: unknown fault kind(s) %s; known: %s" % (", ".join(unknown),
              ", ".join(sorted(WEIGHTS))), file=sys.stderr)
        return 2
    if args.schedule:
        names = ["p%02d" % i for i in range(args.programs)]
        for fault in Schedule(seed, names, names[::5], 2, kinds).take(args.schedule):
            print(fault.kind, " ".join(fault.targets), dict(fault.params))
        return 0
    soak = Soak(seed, args.duration, args.programs, keep=args.keep, kinds=kinds,
                faults=args.faults)

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    print("soak: seed %d, %s, %d programs" % (seed, "%d faults" % args.faults if args.faults
                                              else "%g s" % args.duration, args.programs), flush=True)
    result = soak.execute()
    soak.finish(result)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)
    return 1 if soak.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
