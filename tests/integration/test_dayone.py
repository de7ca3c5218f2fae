"""Errors a user hits on day one, each with its fix; checkconfig (both tools); a broken
file in config_dir. Through the installed usrsvc and usrsvcd, in a temporary HOME."""

import os
import subprocess
import sys
import time

from conftest import _command, pids_with, wait_for


def usrsvcd(env, *args):
    result = subprocess.run([_command("usrsvcd")] + list(args), env=env.env, cwd=env.home,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def warnings(text, tool="usrsvc"):
    prefix = "%s: warning: " % tool
    return [line[len(prefix):] for line in text.splitlines() if line.startswith(prefix)]


def script(env, name, text="#!/bin/sh\nwhile :; do sleep 1; done\n", mode=0o755):
    """An executable file under HOME whose path carries the test's token."""
    directory = os.path.join(env.home, "app-" + env.token)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)
    return path


# --- no config file at all ---------------------------------------------------------------

def _says_where_and_how(result, path, source):
    text = result.stderr
    assert path in text and source in text, text
    for line in ("[Program:NAME]", "command = ", "pidfile = ", "stdout = "):
        assert line in text, text


def test_no_config_file_says_where_it_looked_and_shows_an_example(env):
    assert not os.path.exists(env.cfg)
    result = env.run("status", "web", check=130)
    _says_where_and_how(result, env.cfg, "$HOME/usrsvc.cfg")
    assert "neither --config nor $USRSVC_CONFIG" in result.stderr
    other = os.path.join(env.home, "elsewhere.cfg")
    result = env.run("--config", other, "start", "web", check=130)
    _says_where_and_how(result, other, "--config")
    result = env.run("status", "all", env={"USRSVC_CONFIG": other}, check=130)
    _says_where_and_how(result, other, "$USRSVC_CONFIG = %s" % other)
    result = env.run("checkconfig", check=130)
    _says_where_and_how(result, env.cfg, "$HOME/usrsvc.cfg")
    result = usrsvcd(env, "checkconfig")
    assert result.returncode == 130
    _says_where_and_how(result, env.cfg, "$HOME/usrsvc.cfg")


def test_the_example_of_the_message_is_a_config_that_works(env):
    result = env.run("status", "web", check=130)
    lines = [line.strip() for line in result.stderr.splitlines()]
    example = lines[lines.index("[Program:NAME]"):][:4]
    text = "\n".join(example).replace("NAME", "web").replace(
        "/full/path/to/program --its --arguments", env.service())
    env.write(text + "\nsuccess_seconds = 0.3\n")
    env.run("start", "web", check=0)
    assert os.path.exists(os.path.join(env.home, "run", "web.pid"))
    env.run("stop", "web", check=0)


# --- an unknown program name ----------------------------------------------------------------

def test_a_missing_required_key_says_what_to_add_and_that_works(env):
    env.write("[Program:web]\ncommand = %s\n" % env.service())
    result = env.run("start", "web", check=130)
    fixes = [line.split("Fix: add it, e.g. ", 1)[1].split(" (", 1)[0]
             for line in result.stderr.splitlines() if "missing required key" in line]
    assert fixes == ["pidfile = ~/run/web.pid", "stdout = ~/logs/web.log"], result.stderr
    env.write("[Program:web]\ncommand = %s\n%s\n" % (env.service(), "\n".join(fixes)))
    env.run("start", "web", check=0)
    assert wait_for(lambda: pids_with(env.token))
    env.run("stop", "web", check=0)
    assert wait_for(lambda: not pids_with(env.token), timeout=10)


def test_unknown_program_lists_the_names_and_suggests_the_closest(env):
    env.write(env.program("web", env.service("--tag", "web"))
              + env.program("worker", env.service("--tag", "worker")))
    result = env.run("status", "wbe", check=133)
    assert "did you mean 'web'?" in result.stderr
    assert "web, worker" in result.stderr and env.cfg in result.stderr
    result = env.run("start", "nothing-like-it", check=133)
    assert "did you mean" not in result.stderr and "web, worker" in result.stderr
    assert not pids_with(env.token)


