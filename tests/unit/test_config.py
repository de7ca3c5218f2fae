"""Config loading: 1.5.13 compatibility, inheritance, spellings, warnings, errors.

Everything here calls the loader in-process (``usrsvcmod.config.load``) on
files written to a temporary directory; nothing is launched.
"""

import os
import signal

import pytest

from usrsvcmod.config import load, main_config_path
from usrsvcmod.errors import ConfigError


class Files:
    """A temporary directory to write config files into (mode 0644)."""

    def __init__(self, root):
        self.root = str(root)

    def path(self, name):
        return os.path.join(self.root, name)

    def write(self, name, text, mode=0o644):
        path = self.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(text)
        os.chmod(path, mode)
        return path


@pytest.fixture
def files(tmp_path):
    return Files(tmp_path)


def program_text(name="p", **keys):
    keys.setdefault("command", "/bin/sleep 1000")
    keys.setdefault("pidfile", "/tmp/never-used/%s.pid" % name)
    keys.setdefault("stdout", "/tmp/never-used/%s.log" % name)
    return "[Program:%s]\n" % name + "".join("%s = %s\n" % kv for kv in keys.items())


def load_error(path):
    with pytest.raises(ConfigError) as caught:
        load(path)
    return caught.value


# --- usrsvc 1.5.13's README and examples, with real paths (seed 004) ----------

SEED_MAIN = """
[Main]
config_dir = {root}/usrsvc.d/cfg
pidfile = {root}/usrsvc.d/pids/usrsvcd.pid
usrsvcd_stdout = {root}/usrsvc.d/logs/usrsvcd.log
usrsvcd_stderr = stdout
"""

# examples/cfg/MagicLooper.cfg of 1.5.13
SEED_MAGICLOOPER = """[Program:MagicLooper]
command = {root}/bin/MagicLooper.py
pidfile = {root}/usrsvc.d/pids/magiclooper.pid
stdout = {root}/usrsvc.d/logs/magiclooper.out
stderr = {root}/usrsvc.d/logs/magiclooper.err
useshell=false

"""

# The README's "Example Program Config", its blank lines and tabs included.
SEED_PROGRAM = (
    "\t[Program:myprogram]\n\n\n"
    "\tcommand = {root}/bin/myprogram.py arg1 arg2\n\n"
    "\tpidfile = {root}/pids/myprogram.pid\n\n"
    "\tstdout  = {root}/logs/myprogram.log\n\n"
    "\tstderr  = stdout\n\n\n"
    "\t[[Env]]\n\n\n"
    "\t\tDB_USER = superdb\n\n"
    "\t\tDB_NAME = mydatabase\n\n"
)

# The README's "Example DefaultSetings" (max_restarts: the README's spelling).
SEED_DEFAULTS = (
    "\t[DefaultSettings:mydefaults]\n\n"
    "\t\t\t\tsuccess_seconds = 5\n\n"
    "\t\t\t\trestart_delay = 3\n\n"
    "\t\t\t\tmax_restarts = 3\n\n"
    "\t\t\t\temail_alerts = nobody@example.com\n"
)

# Every Program key and subsection the README documents, [[Monitor]] spelling.
SEED_FULL = """[Program:full]
command = {root}/bin/full.py --flag
useshell = False
pidfile = {root}/pids/full.pid
enabled = True
autopid = True
scan_for_process = True
proctitle_re = ^python .*full\\.py
autostart = True
autorestart = True
maxrestarts = 0
restart_delay = 0
success_seconds = 2
term_to_kill_seconds = 8
stdout = {root}/logs/full.out
stderr = {root}/logs/full.err
defaults = mydefaults
inherit_env = True
email_alerts = ops@example.com
  [[Env]]
  DB_USER = superdb
  [[Monitor]]
  monitor_after = 30
  activityfile = {root}/logs/full.activity
  activityfile_limit = 120
  rss_limit = 100000
"""


@pytest.fixture
def seed(files):
    root = files.root
    os.makedirs(os.path.join(root, "usrsvc.d", "cfg"), mode=0o755)
    files.write("usrsvc.cfg", SEED_MAIN.format(root=root))
    for name, text in (("MagicLooper.cfg", SEED_MAGICLOOPER), ("myprogram.cfg", SEED_PROGRAM),
                       ("defaults.cfg", SEED_DEFAULTS), ("full.cfg", SEED_FULL)):
        files.write("usrsvc.d/cfg/" + name, text.format(root=root))
    return files


