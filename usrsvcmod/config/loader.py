"""Read the main config and its config_dir into a validated Config.

configobj parses; this module walks the sections, applies inheritance from
``[DefaultSettings:X]``, converts every value with ``spec`` and collects
every problem, so one run reports them all. Nothing is half-applied: either
a whole Config comes back or ConfigError is raised.
"""

import os

from ..errors import ConfigError
from . import envkeys, main_config_path, spec
from .files import OPEN_FLAGS, open_dir, read
from .model import Config, Hooks, Main, Monitoring, Program
from .proctitle import default_proctitle_re, shell_path  # noqa: F401 (public here too)

MAIN = ("main",)  # an error in the main file or [Main]: it concerns every program


class _Report:
    """Problems and warnings, in order, without repeats.

    Each problem is noted with the part of the config it is in (``scope``:
    MAIN, ("file", path), ("program", name, path) or ("defaults", name,
    path)), so a single-program command can tell whether it concerns it.
    """

    def __init__(self):
        self.errors = []
        self.warnings = []
        self.scope = MAIN
        self.scoped = []  # (text, scope)

    def error(self, text):
        if text not in self.errors:
            self.errors.append(text)
            self.scoped.append((text, self.scope))

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
    return files + _dir_files(main_path, config_dir, report), config_dir


def _dir_files(main_path, config_dir, report):
    """Every ``*.cfg`` of config_dir, parsed, sorted by name; listed and opened
    through one fd of the directory that was checked (never by its name again)."""
    try:
        dir_fd = open_dir(config_dir)
    except ConfigError as err:
        for line in err.problems:
            report.error(line)
        return []
    except OSError as err:
        report.error("%s: [Main] config_dir %s cannot be listed: %s"
                     % (main_path, config_dir, err.strerror))
        return []
    files = []
    try:
        for name in sorted(n for n in os.listdir(dir_fd) if n.endswith(".cfg")):
            report.scope = ("file", os.path.join(config_dir, name))
            parsed = read(os.path.join(config_dir, name), report, dir_fd)
            report.scope = MAIN
            if parsed is not None:
                files.append(parsed)
    except OSError as err:
        report.error("%s: [Main] config_dir %s cannot be listed: %s"
                     % (main_path, config_dir, err.strerror))
    finally:
        os.close(dir_fd)
    return files


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
                if not _valid_name(item.path, kind, label, report):
                    continue
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
        report.scope = ("program", "all", programs["all"][0].path)
        report.error("%s: [Program:all]: 'all' is reserved for every program; rename it"
                     % programs["all"][0].path)
        report.scope = MAIN
        del programs["all"]
    return main, programs, defaults


def _shown(label, limit=60):
    """A section's name as an error shows it: control characters escaped, long ones cut."""
    shown = label.encode("unicode_escape").decode("ascii") if not label.isprintable() else label
    return shown if len(shown) <= limit else shown[:limit] + "..."


def _valid_name(path, kind, label, report):
    """Whether [Program:NAME] or [DefaultSettings:NAME] has a usable NAME; else an error."""
    try:
        spec.section_name(label)
    except ValueError as err:
        report.scope = ("program" if kind == "Program" else "defaults", label, path)
        report.error("%s: [%s:%s]: %s. Fix: rename the section" % (path, kind, _shown(label), err))
        report.scope = MAIN
        return False
    return True


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


def _subsections(item, section, report, hooks=None, probes=None):
    """Env and Monitoring entries of one Program/DefaultSettings section
    (and its [[Hooks]] entries into ``hooks``, and into ``probes`` those of
    [[Readiness]] and [[Liveness]], when given)."""
    node = item.parsed[section]
    env, monitoring = {}, {}
    hooks = {} if hooks is None else hooks
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
        elif sub == "Hooks":
            if hooks is not None:
                hooks.update(_entries(item, section, sub))
        elif sub == "Requires":
            pass  # read by _requires (ordering)
        elif sub == "EnvCommand":
            pass  # envkeys.py reads it
        elif sub in spec.PROBE_SECTIONS:
            from . import probeconf

            found = _entries(item, section, sub)
            probeconf.check_one_kind(found, "%s: [%s][[%s]]" % (item.path, section, sub), report)
            if probes is not None:
                probes[sub] = found
        else:
            report.error("%s: [%s] unknown subsection [[%s]]%s; expected [[Env]], [[Monitoring]],"
                         " [[Hooks]], [[Requires]], [[EnvCommand]], [[Readiness]] or [[Liveness]]" % (
                             item.path, section, sub, _hint(sub, ("Env", "Monitoring", "Monitor",
                                                                  "Hooks", "Requires", "EnvCommand")
                                                            + tuple(spec.PROBE_SECTIONS))))
    return env, monitoring