def test_unknown_program_list_is_capped(env):
    env.write("".join(env.program("p%02d" % i, env.service("--tag", "p%02d" % i)) for i in range(25)))
    result = env.run("status", "web", check=133)
    assert "p00, p01" in result.stderr and "p19" in result.stderr
    assert "p20" not in result.stderr and "... 5 more" in result.stderr


def test_unknown_program_is_found_from_a_config_the_cache_holds(env):
    env.write(env.program("web", env.service()))
    past = time.time() - 60
    os.utime(env.cfg, (past, past))  # old enough to be cached
    env.run("status", "web", check=1)
    result = env.run("status", "wbe", check=133)
    assert "did you mean 'web'?" in result.stderr


# --- the exec fails: ~, a missing directory, PATH, not executable ----------------------------

def test_tilde_in_a_non_shell_command_is_not_expanded_and_says_so(env):
    path = script(env, "run.sh")
    relative = "~/" + os.path.relpath(path, env.home)
    env.write(env.program("app", relative))
    result = env.run("start", "app", check=137)
    text = result.stdout
    assert "'~' is not expanded" in text and "useshell = True" in text
    assert path in text  # the full path to write instead
    assert "[Program:app] command = %s" % relative in text
    assert not pids_with(env.token)
    result = env.run("checkconfig", check=0)
    found = [w for w in warnings(result.stderr) if "'~' is not expanded" in w]
    assert len(found) == 1 and "[Program:app] command = %s" % relative in found[0]
    env.write(env.program("app", path + " ~/data"))
    result = env.run("checkconfig", check=0)
    assert any("'~' is not expanded" in w and "~/data" in w for w in warnings(result.stderr))
    # an argument: the program gets it as it is; when it then fails, the start says so
    reader = script(env, "read.sh", "#!/bin/sh\nexec cat \"$1\"\n")
    env.write(env.program("app", "%s ~/conf-%s" % (reader, env.token)))
    result = env.run("start", "app", check=137)
    assert "'~' is not expanded in a command without useshell" in result.stdout, result.stdout
    assert "got ~/conf-%s as it is" % env.token in result.stdout, result.stdout
    assert os.path.join(env.home, "conf-" + env.token) in result.stdout  # the path to write


def test_missing_directory_is_named_as_the_working_directory(env):
    missing = os.path.join(env.home, "srv", "app")
    env.write(env.program("app", env.service(), directory=missing))
    result = env.run("start", "app", check=137)
    text = result.stdout
    assert "working directory %s does not exist" % missing in text
    assert "directory = %s" % missing in text and "not the command" in text
    assert "mkdir -p %s" % missing in text
    assert not pids_with(env.token)
    result = env.run("checkconfig", check=0)
    assert any("directory = %s" % missing in w and "working directory does not exist" in w
               for w in warnings(result.stderr))
    os.makedirs(missing)
    env.run("start", "app", check=0)


def test_command_not_in_path_names_the_path_used(env):
    empty = os.path.join(env.home, "emptybin")
    os.makedirs(empty)
    name = "no-such-program-" + env.token
    env.write(env.program("app", "%s --serve" % name) + "[[Env]]\nPATH = %s:/nonexistent\n" % empty)
    result = env.run("start", "app", check=137)
    assert "command '%s' not found in PATH (PATH from its [[Env]]: %s:/nonexistent)" % (
        name, empty) in result.stdout
    assert "[Program:app] command = %s --serve" % name in result.stdout
    result = env.run("checkconfig", check=0)
    assert any("command '%s' not found in PATH" % name in w and empty in w
               for w in warnings(result.stderr))
    env.write(env.program("app", "%s --serve" % name))
    result = env.run("start", "app", check=137, env={"PATH": empty + ":/bin:/usr/bin"})
    assert "not found in PATH (inherited PATH: %s:/bin:/usr/bin)" % empty in result.stdout


