"""The environment keys that need more than one converter: ``[[EnvCommand]]``
(a subsection merged key by key from ``[DefaultSettings]``, like ``[[Env]]``)
and the warnings about ``env_pass``.

Kept apart from loader.py so the loader only calls in: ``merged()`` gives a
program's EnvCommand (or None), ``check_defaults()`` validates the one of a
``[DefaultSettings]`` that no program may use.
"""

from . import spec

SECTION = "EnvCommand"


def _entries(item, section):
    node = item.parsed[section]
    if SECTION not in node.sections:
        return {}
    sub = node[SECTION]
    where = "%s][%s" % (section, SECTION)
    return {key: (sub[key], item, where, [section, SECTION]) for key in sub.scalars}


def merged(name, programs, defaults, report, convert_entries):
    """The program's (command, timeout), or None without [[EnvCommand]]; problems
    go to ``report`` (file, section and key named by ``convert_entries``)."""
    item, section = programs[name]
    entries = {}
    default_name = item.parsed[section].get("defaults")
    if isinstance(default_name, str) and default_name.strip() in defaults:
        entries.update(_entries(*defaults[default_name.strip()]))
    entries.update(_entries(item, section))
    if not entries:
        return None
    values = convert_entries(entries, spec.ENV_COMMAND_KEYS, report)
    if "command" not in entries:
        report.error("%s: [%s][[%s]] missing required key 'command'; expected the command"
                     " that prints KEY=VALUE lines, e.g. command = pass show app/env"
                     % (item.path, section, SECTION))
        return None
    if "command" not in values:
        return None
    return (values["command"], values.get("timeout", spec.ENV_COMMAND_KEYS["timeout"][1]))


def check_defaults(item, section, report, convert_entries):
    """A [DefaultSettings]'s [[EnvCommand]] is checked even if no program uses it."""
    entries = _entries(item, section)
    if entries:
        convert_entries(entries, spec.ENV_COMMAND_KEYS, report)


def warnings(program, report):
    """env_pass only means something without inherit_env: say so where it is set."""
    if program.env_pass and program.inherit_env:
        report.warn("%s: [Program:%s] env_pass has no effect while inherit_env = True (the"
                    " whole environment of usrsvc/usrsvcd is passed). Fix: set inherit_env ="
                    " False to pass only %s" % (program.source, program.name,
                                                 ", ".join(program.env_pass)))