def _merged(name, programs, defaults, report):
    """Program entries over its DefaultSettings', key by key (Env, Monitoring, Hooks too)."""
    item, section = programs[name]
    scalars, env, monitoring, hooks, dprobes, probes = {}, {}, {}, {}, {}, {}
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
            denv, dmon = _subsections(ditem, dsection, report, hooks, dprobes)
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
    penv, pmon = _subsections(item, section, report, hooks, probes)
    env.update(penv)
    monitoring.update(pmon)
    from .probeconf import merge

    return item, section, scalars, env, monitoring, hooks, merge(dprobes, probes)


def _requires(name, programs, defaults, report):
    """[[Requires]] of a program over its DefaultSettings', key by key, as
    ((name, condition), ...); None after an error (reported)."""
    item, section = programs[name]
    entries = {}
    default_name = item.parsed[section].get("defaults")
    if isinstance(default_name, str) and default_name.strip() in defaults:
        ditem, dsection = defaults[default_name.strip()]
        if "Requires" in ditem.parsed[dsection].sections:
            entries.update(_entries(ditem, dsection, "Requires"))
    if "Requires" in item.parsed[section].sections:
        entries.update(_entries(item, section, "Requires"))
    convert = spec.choice(*spec.REQUIRE_CONDITIONS)
    found, failed = [], False
    for key, (raw, eitem, esection, path) in entries.items():
        where = "%s: [%s]" % (eitem.path, esection)
        value = _value(eitem, path, key, raw, report, where)
        if value is None:
            failed = True
            continue
        try:
            found.append((key, convert(value)))
        except ValueError as err:
            report.error("%s %s = %r: %s (started: it runs; ready: its readiness passed;"
                         " done: a oneshot exited 0; exited: a oneshot finished)"
                         % (where, key, value, err))
            failed = True
    return None if failed else tuple(found)


def _check_requires(programs, raw_programs, report):
    """The graph as a whole: unknown names, cycles, conditions that cannot hold."""
    if not any(p.requires for p in programs.values()):
        return
    from . import deps

    errors, warnings = deps.problems(programs, lambda p: getattr(p, "readiness", None))
    for name, key, text in errors:
        if key in raw_programs and key not in programs:
            continue  # it has errors of its own, reported already
        item, section = raw_programs[name]
        report.scope = ("program", name, item.path)
        report.error("%s: [%s][[Requires]] %s: %s" % (item.path, section, key, text))
    for name, key, text in warnings:
        item, section = raw_programs[name]
        report.warn("%s: [%s][[Requires]] %s: %s" % (item.path, section, key, text))
    report.scope = MAIN


def _plain(text):
    """No quoting or escaping: str.split() gives what shlex.split() would."""
    return not any(c in text for c in "'\"\\#")


_REQUIRED_EXAMPLE = {
    "command": "command = /full/path/to/{name} --its --arguments",
    "pidfile": "pidfile = ~/run/{name}.pid (usrsvc writes it; the directory is made)",
    "stdout": "stdout = ~/logs/{name}.log (or /dev/null to discard the output)",
}


