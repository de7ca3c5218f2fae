"""Which programs a command acts on: names, ``'glob*'`` patterns, ``@group`` and ``all``.

Pure logic over a validated Config (no process is looked at), shared by
every action that takes NAME: start, stop, status, signal, logs... The CLI
calls ``select_programs``; ``needs_all`` tells it beforehand whether the
words can be answered from a partial config (plain names only).
"""

from .errors import ProgramDisabled, ProgramUndefined

# actions that launch a program: a disabled one is refused (132) or skipped
LAUNCHING = ("start", "restart", "update", "try-restart")
_GLOB = "*?["


class Selection:
    """The programs in the order first named, duplicates collapsed.

    ``several`` is False only for one plain NAME: the command then keeps its
    one-line output and the single program's own exit code (133, 132...).
    """

    __slots__ = ("programs", "several")

    def __init__(self, programs, several):
        self.programs = programs
        self.several = several


def is_pattern(word):
    return any(c in word for c in _GLOB)


def needs_all(words):
    """Whether the words need every program of the config (``all``, a pattern, a
    group) rather than just the ones they name."""
    return any(w == "all" or w.startswith("@") or is_pattern(w) for w in words)


def select_programs(config, words, action):
    """The programs ``words`` name in ``config`` for ``action``, as a Selection.

    Each word is ``all``, ``@GROUP`` (the programs whose ``group`` key is
    GROUP), a shell-style pattern matched on program names (fnmatch, case
    sensitive: ``web*``, ``worker-[12]``) or a plain program name (a word that
    is exactly a program's name names that program, whatever its characters;
    a program named ``all`` stays unreachable, as in 1.5.13). Mixing is
    fine (``@web api``); a program named twice is acted on once. Every word
    is checked before anything is done, so a typo never leaves a command
    half-applied: an unknown name raises ProgramUndefined (133) listing the
    known names and the closest one; a pattern or group that matches nothing
    raises it too. A disabled program is refused (ProgramDisabled, 132) for a
    launching action when named alone or by name; ``all``, patterns and
    groups leave disabled programs out of a launching action instead, as
    ``all`` always did.
    """
    if not words:
        raise ProgramUndefined("no program named: give NAME, several names, 'PATTERN*',"
                               " @GROUP or all")
    chosen = {}
    for word in words:
        for program, by_name in _expand(config, word, action):
            chosen.setdefault(program.name, (program, by_name))
    several = len(words) > 1 or words[0] == "all" or (
        words[0] not in config.programs and needs_all(words))
    for program, by_name in chosen.values():
        if by_name and not program.enabled and action in LAUNCHING and not several:
            raise ProgramDisabled("program %s is disabled (enabled = False); only stop and"
                                  " status are allowed" % program.name)
    programs = [p for p, by_name in chosen.values()
                if p.enabled or by_name or action not in LAUNCHING]
    if not programs:
        raise ProgramDisabled("%s: every program it names is disabled (enabled = False); only"
                              " stop and status are allowed" % " ".join(words))
    return Selection(programs, several)


def _expand(config, word, action):
    """(program, named by its plain name) for one word; raises ProgramUndefined."""
    programs = config.programs
    if word == "all":
        return [(p, False) for p in programs.values()]
    if word in programs:  # a program may be named 'what?' or '@x': its name wins
        return [(programs[word], True)]
    if word.startswith("@"):
        group = word[1:]
        found = [(p, False) for p in programs.values() if p.group == group and group]
        if not found:
            raise ProgramUndefined(_unknown_group(config, group))
        return found
    if is_pattern(word):
        from fnmatch import fnmatchcase

        found = [(p, False) for p in programs.values() if fnmatchcase(p.name, word)]
        if not found:
            raise ProgramUndefined("the pattern %r matches no program. Defined: %s"
                                   % (word, _listed(list(programs))))
        return found
    program = programs.get(word)
    if program is None:
        from .config.loader import unknown_program

        raise ProgramUndefined(unknown_program(config, word))
    return [(program, True)]


def _unknown_group(config, group):
    groups = []
    for program in config.programs.values():
        if program.group and program.group not in groups:
            groups.append(program.group)
    if not groups:
        return ("no group named %r: no program sets a group yet. Fix: add 'group = %s' to the"
                " [Program:NAME] sections that belong together" % (group, group or "NAME"))
    import difflib

    close = difflib.get_close_matches(group, groups, n=1, cutoff=0.6)
    return "no group named %r%s Groups: %s" % (
        group, "; did you mean '@%s'?" % close[0] if close else ".",
        ", ".join("@" + g for g in groups))


def _listed(names, limit=20):
    text = ", ".join(names[:limit]) or "(none)"
    if len(names) > limit:
        text += ", ... %d more" % (len(names) - limit)
    return text