def test_seed_examples_load_unchanged(seed):
    root = seed.root
    config = load(seed.path("usrsvc.cfg"))
    assert config.warnings == ()
    assert sorted(config.programs) == ["MagicLooper", "full", "myprogram"]
    main = config.main
    assert main.config_dir == os.path.join(root, "usrsvc.d", "cfg")
    assert main.pidfile == os.path.join(root, "usrsvc.d", "pids", "usrsvcd.pid")
    assert main.usrsvcd_stdout == os.path.join(root, "usrsvc.d", "logs", "usrsvcd.log")
    assert main.usrsvcd_stderr == "stdout"
    assert main.sendmail_path == "auto"

    looper = config.programs["MagicLooper"]
    assert looper.argv == (root + "/bin/MagicLooper.py",)
    assert looper.useshell is False
    assert looper.stderr == root + "/usrsvc.d/logs/magiclooper.err"

    mine = config.programs["myprogram"]
    assert mine.argv == (root + "/bin/myprogram.py", "arg1", "arg2")
    assert mine.stdout == root + "/logs/myprogram.log"
    assert mine.stderr is None  # "stdout": both streams to one file
    assert dict(mine.env) == {"DB_USER": "superdb", "DB_NAME": "mydatabase"}
    # the defaults the README documents
    assert (mine.enabled, mine.autopid, mine.scan_for_process, mine.autostart,
            mine.autorestart, mine.inherit_env) == (True,) * 6
    assert (mine.maxrestarts, mine.restart_delay, mine.success_seconds,
            mine.term_to_kill_seconds) == (0, 0.0, 2.0, 8.0)
    assert mine.monitoring.monitor_after == 30.0 and mine.monitoring.rss_limit == 0

    full = config.programs["full"]
    assert full.proctitle_re == r"^python .*full\.py"
    assert full.email_alerts == ("ops@example.com",)
    # its own keys win over mydefaults'; the ones it lacks come from there
    assert full.success_seconds == 2.0 and full.maxrestarts == 0
    assert full.restart_delay == 0.0
    assert full.monitoring.rss_limit == 100000
    assert full.monitoring.activityfile == root + "/logs/full.activity"
    assert full.monitoring.activityfile_limit == 120.0


def test_seed_defaults_are_inherited(seed):
    seed.write("usrsvc.d/cfg/zz.cfg", program_text("heir", defaults="mydefaults"))
    heir = load(seed.path("usrsvc.cfg")).programs["heir"]
    assert heir.success_seconds == 5.0
    assert heir.restart_delay == 3.0
    assert heir.maxrestarts == 3
    assert heir.email_alerts == ("nobody@example.com",)


def test_main_without_config_dir_and_optional_pidfile(files):
    path = files.write("usrsvc.cfg", "[Main]\n" + program_text())
    config = load(path)
    assert config.main.config_dir is None
    assert config.main.pidfile is None  # the daemon picks one in the state dir
    assert list(config.programs) == ["p"]


# --- spellings -----------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["Monitoring", "Monitor"])
def test_monitor_subsection_both_spellings(files, spelling):
    text = program_text() + "  [[%s]]\n  rss_limit = 2048\n  monitor_after = 0.5\n" % spelling
    program = load(files.write("usrsvc.cfg", text)).programs["p"]
    assert program.monitoring.rss_limit == 2048
    assert program.monitoring.monitor_after == 0.5


def test_monitor_and_monitoring_at_once_is_an_error(files):
    text = program_text() + "  [[Monitor]]\n  rss_limit = 1\n  [[Monitoring]]\n  rss_limit = 2\n"
    path = files.write("usrsvc.cfg", text)
    error = load_error(path)
    assert any(path in p and "Monitoring" in p and "Monitor]]" in p for p in error.problems)


@pytest.mark.parametrize("key", ["maxrestarts", "max_restarts"])
def test_max_restarts_both_spellings(files, key):
    program = load(files.write("usrsvc.cfg", program_text(**{key: "4"}))).programs["p"]
    assert program.maxrestarts == 4


