"""The key reference: every config key with its default, accepted values and
description, from spec.py (converters, defaults) and keydoc.py (words).

One source for ``usrsvc checkconfig --keys``, the key tables of
docs/configuration.md and the man page usrsvc.cfg(5) (usrsvcmod/docgen).
Accepted values are said by the converter itself: its ValueError text
("expected ...") for a value no key accepts, so a key added with a new
converter is described without touching this file.
"""

from . import keydoc, spec

# Keys usrsvc 1.5.13 knows; every other key is marked "new" in the docs.
FROM_1_5_13 = {
    "Program": {"command", "pidfile", "stdout", "stderr", "useshell", "enabled", "autopid",
                "scan_for_process", "proctitle_re", "autostart", "autorestart", "maxrestarts",
                "restart_delay", "success_seconds", "term_to_kill_seconds", "inherit_env",
                "email_alerts", "defaults"},
    "Monitoring": {"monitor_after", "rss_limit", "activityfile", "activityfile_limit"},
    "Hooks": set(),
    "Readiness": set(),
    "Liveness": set(),
    "Main": {"config_dir", "pidfile", "usrsvcd_stdout", "usrsvcd_stderr", "sendmail_path"},
    "EnvCommand": set(),
}

# (section as written in a file, spec table, descriptions, default words, extra keys)
SECTIONS = (
    ("Main", "MAIN_KEYS", "MAIN", "MAIN_DEFAULTS", None),
    ("Program", "PROGRAM_KEYS", "PROGRAM", "PROGRAM_DEFAULTS", "PROGRAM_EXTRA"),
    ("Monitoring", "MONITOR_KEYS", "MONITOR", "MONITOR_DEFAULTS", None),
    ("Hooks", "HOOK_KEYS", "HOOKS", "HOOK_DEFAULTS", None),
    ("Readiness", "READINESS_KEYS", "READINESS", "READINESS_DEFAULTS", None),
    ("Liveness", "LIVENESS_KEYS", "LIVENESS", "LIVENESS_DEFAULTS", None),
    ("EnvCommand", "ENV_COMMAND_KEYS", "ENV_COMMAND", "ENV_COMMAND_DEFAULTS", None),
)

_KNOWN = {  # converters whose error text reads badly out of context
    spec.to_bool: "boolean (true/false, yes/no, on/off, or a number: 0 is false)",
    spec.expand_path: "path (`~`, `$VARS`, relative to the file that sets it)",
    spec.path_or_stdout: "path, or `stdout`",
    spec.path_or_auto: "path, or `auto`",
    spec.text: "text",
    spec.nonempty_text: "text",
    spec.regex: "regular expression",
    spec.umask: "octal umask, 000 to 777",
    spec.signal_number: "signal name or number",
    spec.addresses: "email address, or a comma list",
    spec.port: "port number, 1 to 65535",
    spec.positive_seconds: "seconds > 0 (fractions allowed), or a duration: 30s, 5m, 1h30m",
    spec.log_path: "path, or `-` (usrsvcd --init only: into its own stdout)",
    spec.log_path_or_stdout: "path, `stdout`, or `-` (usrsvcd --init only)",
    spec.group_name: "group name of letters, digits, `-`, `_` or `.`",
}


class KeyDoc:
    """One row of the reference."""

    __slots__ = ("section", "key", "default", "accepted", "description", "new")

    def __init__(self, section, key, default, accepted, description, new):
        self.section, self.key, self.default = section, key, default
        self.accepted, self.description, self.new = accepted, description, new


def accepted(converter):
    """What ``converter`` accepts, in words."""
    known = _KNOWN.get(converter)
    if known:
        return known
    for probe in ("\x01?", ""):
        try:
            converter(probe, spec.Context("/"))
        except ValueError as err:
            return _tidy(str(err))
        except Exception:  # a converter that cannot take a probe: say nothing wrong
            break
    return "see the description"


