"""usrsvcd's side of [[Hooks]] and restart_every, for ProgramState.

A hook runs in a worker thread (the world's ``run_hook``: proc/hooks.run
with the timeout as its deadline) and its result comes back to the loop
through ``submit``; meanwhile the program waits in its state (``starting``
or ``stopping``) and every other program goes on. A result is taken only
if the program still waits for that very hook (a reread that removed it,
or the daemon letting go, drops it).

restart_every is a timer per run: set when the program is seen running,
due ``restart_every`` seconds after the process started, and forgotten
with that process; so a program restarted in between (a crash, a breach,
a user's restart) counts from its new start and skips the round.
"""


def run(state, moment, then, pid=None):
    """Run ``moment``'s hook of ``state.program`` off the loop, then call
    ``then(result)`` on the loop (result: a HookResult). Without such a hook,
    ``then(None)`` at once."""
    if not getattr(state.program.hooks, moment):
        then(None)
        return
    token = state.hook_wait = object()

    def back(result):
        if state.hook_wait is not token:
            return  # let go meanwhile
        state.hook_wait = None
        report(state, result)
        then(result)

    state.emit("hook", "%s hook running" % moment, pid, level="debug")
    state.w.run_hook(state.program, moment, pid, back)


def report(state, result):
    """A failed hook is an error event (logged, never mailed)."""
    if result is not None and not result.ok:
        state.emit("hook_failed", result.describe(), level="error")


def failed(result):
    return result is not None and not result.ok


def schedule_every(state):
    """The planned restart of the run just attached, if restart_every is set."""
    cancel_every(state)
    every = state.program.restart_every
    if not every or not state.running:
        return
    pid, started = state.info.pid, state.info.start_time
    now = state.w.wall()
    # adopted after running longer than one period: its next round
    due = started + every * (max(0, int((now - started) // every)) + 1)

    def fire():
        state.every_timer = None
        if not state.running or state.info.pid != pid:
            return  # gone or replaced: its new run has its own round
        if state.state != "running":  # busy (a stop, a hook): this round is skipped
            schedule_every(state)
            return
        state.restart("planned restart (restart_every = %gs)" % every, "planned_restart",
                      planned=True)

    state.every_timer = state.w.call_later(due - now, fire)


def cancel_every(state):
    state.w.cancel(state.every_timer)
    state.every_timer = None
