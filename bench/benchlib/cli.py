"""bench/run: argv -> install peers -> measure -> results.json, RESULTS.md, charts."""

import argparse
import dataclasses
import datetime
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import time
import traceback

from . import api, install, measure, peers, procs, report, soak_section
from .world import BenchError, World

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(BENCH_DIR)
CACHE = os.path.join(BENCH_DIR, ".cache")
PEER_KEYS = ["usrsvc-1.5.13", "supervisord", "circus", "pm2"]


@dataclasses.dataclass
class Plan:
    mode: str
    ns: list                 # one world per N (sleep variant)
    crash_ns: list
    crash_trials: int
    status_trials: int
    floor_trials: int
    idle_ns: list
    idle_window: float
    startstop_ns: list
    cycles: int
    restart_ns: list         # manager restart, manager kill -9, reload
    shell_n: int
    settle: float            # success_seconds / startsecs for every peer
    pre_idle: float          # quiet time before the idle window
    crash_wait: tuple        # random extra wait before each kill
    mass_ns: list            # mass crash: every service SIGKILLed at once
    mass_trials: int
    mass_wait: float         # extra quiet time (beyond settle) before each mass kill
    peer_max_n: int = 0      # largest N a peer (not ours, not the floor) is run at; 0: any


PLANS = {
    "smoke": Plan("smoke", [3], [3], 1, 1, 1, [3], 1.0, [3], 1, [3], 2, 0.5, 0.5, (0.0, 0.2),
                  [3], 1, 0.3),
    "quick": Plan("quick", [10, 100], [10, 100], 5, 10, 20, [10, 100], 8.0, [100], 1, [100],
                  4, 1.0, 1.0, (0.2, 1.2), [10, 100], 3, 1.0),
    "full": Plan("full", [10, 100, 1000, 10000], [10, 100, 10000], 15, 20, 30,
                 [10, 100, 1000, 10000], 60.0, [10, 100, 1000], 3, [10, 100], 10, 1.0, 3.0,
                 (0.2, 2.2), [10, 100, 1000], 5, 1.0, 1000),
}

# --only names -> the measurements they run (bring_up always runs)
SCENARIOS = {
    "crash_recovery": {"crash_recovery"},
    "mass_crash": {"mass_crash"},
    "idle": {"idle"},
    "status": {"status_one", "status_all"},
    "reload": {"reload"},
    "start_stop": {"start_stop"},
    "manager": {"manager_restart", "manager_kill"},
    "shell_stop": {"shell_stop"},
    "api": {"api"},
}


class Interrupted(BaseException):
    """A signal asked the run to stop; like KeyboardInterrupt, no step may catch it."""


def log(msg, started=[None]):  # noqa: B006 - one clock per process is the point
    if started[0] is None:
        started[0] = time.monotonic()
    print(f"[{time.monotonic() - started[0]:7.1f}s] {msg}", file=sys.stderr, flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description="Measure usrsvc against usrsvc 1.5.13, supervisord, circus and pm2.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true", help="every N and trial count (long)")
    mode.add_argument("--smoke", action="store_true",
                      help="one trial of each measurement, ours only (uses usrsvc on PATH)")
    parser.add_argument("--peers", help="comma list of peers to run (default: all): "
                        + ",".join(PEER_KEYS) + ",ours,floor")
    parser.add_argument("--ours-from-path", action="store_true",
                        help="use the usrsvc/usrsvcd found on PATH instead of installing")
    parser.add_argument("--ours-bin", help="directory holding usrsvc and usrsvcd to use")
    parser.add_argument("--out", help="where to write results (default: bench/ for --full, "
                        "bench/.cache/quick for quick, bench/.cache/only-NAMES with --only, "
                        "a temp dir for --smoke)")
    parser.add_argument("--keep", metavar="DIR",
                        help="copy each world's files (daemon logs, pidfiles, config) "
                             "into DIR before it is deleted")
    parser.add_argument("--no-charts", action="store_true", help="skip the PNG charts")
    parser.add_argument("--seed", type=int, default=None, help="random seed (kill order)")
    parser.add_argument("--render", metavar="DIR",
                        help="only rewrite DIR/RESULTS.md and charts from DIR/results.json")
    parser.add_argument("--ns", help="comma list of N to run instead of the mode's (e.g. 10)")
    parser.add_argument("--trials", type=int, help="trials for crash recovery, mass crash and status")
    parser.add_argument("--idle", type=float, help="idle window in seconds")
    parser.add_argument("--only", help="comma list of scenarios to run (default: all): "
                        + ",".join(SCENARIOS))
    parser.add_argument("--mass-ns", help="comma list of N for the mass crash (e.g. "
                        "10,100,1000; default: the mode's, or --ns)")
    return parser.parse_args(argv)


