"""proctitle_re against command lines: the one matcher, and its bound.

An ordinary pattern is searched here, in-process. A pattern the config
flagged as able to backtrack for ever (``Program.proctitle_risky``, see
config/regex_risk.py) is not: ``re`` holds the GIL and cannot be
interrupted, so a thread or an alarm is no bound. It is searched in a
forked child that writes one byte per command line; the parent waits at
most DEADLINE for each byte and kills the child when one does not come.
That command line counts as not matching, with a note naming the program,
the pattern and the pid; the child is forked again for the lines after it,
up to MAX_HUNG lines and BUDGET seconds per batch. So neither ``usrsvc
status`` nor usrsvcd's loop waits on a user regex for more than BUDGET per
lookup. A regex is never given more than CAP characters of a command line.
"""

import os

CAP = 32768  # characters: the first and the last CAP // 2 of a longer command line
DEADLINE = 0.5  # seconds a flagged pattern may take on one command line
MAX_HUNG = 3  # command lines a batch may give up on before it gives up on the rest
BUDGET = 2.0  # seconds a batch may take in all


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
    if not program.proctitle_risky:
        return [i for i in infos if pattern.search(capped(i.cmdline_text))], []
    infos = list(infos)
    answers, notes = _bounded(pattern, [capped(i.cmdline_text) for i in infos])
    unknown = [info for info, answer in zip(infos, answers) if answer is None]
    if unknown:
        notes.append(_note(program, unknown))
    return [info for info, answer in zip(infos, answers) if answer], notes


def _note(program, unknown):
    pids = ", ".join(str(info.pid) for info in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
    return ("[Program:%s] proctitle_re '%s' did not finish within %g s on the command line of"
            " pid%s %s (%r): taken as no match. It backtracks catastrophically; fix it as"
            " `usrsvc checkconfig` says" % (program.name, program.proctitle_re, DEADLINE,
                                            "s" if len(unknown) > 1 else "", pids,
                                            unknown[0].cmdline_text[:80]))


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