def test_max_restarts_and_maxrestarts_at_once_is_an_error(files):
    path = files.write("usrsvc.cfg", program_text(maxrestarts="1", max_restarts="2"))
    error = load_error(path)
    assert any(path in p and "maxrestarts" in p and "max_restarts" in p for p in error.problems)


def test_program_spelling_of_an_alias_beats_the_inherited_one(files):
    text = ("[DefaultSettings:d]\nmax_restarts = 7\n"
            + program_text(defaults="d", maxrestarts="2"))
    assert load(files.write("usrsvc.cfg", text)).programs["p"].maxrestarts == 2


# --- DefaultSettings -------------------------------------------------------------

def test_default_settings_merge_key_by_key(files):
    files.write("conf.d/00-defaults.cfg", """[DefaultSettings:base]
success_seconds = 4
term_to_kill_seconds = 1.5
inherit_env = off
  [[Env]]
  SHARED = from-defaults
  OVERRIDDEN = from-defaults
  [[Monitoring]]
  rss_limit = 1000
  monitor_after = 5
""")
    files.write("conf.d/10-app.cfg", program_text("app", defaults="base", success_seconds="0.5")
                + "  [[Env]]\n  OVERRIDDEN = from-program\n  OWN = yes\n"
                + "  [[Monitor]]\n  monitor_after = 1\n")
    path = files.write("usrsvc.cfg", "[Main]\nconfig_dir = conf.d\n")
    app = load(path).programs["app"]
    assert app.success_seconds == 0.5  # own key wins
    assert app.term_to_kill_seconds == 1.5  # inherited
    assert app.inherit_env is False
    assert dict(app.env) == {"SHARED": "from-defaults", "OVERRIDDEN": "from-program", "OWN": "yes"}
    assert app.monitoring.rss_limit == 1000  # inherited key of the subsection
    assert app.monitoring.monitor_after == 1.0  # own key of the subsection


def test_default_settings_may_supply_required_keys(files):
    text = ("[DefaultSettings:d]\npidfile = /tmp/x.pid\nstdout = /tmp/x.log\n"
            "[Program:p]\ncommand = /bin/true\ndefaults = d\n")
    program = load(files.write("usrsvc.cfg", text)).programs["p"]
    assert program.pidfile == "/tmp/x.pid"


def test_unknown_defaults_name_is_an_error_with_a_hint(files):
    text = "[DefaultSettings:mydefaults]\nsuccess_seconds = 1\n" + program_text(defaults="mydefault")
    path = files.write("usrsvc.cfg", text)
    error = load_error(path)
    assert any(path in p and "mydefault" in p and "did you mean 'mydefaults'" in p
               for p in error.problems)


def test_unknown_key_in_default_settings_is_an_error(files):
    path = files.write("usrsvc.cfg", "[DefaultSettings:d]\nsucess_seconds = 1\n" + program_text())
    error = load_error(path)
    assert any("[DefaultSettings:d]" in p and "did you mean 'success_seconds'" in p
               for p in error.problems)


# --- values ----------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("1", True), ("0", False), ("00", False), ("10", True), ("007", True),
    ("true", True), ("True", True), ("TRUE", True), ("false", False), ("FaLsE", False),
    ("yes", True), ("YES", True), ("no", False), ("No", False),
    ("on", True), ("On", True), ("off", False), ("OFF", False),
])
def test_booleans_as_1_5_13_reads_them(files, text, expected):
    program = load(files.write("usrsvc.cfg", program_text(autorestart=text))).programs["p"]
    assert program.autorestart is expected


@pytest.mark.parametrize("text", ["maybe", "1.0", "-1", "y", "t", "enabled", "0x1"])
def test_bad_booleans_are_errors(files, text):
    path = files.write("usrsvc.cfg", program_text(useshell=text))
    error = load_error(path)
    assert any(path in p and "useshell" in p and text in p and "boolean" in p
               for p in error.problems)


def test_comma_in_command_is_kept_whole(files):
    text = program_text(command="/bin/echo a,b, c,,d 'x, y'", proctitle_re="echo a{1,3}")
    program = load(files.write("usrsvc.cfg", text)).programs["p"]
    assert program.command == "/bin/echo a,b, c,,d 'x, y'"
    assert program.argv == ("/bin/echo", "a,b,", "c,,d", "x, y")
    assert program.proctitle_re == "echo a{1,3}"


