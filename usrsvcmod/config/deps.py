"""[[Requires]]: the order programs come up and go down in, as pure functions.

A program lists what it needs as ``NAME = condition``; the conditions are
those docker compose and process-compose users know:

    started   the requirement runs (found by the identity rule)
    ready     its [[Readiness]] passed; without one, it runs and has lived
              through success_seconds (what a ``usrsvc start`` waits for)
    done      a oneshot job that exited 0 (this boot)
    exited    a oneshot job that finished, whatever its exit status

Everything here works on plain data (a mapping name -> Program, and for
``holds`` a small Facts record), so the CLI and the daemon share one rule
and the unit tests need no process.
"""

CONDITIONS = ("started", "ready", "done", "exited")


class Facts:
    """What is known of a requirement right now (the caller fills it in).

    ``running``: a process passes the identity rule; ``ready``: running and
    ready (readiness passed, or success_seconds lived); ``result``: a
    oneshot's last exit code this boot (None: it has not finished; -1: killed
    or unknown).
    """

    __slots__ = ("running", "ready", "result")

    def __init__(self, running=False, ready=False, result=None):
        self.running, self.ready, self.result = running, ready, result


def holds(condition, facts):
    """Whether ``condition`` holds for a requirement described by ``facts``."""
    if condition == "started":
        return facts.running
    if condition == "ready":
        return facts.running and facts.ready
    if condition == "done":
        return facts.result == 0
    if condition == "exited":
        return facts.result is not None
    raise ValueError("unknown condition %r" % condition)


def hopeless(condition, facts):
    """Whether waiting cannot help: ``done`` on a oneshot that finished non-zero."""
    return condition == "done" and facts.result is not None and facts.result != 0


def problems(programs, readiness_of=lambda program: None):
    """Config errors and warnings of every [[Requires]] of ``programs`` (name ->
    Program), as lists of (program name, key or None, text) without the file
    and section (the loader adds them)."""
    errors, warnings = [], []
    for program in programs.values():
        for name, condition in program.requires:
            other = programs.get(name)
            if other is None:
                errors.append((program.name, name, "no program named %r%s" % (
                    name, _hint(name, programs))))
            elif name == program.name:
                errors.append((program.name, name, "a program cannot require itself"))
            elif not other.enabled:
                errors.append((program.name, name, "[Program:%s] is disabled (enabled = False),"
                               " so this program could never start; enable it or remove the"
                               " requirement" % name))
            elif condition in ("done", "exited") and not other.oneshot:
                errors.append((program.name, name, "%r applies to a oneshot job and"
                               " [Program:%s] is a service; use 'started' or 'ready', or set"
                               " type = oneshot there" % (condition, name)))
            elif condition == "ready" and readiness_of(other) is None:
                warnings.append((program.name, name, "'ready' with no [[Readiness]] in"
                                 " [Program:%s] means: running and alive after its"
                                 " success_seconds (%gs); add a [[Readiness]] probe there to"
                                 " wait for it to serve" % (name, other.success_seconds)))
    for cycle in cycles(programs):
        first = cycle[0]
        errors.append((first, cycle[1], "requirements form a cycle: %s; remove one of them"
                       % " -> ".join(cycle + [first])))
    return errors, warnings


def _hint(word, names):
    import difflib

    close = difflib.get_close_matches(word, list(names), n=1, cutoff=0.6)
    return "; did you mean %r?" % close[0] if close else ""


def _edges(programs, name):
    program = programs.get(name)
    if program is None:
        return []
    return [req for req, _ in program.requires if req in programs and req != name]


def cycles(programs):
    """Each cycle of requirements once, as a list of names starting at its
    smallest name (so the message does not depend on the reading order)."""
    found, seen = [], set()
    color = {}

    def visit(name, path):
        color[name] = "grey"
        path.append(name)
        for nxt in _edges(programs, name):
            if color.get(nxt) == "grey":
                cycle = path[path.index(nxt):]
                at = cycle.index(min(cycle))
                cycle = cycle[at:] + cycle[:at]
                if tuple(cycle) not in seen:
                    seen.add(tuple(cycle))
                    found.append(cycle)
            elif nxt not in color:
                visit(nxt, path)
        path.pop()
        color[name] = "black"

    for name in programs:
        if name not in color:
            visit(name, [])
    return found


def closure(programs, names):
    """``names`` and everything they require, directly or not."""
    out, todo = [], list(names)
    while todo:
        name = todo.pop()
        if name in out or name not in programs:
            continue
        out.append(name)
        todo.extend(_edges(programs, name))
    return set(out)


def levels(programs, names):
    """``names`` (a set) in start order: lists of names, each needing only the
    ones in earlier lists (requirements outside ``names`` are taken as given).
    Order within a level follows the config. A cycle (refused by the loader)
    would leave its members out; they come last, as one level."""
    order = [n for n in programs if n in names]
    placed, out = set(), []
    while len(placed) < len(order):
        level = [n for n in order if n not in placed
                 and all(r in placed or r not in names for r in _edges(programs, n))]
        if not level:
            level = [n for n in order if n not in placed]
        out.append(level)
        placed.update(level)
    return out


def stop_levels(programs, names):
    """The reverse: dependents go down before what they require."""
    return list(reversed(levels(programs, names)))


def dependents(programs, name, transitive=True):
    """The programs that require ``name`` (and, transitively, theirs)."""
    found, todo = [], [name]
    while todo:
        current = todo.pop()
        for other in programs.values():
            if other.name not in found and other.name != name \
                    and any(req == current for req, _ in other.requires):
                found.append(other.name)
                if transitive:
                    todo.append(other.name)
    return [n for n in programs if n in found]


def describe(condition):
    """How a waiting program says what it waits for."""
    return {"started": "to run", "ready": "to be ready", "done": "to finish with exit 0",
            "exited": "to finish"}[condition]
