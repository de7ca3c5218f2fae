"""usrsvc start's readiness phase: after the success window, wait for each
program's ``[[Readiness]]`` probe while its process is alive and identified.

A probe that does not pass by ``timeout`` (counted from the launch), or a
process that dies first, fails the start: the Settling gets the error,
quoting the probe's last error, and everything it launched becomes
``leftover`` for the caller to stop. Never "ready anyway".
"""

import time

from . import procfs


def listen(programs):
    """name -> sdnotify.Listener for programs with ``notify = yes``, bound
    before their launch; and the (program, error text) of those that cannot be."""
    listeners, refused = {}, []
    for program in programs:
        if program.readiness is not None and program.readiness.kind == "notify":
            from . import sdnotify

            try:
                listeners[program.name] = sdnotify.Listener(program)
            except OSError as err:
                refused.append((program, "cannot listen on NOTIFY_SOCKET %s: %s (another usrsvc"
                                " or usrsvcd starting it holds it?)" % (
                                    sdnotify.address(program), err.strerror or err)))
    return listeners, refused


def wait_all(settlings, listeners, table_factory, clock=time.monotonic):
    """Probe every settled program with readiness, in parallel threads; on a
    failure, set the item's error and what it launched as its leftover."""
    import threading

    waiting = [s for s in settlings if not s.error and s.program.readiness is not None]
    threads = []
    for item in waiting:
        thread = threading.Thread(target=_wait_one, args=(item, listeners, clock),
                                  name="ready-%s" % item.program.name, daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    for item in waiting:
        if item.error and item.info is not None and not item.leftover:
            alive = procfs.alive(item.info.pid, item.info.start_time)
            item.leftover = ([item.info] if alive else []) + \
                table_factory().descendants(item.info.pid)
    for listener in listeners.values():
        listener.close()


def _wait_one(item, listeners, clock):
    from .probes import ProbeTarget, wait_ready

    probe, info = item.program.readiness, item.info
    launched = item.deadline - item.program.success_seconds  # the launch, on ``clock``
    target = ProbeTarget(item.program, info.pid, (item.launch.start_time or 0) - procfs.TICK,
                         item.offsets.get(item.program.stdout, 0),
                         listeners.get(item.program.name))
    why = wait_ready(probe, target, launched + probe.timeout,
                     lambda: procfs.alive(info.pid, info.start_time), clock)
    if why is not None:
        from .spawn import log_tail

        tail = log_tail(item.program, item.offsets)
        item.error = "[[Readiness]] %s = %s: %s%s" % (
            probe.kind, probe.target, why,
            "\n  last lines of the log:\n    " + "\n    ".join(tail) if tail else "")