def test_not_executable_says_so(env):
    path = script(env, "run.sh", mode=0o644)
    env.write(env.program("app", "%s --serve" % path))
    result = env.run("start", "app", check=137)
    assert "%s is not executable" % path in result.stdout and "chmod +x %s" % path in result.stdout
    result = env.run("checkconfig", check=0)
    assert any("%s is not executable" % path in w for w in warnings(result.stderr))
    bindir = os.path.dirname(path)
    env.write(env.program("app", "run.sh --serve") + "[[Env]]\nPATH = %s\n" % bindir)
    result = env.run("start", "app", check=137)
    assert "'run.sh' found in PATH" in result.stdout and "not executable" in result.stdout
    result = env.run("checkconfig", check=0)
    assert any("is found in PATH as %s" % path in w and "not executable" in w
               for w in warnings(result.stderr))
    assert not pids_with(env.token)


# --- a log file that cannot be opened: 136 for any reason ----------------------------------

def test_a_log_file_that_cannot_be_opened_exits_136_whatever_the_reason(env):
    as_dir = os.path.join(env.home, "logs", "app.log")
    os.makedirs(as_dir)
    env.write(env.program("app", env.service(), stdout=as_dir))
    result = env.run("start", "app", check=136)
    assert "cannot open log file %s" % as_dir in result.stdout
    assert "[Program:app] stdout = %s" % as_dir in result.stdout and "Fix:" in result.stdout
    result = env.run("checkconfig", check=0)
    assert any("stdout = %s" % as_dir in w and "is a directory" in w for w in warnings(result.stderr))
    os.rmdir(as_dir)
    a_file = os.path.join(env.home, "plainfile")
    open(a_file, "w").close()
    under_file = os.path.join(a_file, "app.err")
    env.write(env.program("app", env.service(), stderr=under_file))
    result = env.run("start", "app", check=136)
    assert "cannot open log file %s" % under_file in result.stdout
    assert "stderr = %s" % under_file in result.stdout
    result = env.run("checkconfig", check=0)
    assert any("stderr = %s" % under_file in w and "is not a directory" in w
               for w in warnings(result.stderr))
    assert not pids_with(env.token)


# --- a pidfile that cannot be written ------------------------------------------------------------

def test_a_pidfile_that_cannot_be_written_is_a_warning(env):
    a_file = os.path.join(env.home, "plainfile")
    open(a_file, "w").close()
    pidfile = os.path.join(a_file, "run", "app.pid")
    env.write(env.program("app", env.service(), pidfile=pidfile))
    for result, tool in ((env.run("checkconfig", check=0), "usrsvc"),
                         (usrsvcd(env, "checkconfig"), "usrsvcd")):
        assert result.returncode == 0
        found = [w for w in warnings(result.stderr, tool) if "pidfile = %s" % pidfile in w]
        assert len(found) == 1 and "cannot be written" in found[0], result.stderr
        assert "[Program:app]" in found[0] and env.cfg in found[0] and "Fix:" in found[0]
    result = env.run("start", "app", check=0)  # the program still starts
    said = result.stdout + result.stderr
    assert said.count("cannot write pidfile %s" % pidfile) == 1, said  # said once
    assert "Fix:" in said and "launch record" in said, said
    assert wait_for(lambda: pids_with(env.token))
    pid = pids_with(env.token)[0]
    assert "pid %d" % pid in env.run("status", "app", check=0).stdout  # found by its record
    stopped = env.run("stop", "app", check=0)
    assert "cannot write pidfile" not in stopped.stdout + stopped.stderr  # not again
    assert wait_for(lambda: not pids_with(env.token), timeout=10)


# --- checkconfig -------------------------------------------------------------------------

