"""usrsvcd's side of [[Readiness]] and [[Liveness]].

A ProbeWatch belongs to one ProgramState. Readiness: after the success
window the program stays ``starting`` while its probe runs every
``interval``; it becomes ``running`` (event ``ready``, ``ready`` flag set)
when the probe passes, and its start fails (backoff, what it launched
stopped) at ``timeout`` from the launch. Liveness: ``after`` seconds once it
is up, a probe every ``interval``; each failure in a row shows the program
``unhealthy``, ``failures`` of them restart it through the same path as an
rss_limit breach (ProgramState.restart).

Every probe runs in a worker thread (probes.bounded: never longer than its
probe_timeout and a second), its result comes back through the daemon's
submit; a generation number drops results and timers of a run that ended
meanwhile. Nothing here blocks the loop.
"""


def watch(state):
    """The state's ProbeWatch, made on first use; None for a program without probes."""
    program = state.program
    if program.readiness is None and program.liveness is None:
        if state.probes is not None:
            state.probes.stop()
            state.probes = None
        return None
    if state.probes is None:
        state.probes = ProbeWatch(state)
    return state.probes


def before_launch(state):
    """Bind the NOTIFY_SOCKET (notify = yes); the error text if it cannot be."""
    probes = watch(state)
    if probes is None:
        return None
    return probes.before_launch()


def settled(state, item):
    """A start settled on ``item`` (a Settling): remember its launch and log offsets."""
    probes = watch(state)
    if probes is not None:
        probes.item = item


def attached(state, how):
    """The state now runs ``state.info``; True while it waits to be ready."""
    probes = watch(state)
    if probes is None:
        return False
    return probes.attached(how)


class ProbeWatch:
    def __init__(self, state):
        self.state = state
        self.ready = False
        self.gen = 0
        self.timer = None
        self.busy = False
        self.failures = 0
        self.listener = None
        self.launched = None  # clock() at the launch: the readiness timeout counts from it
        self.target = None
        self.item = None  # the Settling of the start under way (launch, log offsets)

    @property
    def w(self):
        return self.state.w

    def stop(self):
        self.gen += 1
        self.w.cancel(self.timer)
        self.timer, self.busy, self.ready, self.failures = None, False, False, 0
        if self.listener is not None:
            self.listener.close()
            self.listener = None

    def before_launch(self):
        self.stop()
        self.launched = self.w.clock()
        readiness = self.state.program.readiness
        if readiness is None or readiness.kind != "notify":
            return None
        from ..proc import sdnotify

        try:
            self.listener = sdnotify.Listener(self.state.program)
        except OSError as err:
            return "cannot listen on NOTIFY_SOCKET %s: %s" % (
                sdnotify.address(self.state.program), err.strerror or err)
        return None

    def attached(self, how):
        from ..proc import procfs
        from ..proc.probes import ProbeTarget

        program, info = self.state.program, self.state.info
        listener, self.listener = self.listener, None
        item, self.item = (self.item if how == "started" else None), None
        self.stop()
        self.listener = listener
        launch = item.launch if item is not None else None
        launched_at = (launch.start_time if launch is not None else info.start_time) - procfs.TICK
        offsets = item.offsets if item is not None else {}
        self.target = ProbeTarget(program, info.pid, launched_at,
                                  offsets.get(program.stdout, _size(program.stdout)), listener)
        if how == "started" and program.readiness is not None and self.launched is not None:
            self._later(0.0, self._probe_ready)
            return True
        self.ready = True  # found running, adopted: it was up before we looked
        self._arm_liveness()
        return False

    # -- timers and workers ---------------------------------------------------------------
    def _later(self, delay, fn):
        gen = self.gen
        self.w.cancel(self.timer)
        self.timer = self.w.call_later(delay, lambda: gen == self.gen and fn())

    def _run(self, probe, then):
        """probes.bounded in a worker thread; ``then(ok, error)`` back on the loop."""
        import threading

        from ..proc.probes import bounded

        gen, pid, target, daemon = self.gen, self.state.info.pid, self.target, self.w
        self.busy = True

        def job():
            ok, error = bounded(probe, target)
            daemon.submit(self._result, gen, pid, then, ok, error)

        threading.Thread(target=job, name="probe-%s" % self.state.name, daemon=True).start()

    def _result(self, gen, pid, then, ok, error):
        if gen != self.gen:
            return
        self.busy = False
        state = self.state
        if not state.running or state.info.pid != pid or state.stopping is not None:
            return
        then(ok, error)

    # -- readiness ------------------------------------------------------------------------
    def _probe_ready(self):
        self.timer = None
        self._run(self.state.program.readiness, self._ready_result)

    def _ready_result(self, ok, error):
        state, probe = self.state, self.state.program.readiness
        if state.state != "starting":
            return
        if ok:
            self.ready = True
            if self.listener is not None:
                self.listener.close()
                self.listener = self.target.listener = None
            state._to("running", "ready: its %s probe passed" % probe.kind, "ready",
                      state.info.pid)
            self._arm_liveness()
            return
        left = self.launched + probe.timeout - self.w.clock()
        if left > 0:
            reason = "waiting to be ready: [[Readiness]] %s = %s: %s" % (probe.kind, probe.target,
                                                                       error)
            if state.reason != reason:  # what status shows meanwhile: the probe's last error
                state.reason = reason
                publish = getattr(self.w, "publish", None)
                if publish is not None:
                    publish()
            self._later(min(probe.interval, left), self._probe_ready)
            return
        why = "[[Readiness]] %s = %s: not ready: %s after %gs" % (
            probe.kind, probe.target, error, probe.timeout)
        self.stop()
        info = state.info
        state.start_failed(why, [info] + list(state.w.family(state.program, info)))

    # -- liveness -------------------------------------------------------------------------
    def _arm_liveness(self):
        probe = self.state.program.liveness
        if probe is not None:
            self._later(probe.after, self._probe_alive)

    def _probe_alive(self):
        self.timer = None
        probe = self.state.program.liveness
        if probe is None:
            return
        self._later(probe.interval, self._probe_alive)  # the next one, whatever this says
        if not self.busy:
            self._run(probe, self._alive_result)

    def _alive_result(self, ok, error):
        state, probe = self.state, self.state.program.liveness
        if probe is None or state.state not in ("running", "unhealthy"):
            return
        if ok:
            self.failures = 0
            if state.state == "unhealthy":
                state._to("running", "its liveness probe passes again", "healthy", state.info.pid)
            return
        self.failures += 1
        text = "[[Liveness]] %s = %s: %s" % (probe.kind, probe.target, error)
        if self.failures >= probe.failures:
            self.stop()
            state.restart("%s (%d failures in a row)" % (text, probe.failures), "liveness_failed")
            return
        state._to("unhealthy", "%s (failure %d of %d)" % (text, self.failures, probe.failures),
                  "unhealthy", state.info.pid, level="error")


def _size(path):
    import os

    try:
        return os.stat(path).st_size
    except OSError:
        return 0
