"""Read the main config and its config_dir into a validated Config.

configobj parses; this module walks the sections, applies inheritance from
``[DefaultSettings:X]``, converts every value with ``spec`` and collects
every problem, so one run reports them all. Nothing is half-applied: either
a whole Config comes back or ConfigError is raised.
"""

import os

from ..errors import ConfigError
from . import main_config_path, safety, spec
from .files import read
from .model import Config, Main, Monitoring, Program
from .proctitle import default_proctitle_re, shell_path  # noqa: F401 (public here too)

class _Report:
    """Problems and warnings, in order, without repeats."""

    def __init__(self):
        self.errors = []
        self.warnings = []

    def error(self, text):
        if text not in self.errors:
            self.errors.append(text)

    def warn(self, text):
        if text not in self.warnings:
            self.warnings.append(text)


def _hint(word, choices):
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return "; did you mean '%s'?" % close[0] if close else ""


def _files(main_path, main_file, report):
    """The main file, then every ``*.cfg`` in config_dir sorted by name."""
    files = [main_file]
    section = main_file.parsed.get("Main")
    raw_dir = section.get("config_dir") if isinstance(section, dict) else None
    if raw_dir is None:
        return files, None
    if isinstance(raw_dir, dict):
        report.error("%s: [Main] config_dir: expected a directory path, found a subsection"
                     " [[config_dir]]" % main_path)
        return files, None
    if isinstance(raw_dir, list):
        raw_dir = main_file.raw(["Main"], "config_dir")
    try:
        config_dir = spec.expand_path(raw_dir, spec.Context(main_path))
    except ValueError as err:
        report.error("%s: [Main] config_dir = %r: %s" % (main_path, raw_dir, err))
        return files, None
    if not os.path.isdir(config_dir):
        what = "is not a directory" if os.path.exists(config_dir) else "does not exist"
        report.error("%s: [Main] config_dir = %r: %s %s; expected a directory of *.cfg files"
                     % (main_path, raw_dir, config_dir, what))
        return files, config_dir
    try:
        safety.check(config_dir)
        names = sorted(n for n in os.listdir(config_dir) if n.endswith(".cfg"))
    except ConfigError as err:
        for line in err.problems:
            report.error(line)
        return files, config_dir
    except OSError as err:
        report.error("%s: [Main] config_dir %s cannot be listed: %s"
                     % (main_path, config_dir, err.strerror))
        return files, config_dir
    for name in names:
        parsed = read(os.path.join(config_dir, name), report)
        if parsed is not None:
            files.append(parsed)
    return files, config_dir


def _collect(files, report):
    """Sort every top-level section into Main, Program and DefaultSettings."""
    main = None
    programs, defaults = {}, {}
    for index, item in enumerate(files):
        if not item.parsed.sections and not item.parsed.scalars:
            if index == 0:  # 1.5.13 refuses a main file without [Main], too
                report.error("%s: the main config file has no sections; expected [Main]"
                             " and/or [Program:NAME] sections" % item.path)
            else:
                report.warn("%s: no sections; file ignored" % item.path)
        for key in item.parsed.scalars:
            report.warn("%s: key '%s' outside any section is ignored" % (item.path, key))
        for name in item.parsed.sections:
            kind, _, label = name.partition(":")
            label = label.strip()
            if name == "Main":
                if index == 0:
                    main = item
                else:
                    report.warn("%s: [Main] is only read from the main config file; ignored"
                                % item.path)
            elif kind in ("Program", "DefaultSettings") and label:
                table = programs if kind == "Program" else defaults
                if label in table:
                    report.warn("%s: [%s] is also defined in %s; the later file wins"
                                % (item.path, name, table[label][0].path))
                table[label] = (item, name)
            elif kind.lower() in ("program", "defaultsettings"):
                fixed = "%s:%s" % ("Program" if kind.lower() == "program" else "DefaultSettings",
                                   label or "NAME")
                report.warn("%s: section [%s] is ignored; did you mean [%s]?"
                            % (item.path, name, fixed))
            else:
                report.warn("%s: unknown section [%s] is ignored" % (item.path, name))
    if "all" in programs:
        report.error("%s: [Program:all]: 'all' is reserved for every program; rename it"
                     % programs["all"][0].path)
        del programs["all"]
    return main, programs, defaults


def _value(item, path, key, raw, report, where):
    """configobj splits unquoted commas into a list; undo that for one-string keys."""
    if isinstance(raw, list):
        try:
            return item.raw(path, key)
        except (KeyError, TypeError):
            return ", ".join(raw)
    if isinstance(raw, dict):
        report.error("%s %s: expected a value, found a subsection" % (where, key))
        return None
    return raw


