"""usrsvc start/stop/restart in [[Requires]] order, oneshot jobs included.

``start X`` brings X's requirements up first, level by level (a level at
once with ``-P``), and starts a program only once every one of its
conditions holds; a requirement that fails blocks its dependents with a
message naming it. ``stop`` goes the other way: dependents first. The
graph rules are deps.py's; this module only drives actions.py and
oneshot.py with them and returns their Results.
"""

from . import exitcodes, oneshot
from .config import deps


def involved(config):
    """Whether the plain path of actions.py is not enough for this config."""
    return any(p.requires or p.oneshot for p in config.programs.values())


def facts(session, program):
    """deps.Facts of ``program`` as the command line can see it now.

    The CLI's own starts return once a program is ready (its readiness
    passed, or it lived through success_seconds), so a program found
    running here counts as ready too."""
    if program.oneshot:
        return deps.Facts(result=oneshot.exit_code_of(oneshot.read(session.state, program.name)))
    session.forget_table()
    running = bool(session.find(program).pid)
    return deps.Facts(running=running, ready=running)


def _blocked(session, graph, program, results):
    """Why ``program`` may not start yet (None: every requirement holds)."""
    for name, condition in program.requires:
        other = graph.get(name)
        if other is None:
            return "requirement %r is not in the loaded config (run usrsvc checkconfig)" % name
        if deps.holds(condition, facts(session, other)):
            continue
        earlier = results.get(name)
        why = earlier.message.splitlines()[0] if earlier is not None else "it is not up"
        return "requirement %s (%s) does not hold: %s" % (name, condition, why)
    return None


def start(session, config, programs, parallel=False, no_deps=False):
    """Start ``programs`` and, unless ``no_deps``, what they require, in order."""
    from .actions import Result
    from . import actions

    graph = config.programs
    wanted = [p.name for p in programs]
    names = set(wanted) if no_deps else deps.closure(graph, wanted)
    results = {}
    for level in deps.levels(graph, names):
        go = []
        for name in level:
            program = graph[name]
            why = None if no_deps else _blocked(session, graph, program, results)
            if why is None:
                go.append(program)
            else:
                results[name] = Result(program, "failed", None, "not started: " + why,
                                       exitcodes.FAILED_TO_LAUNCH)
        services = [p for p in go if not p.oneshot]
        jobs = [p for p in go if p.oneshot]
        for result in actions.start(session, services, parallel) if services else []:
            results[result.name] = result
        for result in oneshot.start(session, jobs, parallel) if jobs else []:
            results[result.name] = result
    order = [n for level in deps.levels(graph, names) for n in level]
    return [results[n] for n in order if n in results]


def stop(session, config, programs, parallel=False, with_dependents=False):
    """Stop ``programs`` (and their dependents first with ``with_dependents``),
    dependents before what they require; without it, a note names the running
    programs that require what was stopped."""
    from . import actions

    graph = config.programs
    wanted = [p.name for p in programs]
    names = set(wanted)
    if with_dependents:
        for name in wanted:
            names.update(deps.dependents(graph, name))
    results = {}
    for level in deps.stop_levels(graph, names):
        services = [graph[n] for n in level if not graph[n].oneshot]
        jobs = [graph[n] for n in level if graph[n].oneshot]
        for result in actions.stop(session, services, parallel) if services else []:
            results[result.name] = result
        for result in oneshot.stop(session, jobs) if jobs else []:
            results[result.name] = result
    for name in wanted:
        left = [d for d in deps.dependents(graph, name, transitive=False)
                if d not in names and _up(session, graph[d])]
        if left and name in results:
            results[name].notes.append(
                "still running and requiring it: %s (usrsvc stop --with-dependents %s stops"
                " them first)" % (", ".join(left), name))
    order = [n for level in deps.stop_levels(graph, names) for n in level]
    return [results[n] for n in order if n in results]


def _up(session, program):
    if program.oneshot:
        record = oneshot.read(session.state, program.name)
        return record is not None and record["state"] == "running" and oneshot.alive(record)
    session.forget_table()
    return bool(session.find(program).pid)


def restart(session, config, programs, parallel=False, no_deps=False):
    """Stop the programs (only them), then start them with their requirements;
    a oneshot runs again (its stop forgot its result)."""
    stopped = {r.name: r for r in stop(session, config, programs, parallel)}
    again = [p for p in programs if stopped[p.name].ok]
    started = {r.name: r for r in start(session, config, again, parallel, no_deps)}
    for name, result in started.items():
        if name in stopped:
            result.stopped_pid = stopped[name].stopped_pid
    names = list(started) + [n for n in stopped if n not in started]
    return [started.get(n) or stopped[n] for n in names]