def _program(name, merged, report):
    item, section, scalars, env_entries, monitor_entries, hook_entries, probe_entries = merged
    where = "%s: [%s]" % (item.path, section)
    errors_before = len(report.errors)
    _check_aliases(item, section, report)
    values = _convert(scalars, spec.PROGRAM_KEYS, report, spec.ALIASES)
    monitor = _convert(monitor_entries, spec.MONITOR_KEYS, report)
    hooks = _convert(hook_entries, spec.HOOK_KEYS, report)
    probe_values = {sub: _convert(e, spec.PROBE_SECTIONS[sub], report)
                    for sub, e in probe_entries.items()}
    env = []
    for key, (raw, eitem, esection, path) in env_entries.items():
        value = _value(eitem, path, key, raw, report, "%s: [%s]" % (eitem.path, esection))
        if value is not None:
            env.append((key, value))
    missing = [k for k, (_, d) in spec.PROGRAM_KEYS.items() if d is spec.REQUIRED and k not in scalars
               and not (k == "pidfile" and values.get("type") == "oneshot")]
    for key in missing:
        report.error("%s missing required key '%s'. Fix: add it, e.g. %s"
                     % (where, key, _REQUIRED_EXAMPLE[key].format(name=name)))
    if len(report.errors) > errors_before:
        return None
    for key, (_, default) in spec.PROGRAM_KEYS.items():
        values.setdefault(key, default)
    if values["pidfile"] is spec.REQUIRED:
        values["pidfile"] = None  # a oneshot job: found by its run's record
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
    if values["stderr"] == "stdout" or (values["stderr"] == values["stdout"] != "-"):
        values["stderr"] = None
    if values["directory"] is None:
        values["directory"] = os.environ.get("HOME") or os.path.expanduser("~")
    values["title_suffix"] = None
    values["proctitle_risky"] = _risky_title(values["proctitle_re"], scalars, report)
    if values["proctitle_re"] is None:
        environ = None
        if values["useshell"]:  # the shell expands ~ and $VARS with the program's environment
            environ = dict(os.environ) if values["inherit_env"] else {}
            environ.update(env)
        values["proctitle_re"], values["title_suffix"] = default_proctitle_re(
            argv, command, values["useshell"], environ, item.context.env_used)
    for key, (_, default) in spec.HOOK_KEYS.items():
        hooks.setdefault(key, default)
    probes = _probes(probe_values, where, monitor["monitor_after"], report)
    if probes is None:
        return None
    for probe in probes.values():
        if probe is not None and probe.kind == "log" and values.get("stdout") == "-":
            report.error("%s[[%s]] log: a log probe reads the program's stdout file, and"
                         " stdout = - has none; use another probe kind (tcp, http, exec)"
                         " or give stdout a file" % (where, probe.section))
            return None
    return Program(name=name, argv=argv, env=tuple(env), monitoring=Monitoring.shared(**monitor),
                   source=item.path, hooks=Hooks.shared(**hooks), requires=(), env_command=None,
                   **probes, **values)


def _probes(probe_values, where, monitor_after, report):
    """{"readiness": Probe or None, "liveness": ...}, or None after an error."""
    from .probeconf import build

    found = {"readiness": None, "liveness": None}
    for sub, values in probe_values.items():
        found[sub.lower()] = build(sub, values, where, monitor_after, report)
        if found[sub.lower()] is None:
            return None
    return found


def _risky_title(pattern, scalars, report):
    """Whether a proctitle_re set by hand can backtrack for ever; if so, a warning
    naming where it is set (maybe a [DefaultSettings]) and the fix."""
    if pattern is None:
        return False  # the default one is a literal: it cannot
    from .regex_risk import risk

    why = risk(pattern)
    if why is None:
        return False
    _, item, section, _ = scalars["proctitle_re"]
    report.warn("%s: [%s] proctitle_re = %r has %s: on a command line that almost matches it"
                " can backtrack for hours, so usrsvc matches it in a separate process that it"
                " stops after a short deadline, taking that as no match. Fix: let each part"
                " match in one way only, e.g. a+ for (a+)+, [\\w\\s]* for (\\w+\\s?)*, or make the repeat"
                " possessive or atomic: (?:a+)++ or (?>...)"
                % (item.path, section, pattern, why))
    return True


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
    _check_http(values, item.path if item is not None else path, report)
    return Main(path=path, **values)


def _check_http(values, where, report):
    """A TCP listener always authenticates, and leaves loopback only when told to."""
    listen = values["http_listen"]
    if not listen:
        return
    if not values["http_token_file"] and not values["http_password_hash"]:
        report.error("%s: [Main] http_listen = %s has no authentication: set http_token_file"
                     " (a 0600 file holding a token) or http_password_hash (from `usrsvcd"
                     " passwd`)" % (where, listen))
    host = listen.rpartition(":")[0].strip("[]")
    if not values["http_allow_remote"] and not spec.is_loopback(host):
        report.error("%s: [Main] http_listen = %s is not a loopback address: use 127.0.0.1 or"
                     " [::1], or set http_allow_remote = True (and put TLS in front, or set"
                     " http_tls_cert and http_tls_key)" % (where, listen))
    if bool(values["http_tls_cert"]) != bool(values["http_tls_key"]):
        report.error("%s: [Main] http_tls_cert and http_tls_key go together: set both or"
                     " neither" % where)
    _warn_http_files(values, where, report)


