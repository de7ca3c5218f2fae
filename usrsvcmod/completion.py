"""Shell completion: ``usrsvc completion bash|zsh|fish`` prints a script, and the
script asks ``usrsvc __complete names`` for program names as the user types.

The actions come from cli.ACTIONS and the options from cli.USAGE when the script
is printed, so a new action or option completes once the script is made again.
Program names are read at completion time, on a path that must answer before
the user notices: the validated config cache when it is fresh (no configobj,
no psutil), else a quick look at the ``[Program:NAME]`` headers of the main
file and of config_dir (no validation: a name that is still being typed into
a broken config is still offered). Nothing here writes a file.
"""

import os
import stat

SHELLS = ("bash", "zsh", "fish")
NO_NAMES = ("checkconfig", "init", "completion")  # actions that take no program name
SIGNALS = ("HUP", "INT", "QUIT", "KILL", "USR1", "USR2", "TERM", "CONT", "STOP", "WINCH")
_LIMIT = 1 << 20  # bytes read per config file: names are near the top of any sane one


# --- what the scripts offer --------------------------------------------------------------

def actions():
    from . import cli

    return tuple(dict.fromkeys(tuple(cli.ACTIONS) + ("completion",)))


def options(usage=None):
    """[(option, takes_value)] from the Options part of a usage text."""
    if usage is None:
        from . import cli

        usage = cli.USAGE
    found = []
    for line in usage.splitlines():
        head = line.strip().split("  ")[0]
        if not line.startswith(" ") or not head.startswith("-"):
            continue
        words = [w.rstrip(",") for w in head.split()]
        takes_value = any(w.isupper() for w in words)
        found += [(w.split("=")[0], takes_value) for w in words if w.startswith("-")]
    return found


def script(shell):
    """The completion script for ``shell`` (ValueError naming the shells otherwise)."""
    if shell not in SHELLS:
        raise ValueError("no completion for %r; expected one of: %s" % (shell, ", ".join(SHELLS)))
    from . import completion_scripts

    opts = options()
    fill = {
        "actions": " ".join(actions()),
        "no_names": " ".join(NO_NAMES),
        "options": " ".join(o for o, _ in opts),
        "value_options": " ".join(o for o, v in opts if v),
        "signals": " ".join(SIGNALS),
        "shells": " ".join(SHELLS),
        "fish_options": "\n".join(_fish_option(o, v) for o, v in opts),
    }
    template = getattr(completion_scripts, shell.upper())
    for key, value in fill.items():
        template = template.replace("@%s@" % key, value)
    return template


def _fish_option(option, takes_value):
    flag = "-l " + option[2:] if option.startswith("--") else "-s " + option[1:]
    if not takes_value:
        return "complete -c usrsvc %s" % flag
    files = " -F" if option in ("-c", "--config") else ""
    if option in ("-H", "--host"):
        files = " -a '(__fish_print_hostnames)'"
    return "complete -c usrsvc %s -r%s" % (flag, files)


# --- program names, fast ------------------------------------------------------------------

def names(config_path=None):
    """Program names, then ``all``, then ``@group`` of each group, one list."""
    from .config import main_config_path

    path = main_config_path(config_path)
    found = _from_cache(path)
    if found is None:
        found = _from_files(path)
    programs, groups = found
    words = [n for n in programs if _printable(n)] + ["all"]
    return words + ["@" + g for g in dict.fromkeys(groups) if g and _printable(g)]


def _printable(name):
    return name and not any(c < " " or c == "\x7f" for c in name)


def _from_cache(path):
    """(names, groups) from a fresh config cache, or None."""
    from .config import cache
    from .state import RuntimeState

    try:
        config = cache._read(path, RuntimeState(path))
    except Exception:  # a hint only: anything odd means "look at the files"
        return None
    if config is None:
        return None
    programs = list(config.programs.values())
    return ([p.name for p in programs],
            [getattr(p, "group", None) for p in programs])


def _from_files(path):
    """(names, groups) from the section headers of the main file and config_dir."""
    main = _scan(_read(path))
    sections = [main]
    config_dir = main["main"].get("config_dir")
    if config_dir:
        directory = _expand(config_dir, os.path.dirname(path))
        try:
            entries = sorted(n for n in os.listdir(directory) if n.endswith(".cfg"))
        except OSError:
            entries = []
        sections += [_scan(_read(os.path.join(directory, n))) for n in entries]
    programs, defaults = {}, {}
    for found in sections:
        programs.update(found["programs"])
        defaults.update(found["defaults"])
    groups = [keys.get("group") or defaults.get(keys.get("defaults"), {}).get("group")
              for keys in programs.values()]
    return list(programs), groups


def _read(path):
    """A regular file's text (never blocking on a FIFO), or ''."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError):
        return ""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        return os.read(fd, _LIMIT).decode("utf-8", "replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def _scan(text):
    """The top-level keys of [Main], [Program:*] and [DefaultSettings:*] in ``text``."""
    found = {"main": {}, "programs": {}, "defaults": {}}
    keys = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[["):
            keys = None  # a subsection: its keys are not the program's
        elif line.startswith("[") and "]" in line:
            keys = _section(found, line[1:line.rindex("]")].strip())
        elif keys is not None and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            keys[key.strip()] = _value(value)
    return found


def _section(found, title):
    kind, _, name = title.partition(":")
    name = name.strip()
    if kind == "Main":
        return found["main"]
    if kind == "Program" and name and name != "all":
        found["programs"].pop(name, None)  # the later definition wins, in its place
        return found["programs"].setdefault(name, {})
    if kind == "DefaultSettings" and name:
        return found["defaults"].setdefault(name, {})
    return None


def _value(text):
    text = text.strip()
    if text[:1] in ("'", '"') and text[0] in text[1:]:
        return text[1:text.index(text[0], 1)]
    return text.split("#")[0].strip()


def _expand(value, base):
    return os.path.normpath(os.path.join(base, os.path.expanduser(os.path.expandvars(value))))
