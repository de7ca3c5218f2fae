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

The faults (schedule.py, fired by faults.py) and the checks (checks.py) are described in
tests/soak/README.md.
"""

import argparse
import hashlib
import json
import os
import random
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

from checks import (COMMAND_TIMEOUT, COUNTS, SPEW_BACKUPS, SPEW_LINES,  # noqa: E402
                    SPEW_MAXBYTES, Checks)
from faults import Faults  # noqa: E402
from procs import Snapshot, alive, command_path, in_home  # noqa: E402
from schedule import WEIGHTS, Schedule  # noqa: E402


class Soak(Checks, Faults):
    """One soak run: set up, fire the schedule's faults, check, tear down (execute())."""

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
        self.log_check_skipped = None  # why, where rotation cannot collapse (tmpfs...)

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

    # the run ------------------------------------------------------------------------------------
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
            pids = snap.daemons + snap.ours + in_home(self.home)
            if not pids:
                break
            for pid in pids:
                self.kill(pid)
            self.wait(lambda: not any(alive(p) for p in pids), 5.0)
        for proc in decoys:
            proc.wait(timeout=10)

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
                "rotation_leftovers": self.leftovers, "log_check_skipped": self.log_check_skipped, "lock_timeouts": self.lock_timeouts,
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
    if result.get("log_check_skipped"):
        lines.append("note: log_lines_lost not checked: %s (rotation copies and truncates "
                     "there, which loses lines by design)" % result["log_check_skipped"])
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
    try:
        result = soak.execute()
    except KeyboardInterrupt:
        print("soak: interrupted; every process it started was killed (seed %d, home %s)"
              % (seed, soak.home), file=sys.stderr)
        return 130
    soak.finish(result)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)
    return 1 if soak.failed() else 0


if __name__ == "__main__":
    sys.exit(main())