def test_comma_in_useshell_command_and_env_value(files):
    text = (program_text(command="printf '%s,%s' 1 2; sleep 5", useshell="yes")
            + "  [[Env]]\n  LIST = a,b,c\n")
    program = load(files.write("usrsvc.cfg", text)).programs["p"]
    assert program.command == "printf '%s,%s' 1 2; sleep 5"
    assert program.argv[1:] == ("-c", program.command)
    assert dict(program.env) == {"LIST": "a,b,c"}


def test_email_alerts_comma_list(files):
    text = program_text(email_alerts="a@example.com, b@example.com")
    program = load(files.write("usrsvc.cfg", text)).programs["p"]
    assert program.email_alerts == ("a@example.com", "b@example.com")


def test_fractional_times_umask_and_signal(files):
    text = program_text(success_seconds="0.25", term_to_kill_seconds="1.5", umask="027",
                        stop_signal="INT", restart_delay="0.1", restart_delay_max="60")
    program = load(files.write("usrsvc.cfg", text)).programs["p"]
    assert (program.success_seconds, program.term_to_kill_seconds) == (0.25, 1.5)
    assert program.umask == 0o027
    assert program.stop_signal == signal.SIGINT
    assert (program.restart_delay, program.restart_delay_max) == (0.1, 60.0)


def test_paths_relative_tilde_and_vars(files, monkeypatch):
    monkeypatch.setenv("HOME", files.root)
    monkeypatch.setenv("USRSVC_TEST_LOGS", "/var/tmp/logs")
    files.write("conf.d/app.cfg", program_text(
        pidfile="run/app.pid", stdout="$USRSVC_TEST_LOGS/app.log", stderr="~/err/app.log",
        directory="${USRSVC_TEST_LOGS}/../work"))
    path = files.write("usrsvc.cfg", "[Main]\nconfig_dir = ./conf.d\n")
    program = load(path).programs["p"]
    assert program.pidfile == files.path("conf.d/run/app.pid")  # relative to its own file
    assert program.stdout == "/var/tmp/logs/app.log"
    assert program.stderr == files.path("err/app.log")
    assert program.directory == "/var/tmp/work"


def test_directory_defaults_to_home(files, monkeypatch):
    monkeypatch.setenv("HOME", files.root)
    program = load(files.write("usrsvc.cfg", program_text())).programs["p"]
    assert program.directory == files.root


def test_unset_variable_in_a_path_is_an_error(files, monkeypatch):
    monkeypatch.delenv("USRSVC_SURELY_UNSET", raising=False)
    path = files.write("usrsvc.cfg", program_text(stdout="$USRSVC_SURELY_UNSET/x.log"))
    error = load_error(path)
    assert any(path in p and "stdout" in p and "USRSVC_SURELY_UNSET" in p for p in error.problems)


# --- errors name file, section, key, value and what is expected ---------------------

@pytest.mark.parametrize("key,value,expected", [
    ("success_seconds", "-1", "number of seconds"),
    ("success_seconds", "soon", "number of seconds"),
    ("term_to_kill_seconds", "-0.5", "number of seconds"),
    ("restart_delay", "nan", "number of seconds"),
    ("maxrestarts", "1.5", "whole number"),
    ("maxrestarts", "-3", "whole number"),
    ("proctitle_re", "python (unclosed", "regular expression"),
    ("umask", "899", "octal"),
    ("stop_signal", "SIGNOPE", "signal"),
    ("email_alerts", "not-an-address", "email address"),
])
def test_error_names_file_section_key_value_and_expectation(files, key, value, expected):
    path = files.write("usrsvc.cfg", program_text("web", **{key: value}))
    error = load_error(path)
    [problem] = error.problems
    for part in (path, "[Program:web]", key, repr(value), "expected", expected):
        assert part in problem


def test_every_problem_is_reported_at_once(files):
    path = files.write("usrsvc.cfg", program_text("a", success_seconds="x")
                       + program_text("b", useshell="maybe") + "[Program:c]\ncommand = /bin/true\n")
    problems = load_error(path).problems
    assert any("[Program:a]" in p and "success_seconds" in p for p in problems)
    assert any("[Program:b]" in p and "useshell" in p for p in problems)
    assert any("[Program:c]" in p and "pidfile" in p for p in problems)
    assert any("[Program:c]" in p and "stdout" in p for p in problems)


