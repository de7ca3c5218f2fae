"""The default ``proctitle_re``: what a program's command line will look like in ``ps``."""

import os

SEPARATORS = {"|", "||", "&", "&&", ";", ";;"}
# Shell builtins that prepare the ground rather than run the service.
SETUP_BUILTINS = {"cd", "export", "set", "umask", "ulimit", "source", ".", "trap", "unset",
                  "shopt", "alias", ":", "true", "echo", "printf", "mkdir"}


def default_proctitle_re(argv, command, useshell, environ=None, used=None):
    """A regex matching the command line the program will show in ``ps``.

    It may be preceded by an interpreter (a ``#!`` script shows as
    ``/bin/sh ./script.sh``) and must end where the command ends. Returns
    (pattern, suffix): the plain text the pattern stands for lets a scan
    look programs up in one index instead of running every regex. With
    ``useshell``, ``~`` and ``$VARS`` are expanded first with ``environ``
    (the program's environment), as the shell will; the names looked up
    are added to ``used``.
    """
    import re

    if useshell and environ is not None:
        command = expand_shell(command, environ, set() if used is None else used)
    words = _shell_words(command) if useshell else list(argv)
    while len(words) > 1 and not words[-1]:
        words.pop()  # a trailing '' argument is not seen in /proc (procfs.trim)
    suffix = " ".join(words)
    return r"(?:^|[\s/])" + re.escape(suffix) + r"$", suffix


_SPECIAL_AFTER = " \t\n;|&(<>"


def expand_shell(command, environ, used):
    """``command`` with ``~``, ``~user``, ``$NAME`` and ``${NAME}`` expanded as
    a shell would (not inside single quotes; ``~`` only at a word's start)."""
    import re
    import shlex

    out, i, quote, word_start = [], 0, None, True
    while i < len(command):
        c = command[i]
        if quote == "'":
            quote = None if c == "'" else quote
            out.append(c)
        elif c == "\\" and i + 1 < len(command):
            out.append(command[i:i + 2])
            i += 2
            word_start = False
            continue
        elif c in "'\"" and quote in (None, c):
            quote = None if quote == c else c
            out.append(c)
        elif c == "~" and word_start and quote is None:
            end = i + 1
            while end < len(command) and command[end] not in "/" + _SPECIAL_AFTER:
                end += 1
            home = _home(command[i + 1:end], environ, used)
            out.append(shlex.quote(home) if home is not None else command[i:end])
            i = end
            word_start = False
            continue
        elif c == "$":
            match = re.match(r"\$(?:\{([A-Za-z_]\w*)\}|([A-Za-z_]\w*))", command[i:])
            if match:
                name = match.group(1) or match.group(2)
                used.add(name)
                value = environ.get(name, "")
                if quote == '"':
                    out.append(value.replace("\\", "\\\\").replace('"', '\\"'))
                else:
                    out.append(" ".join(shlex.quote(w) for w in value.split()))
                i += match.end()
                word_start = False
                continue
            out.append(c)
        else:
            out.append(c)
        word_start = quote is None and c in _SPECIAL_AFTER
        i += 1
    return "".join(out)


def _home(user, environ, used):
    if not user:
        used.add("HOME")
        if environ.get("HOME"):
            return environ["HOME"]
    import pwd

    try:
        return pwd.getpwnam(user).pw_dir if user else pwd.getpwuid(os.geteuid()).pw_dir
    except KeyError:
        return None


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
