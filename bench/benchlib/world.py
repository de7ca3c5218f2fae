"""A world: one peer managing N generated services in its own temporary HOME."""

import os
import shutil
import tempfile
import time

from . import procs

WORKER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "workers", "shell_worker.sh")


class BenchError(Exception):
    """A step of the bench failed; the message says which and why."""


class World:
    """Config, environment and tokens for one (peer, N, variant) combination.

    Every service runs ``sleep <token>`` (or, for the shell variant,
    ``/bin/sh shell_worker.sh <token>`` with two ``sleep <token>1|2`` workers),
    where the token is a number unique to this run, peer and world.  Tokens are
    how the bench finds, times and finally kills the services, whatever argv[0]
    the manager chose to exec.
    """

    def __init__(self, tracker, peer, n, variant, index, settle):
        self.tracker = tracker
        self.peer = peer
        self.n = n
        self.variant = variant
        self.settle = settle
        self.home = tempfile.mkdtemp(prefix=f"usrsvc-bench-{tracker.run_id}-{peer.key}-")
        os.chmod(self.home, 0o700)
        for sub in ("logs", "pids", "tmp", "run"):
            os.makedirs(os.path.join(self.home, sub), mode=0o700, exist_ok=True)
        self.marker = f"{tracker.run_id}-{peer.key}-{index}"
        self.token_prefix = f"{tracker.token_prefix}{peer.digit}{index:02d}"
        self.names = [f"p{i:04d}" for i in range(n)]
        self.tokens = {name: self.token_for(i) for i, name in enumerate(self.names)}
        self.index = procs.TokenIndex(self.tokens.values())
        self.sleep = shutil.which("sleep") or "/bin/sleep"
        self.worker = os.path.join(self.home, "shell_worker.sh")
        shutil.copy(WORKER, self.worker)
        self.env = tracker.env({
            "HOME": self.home,
            "TMPDIR": os.path.join(self.home, "tmp"),
            "XDG_RUNTIME_DIR": os.path.join(self.home, "run"),
            "PM2_HOME": os.path.join(self.home, ".pm2"),
            procs.WORLD_VAR: self.marker,
        })
        self.env.pop("USRSVC_CONFIG", None)
        self.added = 0

    def token_for(self, i):
        return f"{self.token_prefix}{i:05d}"

    def path(self, *parts):
        return os.path.join(self.home, *parts)

    def program_argv(self, name):
        token = self.tokens[name]
        if self.variant == "shell":
            return ["/bin/sh", self.worker, token]
        return [self.sleep, token]

    def worker_tokens(self):
        """Tokens of the shell variant's workers (the descendants)."""
        out = []
        for token in self.tokens.values():
            out.extend([token + "1", token + "2"])
        return out

    def new_program(self):
        """Name and token of one more program (for the reload measurement)."""
        name = f"added{self.added:02d}"
        token = self.token_for(90000 + self.added)
        self.added += 1
        self.tokens[name] = token
        self.index.add(token)
        return name

    def run(self, argv, timeout=600, check=False, **kwargs):
        kwargs.setdefault("cwd", self.home)
        code, seconds, out = self.tracker.run(argv, env=self.env, timeout=timeout, **kwargs)
        if check and code != 0:
            text = out.decode("utf-8", "replace")[-2000:]
            raise BenchError(f"{self.peer.key}: {' '.join(argv)} exited {code}:\n{text}")
        return code, seconds, out

    def spawn_logged(self, argv, logname):
        """Start a command whose output goes to a file; returns the Popen."""
        log = open(self.path("logs", logname), "ab")
        try:
            return self.tracker.popen(argv, env=self.env, cwd=self.home, stdout=log,
                                      stderr=log, start_new_session=True)
        finally:
            log.close()

    def alive_map(self):
        """token -> list of live pids for this world's services."""
        return self.index.scan()

    def wait_all_alive(self, names=None, timeout=120.0):
        names = names if names is not None else self.names
        wanted = {self.tokens[n] for n in names}
        deadline = time.monotonic() + timeout
        while True:
            found = self.alive_map()
            missing = wanted - set(found)
            if not missing:
                return found
            if time.monotonic() > deadline:
                raise BenchError(f"{self.peer.key}: {len(missing)} of {len(wanted)} "
                                 f"services not running after {timeout:.0f} s")
            time.sleep(0.1)

    def identities(self):
        """token -> set of (pid, start time) of its live processes."""
        out = {}
        for token, pids in self.alive_map().items():
            out[token] = {ident for ident in map(procs.identity, pids) if ident}
        return out

    def sweep(self):
        return self.tracker.sweep(world=(self.marker, self.token_prefix))

    def remove(self, keep=None):
        """Delete the world's HOME; with ``keep`` (a directory), first copy its
        regular files there (logs, pidfiles, config: what explains a failure)."""
        if keep:
            def specials(folder, names):
                return [name for name in names
                        if not (os.path.isdir(os.path.join(folder, name))
                                or os.path.isfile(os.path.join(folder, name)))
                        or os.path.islink(os.path.join(folder, name))]
            try:
                shutil.copytree(self.home, os.path.join(keep, os.path.basename(self.home)),
                                ignore=specials)
            except OSError as err:
                print(f"bench: could not keep {self.home}: {err}")
        shutil.rmtree(self.home, ignore_errors=True)