def _warn_http_files(values, where, report):
    """What usrsvcd would refuse at start, or what others could read, said at load
    time (checkconfig, usrsvcd start) rather than only in usrsvcd's log."""
    import stat

    if values["http_password_hash"]:
        try:
            mode = os.stat(where).st_mode
        except OSError:
            mode = 0
        if mode & 0o044:
            report.warn("%s: [Main] http_password_hash is in a file other users can read (mode"
                        " %04o): they could try passwords against the hash at leisure. Fix:"
                        " chmod 600 %s" % (where, mode & 0o7777, where))
    token = values["http_token_file"]
    if token:
        try:
            st = os.lstat(token)
        except OSError as err:
            report.warn("%s: [Main] http_token_file = %s: %s; usrsvcd will not open its TCP"
                        " listener (make it: head -c 32 /dev/urandom | base64 > %s; chmod 600"
                        " %s)" % (where, token, err.strerror, token, token))
            return
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
            report.warn("%s: [Main] http_token_file = %s must be a regular file of yours that"
                        " only you can read (not a symlink); usrsvcd will not open its TCP"
                        " listener. Fix: chmod 600 %s" % (where, token, token))


def _warn_same_titles(programs, report):
    """Two programs one proctitle_re: a scan cannot tell their processes apart."""
    by_title = {}
    for program in programs.values():
        by_title.setdefault(program.proctitle_re, []).append(program)
    for same in by_title.values():
        if len(same) > 1:
            report.warn("%s have the same proctitle_re '%s': a scan could take one's process for"
                        " the other's; give them distinct command lines or set proctitle_re"
                        % (" and ".join("[Program:%s] (%s)" % (p.name, p.source) for p in same),
                           same[0].proctitle_re))


def load(path=None, only=None):
    """Load and validate the config at ``path`` (see main_config_path()).

    Returns a Config; raises ConfigError listing every problem found.
    With ``only`` (a set of names: ``usrsvc status web``), a problem that
    does not concern those programs (another program, an unused
    [DefaultSettings], a broken file of config_dir that defines none of
    them) does not stop the command: the Config then holds just those
    programs and one warning names what was skipped. ``all``,
    ``checkconfig`` and the daemon pass no ``only`` and refuse any problem.
    """
    return load_partial(path, only)[0]


def load_partial(path=None, only=None):
    """load(), and whether parts were skipped (such a Config is not for the cache)."""
    path = main_config_path(path)
    report = _Report()
    if not os.path.lexists(path):
        raise ConfigError([_missing_main(path)])
    main_file = read(path, report)
    if main_file is None:
        raise ConfigError(report.errors, report.warnings)
    files, config_dir = _files(path, main_file, report)
    main_item, raw_programs, raw_defaults = _collect(files, report)
    for dname, (ditem, dsection) in raw_defaults.items():
        # checked in full even if no program uses them or every program overrides them
        report.scope = ("defaults", dname, ditem.path)
        _check_aliases(ditem, dsection, report)
        _convert(_entries(ditem, dsection), spec.PROGRAM_KEYS, report, spec.ALIASES)
        dhooks, dprobes = {}, {}
        _, dmon = _subsections(ditem, dsection, report, dhooks, dprobes)
        _convert(dmon, spec.MONITOR_KEYS, report)
        _convert(dhooks, spec.HOOK_KEYS, report)
        for sub, entries in dprobes.items():
            _convert(entries, spec.PROBE_SECTIONS[sub], report)
        envkeys.check_defaults(ditem, dsection, report, _convert)
    report.scope = MAIN
    main = _main(path, main_item, config_dir, report)
    programs = {}
    for name in raw_programs:
        report.scope = ("program", name, raw_programs[name][0].path)
        program = _program(name, _merged(name, raw_programs, raw_defaults, report), report)
        requires = _requires(name, raw_programs, raw_defaults, report)
        env_command = envkeys.merged(name, raw_programs, raw_defaults, report, _convert)
        if program is not None and requires is not None:
            program = program.replace(requires=requires)
            if env_command is not None:
                program = program.replace(env_command=env_command)
            envkeys.warnings(program, report)
            programs[name] = program
    report.scope = MAIN
    _check_requires(programs, raw_programs, report)
    _warn_same_titles(programs, report)
    skipped = False
    if report.errors:
        if only is None:
            raise ConfigError(report.errors, report.warnings)
        fatal, parts = _triage(report, only, raw_programs)
        if fatal:
            raise ConfigError(report.errors, report.warnings)
        report.warn("%s %s errors and %s skipped for this command; run usrsvc checkconfig to see"
                    " them" % (", ".join(parts), "has" if len(parts) == 1 else "have",
                               "was" if len(parts) == 1 else "were"))
        programs = {name: program for name, program in programs.items() if name in only}
        skipped = True
    used = set()
    for item in files:
        used |= item.context.env_used
    config = Config(main=main, programs=programs, files=tuple(f.path for f in files),
                    warnings=tuple(report.warnings), env_used=tuple(sorted(used)))
    return config, skipped


