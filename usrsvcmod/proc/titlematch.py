"""proctitle_re against command lines: the one matcher, and its bound.

``re`` holds the GIL and cannot be interrupted, so a thread or an alarm is
no bound on a search. Two kinds of pattern are slow on a command line that
almost matches them: one the config flagged as able to backtrack for ever
(``Program.proctitle_risky``, see config/regex_risk.py), and an ordinary
one whose work grows as a power of the line's length: ``a.*b.*c`` tries
every start x every end of each ``.*``, about n**3 / 3! steps (20 s on a
32 KB line, hours for ``.*x.*y.*z``), and anyone who can pass arguments to
one of the user's workers can make such a line. So a search runs here,
in-process, only while regex_risk.growth() estimates at most STEPS steps
for the lookup's command lines, shortest first; a flagged pattern never
does. The rest are searched in a forked child that writes one byte per
command line; the parent waits at most DEADLINE for each byte and kills
the child when one does not come. That command line counts as not
matching, with a note naming the program, the pattern and the pid; the
child is forked again for the lines after it, up to MAX_HUNG lines and
BUDGET seconds per batch. So neither ``usrsvc status`` nor usrsvcd's loop
waits on a user regex for more than BUDGET (and STEPS) per lookup. A regex
is never given more than CAP characters of a command line.
"""

import os

CAP = 32768  # characters: the first and the last CAP // 2 of a longer command line
DEADLINE = 0.5  # seconds the child may take on one command line
MAX_HUNG = 3  # command lines a batch may give up on before it gives up on the rest
BUDGET = 2.0  # seconds a batch may take in all
# Estimated steps (regex_risk.growth) a lookup may search in-process: at most about 5 ms at
# the slowest step measured (23 ns, \w+\d on 630 characters), well under 1 ms for most.
# In-process, a line that almost matches may then be up to 630 characters long for a.*b
# (0.7 s at 32 KB), 104 for a.*b.*c (20 s at 32 KB), 44 for .*x.*y.*z (30 s at 1 KB), and
# any length for a pattern whose work grows linearly (^java .*Main$, a plain word).
STEPS = 200000


def capped(text):
    """What a regex sees of a command line: all of it, up to CAP characters (a pattern
    anchored with ^ or $ still sees the start and the end of a longer one)."""
    if len(text) <= CAP:
        return text
    return text[:CAP // 2] + text[-(CAP // 2):]


def search(program, infos):
    """(the ProcInfos whose command line matches ``program.proctitle_re``, notes)."""
    import re

    pattern = re.compile(program.proctitle_re)
    infos = list(infos)
    texts = [capped(info.cmdline_text) for info in infos]
    here = _here(program, texts)
    answers = [None] * len(texts)
    for index in here:
        answers[index] = bool(pattern.search(texts[index]))
    notes = []
    away = [index for index in range(len(texts)) if answers[index] is None]
    if away:
        got, notes = _bounded(pattern, [texts[index] for index in away])
        for index, answer in zip(away, got):
            answers[index] = answer
    unknown = [info for info, answer in zip(infos, answers) if answer is None]
    if unknown:
        notes.append(_note(program, unknown))
    return [info for info, answer in zip(infos, answers) if answer], notes


def _here(program, texts):
    """Indexes of the texts that may be searched in-process: shortest first, while the
    estimated steps add up to at most STEPS (none for a flagged pattern)."""
    if program.proctitle_risky:
        return []
    from ..config.regex_risk import growth

    # parsed again at each lookup (some 30 us): no cache kept between lookups
    power, factor = growth(program.proctitle_re) or (1001, 1.0)  # unparsable: none here
    here, spent = [], 0.0
    for index in sorted(range(len(texts)), key=lambda i: len(texts[i])):
        spent += _steps(power, factor, len(texts[index]))
        if spent > STEPS:
            break
        here.append(index)
    return here


def _steps(power, factor, length):
    """At most how many steps a search with this growth takes on ``length`` characters:
    ``power`` stops placed in order among length + 1 places, C(length + power, power)
    (length**power / power! while power is small next to length), times ``factor``.
    (No math.comb: importing math costs ``usrsvc status`` more than this loop.)"""
    if power > 1000:
        return float("inf")
    steps = float(factor)
    for k in range(1, power + 1):
        steps = steps * (length + k) / k  # C(length + k, k) after each turn; inf at worst
    return steps


def _note(program, unknown):
    pids = ", ".join(str(info.pid) for info in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
    return ("[Program:%s] proctitle_re '%s' did not finish within %g s on the command line of"
            " pid%s %s (%d characters: %r): taken as no match. %s"
            % (program.name, program.proctitle_re, DEADLINE, "s" if len(unknown) > 1 else "",
               pids, len(unknown[0].cmdline_text), unknown[0].cmdline_text[:80], _fix(program)))


def _fix(program):
    if program.proctitle_risky:
        return "It backtracks catastrophically; fix it as `usrsvc checkconfig` says"
    return ("Each .* (or other unbounded repeat) multiplies the work by the length of the"
            " line; fix: begin it with ^ and spell out the command line as `ps` shows it,"
            " with few .* (e.g. ^python3 \\S*manage\\.py runserver), or use the default"
            " proctitle_re")


def _bounded(pattern, texts):
    """(True/False per text, None where it ran out of time or could not run; notes)."""
    import time

    until = time.monotonic() + BUDGET
    answers, notes, hung = [], [], 0
    while len(answers) < len(texts):
        if hung >= MAX_HUNG or time.monotonic() >= until:
            answers.extend([None] * (len(texts) - len(answers)))
            break
        try:
            got = _in_child(pattern, texts[len(answers):], until)
        except OSError as err:  # no fork (RLIMIT_NPROC, no memory), no pipe (fd limit)
            notes.append("cannot match proctitle_re '%s' in a child process: %s; taken as no"
                         " match" % (pattern.pattern, err.strerror or err))
            return [False] * len(texts), notes
        answers.extend(got)
        if len(answers) < len(texts):
            answers.append(None)  # the line it hung on
            hung += 1
    return answers, notes


def _in_child(pattern, texts, until):
    """Answers for a prefix of ``texts``: all of them, or those before the one that hung
    (or that ``until``, a time.monotonic(), cut off)."""
    import select
    import signal
    import time

    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        raise
    if pid == 0:  # the child: search, write, exit; never back into the caller's code
        try:
            os.close(read_end)
            for text in texts:
                os.write(write_end, b"1" if pattern.search(text) else b"0")
        finally:
            os._exit(0)
    os.close(write_end)
    answers = []
    try:
        poller = select.poll()
        poller.register(read_end, select.POLLIN)
        while len(answers) < len(texts) and poller.poll(
                1000 * max(0.0, min(DEADLINE, until - time.monotonic()))):
            chunk = os.read(read_end, 65536)
            if not chunk:
                break  # the child died (killed, out of memory): the rest is unknown
            answers.extend(byte == ord("1") for byte in chunk)
    finally:
        os.close(read_end)
        if len(answers) < len(texts):
            os.kill(pid, signal.SIGKILL)  # our own child, by pid
        os.waitpid(pid, 0)
    return answers
