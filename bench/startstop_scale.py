#!/usr/bin/env python3
"""`usrsvc start all -P` / `stop all -P` of N programs: wall and CPU time.

    bench/startstop_scale.py --usrsvc .venv/bin/usrsvc --ns 100,1000 --settle 2,0.5

Each world is a private temporary HOME with N programs ``sleep <token><i>``
(the token is unique to the run). CPU is the user+sys time of the usrsvc
process and of every process it waited for (its zygote, the launches' first
children), from wait4. With ``--daemon`` a usrsvcd runs over the same config
while the CLI acts (it must not fight it). ``--profile DIR`` runs the CLI
under cProfile and leaves one .prof per action there. Everything started is
ended by pid (checked by token) before the world is removed.
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time


def write_world(home, n, settle, token, autostart=True):
    cfg = os.path.join(home, "usrsvc.cfg")
    lines = ["[DefaultSettings:d]", "success_seconds = %s" % settle,
             "autostart = %s" % autostart,
             "term_to_kill_seconds = 8", "stdout = %s/logs/all.log" % home, ""]
    for i in range(n):
        lines += ["[Program:p%05d]" % i, "defaults = d",
                  "command = sleep %s%05d" % (token, i),
                  "pidfile = %s/run/p%05d.pid" % (home, i), ""]
    for sub in ("logs", "run", "xdg"):
        os.mkdir(os.path.join(home, sub), 0o700)
    with open(cfg, "w") as f:
        f.write("\n".join(lines))
    return cfg


def ours(token):
    """Pids whose argv holds the token (our services, a usrsvcd over our config)."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                if token.encode() in f.read():
                    pids.append(int(name))
        except OSError:
            pass
    return pids


SPLIT = ("import atexit, resource, sys\n"
         "def report():\n"
         "    s, c = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))\n"
         "    sys.stderr.write('CPUSPLIT %f %f\\n' % (s.ru_utime + s.ru_stime, c.ru_utime + c.ru_stime))\n"
         "atexit.register(report)\n"
         "sys.argv = sys.argv[1:]\n"
         "exec(compile(open(sys.argv[0]).read(), sys.argv[0], 'exec'))\n")


def timed(argv, env, profile=None):
    if profile:
        argv = argv[:1] + ["-m", "cProfile", "-o", profile] + argv[1:]
    else:  # the CLI's own CPU apart from its children's (zygote, first children)
        argv = argv[:1] + ["-c", SPLIT] + argv[1:]
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read()
    _, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - t0
    return wall, ru.ru_utime + ru.ru_stime, proc.returncode, out, load


def cli_argv(usrsvc):
    # the console script's interpreter, so cProfile runs the same code
    with open(usrsvc) as f:
        first = f.readline()
    py = first[2:].strip() if first.startswith("#!") else sys.executable
    return [py, usrsvc]


def one(args, n, settle):
    token = "9%06d" % random.randrange(10 ** 6)
    home = tempfile.mkdtemp(prefix="ss1k-", dir=args.base)
    os.chmod(home, 0o700)
    cfg = write_world(home, n, settle, token, autostart=not args.daemon)
    xdg = os.path.join(home, "xdg")
    if args.xdg_tmpfs:  # as /run/user/UID is on a real machine
        xdg = tempfile.mkdtemp(prefix="ss1k-xdg-", dir="/dev/shm")
    env = dict(os.environ, HOME=home, XDG_RUNTIME_DIR=xdg, USRSVC_CONFIG=cfg)
    if args.zygote is not None:
        env["USRSVC_ZYGOTE"] = args.zygote
    base = cli_argv(args.usrsvc)
    usrsvcd = os.path.join(os.path.dirname(args.usrsvc), "usrsvcd")
    rows = []
    try:
        if args.daemon:
            # autostart off: the CLI does the starting, the daemon watches
            subprocess.run([usrsvcd, "--config", cfg, "start"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
        for action in ("start", "stop"):
            prof = os.path.join(args.profile, "%s-%d-%s.prof" % (action, n, settle)) \
                if args.profile else None
            wall, cpu, rc, out, load = timed(
                base + ["--config", cfg, action, "all", "-P"], env, prof)
            alive = len(ours(token))
            split = [line.split()[1:] for line in out.decode(errors="replace").splitlines()
                     if line.startswith("CPUSPLIT ")]
            split = "  (cli %s s, children %s s)" % tuple(split[0]) if split else ""
            rows.append((action, n, settle, wall, cpu, rc, alive, load))
            print("%-5s N=%-5d settle=%-4s wall %7.3f s  cpu %7.3f s (%.2f ms/prog)  rc %d"
                  "  token procs after %d  load %.2f%s" % (action, n, settle, wall, cpu,
                                                           1000 * cpu / n, rc, alive, load, split),
                  flush=True)
            if rc != 0:
                print(out.decode(errors="replace")[-2000:])
    finally:
        if args.daemon:
            subprocess.run([usrsvcd, "--config", cfg, "stop"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        left = ours(token)
        for pid in left:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        if left:
            print("killed %d leftovers" % len(left))
        shutil.rmtree(home, ignore_errors=True)
        if args.xdg_tmpfs:
            shutil.rmtree(xdg, ignore_errors=True)
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--usrsvc", default=".venv/bin/usrsvc")
    ap.add_argument("--ns", default="100,1000")
    ap.add_argument("--settle", default="2,0.5")
    ap.add_argument("--daemon", action="store_true")
    ap.add_argument("--zygote", choices=("0", "1"))
    ap.add_argument("--profile")
    ap.add_argument("--xdg-tmpfs", action="store_true",
                    help="the runtime state directory on tmpfs (/dev/shm), not in the HOME")
    ap.add_argument("--base", help="where the temporary HOMEs go (default: $TMPDIR or /tmp);"
                    " /tmp of one test machine created files at 0.7 ms each, /var/tmp at 40 us")
    args = ap.parse_args()
    args.usrsvc = os.path.abspath(args.usrsvc)
    for n in [int(x) for x in args.ns.split(",")]:
        for settle in args.settle.split(","):
            one(args, n, settle)


if __name__ == "__main__":
    main()
