"""The default ``proctitle_re``: what a program's command line will look like in ``ps``."""

import os

SEPARATORS = {"|", "||", "&", "&&", ";", ";;"}
# Shell builtins that prepare the ground rather than run the service.
SETUP_BUILTINS = {"cd", "export", "set", "umask", "ulimit", "source", ".", "trap", "unset",
                  "shopt", "alias", ":", "true", "echo", "printf", "mkdir"}


def default_proctitle_re(argv, command, useshell):
    """A regex matching the command line the program will show in ``ps``.

    It may be preceded by an interpreter (a ``#!`` script shows as
    ``/bin/sh ./script.sh``) and must end where the command ends. Returns
    (pattern, suffix): the plain text the pattern stands for lets a scan
    look programs up in one index instead of running every regex.
    """
    import re

    words = _shell_words(command) if useshell else list(argv)
    while len(words) > 1 and not words[-1]:
        words.pop()  # a trailing '' argument is not seen in /proc (procfs.trim)
    suffix = " ".join(words)
    return r"(?:^|[\s/])" + re.escape(suffix) + r"$", suffix


def _shell_words(command):
    """The words of the program a shell command runs.

    ``cd /srv && exec ./app --port 80 >> log 2>&1`` runs ``./app --port 80``:
    the (last) command run with ``exec``, else the first command that is
    not a setup builtin (``cd``, ``export``, ``ulimit``...); without
    ``VAR=value`` prefixes, up to the first redirection, separator or pipe.
    """
    import re
    import shlex

    try:
        tokens = shlex.split(command)
    except ValueError:
        return [command]
    segments, current = [], []
    for token in tokens:
        tail = None
        if token not in SEPARATORS and token[-1:] in (";", "&") and not token.endswith("&&"):
            token, tail = token[:-1], token[-1]  # "sleep 5;" : a word, then a separator
        for item in (token, tail):
            if item is None or item == "":
                continue
            if item in SEPARATORS:
                segments.append(current)
                current = []
            else:
                current.append(item)
    segments.append(current)
    stripped = []
    for words in segments:
        execs = False
        while words and (words[0] == "exec" or re.match(r"[A-Za-z_]\w*=", words[0])):
            execs = execs or words[0] == "exec"
            words = words[1:]
        stripped.append((execs, words))
    execed = [words for execs, words in stripped if execs and words]
    candidates = execed[-1:] or [w for _, w in stripped if w and w[0] not in SETUP_BUILTINS]
    for words in candidates:
        for index, word in enumerate(words):
            if re.match(r"\d*[<>&]", word):
                words = words[:index]
                break
        return words or [command]
    return [command]


def shell_path():
    return "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"
