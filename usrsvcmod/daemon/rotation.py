"""usrsvcd's log rotation: programs' logs, and its own.

Every ``monitor_interval`` (and when a program is started) the loop stats
each log that has a limit: one ``os.stat`` per such log, nothing for the
others. A log that outgrew its limit is rotated in a worker thread (the copy
of a big head takes a while); the outcome comes back to the loop through the
daemon's submit call, and a log being rotated is not looked at again until
then. usrsvcd's own log files are its own: when one outgrew
``usrsvcd_log_maxbytes`` it renames it (keeping OWN_BACKUPS) and reopens it.
"""

from ..rotation import log_limits

OWN_BACKUPS = 5  # usrsvcd.log.1 ... usrsvcd.log.5


class RotationDuty:
    def __init__(self, daemon):
        self.daemon = daemon
        self.timer = None
        self.busy = set()  # paths being rotated by a worker
        self.said = {}  # path -> the last error logged for it (said once)
        self._rotator = None

    @property
    def rotator(self):
        """The workers' Rotator, with a RuntimeState of its own (the same directory):
        the loop's may reopen its descriptor at any time, which must not happen
        under a worker's feet."""
        if self._rotator is None:
            from ..proc.rotate import Rotator
            from ..state import RuntimeState

            d = self.daemon
            self._rotator = Rotator(RuntimeState(d.config.main.path, d.state.environ))
        return self._rotator

    def _wanted(self):
        d = self.daemon
        return d.config.main.usrsvcd_log_maxbytes or any(
            maxbytes for state in d.programs.values()
            for _, _, maxbytes, _ in log_limits(state.program))

    def schedule(self):
        d = self.daemon
        d.cancel(self.timer)
        self.timer = None
        if self._wanted():
            self.timer = d.call_later(d.config.main.monitor_interval, self._tick)

    def _tick(self):
        self.timer = None
        for state in list(self.daemon.programs.values()):
            self.check(state.program)
        self._own()
        self.schedule()

    def check(self, program):
        """Rotate, off the loop, each log of ``program`` that outgrew its limit."""
        for stream, path, maxbytes, backups in log_limits(program):
            if maxbytes and path not in self.busy and self.rotator.due(path, maxbytes):
                self._start(program.name, stream, path, maxbytes, backups)

    def _start(self, name, stream, path, maxbytes, backups):
        import threading

        self.busy.add(path)
        rotator, submit = self.rotator, self.daemon.submit

        def job():
            try:
                result = rotator.rotate(path, maxbytes, backups)
            except Exception as err:  # noqa: BLE001 - reported by the loop
                result = err
            submit(self._done, name, stream, path, result)

        threading.Thread(target=job, name="rotate-%s" % name, daemon=True).start()

    def _done(self, name, stream, path, result):
        self.busy.discard(path)
        log = self.daemon.log
        if isinstance(result, Exception):
            from ..errors import UsrsvcError

            if not isinstance(result, (OSError, UsrsvcError)):
                log.error(name, "internal_error", "rotation of %s: %s: %s"
                          % (path, type(result).__name__, result))
                return
            text = "cannot rotate %s (%s): %s" % (
                path, stream, getattr(result, "message", None) or result.strerror or result)
            fix = getattr(result, "fix", None)
            if fix:
                text += "; " + fix.format(key="%s (in [Program:%s])" % (stream, name))
            if self.said.get(path) != text:  # once, not at every tick
                log.error(name, "log_rotate_failed", text)
            self.said[path] = text
            return
        self.said.pop(path, None)
        if result is not None and result.removed:
            log.event(name, "log_rotated", result.describe())

    def _own(self):
        """usrsvcd's own log files: rename and reopen (it is their writer)."""
        maxbytes = self.daemon.config.main.usrsvcd_log_maxbytes
        if maxbytes:
            self.daemon.log.rotate_own(maxbytes, OWN_BACKUPS)