def _convert(entries, table, report, aliases=None):
    """Convert (key -> (raw, item, section, path)) with ``table``; unknown keys are errors."""
    values = {}
    for key, (raw, item, section, path) in entries.items():
        where = "%s: [%s]" % (item.path, section)
        name = (aliases or {}).get(key, key)
        if name not in table:
            report.error("%s unknown key '%s'%s" % (where, key, _hint(key, table)))
            continue
        convert = table[name][0]
        if name == "email_alerts" and isinstance(raw, list):
            value = raw
        else:
            value = _value(item, path, key, raw, report, where)
            if value is None:
                continue
        try:
            values[name] = convert(value, item.context)
        except ValueError as err:
            report.error("%s %s = %r: %s" % (where, key, value, err))
    return values


def _entries(item, section_name, sub=None):
    node = item.parsed[section_name]
    path = [section_name]
    if sub is not None:
        node = node[sub]
        path.append(sub)
    return {k: (node[k], item, section_name if sub is None else "%s][%s" % (section_name, sub), path)
            for k in node.scalars}


def _check_aliases(item, section, report):
    node = item.parsed[section]
    for alias, name in spec.ALIASES.items():
        if alias in node.scalars and name in node.scalars:
            report.error("%s: [%s] both '%s' and '%s' are set; keep one" % (item.path, section, name, alias))


def _subsections(item, section, report):
    """Env and Monitoring entries of one Program/DefaultSettings section."""
    node = item.parsed[section]
    env, monitoring = {}, {}
    present = [s for s in node.sections if s in spec.MONITOR_SECTIONS]
    if len(present) > 1:
        report.error("%s: [%s] has both [[Monitoring]] and [[Monitor]]; keep one" % (item.path, section))
    for sub in node.sections:
        for deeper in node[sub].sections:
            report.error("%s: [%s][[%s]] unexpected subsection [[[%s]]]; expected key = value lines"
                         % (item.path, section, sub, deeper))
        if sub == "Env":
            env.update(_entries(item, section, sub))
        elif sub in spec.MONITOR_SECTIONS:
            monitoring.update(_entries(item, section, sub))
        else:
            report.error("%s: [%s] unknown subsection [[%s]]%s; expected [[Env]] or [[Monitoring]]"
                         % (item.path, section, sub, _hint(sub, ("Env", "Monitoring", "Monitor"))))
    return env, monitoring


def _merged(name, programs, defaults, report):
    """Program entries over its DefaultSettings', key by key (Env, Monitoring too)."""
    item, section = programs[name]
    scalars, env, monitoring = {}, {}, {}
    own = _entries(item, section)
    default_name = own.pop("defaults", (None,))[0]
    if isinstance(default_name, str) and default_name.strip():
        default_name = default_name.strip()
        if default_name not in defaults:
            report.error("%s: [%s] defaults = %r: no [DefaultSettings:%s] is defined%s"
                         % (item.path, section, default_name, default_name,
                            _hint(default_name, defaults)))
        else:
            ditem, dsection = defaults[default_name]
            scalars.update(_entries(ditem, dsection))
            denv, dmon = _subsections(ditem, dsection, report)
            env.update(denv)
            monitoring.update(dmon)
    elif default_name is not None:
        report.error("%s: [%s] defaults = %r: expected the name of a [DefaultSettings:NAME]"
                     % (item.path, section, default_name))
    for alias, key in spec.ALIASES.items():  # the program's spelling beats the inherited one
        if alias in own and key in scalars:
            del scalars[key]
        if key in own and alias in scalars:
            del scalars[alias]
    scalars.update(own)
    penv, pmon = _subsections(item, section, report)
    env.update(penv)
    monitoring.update(pmon)
    return item, section, scalars, env, monitoring


def _plain(text):
    """No quoting or escaping: str.split() gives what shlex.split() would."""
    return not any(c in text for c in "'\"\\#")