def machine_info():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "kernel": platform.release(), "cpu": cpu,
            "python": platform.python_version(), "machine": platform.machine()}


def command_version(argv):
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    lines = [l for l in out.decode("utf-8", "replace").splitlines() if l.strip()]
    return lines[-1].strip() if lines else "?"


def python_of(script):
    """The interpreter in a console script's shebang (ours' venv python)."""
    try:
        with open(script, "rb") as handle:
            first = handle.readline().decode().strip()
    except OSError:
        return sys.executable
    if first.startswith("#!") and "python" in first:
        return first[2:].split()[0]
    return sys.executable


class Runner:
    def __init__(self, args, plan, tracker):
        self.args = args
        self.plan = plan
        self.tracker = tracker
        self.rng = random.Random(args.seed)
        self.records = []
        self.errors = []
        self.peers = []
        self.skipped = {}
        self.worlds = []
        self.keep = getattr(args, "keep", None)
        self.ours_python = sys.executable
        self.install_log = os.path.join(CACHE, "install.log")
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.t0 = time.monotonic()
        self.measures = set().union(*SCENARIOS.values())
        if args.only:
            self.measures = set().union(*(SCENARIOS[k] for k in args.only.split(",")))

    def wants(self, measure_name):
        return measure_name in self.measures

    def world_measures(self, peer, n):
        """The measurements a sleep world of this peer and N would run."""
        plan = self.plan
        if plan.peer_max_n and n > plan.peer_max_n and not peer.is_ours \
                and not isinstance(peer, peers.Floor):
            self.skipped.setdefault(f"{peer.key} N>{plan.peer_max_n}", (
                f"not run above N={plan.peer_max_n}: a full run's time budget (their "
                "bring-up and status grow with N; see the N=1000 figures)"))
            return set()
        if isinstance(peer, peers.Floor):
            planned = {"crash_recovery": n in plan.crash_ns, "mass_crash": n in plan.mass_ns}
        else:
            planned = {"idle": n in plan.idle_ns, "status_one": True, "status_all": True,
                       "crash_recovery": n in plan.crash_ns, "mass_crash": n in plan.mass_ns,
                       "reload": n in plan.restart_ns, "start_stop": n in plan.startstop_ns,
                       "manager_restart": n in plan.restart_ns,
                       "manager_kill": n in plan.restart_ns,
                       "api": peer.is_ours and n in plan.idle_ns}
        return {m for m, yes in planned.items() if yes and self.wants(m)}

    # -- peers ---------------------------------------------------------------
    def wanted(self, key):
        if self.args.smoke:
            return key in ("ours", "floor")
        if not self.args.peers:
            return True
        return key in self.args.peers.split(",")

    def prepare(self):
        os.makedirs(CACHE, exist_ok=True)
        if self.wanted("ours"):
            self.prepare_ours()
        makers = {
            "usrsvc-1.5.13": lambda: peers.Usrsvc15(install.python_peer(CACHE, "usrsvc-1.5.13",
                                                                        self.install_log)),
            "supervisord": lambda: peers.Supervisord(install.python_peer(CACHE, "supervisord",
                                                                         self.install_log)),
            "circus": lambda: peers.Circus(install.python_peer(CACHE, "circus", self.install_log)),
            "pm2": lambda: peers.PM2(install.pm2(CACHE, self.install_log)),
        }
        for key in PEER_KEYS:
            if not self.wanted(key):
                continue
            log(f"installing {key} (cache: {CACHE})")
            try:
                peer = makers[key]()
            except install.InstallError as err:
                self.skip(key, f"did not install: {err}")
                continue
            peer.version = self.peer_version(peer)
            self.peers.append(peer)
        if self.wanted("floor"):
            floor = peers.Floor(sys.executable)
            self.peers.append(floor)

    def prepare_ours(self):
        if self.args.ours_bin:
            bindir = self.args.ours_bin
        elif os.environ.get("USRSVC_BENCH_OURS_BIN"):
            bindir = os.environ["USRSVC_BENCH_OURS_BIN"]
        elif self.args.ours_from_path or self.args.smoke:
            beside = os.path.join(os.path.dirname(sys.executable), "usrsvc")
            found = shutil.which("usrsvc") or (beside if os.access(beside, os.X_OK) else None)
            if not found:
                self.skip("ours", "usrsvc not found on PATH nor beside " + sys.executable)
                return
            bindir = os.path.dirname(found)
        else:
            log(f"installing ours from {ROOT} into {CACHE}/venv-ours")
            try:
                bindir = install.ours(CACHE, ROOT, self.install_log)
            except install.InstallError as err:
                self.skip("ours", f"did not install from the checkout: {err}")
                return
        for name in ("usrsvc", "usrsvcd"):
            if not os.access(os.path.join(bindir, name), os.X_OK):
                self.skip("ours", f"{name} not found in {bindir}")
                return
        peer = peers.Ours(bindir)
        peer.version = command_version([peer.bin("usrsvc"), "--version"])
        self.ours_python = python_of(peer.bin("usrsvc"))
        self.peers.append(peer)

    def peer_version(self, peer):
        if isinstance(peer, peers.Usrsvc15):
            return "1.5.13"
        if isinstance(peer, peers.Supervisord):
            return command_version([peer.bin("supervisord"), "--version"])
        if isinstance(peer, peers.Circus):
            return command_version([peer.bin("circusd"), "--version"])
        if isinstance(peer, peers.PM2):
            return self.pm2_version(peer)
        return "?"

    @staticmethod
    def pm2_version(peer):
        try:
            with open(os.path.join(os.path.dirname(peer.bindir), "pm2", "package.json")) as h:
                return json.load(h)["version"]
        except (OSError, ValueError, KeyError):
            return "?"

    def skip(self, key, reason):
        log(f"SKIP {key}: {reason}")
        self.skipped[key] = reason

    # -- recording -----------------------------------------------------------
    def record(self, measure_name, peer, n, data):
        self.records.append({"measure": measure_name, "peer": peer.key, "n": n, **data})

    def step(self, measure_name, peer, n, func, *args):
        log(f"{peer.key} N={n}: {measure_name}")
        try:
            data = func(*args)
        except (BenchError, subprocess.TimeoutExpired, OSError) as err:
            self.error(peer, n, measure_name, str(err))
            return None
        except Exception:  # a bug in one step must not lose the whole run
            self.error(peer, n, measure_name, traceback.format_exc())
            return None
        self.record(measure_name, peer, n, data)
        brief = report.brief(measure_name, data)
        if brief:
            log(f"  {brief}")
        return data

    def error(self, peer, n, measure_name, text):
        log(f"  ERROR {peer.key} N={n} {measure_name}: {text.strip().splitlines()[-1]}")
        self.errors.append({"peer": peer.key, "n": n, "measure": measure_name,
                            "error": text[-3000:]})

    # -- the run -------------------------------------------------------------
    def floors(self):
        py = self.ours_python
        for label, argv in (("python3 -c pass", [py, "-c", "pass"]),
                            ("python3 -c 'import psutil'", [py, "-c", "import psutil"])):
            try:
                data = measure.time_floor(self.tracker, argv, self.plan.floor_trials)
            except BenchError as err:
                log(f"floor {label} not measured: {err}")
                self.errors.append({"peer": "floor", "n": 0, "measure": "floor",
                                    "error": str(err)})
                continue
            data["label"] = label
            self.records.append({"measure": "floor", "peer": "floor", "n": 0, **data})
            log(f"floor {label}: {report.brief('floor', data)}")

    def new_world(self, peer, n, variant, index):
        world = World(self.tracker, peer, n, variant, index, self.plan.settle)
        self.worlds.append(world)
        return world

    def close_world(self, peer, world):
        """End the world fast: SIGKILL its daemon, then everything it marked.

        A graceful shutdown would only add minutes (supervisord stops its
        programs one by one) and measure nothing.
        """
        if isinstance(peer, peers.Floor):
            peer.shutdown(world)
        else:
            pid = peer.daemon_pid(world)
            if pid:
                self.tracker.kill(pid, signal.SIGKILL)
        world.sweep()
        world.remove(self.keep)
        self.worlds.remove(world)

    def run_peer(self, peer):
        plan = self.plan
        index = 0
        ns = sorted(set(plan.crash_ns) | set(plan.mass_ns)) if isinstance(peer, peers.Floor) \
            else sorted(set(plan.ns) | set(plan.mass_ns))
        for n in ns:
            if not self.world_measures(peer, n):
                continue
            world = self.new_world(peer, n, "sleep", index)
            index += 1
            try:
                self.run_world(peer, world)
            finally:
                self.close_world(peer, world)
        if isinstance(peer, peers.Floor) or not self.wants("shell_stop"):
            return
        world = self.new_world(peer, plan.shell_n, "shell", index)
        try:
            if self.setup(peer, world) and \
                    self.step("bring_up", peer, world.n, self.bring_up, peer, world) is not None:
                self.step("shell_stop", peer, world.n, measure.shell_stop, peer, world)
        finally:
            self.close_world(peer, world)

    def setup(self, peer, world):
        try:
            peer.setup(world)
        except Exception:  # noqa: BLE001 - recorded, and the run goes on
            self.error(peer, world.n, "setup", traceback.format_exc())
            return False
        return True

    def bring_up(self, peer, world):
        t0 = time.perf_counter()
        peer.bring_up(world)
        return {"seconds": time.perf_counter() - t0, "variant": world.variant}

    def run_world(self, peer, world):
        plan, n = self.plan, world.n
        todo = self.world_measures(peer, n)
        if not self.setup(peer, world):
            return
        if self.step("bring_up", peer, n, self.bring_up, peer, world) is None:
            return
        time.sleep(plan.settle + plan.pre_idle)
        if "idle" in todo and n >= 1000:  # the bring-up's tail (a first pass over
            # thousands of programs) is not idling: wait until the daemon is still
            waited = measure.wait_still(peer, world, timeout=peer.pass_period * 2 + 60)
            log(f"  the daemon was still after {waited:.1f} s more")
        if "idle" in todo:
            window = plan.idle_window
            if plan.mode != "smoke":  # long enough to hold at least one periodic pass
                window = max(window, peer.pass_period * 1.1 + 1)
            self.step("idle", peer, n, measure.idle_cost, peer, world, window)
        name = world.names[n // 2]
        if "status_one" in todo:
            self.step("status_one", peer, n, measure.time_command, world,
                      peer.status_one(world, name), plan.status_trials)
        if "status_all" in todo:
            self.step("status_all", peer, n, measure.time_command, world,
                      peer.status_all(world), plan.status_trials)
        if "crash_recovery" in todo:  # before the API's load (at 10,000 programs 200
            # clients left the daemon at 244 MB, and every later fork pays for it)
            self.step("crash_recovery", peer, n, measure.crash_recovery, world,
                      plan.crash_trials, self.rng, 30.0, plan.crash_wait)
        if "api" in todo:  # still unused until now: its idle cost is measured first
            self.step("api", peer, n, api.api_cost, peer, world, plan.status_trials, self.rng,
                      min(plan.idle_window, 10.0), plan.crash_trials, plan.crash_wait)
        if "mass_crash" in todo:
            self.step("mass_crash", peer, n, measure.mass_crash, peer, world,
                      plan.mass_trials, plan.mass_wait)
        if "reload" in todo:
            self.step("reload", peer, n, measure.reload, peer, world)
        if "start_stop" in todo:
            self.step("start_stop", peer, n, measure.start_stop, peer, world, plan.cycles)
        if "manager_restart" in todo:
            self.step("manager_restart", peer, n, measure.manager_restart, peer, world)
        if "manager_kill" in todo:
            self.step("manager_kill", peer, n, measure.manager_kill, peer, world)

    def run(self, checkpoint):
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.t0 = time.monotonic()
        self.prepare()
        self.floors()
        for peer in self.peers:
            log(f"== {peer.label} {peer.version}")
            self.run_peer(peer)
            checkpoint(self.snapshot())
        return self.snapshot()

    def snapshot(self):
        """Everything measured so far, as written to results.json."""
        return {
            "mode": self.plan.mode,
            "started": self.started.isoformat(timespec="seconds"),
            "duration_s": round(time.monotonic() - self.t0, 1),
            "machine": machine_info(),
            "plan": dataclasses.asdict(self.plan),
            "peers": {p.key: {"label": p.label, "version": p.version} for p in self.peers},
            "skipped": self.skipped,
            "records": self.records,
            "errors": self.errors,
        }


def out_dir(args):
    if args.out:
        return os.path.abspath(args.out)
    if args.smoke:
        import tempfile
        return tempfile.mkdtemp(prefix="usrsvc-bench-smoke-")
    if args.full and not args.only:
        return BENCH_DIR
    if args.only:  # a part of a run never overwrites bench/RESULTS.md unless --out says so
        return os.path.join(CACHE, "only-" + args.only.replace(",", "-"))
    return os.path.join(CACHE, "quick")


def install_signal_handlers():
    def interrupted(signum, _frame):
        raise Interrupted(f"signal {signum}")
    # SIGINT too: a shell starts background jobs with SIGINT ignored, and
    # the bench must still clean up when it is interrupted
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)


