"""Environments that take work to build (env files, an [[EnvCommand]]), built
off usrsvcd's loop.

A launch of such a program first goes to a worker thread, which builds the
environment (the EnvCommand bounded by its own timeout, killed at it) and
hands the result back through the daemon's submit call; only then is the
launch queued with the others of that turn. The loop never waits for a
secret command, and a program stopped meanwhile is not launched (the
launch's ``wanted()`` is asked again when it is flushed). The environment
is kept in memory until that launch and dropped right after it.
"""

import threading


def build_then(daemon, program, queue):
    """Build ``program``'s environment in a thread; then, on the loop,
    ``queue(environment or the UsrsvcError building it raised)``."""
    from ..errors import UsrsvcError
    from ..proc import envbuild

    def work():
        try:
            env = envbuild._environment(program, None)
        except UsrsvcError as err:
            env = err
        except Exception as err:  # never lose the launch: it fails with the reason
            env = UsrsvcError("%s: [Program:%s] building its environment failed: %s: %s"
                              % (program.source, program.name, type(err).__name__, err))
        daemon.submit(queue, env)

    threading.Thread(target=work, name="env %s" % program.name, daemon=True).start()