def test_checkconfig_of_a_good_config_lists_programs_without_warnings(env):
    env.write(env.program("web", env.service("--tag", "web"))
              + env.program("off", env.service("--tag", "off"), enabled="no"))
    result = env.run("checkconfig", check=0)
    assert result.stderr == ""
    assert result.stdout.splitlines()[0] == "configuration OK: %s" % env.cfg
    assert "2 program(s):" in result.stdout
    assert "web " in result.stdout and "disabled" in result.stdout
    daemon = usrsvcd(env, "checkconfig")
    assert daemon.returncode == 0 and daemon.stdout == result.stdout and daemon.stderr == ""
    assert not pids_with(env.token)  # checks, never starts


def test_checkconfig_of_both_tools_prints_the_same_warnings(env):
    path = script(env, "run.sh")
    env.write(env.program("app", path) + env.program("tilde", "~/bin/tool")
              + env.program("web", env.service(), directory=os.path.join(env.home, "nope")))
    mine = env.run("checkconfig", check=0)
    theirs = usrsvcd(env, "checkconfig")
    assert theirs.returncode == 0
    assert warnings(mine.stderr) == warnings(theirs.stderr, "usrsvcd")
    assert len(warnings(mine.stderr)) == 3
    assert mine.stdout == theirs.stdout


def test_checkconfig_refuses_an_invalid_config_even_for_one_name(env):
    env.write(env.program("web", env.service(), success_seconds="-1"))
    result = env.run("checkconfig", check=130)
    assert "[Program:web] success_seconds" in result.stderr
    assert usrsvcd(env, "checkconfig").returncode == 130
    result = env.run("checkconfig", "web", check=130)  # checkconfig NAME: the program resolved
    assert "[Program:web] success_seconds" in result.stderr
    result = env.run("checkconfig", "nosuch", check=130)
    assert "checkconfig" in env.run("--help", check=0).stdout


def test_checkconfig_warns_when_no_sendmail_can_send_alerts(env):
    missing = os.path.join(env.home, "no-sendmail")
    env.write("[Main]\nsendmail_path = %s\n" % missing
              + env.program("web", env.service(), email_alerts="ops@example.com"))
    result = env.run("checkconfig", check=0)
    found = [w for w in warnings(result.stderr) if "sendmail_path" in w]
    assert len(found) == 1 and missing in found[0] and "does not exist" in found[0]
    assert "[Program:web]" in found[0] and "smtp_host" in found[0]
    env.write("[Main]\nsendmail_path = %s\nsmtp_host = localhost\n" % missing
              + env.program("web", env.service(), email_alerts="ops@example.com"))
    assert not [w for w in warnings(env.run("checkconfig", check=0).stderr) if "sendmail" in w]
    env.write("[Main]\nsendmail_path = %s\n" % missing + env.program("web", env.service()))
    assert not [w for w in warnings(env.run("checkconfig", check=0).stderr) if "sendmail" in w]


def test_single_path_command_warning_is_true_and_its_fix_works(env):
    path = script(env, "run.sh")
    env.write(env.program("app", path))
    result = env.run("checkconfig", check=0)
    found = [w for w in warnings(result.stderr) if "tail -f %s" % path in w]
    assert len(found) == 1 and "[Program:app] command = %s" % path in found[0]
    suggestion = found[0].split("proctitle_re = ", 1)[1].split("), or", 1)[0]
    assert suggestion.startswith("^/bin/sh ") and "\\\\" not in suggestion
    # the warning is right: a `tail -f` of the script passes for the program
    pager = env.spawn(["tail", "-f", path])
    assert wait_for(lambda: pager.pid in pids_with(env.token))
    result = env.run("status", "app", check=0)
    assert "pid %d" % pager.pid in result.stdout
    # and its fix works: the suggested proctitle_re tells them apart
    env.write(env.program("app", path, proctitle_re=suggestion))
    assert not [w for w in warnings(env.run("checkconfig", check=0).stderr) if "tail -f" in w]
    env.run("status", "app", check=1)
    result = env.run("start", "app", check=0)
    assert "pid %d" % pager.pid not in result.stdout
    env.run("stop", "app", check=0)
    assert pager.poll() is None  # never signalled


