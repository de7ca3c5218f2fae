"""Shell completion through the installed usrsvc: the bash script is loaded by a real
bash and completes actions, options, program names, @groups and signals; names come
from a fast path that imports neither configobj nor psutil and never runs what a name
says; zsh and fish scripts pass their shell's syntax check (and fish completes for real).
Also `usrsvc checkconfig --keys`, the key reference."""

import os
import shutil
import subprocess
import sys
import time

import pytest

from usrsvcmod.config import spec

BASH_DRIVER = r'''
source <("$USRSVC" completion bash) || exit 9
complete_line() {
    COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
    _usrsvc
    printf '%s\n' "${COMPREPLY[@]}"
}
complete_line "$@"
'''


def bash_complete(env, *words):
    """What TAB offers for ``usrsvc WORDS`` (the last word is the one being typed)."""
    bash = shutil.which("bash")
    result = subprocess.run([bash, "-c", BASH_DRIVER, "driver", env.usrsvc] + list(words),
                            env=dict(env.env, USRSVC=env.usrsvc), cwd=env.home,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "", (result.returncode, result.stderr)
    return [line for line in result.stdout.splitlines() if line]


def three_programs(env):
    env.write(env.program("web", env.service("--tag", "web"))
              + env.program("worker", env.service("--tag", "worker"))
              + env.program("api", env.service("--tag", "api")))


def test_bash_completes_actions_and_options_from_the_cli(env):
    from usrsvcmod import cli

    assert set(bash_complete(env, "")) >= set(cli.ACTIONS) | {"completion"}
    assert bash_complete(env, "st") == [a for a in cli.ACTIONS if a.startswith("st")]
    options = bash_complete(env, "--")
    assert {"--config", "--json", "--parallel", "--keys"} <= set(options)
    assert bash_complete(env, "completion", "") == ["bash", "zsh", "fish"]
    assert bash_complete(env, "checkconfig", "") == []


def test_bash_completes_hosts_of_the_ssh_config_after_h(env):
    os.makedirs(os.path.join(env.home, ".ssh"), mode=0o700)
    with open(os.path.join(env.home, ".ssh", "config"), "w") as handle:
        handle.write("Host web1 web2 *.example\n  HostName 10.0.0.1\nhost db\nHost *\n"
                     "  User deploy\n")
    assert bash_complete(env, "-H", "w") == ["web1", "web2"]
    assert bash_complete(env, "--host", "") == ["web1", "web2", "db"]
    assert bash_complete(env, "-H", "web1,d") == ["web1,db"]
    assert "status" in bash_complete(env, "-H", "web1", "")  # then the action, as usual


def test_bash_completes_program_names_from_the_config(env):
    three_programs(env)
    assert bash_complete(env, "start", "w") == ["web", "worker"]
    assert bash_complete(env, "restart", "web", "") == ["web", "worker", "api", "all"]
    assert bash_complete(env, "status", "a") == ["api", "all"]


def test_a_config_named_on_the_line_is_the_one_completed(env):
    other = os.path.join(env.home, "other.cfg")
    env.write(env.program("elsewhere", env.service()), path=other)
    three_programs(env)
    assert bash_complete(env, "--config", other, "stop", "") == ["elsewhere", "all"]
    assert bash_complete(env, "--config=" + other, "stop", "e") == ["elsewhere"]
    assert bash_complete(env, "--config", "oth") == ["other.cfg"]  # a file, for --config


def test_names_of_config_dir_files_and_groups_complete(env):
    conf = os.path.join(env.home, "conf.d")
    os.makedirs(conf)
    env.write("[Main]\nconfig_dir = conf.d  # a comment\n" + env.program("web", env.service()))
    env.write("[DefaultSettings:back]\ngroup = backend\n\n"
              + env.program("worker", env.service(), defaults="back")
              + env.program("front", env.service(), group="frontend")
              + "\t[[Env]]\n\tgroup = not-a-group\n",
              path=os.path.join(conf, "10-more.cfg"))
    words = bash_complete(env, "restart", "")
    assert words == ["web", "worker", "front", "all", "@backend", "@frontend"]
    assert bash_complete(env, "restart", "@f") == ["@frontend"]


def test_signal_names_complete_after_the_program_of_usrsvc_signal(env):
    three_programs(env)
    assert "HUP" in bash_complete(env, "signal", "web", "")
    assert bash_complete(env, "signal", "web", "TE") == ["TERM"]


def test_a_name_is_offered_as_text_and_never_run(env):
    marker = os.path.join(env.home, "ran")
    env.write(env.program("$(touch %s)" % marker, env.service()))
    quoted = "\\$\\(touch\\ %s\\)" % marker  # bash's printf %q: one literal word
    assert bash_complete(env, "stop", "$") == [quoted]
    assert bash_complete(env, "stop", "\\$\\(to") == [quoted]  # typed quoted, too
    env.write(env.program("a b", env.service()))
    assert bash_complete(env, "stop", "a") == ["a\\ b", "all"]
    assert not os.path.exists(marker)


def test_names_complete_with_no_config_and_never_hang_on_a_fifo(env):
    assert bash_complete(env, "stop", "") == ["all"]
    os.mkfifo(env.cfg)
    result = env.run("__complete", "names", check=0, timeout=20)
    assert result.stdout == "all\n"


def _complete_in_process(env, code):
    result = subprocess.run([sys.executable, "-c", code], env=env.env, cwd=env.home,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()[-1]


def test_names_come_from_the_config_cache_without_configobj_or_psutil(env):
    three_programs(env)
    past = time.time() - 60
    os.utime(env.cfg, (past, past))  # old enough to be cached
    env.run("status", "all", check=1)  # writes the validated config cache
    code = ("import sys, io\nfrom usrsvcmod import cli, completion\n"
            "out = io.StringIO()\ncode = cli.run(['__complete', 'names'], out=out)\n"
            "cached = completion._from_cache(%r) is not None\n"
            "print(code, cached, 'configobj' in sys.modules, 'psutil' in sys.modules,"
            " 're' in sys.modules, out.getvalue().split())\n" % env.cfg)
    assert _complete_in_process(env, code) == \
        "0 True False False False ['web', 'worker', 'api', 'all']"


def test_names_from_headers_when_there_is_no_cache_import_nothing_heavy(env):
    three_programs(env)  # just written: too fresh to be cached, and never parsed
    code = ("import sys, io\nfrom usrsvcmod import cli\nout = io.StringIO()\n"
            "code = cli.run(['__complete', 'names'], out=out)\n"
            "print(code, 'configobj' in sys.modules, 'psutil' in sys.modules,"
            " 're' in sys.modules, out.getvalue().split())\n")
    assert _complete_in_process(env, code) == \
        "0 False False False ['web', 'worker', 'api', 'all']"


def test_groups_come_from_the_cache_too_once_the_group_key_exists(env):
    if "group" not in spec.PROGRAM_KEYS:
        pytest.skip("the `group` program key is not in this tree yet (issue 11, part 2)")
    env.write(env.program("web", env.service(), group="front"))
    past = time.time() - 60
    os.utime(env.cfg, (past, past))
    env.run("status", "all", check=1)
    code = ("from usrsvcmod import completion\n"
            "print(completion._from_cache(%r))\n" % env.cfg)
    assert _complete_in_process(env, code) == "(['web'], ['front'])"
    assert bash_complete(env, "stop", "@") == ["@front"]


def test_an_unknown_shell_is_named_with_the_choices(env):
    result = env.run("completion", "tcsh", check=1)
    assert "bash|zsh|fish" in result.stderr
    env.run("completion", check=1)


@pytest.mark.parametrize("shell,flag", [("zsh", "-n"), ("fish", "--no-execute")])
def test_zsh_and_fish_scripts_pass_their_syntax_check(env, shell, flag):
    path = shutil.which(shell)
    if not path:
        pytest.skip("%s is not installed here; its script is only generated" % shell)
    script = os.path.join(env.home, "completion." + shell)
    with open(script, "w") as handle:
        handle.write(env.run("completion", shell, check=0).stdout)
    result = subprocess.run([path, flag, script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_fish_completes_names_for_real(env):
    fish = shutil.which("fish")
    if not fish:
        pytest.skip("fish is not installed here")
    three_programs(env)
    script = os.path.join(env.home, "usrsvc.fish")
    with open(script, "w") as handle:
        handle.write(env.run("completion", "fish", check=0).stdout)
    line = "source %s; complete -C '%s restart w'" % (script, env.usrsvc)
    result = subprocess.run([fish, "--no-config", "-c", line], env=env.env, cwd=env.home,
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["web", "worker"], (result.stdout, result.stderr)


# --- checkconfig --keys -----------------------------------------------------------------------

def test_checkconfig_keys_lists_every_key_without_a_config(env):
    assert not os.path.exists(env.cfg)
    out = env.run("checkconfig", "--keys", check=0).stdout
    for table in (spec.MAIN_KEYS, spec.PROGRAM_KEYS, spec.MONITOR_KEYS):
        for key in table:
            assert "\n  %s = " % key in out, key
    assert "accepts: one of: text, json" in out
    assert "[Program:NAME] and [DefaultSettings:NAME]" in out


def test_keys_goes_with_checkconfig_only(env):
    result = env.run("status", "web", "--keys", check=1)
    assert "usrsvc checkconfig --keys" in result.stderr


class InteractiveShell:
    """A real interactive bash (or zsh) on a pty, with usrsvc's completion loaded:
    keys are typed (TAB and Enter included) and the screen is read back."""

    ARGV = {"bash": ["--norc", "--noprofile", "-i"], "zsh": ["-f", "-i"]}
    LOAD = {"bash": "source <(usrsvc completion bash)",
            "zsh": "autoload -Uz compinit && compinit -u && source <(usrsvc completion zsh)"}

    def __init__(self, env, shell="bash"):
        import pty

        self.master, slave = pty.openpty()
        import fcntl
        import struct
        import termios

        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 1000, 0, 0))
        environ = dict(env.env, TERM="dumb" if shell == "bash" else "xterm", PS1="$ ",
                       HISTFILE="/dev/null", INPUTRC="/dev/null",
                       PATH=os.path.dirname(env.usrsvc) + ":"
                       + env.env.get("PATH", "/usr/bin:/bin"))
        self.proc = subprocess.Popen([shutil.which(shell)] + self.ARGV[shell],
                                     stdin=slave, stdout=slave, stderr=slave, cwd=env.home,
                                     env=environ, start_new_session=True)
        os.close(slave)
        self.screen = b""
        self.type(self.LOAD[shell] + " && echo LOAD''ED\n")
        assert self.wait_for(b"\nLOADED"), self.screen

    def type(self, keys):
        os.write(self.master, keys.encode())

    def wait_for(self, text, timeout=30):
        import select

        deadline = time.monotonic() + timeout
        while text not in self.screen and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.screen += os.read(self.master, 65536)
                except OSError:
                    break
        return text in self.screen

    def run(self, line_before_tab, mark):
        """Type the line, TAB, Enter, then ``echo mark``: the screen from the line on."""
        start = len(self.screen)
        self.type(line_before_tab + "\t")
        time.sleep(0.5)  # no prompt shows when completion is done: give it time
        self.type("\n")
        self.type("echo %s-END\n" % mark)
        assert self.wait_for(("\n%s-END" % mark).encode()), self.screen[start:]
        return self.screen[start:].decode("utf-8", "replace")

    def close(self):
        if self.proc.poll() is None:
            self.type("exit\n")
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        os.close(self.master)


@pytest.fixture
def interactive(env):
    shells = []

    def start(shell):
        if not shutil.which(shell):
            pytest.skip("%s is not installed here" % shell)
        shells.append(InteractiveShell(env, shell))
        return shells[-1]

    yield start
    for shell in shells:
        shell.close()


@pytest.mark.parametrize("shell, dollar", [("bash", "$"), ("zsh", "\\$")])  # zsh: a bare $
def test_a_completed_name_is_quoted_so_enter_runs_nothing_and_keeps_one_word(  # is a parameter
        env, interactive, shell, dollar):
    marker = os.path.join(env.home, "pwned")
    env.write(env.program("$(touch %s)" % marker, env.service("--tag", "1"))
              + env.program("my prog", env.service("--tag", "2")))
    shell = interactive(shell)
    screen = shell.run("usrsvc -c %s status %s" % (env.cfg, dollar), "one")
    assert not os.path.exists(marker), screen
    assert "\n$(touch %s): not running" % marker in screen.replace("\r", ""), screen
    screen = shell.run("usrsvc -c %s status my" % env.cfg, "two")
    assert "\nmy prog: not running" in screen.replace("\r", ""), screen  # one word
    assert "unknown" not in screen.lower(), screen
    assert not os.path.exists(marker)