@pytest.mark.parametrize("section,key,hint", [
    ("Program", "comand", "command"),
    ("Program", "succes_seconds", "success_seconds"),
    ("Program", "max_restart", "restarts"),
    ("Main", "config_dirs", "config_dir"),
    ("Monitoring", "rss_limt", "rss_limit"),
])
def test_unknown_key_is_an_error_with_did_you_mean(files, section, key, hint):
    if section == "Main":
        text = "[Main]\n%s = x\n" % key + program_text()
    elif section == "Monitoring":
        text = program_text() + "  [[Monitoring]]\n  %s = 5\n" % key
    else:
        text = program_text(**{key: "5"})
    path = files.write("usrsvc.cfg", text)
    problems = load_error(path).problems
    assert any(path in p and key in p and "did you mean" in p and hint in p for p in problems)


@pytest.mark.parametrize("missing", ["command", "pidfile", "stdout"])
def test_missing_required_key(files, missing):
    keys = {"command": "/bin/true", "pidfile": "/tmp/p.pid", "stdout": "/tmp/p.log"}
    del keys[missing]
    path = files.write("usrsvc.cfg", "[Program:p]\n" + "".join("%s = %s\n" % kv for kv in keys.items()))
    problems = load_error(path).problems
    assert any(path in p and "[Program:p]" in p and missing in p for p in problems)


def test_program_named_all_is_refused(files):
    path = files.write("usrsvc.cfg", program_text("all"))
    assert any("all" in p and path in p for p in load_error(path).problems)


def test_empty_main_file_is_an_error(files):
    path = files.write("usrsvc.cfg", "   \n# only a comment\n")
    assert any(path in p for p in load_error(path).problems)


# --- warnings: what 1.5.13 silently ignores loads, with a warning -------------------------

def test_lowercase_program_section_is_a_warning(files):
    path = files.write("usrsvc.cfg", program_text("ok") + program_text("x").replace("Program", "program"))
    config = load(path)
    assert list(config.programs) == ["ok"]
    assert any(path in w and "[program:x]" in w and "[Program:x]" in w for w in config.warnings)


def test_unknown_section_is_a_warning(files):
    path = files.write("usrsvc.cfg", "[Whatever]\nx = 1\n" + program_text())
    config = load(path)
    assert any(path in w and "[Whatever]" in w for w in config.warnings)


def test_key_outside_any_section_is_a_warning(files):
    path = files.write("usrsvc.cfg", "stray = 1\n" + program_text())
    config = load(path)
    assert any(path in w and "stray" in w for w in config.warnings)


def test_main_in_config_dir_file_is_a_warning(files):
    other = files.write("conf.d/a.cfg", "[Main]\npidfile = /tmp/elsewhere.pid\n" + program_text())
    path = files.write("usrsvc.cfg", "[Main]\nconfig_dir = conf.d\n")
    config = load(path)
    assert config.main.pidfile is None  # not taken from the config_dir file
    assert any(other in w and "[Main]" in w for w in config.warnings)


def test_program_defined_twice_later_file_wins_both_named(files):
    first = files.write("conf.d/10-first.cfg", program_text("dup", command="/bin/sleep 1"))
    second = files.write("conf.d/20-second.cfg", program_text("dup", command="/bin/sleep 2"))
    path = files.write("usrsvc.cfg", "[Main]\nconfig_dir = conf.d\n")
    config = load(path)
    assert config.programs["dup"].argv == ("/bin/sleep", "2")
    assert config.programs["dup"].source == second
    assert any(first in w and second in w and "dup" in w for w in config.warnings)


def test_config_dir_files_read_in_sorted_order(files):
    for name in ("b.cfg", "a.cfg", "c.cfg", "ignored.txt"):
        files.write("conf.d/" + name, program_text(name.split(".")[0]))
    path = files.write("usrsvc.cfg", "[Main]\nconfig_dir = conf.d\n")
    config = load(path)
    assert list(config.programs) == ["a", "b", "c"]
    assert config.files == (path,) + tuple(files.path("conf.d/%s.cfg" % n) for n in "abc")


