"""Does a proctitle_re backtrack for ever on a line that almost matches?

Python's ``re`` backtracks: ``(a+)+$`` against thirty ``a`` and a ``!``
tries every way of cutting the run into pieces, about 2**30 of them, and
cannot be interrupted meanwhile. The classic shapes are a repeated group
whose body can itself repeat (``(a+)+``, ``(\\w+\\s?)*``) and a repeated
alternation whose branches can match the same text (``(a|a)*``,
``(a|aa)+``). This finds them in the parse tree of the pattern (the
parser ``re.compile`` itself uses), erring on the side of saying so: a
flagged pattern is matched in a child process with a deadline
(proc/titlematch.py), which costs a fork, not a hang.
"""


def risk(pattern):
    """What in ``pattern`` can backtrack catastrophically (a phrase), or None."""
    try:
        from re import _parser as parser
    except ImportError:  # Python < 3.11
        import sre_parse as parser
    import re

    try:
        tree = parser.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return None  # refused by the converter already (spec.regex)
    return _scan(list(tree), parser, repeated=False)


def _new(parser, name):
    """An opcode of Python 3.11 (atomic groups, possessive repeats); None before it."""
    return getattr(parser, name, None)


def _repeats(op, av, parser):
    """A backtracking quantifier that may match more than once."""
    return op in (parser.MAX_REPEAT, parser.MIN_REPEAT) and av[1] > 1


def _scan(items, parser, repeated):
    """The first risky construct in ``items``; ``repeated``: they are inside a repeat."""
    for op, av in items:
        if repeated and _repeats(op, av, parser):
            return "a quantifier inside a repeated group, like (a+)+"
        if repeated and op is parser.BRANCH and _overlap(av[1], parser):
            return "a repeated alternation whose branches can match the same text, like (a|aa)+"
        # nothing backtracks into an atomic group or a possessive repeat
        barrier = op in (_new(parser, "ATOMIC_GROUP"), _new(parser, "POSSESSIVE_REPEAT"))
        inner = repeated or _repeats(op, av, parser)
        for child in _children(op, av, parser):
            found = _scan(list(child), parser, inner and not barrier)
            if found:
                return found
    return None


def _children(op, av, parser):
    if op is parser.SUBPATTERN:
        return [av[3]]
    if op is parser.BRANCH:
        return av[1]
    if op in (parser.ASSERT, parser.ASSERT_NOT):
        return [av[1]]
    if op is parser.GROUPREF_EXISTS:
        return [part for part in av[1:] if part is not None]
    if op is _new(parser, "ATOMIC_GROUP"):
        return [av]
    if op in (parser.MAX_REPEAT, parser.MIN_REPEAT, _new(parser, "POSSESSIVE_REPEAT")):
        return [av[2]]
    return []


def _overlap(alternatives, parser):
    """Whether two alternatives can start with the same character (or match nothing)."""
    firsts = [_first(list(alt), parser) for alt in alternatives]
    for index, one in enumerate(firsts):
        for other in firsts[index + 1:]:
            if one is None or other is None or one & other:
                return True
    return False


_WIDE = 256  # a character range wider than this is taken as "anything"


def _first(items, parser):
    """The characters a match of ``items`` can start with, or None for "any, or none at all"."""
    items = [(op, av) for op, av in items if op is not parser.AT]  # anchors match no character
    if not items:
        return None
    op, av = items[0]
    if op is parser.LITERAL:
        return frozenset((av,))
    if op is parser.IN:
        chars = set()
        for kind, value in av:
            if kind is parser.LITERAL:
                chars.add(value)
            elif kind is parser.RANGE and value[1] - value[0] <= _WIDE:
                chars.update(range(value[0], value[1] + 1))
            else:
                return None  # a category, a negation, a wide range
        return frozenset(chars)
    if op is parser.SUBPATTERN:
        return _first(list(av[3]), parser)
    repeats = (parser.MAX_REPEAT, parser.MIN_REPEAT, _new(parser, "POSSESSIVE_REPEAT"))
    if op in repeats and av[0] >= 1:
        return _first(list(av[2]), parser)
    if op is parser.BRANCH:
        firsts = [_first(list(alt), parser) for alt in av[1]]
        return None if None in firsts else frozenset().union(*firsts)
    return None