# --- a broken file in config_dir -------------------------------------------------------------

def _with_config_dir(env, *files):
    confd = os.path.join(env.home, "conf.d")
    os.makedirs(confd, exist_ok=True)
    env.write("[Main]\nconfig_dir = conf.d\n" + env.program("web", env.service("--tag", "web")))
    paths = []
    for name, text in files:
        paths.append(env.write(text, os.path.join(confd, name)))
    return paths


def _skipped_line(result):
    found = [w for w in warnings(result.stderr) if "skipped for this command" in w]
    assert len(found) == 1, result.stderr
    assert "usrsvc checkconfig" in found[0]
    return found[0]


def test_a_syntax_error_in_another_file_is_one_warning(env):
    broken, = _with_config_dir(env, ("50-broken.cfg", "[Program:other\ncommand = x\n"))
    line = _skipped_line(env.run("status", "web", check=1))
    assert broken in line
    result = env.run("start", "web", check=0)
    assert broken in _skipped_line(result) and "started" in result.stdout
    env.run("status", "web", check=0)
    env.run("stop", "web", check=0)
    for argv in (["status", "all"], ["checkconfig"], ["stop", "all"]):
        result = env.run(*argv, check=130)
        assert broken in result.stderr and "line 1" in result.stderr
    assert usrsvcd(env, "checkconfig").returncode == 130
    assert usrsvcd(env, "start", "--foreground").returncode == 130


def test_an_invalid_program_in_another_file_is_one_warning(env):
    bad, = _with_config_dir(env, ("40-bad.cfg", env.program("bad", env.service(),
                                                             success_seconds="soon")))
    line = _skipped_line(env.run("status", "web", check=1))
    assert "[Program:bad] in %s" % bad in line
    result = env.run("status", "bad", check=130)  # the named program itself: refused
    assert "[Program:bad] success_seconds" in result.stderr
    env.run("status", "all", check=130)


def test_a_broken_file_that_may_define_the_named_program_is_refused(env):
    broken, = _with_config_dir(env, ("50-web.cfg", "[Program:web]\ncommand = 'unterminated\n"
                                                   "[Program:api\n"))
    result = env.run("status", "web", check=130)  # it may redefine web: never guess
    assert broken in result.stderr
    result = env.run("status", "api", check=130)  # api exists only there
    assert broken in result.stderr


def test_broken_defaults_concern_only_the_programs_that_use_them(env):
    bad, = _with_config_dir(env, ("40-defaults.cfg", "[DefaultSettings:slow]\nsuccess_seconds = x\n"
                                  + env.program("user", env.service("--tag", "user"), defaults="slow")))
    line = _skipped_line(env.run("status", "web", check=1))
    assert "[DefaultSettings:slow] in %s" % bad in line
    result = env.run("status", "user", check=130)
    assert "[DefaultSettings:slow] success_seconds" in result.stderr


def test_a_clean_config_dir_gives_no_warning(env):
    _with_config_dir(env, ("10-api.cfg", env.program("api", env.service("--tag", "api"))))
    result = env.run("status", "web", check=1)
    assert result.stderr == ""


# --- the fast path stays cheap --------------------------------------------------------------

def test_status_from_the_cache_imports_neither_configobj_nor_re(env):
    env.write(env.program("web", env.service()))
    past = time.time() - 60
    os.utime(env.cfg, (past, past))  # old enough to be cached
    env.run("start", "web", check=0)
    env.run("status", "web", check=0)  # the cache is written by now
    code = ("import sys\nfrom usrsvcmod import cli\ncode = cli.run(['status', 'web'])\n"
            "print(code, 'configobj' in sys.modules, 're' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], env=env.env, cwd=env.home,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.splitlines()[-1] == "0 False False", (result.stdout, result.stderr)