def test_empty_file_in_config_dir_is_a_warning(files):
    empty = files.write("conf.d/empty.cfg", "")
    files.write("conf.d/p.cfg", program_text())
    config = load(files.write("usrsvc.cfg", "[Main]\nconfig_dir = conf.d\n"))
    assert list(config.programs) == ["p"]
    assert any(empty in w for w in config.warnings)


# --- which main file ---------------------------------------------------------------

def test_main_config_path_precedence():
    environ = {"HOME": "/home/u", "USRSVC_CONFIG": "/etc/u/env.cfg"}
    assert main_config_path("/x/explicit.cfg", environ) == "/x/explicit.cfg"
    assert main_config_path(None, environ) == "/etc/u/env.cfg"
    assert main_config_path(None, {"HOME": "/home/u"}) == "/home/u/usrsvc.cfg"
    assert main_config_path(None, {"HOME": "/home/u", "USRSVC_CONFIG": ""}) == "/home/u/usrsvc.cfg"


# --- unsafe files and directories -----------------------------------------------------

def _refused(path, hint):
    problems = load_error(path).problems
    assert any(hint in p and "refused" in p for p in problems), problems
    return problems


def test_world_writable_config_file_is_refused(files):
    path = files.write("usrsvc.cfg", program_text(), mode=0o666)
    _refused(path, "chmod o-w %s" % path)


def test_group_writable_config_file_with_shared_group_is_refused(files):
    import grp
    import pwd

    me = pwd.getpwuid(os.geteuid()).pw_name
    shared = [g for g in grp.getgrall()
              if g.gr_gid != os.getegid() and (set(g.gr_mem) - {me}
                                               or any(p.pw_gid == g.gr_gid and p.pw_uid != os.geteuid()
                                                      for p in pwd.getpwall()))]
    if not shared:
        pytest.skip("no group with other members on this machine")
    path = files.write("usrsvc.cfg", program_text(), mode=0o664)
    os.chown(path, -1, shared[0].gr_gid)
    _refused(path, "chmod g-w %s" % path)


def test_group_writable_config_file_with_private_group_is_fine(files):
    import pwd

    me = pwd.getpwuid(os.geteuid())
    if any(p.pw_gid == me.pw_gid and p.pw_uid != me.pw_uid for p in pwd.getpwall()):
        pytest.skip("this user's primary group is shared")
    path = files.write("usrsvc.cfg", program_text(), mode=0o664)
    os.chown(path, -1, me.pw_gid)
    assert "p" in load(path).programs


def test_foreign_owned_config_file_is_refused(files):
    if os.geteuid() != 0:
        pytest.skip("needs root to give a file away")
    path = files.write("usrsvc.cfg", program_text())
    os.chown(path, 65534, -1)
    _refused(path, "chown %d %s" % (os.geteuid(), path))


def test_world_writable_config_dir_is_refused(files):
    files.write("conf.d/p.cfg", program_text())
    os.chmod(files.path("conf.d"), 0o777)
    path = files.write("usrsvc.cfg", "[Main]\nconfig_dir = conf.d\n")
    _refused(path, "chmod o-w %s" % files.path("conf.d"))


def test_world_writable_file_in_config_dir_is_refused(files):
    inner = files.write("conf.d/p.cfg", program_text(), mode=0o646)
    path = files.write("usrsvc.cfg", "[Main]\nconfig_dir = conf.d\n")
    _refused(path, "chmod o-w %s" % inner)


@pytest.mark.parametrize("command,argv", [
    ("awk -F, '{print $1}' /etc/hostname", ("awk", "-F,", "{print $1}", "/etc/hostname")),
    ("sort -t, -k1,1 /etc/hostname", ("sort", "-t,", "-k1,1", "/etc/hostname")),
    ("/bin/echo a,,b", ("/bin/echo", "a,,b")),
    ("/bin/echo trailing,", ("/bin/echo", "trailing,")),
    ('python3 -c "import os, sys"', ("python3", "-c", "import os, sys")),
])
def test_commas_configobj_lists_would_reject(files, command, argv):
    text = program_text(command=command) + program_text("q", email_alerts="a@example.com, b@example.com")
    config = load(files.write("usrsvc.cfg", text))
    assert config.programs["p"].command == command
    assert config.programs["p"].argv == argv
    assert config.programs["q"].email_alerts == ("a@example.com", "b@example.com")