def write_outputs(results, outdir, args):
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "results.json"), "w") as handle:
        json.dump(results, handle, indent=1)
    charts = []
    if not args.smoke and not args.no_charts:
        charts = draw_charts(outdir)
    path = os.path.join(outdir, "RESULTS.md")
    try:  # bench/soak's section is not ours to drop
        with open(path) as handle:
            kept = soak_section.extract(handle.read())
    except OSError:
        kept = ""
    with open(path, "w") as handle:
        handle.write(report.markdown(results, charts) + ("\n" + kept if kept else ""))
    log(f"wrote {outdir}/RESULTS.md and results.json")


def draw_charts(outdir):
    log("drawing charts (matplotlib in the bench's own venv)")
    try:
        python = install.bench_venv(CACHE, os.path.join(CACHE, "install.log"))
    except install.InstallError as err:
        log(f"no charts: {err}")
        return []
    code = subprocess.call([python, "-m", "benchlib.charts", outdir], cwd=BENCH_DIR,
                           stdin=subprocess.DEVNULL)
    if code != 0:
        log("chart drawing failed; RESULTS.md is written without charts")
        return []
    return [name for name in ("crash_recovery.png", "mass_crash.png", "scaling.png")
            if os.path.exists(os.path.join(outdir, name))]


def adjust(plan, args):
    """Apply --ns / --mass-ns / --trials / --idle to a mode's plan."""
    changes = {}
    if args.ns:
        ns = [int(v) for v in args.ns.split(",")]
        for field in ("ns", "crash_ns", "idle_ns", "startstop_ns", "restart_ns", "mass_ns"):
            kept = [n for n in ns if n in getattr(plan, field)] or ns
            changes[field] = kept if field != "ns" else ns
    if args.mass_ns:
        changes["mass_ns"] = [int(v) for v in args.mass_ns.split(",")]
    if args.trials:
        changes["crash_trials"] = changes["status_trials"] = args.trials
        changes["mass_trials"] = args.trials
    if args.idle:
        changes["idle_window"] = args.idle
    return dataclasses.replace(plan, **changes)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    unknown = set(args.only.split(",")) - set(SCENARIOS) if args.only else set()
    if unknown:
        print(f"bench/run: unknown scenario(s) {', '.join(sorted(unknown))}; known: "
              + ", ".join(SCENARIOS), file=sys.stderr)
        return 2
    if args.render:
        with open(os.path.join(args.render, "results.json")) as handle:
            results = json.load(handle)
        write_outputs(results, os.path.abspath(args.render), args)
        return 0
    plan = adjust(PLANS["smoke" if args.smoke else "full" if args.full else "quick"], args)
    run_id = f"{random.SystemRandom().randint(10000, 99999)}"
    tracker = procs.Tracker(run_id, "9" + run_id)
    install_signal_handlers()
    runner = Runner(args, plan, tracker)
    log(f"bench run {run_id}, mode {plan.mode}")
    outdir = out_dir(args)
    results, status = None, 0

    def checkpoint(snapshot):
        os.makedirs(outdir, exist_ok=True)
        with open(os.path.join(outdir, "results.json"), "w") as handle:
            json.dump(snapshot, handle, indent=1)

    try:
        results = runner.run(checkpoint)
    except (KeyboardInterrupt, Interrupted) as why:
        log(f"interrupted ({why}): cleaning up")
        results = runner.snapshot()
        results["interrupted"] = str(why)
        status = 130
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not stop the cleanup
        for world in list(runner.worlds):
            world.sweep()
            world.remove(runner.keep)
        left = tracker.cleanup()
        if left:
            log(f"cleanup killed {left} leftover processes")
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if results["records"]:
        write_outputs(results, outdir, args)
    if args.smoke and not args.out:  # nothing to keep: show the targets, drop the files
        print(report.targets_text(results))
        shutil.rmtree(outdir, ignore_errors=True)
    if status:
        return status
    if args.smoke:
        return smoke_verdict(results, runner.measures)
    return 0


def smoke_verdict(results, wanted):
    if "ours" in results["skipped"]:
        log(f"smoke: ours not measured: {results['skipped']['ours']}")
        return 1
    ours_errors = [e for e in results["errors"] if e["peer"] == "ours"]
    measured = {r["measure"] for r in results["records"] if r["peer"] == "ours"}
    expected = {"bring_up", "idle", "status_one", "status_all", "crash_recovery", "reload",
                "start_stop", "manager_restart", "manager_kill", "shell_stop", "mass_crash",
                "api"}
    expected &= wanted | {"bring_up"}
    missing = expected - measured
    if ours_errors or missing:
        log(f"smoke: FAILED ({len(ours_errors)} errors; missing: {sorted(missing)})")
        return 1
    log("smoke: every measurement ran against ours")
    return 0