def _program(name, merged, report):
    item, section, scalars, env_entries, monitor_entries = merged
    where = "%s: [%s]" % (item.path, section)
    errors_before = len(report.errors)
    _check_aliases(item, section, report)
    values = _convert(scalars, spec.PROGRAM_KEYS, report, spec.ALIASES)
    monitor = _convert(monitor_entries, spec.MONITOR_KEYS, report)
    env = []
    for key, (raw, eitem, esection, path) in env_entries.items():
        value = _value(eitem, path, key, raw, report, "%s: [%s]" % (eitem.path, esection))
        if value is not None:
            env.append((key, value))
    missing = [k for k, (_, d) in spec.PROGRAM_KEYS.items() if d is spec.REQUIRED and k not in scalars]
    for key in missing:
        report.error("%s missing required key '%s'" % (where, key))
    if len(report.errors) > errors_before:
        return None
    for key, (_, default) in spec.PROGRAM_KEYS.items():
        values.setdefault(key, default)
    for key, (_, default) in spec.MONITOR_KEYS.items():
        monitor.setdefault(key, default)
    command = values["command"]
    if values["useshell"]:
        argv = (shell_path(), "-c", command)
    else:
        import shlex

        try:
            argv = tuple(command.split() if _plain(command) else shlex.split(command))
        except ValueError as err:
            report.error("%s command = %r: expected a command line (%s); quote it properly"
                         " or set useshell = True" % (where, command, err))
            return None
    if values["stderr"] in ("stdout", values["stdout"]):
        values["stderr"] = None
    if values["directory"] is None:
        values["directory"] = os.environ.get("HOME") or os.path.expanduser("~")
    values["title_suffix"] = None
    if values["proctitle_re"] is None:
        values["proctitle_re"], values["title_suffix"] = default_proctitle_re(
            argv, command, values["useshell"])
    return Program(name=name, argv=argv, env=tuple(env), monitoring=Monitoring(**monitor),
                   source=item.path, **values)


def _main(path, item, config_dir, report):
    values = {}
    if item is not None:
        values = _convert(_entries(item, "Main"), spec.MAIN_KEYS, report)
        for sub in item.parsed["Main"].sections:  # e.g. a [[Program:x]] typed one [ too many
            report.error("%s: [Main] unexpected subsection [[%s]]; [Main] takes key = value lines"
                         "; is it meant to be a top-level [%s]?" % (item.path, sub, sub))
    for key, (_, default) in spec.MAIN_KEYS.items():
        values.setdefault(key, default)
    values["config_dir"] = config_dir
    if values["smtp_port"] is None:
        values["smtp_port"] = {"ssl": 465, "starttls": 587}.get(values["smtp_security"], 25)
    return Main(path=path, **values)


def _warn_same_titles(programs, report):
    """Two programs one proctitle_re: a scan cannot tell their processes apart."""
    by_title = {}
    for program in programs.values():
        by_title.setdefault(program.proctitle_re, []).append(program)
    for same in by_title.values():
        if len(same) > 1:
            report.warn("%s have the same proctitle_re %r: a scan could take one's process for"
                        " the other's; give them distinct command lines or set proctitle_re"
                        % (" and ".join("[Program:%s] (%s)" % (p.name, p.source) for p in same),
                           same[0].proctitle_re))


def load(path=None, only=None):
    """Load and validate the config at ``path`` (see main_config_path()).

    Returns a Config; raises ConfigError listing every problem found.
    ``only`` (a set of names) limits the programs converted and checked to
    those: ``usrsvc status web`` reads every file but neither pays for nor
    fails on a typo in another program (``all``, ``checkconfig`` and the
    daemon check everything).
    """
    path = main_config_path(path)
    report = _Report()
    main_file = read(path, report)
    if main_file is None:
        raise ConfigError(report.errors, report.warnings)
    files, config_dir = _files(path, main_file, report)
    main_item, raw_programs, raw_defaults = _collect(files, report)
    for ditem, dsection in raw_defaults.values():
        # checked in full even if no program uses them or every program overrides them
        _check_aliases(ditem, dsection, report)
        _convert(_entries(ditem, dsection), spec.PROGRAM_KEYS, report, spec.ALIASES)
        _, dmon = _subsections(ditem, dsection, report)
        _convert(dmon, spec.MONITOR_KEYS, report)
    main = _main(path, main_item, config_dir, report)
    programs = {}
    for name in raw_programs:
        if only is not None and name not in only:
            continue
        program = _program(name, _merged(name, raw_programs, raw_defaults, report), report)
        if program is not None:
            programs[name] = program
    _warn_same_titles(programs, report)
    if report.errors:
        raise ConfigError(report.errors, report.warnings)
    used = set()
    for item in files:
        used |= item.context.env_used
    return Config(main=main, programs=programs, files=tuple(f.path for f in files),
                  warnings=tuple(report.warnings), env_used=tuple(sorted(used)))