def _tidy(message):
    """'expected a whole number between 0 and 4611686018427387904' -> 'whole number >= 0'."""
    text = message[len("expected "):] if message.startswith("expected ") else message
    for article in ("a ", "an "):
        if text.startswith(article):
            text = text[len(article):]
    words = text.split(" ")
    if len(words) >= 4 and words[-4] == "between" and words[-2] == "and" \
            and _number(words[-1]) >= 10 ** 7:
        words[-4:] = [">=", _plain(words[-3])]
    elif len(words) >= 4 and words[-4] == "between":
        words[-3], words[-1] = _plain(words[-3]), _plain(words[-1])
    return " ".join(words)


def _number(word):
    try:
        return float(word)
    except ValueError:
        return 0


def _plain(word):
    return word[:-2] if word.endswith(".0") else word


def default_text(value, words, key, converter=None):
    if key in words:
        return words[key]
    if converter is spec.signal_number and isinstance(value, int):
        return "`%s`" % _signal_word(value)  # as the docs and a config file say it: HUP
    if value is spec.REQUIRED:
        return "required"
    if value is None or value == ():
        return "none"
    if isinstance(value, bool):
        return "`%s`" % value
    if isinstance(value, float):
        return "`%s`" % _plain(repr(value))
    return "`%s`" % (value,)


def _signal_word(number):
    import signal

    try:
        return signal.Signals(number).name[3:]
    except ValueError:
        return str(number)


def rows():
    """Every documented key, section by section, in the spec's order."""
    found = []
    for section, table, words, defaults, extra in SECTIONS:
        keys = getattr(spec, table)
        lines = getattr(keydoc, words)
        default_words = getattr(keydoc, defaults)
        for key, (converter, default) in keys.items():
            found.append(KeyDoc(section, key,
                                default_text(default, default_words, key, converter),
                                accepted(converter), lines.get(key, ""),
                                key not in FROM_1_5_13[section]))
        for key, (default, description) in (getattr(keydoc, extra) if extra else {}).items():
            found.append(KeyDoc(section, key, default, "name", description,
                                key not in FROM_1_5_13[section]))
    return found


def missing():
    """(section, key) of every spec key without a description, and of every
    description of a key spec does not have."""
    problems = []
    for section, table, words, _defaults, _extra in SECTIONS:
        keys, lines = set(getattr(spec, table)), getattr(keydoc, words)
        problems += [(section, key) for key in sorted(keys) if not lines.get(key, "").strip()]
        problems += [(section, key + " (no such key)") for key in sorted(set(lines) - keys)]
    return problems


def text(width=100):
    """The reference as plain text, for ``usrsvc checkconfig --keys``."""
    import textwrap

    out = []
    current = None
    for row in rows():
        if row.section != current:
            current = row.section
            out.extend(["", _heading(current)])
        out.append("  %s = %s%s" % (row.key, _unmark(row.default), "  (new)" if row.new else ""))
        out.append(textwrap.fill("accepts: " + _unmark(row.accepted), width,
                                 initial_indent="      ", subsequent_indent="      "))
        out.append(textwrap.fill(_unmark(row.description), width,
                                 initial_indent="      ", subsequent_indent="      "))
    return "\n".join(out[1:]) + "\n"


def _heading(section):
    if section == "Main":
        return "[Main]  (main config file only)"
    if section == "Program":
        return "[Program:NAME] and [DefaultSettings:NAME]"
    if section == "Hooks":
        return "[[Hooks]]  (inside a program or [DefaultSettings])"
    if section in ("Readiness", "Liveness"):
        return "[[%s]]  (inside a program; exactly one probe kind)" % section
    if section == "EnvCommand":
        return "[[EnvCommand]]  (inside a program or a [DefaultSettings])"
    return "[[Monitoring]]  (or [[Monitor]], inside a program)"


def _unmark(text):
    return text.replace("`", "")