def _triage(report, only, raw_programs):
    """(whether a problem concerns a program of ``only``, the parts to name as skipped)."""
    used_defaults = set()
    for name in only:
        if name in raw_programs:
            item, section = raw_programs[name]
            value = item.parsed[section].get("defaults")
            if isinstance(value, str) and value.strip():
                used_defaults.add(value.strip())
    fatal, parts = False, []
    for _, scope in report.scoped:
        if scope[0] == "main":
            fatal = True
        elif scope[0] == "file":
            if _defines(scope[1], {"Program": only, "DefaultSettings": used_defaults}):
                fatal = True
            part = scope[1]
        elif scope[0] == "program":
            fatal = fatal or scope[1] in only
            part = "[Program:%s] in %s" % (_shown(scope[1]), scope[2])
        else:
            fatal = fatal or scope[1] in used_defaults
            part = "[DefaultSettings:%s] in %s" % (_shown(scope[1]), scope[2])
        if scope[0] != "main" and part not in parts:
            parts.append(part)
    return fatal, parts


def _defines(path, wanted):
    """Whether the (unparsable) file ``path`` has a section header for one of ``wanted``
    ({"Program": names, "DefaultSettings": names}): then it may define what the command needs."""
    import stat

    try:  # no O_NOFOLLOW here (only headers are looked for), but never a FIFO that hangs
        with os.fdopen(os.open(path, OPEN_FLAGS & ~os.O_NOFOLLOW), "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return False
            text = handle.read(1 << 22).decode("utf-8", "replace")
    except OSError:
        return False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and not line.startswith("[["):
            kind, _, label = line[1:].split("]", 1)[0].strip().partition(":")
            if label.strip() in wanted.get(kind.strip(), ()):
                return True
    return False


def _missing_main(path):
    """No main config file: where we looked, why there, and a minimal one to start from."""
    given = os.environ.get("USRSVC_CONFIG")
    if given and main_config_path(None) == path:
        source = "$USRSVC_CONFIG = %s" % given
    elif not given and path == main_config_path(None):
        source = "it is the default, $HOME/usrsvc.cfg: neither --config nor $USRSVC_CONFIG is set"
    else:
        source = "--config names it"
    return ("%s: config file not found (looked here because %s). Run `usrsvc init` to"
            " write a commented starter there (`usrsvc --config PATH init` for another"
            " path), or create it with at least one program, for example:\n"
            "      [Program:NAME]\n"
            "      command = /full/path/to/program --its --arguments\n"
            "      pidfile = ~/run/NAME.pid\n"
            "      stdout = ~/logs/NAME.log\n"
            "    or give the path of your config with --config PATH or $USRSVC_CONFIG"
            % (path, source))


def program_names(path=None):
    """The name of every [Program:NAME] the config's files define, in order (parse only)."""
    path = main_config_path(path)
    report = _Report()
    main_file = read(path, report) if os.path.lexists(path) else None
    if main_file is None:
        return []
    files, _ = _files(path, main_file, report)
    return list(_collect(files, report)[1])


def unknown_program(config, name, limit=20):
    """The message for a program name the config does not define: the names it does, and
    the closest one."""
    names = program_names(config.main.path)
    where = ", ".join(config.files)
    if not names:
        return ("no program named %r: %s define(s) no program yet. Fix: add a [Program:%s] section"
                " (command, pidfile and stdout are required)" % (name, where, name))
    listed = ", ".join(names[:limit])
    if len(names) > limit:
        listed += ", ... %d more" % (len(names) - limit)
    close = _hint(name, names)
    return ("no program named %r in %s%s Defined: %s"
            % (name, where, close or ".", listed))
