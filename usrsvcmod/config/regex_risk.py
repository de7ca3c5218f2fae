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


# --- how the work grows with the length of the command line ------------------------------------
#
# A pattern risk() passes can still be slow: it backtracks in one way per
# character, but each unbounded quantifier can stop at any of the n characters,
# and re.search tries every start. ``python.*manage\.py.*runserver`` on a line of
# n characters that almost matches tries each start x each end of the first .* x
# each end of the second: about n**3 / 3! steps (20 s at n = 32768, 0.3 s at
# 8000); ``.*x.*y.*z`` is n**4 / 4! (30 s at n = 1024). proc/titlematch.py uses
# this estimate to decide which command lines it may search in-process.


def growth(pattern):
    """(power, factor): ``re.search(pattern, text)`` takes at most about
    ``factor * n**power / power!`` steps on a text of n characters. An upper bound:
    every unbounded quantifier and every back-reference counts as one power of n,
    the starts as another unless the pattern begins with ^ or \\A; alternatives,
    optional parts and counted repeats multiply the factor. None for a pattern that
    does not parse."""
    try:
        from re import _parser as parser
    except ImportError:  # Python < 3.11
        import sre_parse as parser
    import re

    try:
        tree = parser.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return None
    power, factor = _growth(list(tree), parser)
    if not _anchored(list(tree), tree.state.flags, parser):
        power += 1
    return power, factor


def _anchored(items, flags, parser):
    """Does the pattern match only at the start of the text (so search tries one start)?
    ^ with (?m) matches after every newline, and an argument may hold newlines."""
    if not items or items[0][0] is not parser.AT:
        return False
    where = items[0][1]
    return where is parser.AT_BEGINNING_STRING or (
        where is parser.AT_BEGINNING and not flags & parser.SRE_FLAG_MULTILINE)


def _growth(items, parser):
    """(power, factor) of a sequence: powers add up, factors multiply."""
    power, factor = 0, 1.0
    for op, av in items:
        one_power, one_factor = _item_growth(op, av, parser)
        power, factor = power + one_power, _times(factor, one_factor)
    return power, factor


def _times(a, b):
    """a * b, saturating: a pattern may multiply its factor beyond any float."""
    try:
        return min(a * b, 1e300)
    except OverflowError:
        return 1e300


def _item_growth(op, av, parser):
    repeats = (parser.MAX_REPEAT, parser.MIN_REPEAT, _new(parser, "POSSESSIVE_REPEAT"))
    if op in repeats:
        low, high, body = av[0], av[1], _growth(list(av[2]), parser)
        if high is parser.MAXREPEAT or high == parser.MAXREPEAT:
            return body[0] + 1, body[1]  # stops after any number of characters
        if high <= 1:
            return body[0], body[1] + 1  # there or not
        # a counted repeat: up to ``high`` bodies, stopping after any of high - low + 1
        return body[0] * high, _times((high - low + 1) * high, body[1] ** min(high, 1000))
    if op is parser.BRANCH:
        return _alternatives([list(alt) for alt in av[1]], parser)
    if op is parser.GROUPREF_EXISTS:
        return _alternatives([list(part) if part is not None else [] for part in av[1:]], parser)
    if op is parser.GROUPREF:
        return 1, 1.0  # compares up to n characters at each try
    children = _children(op, av, parser)
    if children:  # a group, a lookaround, an atomic group: the work of what it holds
        return _growth(list(children[0]), parser)
    return 0, 1.0  # one character or an anchor


def _alternatives(alternatives, parser):
    """Each alternative may be tried: the highest power, the factors added up."""
    grown = [_growth(alt, parser) for alt in alternatives]
    return max(p for p, _ in grown), min(sum(w for _, w in grown), 1e300)
