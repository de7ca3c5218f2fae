"""Config through the installed usrsvc: which file, and a fuzz sample (exit 130, file named)."""

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "helpers"))

import configfuzz  # noqa: E402


def _configs(env):
    """Three valid configs, each defining a program of its own name."""
    paths = {}
    for name in ("explicit", "fromenv", "fromhome"):
        path = env.cfg if name == "fromhome" else os.path.join(env.home, name + ".cfg")
        env.write(env.program(name, env.service("--tag", name)), path)
        paths[name] = path
    return paths


def _defined(result):
    return {line.split()[0] for line in result.stdout.splitlines()[1:] if line.strip()} or {
        result.stdout.split(":")[0]}


def test_config_option_beats_environment_beats_home(env):
    paths = _configs(env)
    environ = {"USRSVC_CONFIG": paths["fromenv"]}
    assert _defined(env.run("--config", paths["explicit"], "status", "all", env=environ)) == {"explicit"}
    assert _defined(env.run("-c", paths["explicit"], "status", "all")) == {"explicit"}
    assert _defined(env.run("--config=%s" % paths["explicit"], "status", "all")) == {"explicit"}
    assert _defined(env.run("status", "all", env=environ)) == {"fromenv"}
    assert _defined(env.run("status", "all")) == {"fromhome"}
    assert _defined(env.run("status", "all", env={"USRSVC_CONFIG": ""})) == {"fromhome"}


def test_relative_config_option_is_relative_to_the_cwd(env):
    paths = _configs(env)
    sub = os.path.join(env.home, "sub")
    os.makedirs(sub)
    result = env.run("--config", os.path.join("..", "explicit.cfg"), "status", "all", cwd=sub)
    assert _defined(result) == {"explicit"}
    assert paths


def test_each_config_has_its_own_locks_and_marks(env):
    from usrsvcmod.state import RuntimeState

    paths = _configs(env)
    one = RuntimeState(paths["explicit"], environ=env.env)
    two = RuntimeState(paths["fromhome"], environ=env.env)
    assert one.path != two.path
    env.run("--config", paths["explicit"], "stop", "explicit", check=0)
    assert one.is_stopped("explicit") and not two.is_stopped("explicit")


def test_examples_of_the_repository_load(env):
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    example = os.path.join(here, "examples", "usrsvc.cfg")
    if not os.path.exists(example):
        pytest.skip("no examples/usrsvc.cfg in this checkout")
    from usrsvcmod.config import load

    config = load(example)
    assert config.programs
    kinds = {(p.useshell, bool(p.env), p.monitoring.active) for p in config.programs.values()}
    assert any(useshell for useshell, _, _ in kinds)
    assert any(has_env and monitored for _, has_env, monitored in kinds)


# --- fuzz sample through the installed command ------------------------------------------

def _sample():
    cases = configfuzz.cases()
    wanted = {"main-empty", "main-is-a-directory", "main-dangling-symlink", "main-missing",
              "main-symlink-loop", "dir-entry-is-a-directory", "dir-entry-dangling-symlink",
              "config-dir-missing", "config-dir-a-file", "config-dir-dangling-symlink",
              "main-world-writable", "dir-world-writable", "dir-file-world-writable",
              "main-binary0", "dir-binary3", "main-nul-bytes", "dir-utf16", "main-too-nested",
              "dir-unterminated-quote", "dir-duplicate-section", "main-open-bracket",
              "main-is-a-fifo", "dir-entry-fifo", "dir-entry-symlink-to-foreign",
              "main-below-world-writable"}
    picked = [c for c in cases if c.name in wanted]
    rest = [c for c in cases if c.name not in wanted]
    picked += rest[::len(rest) // (32 - len(picked))][:32 - len(picked)]
    return picked


SAMPLE = _sample()


def test_sample_is_about_thirty():
    assert 28 <= len(SAMPLE) <= 34


@pytest.mark.parametrize("case", SAMPLE, ids=[c.name for c in SAMPLE])
def test_installed_usrsvc_refuses_invalid_config(env, case):
    root = os.path.join(env.home, "fuzz")
    main = case.build(root)
    offending = os.path.join(root, case.offending)
    environ = dict(env.env)
    environ.pop("USRSVC_FUZZ_UNSET", None)
    via_env = SAMPLE.index(case) % 2 == 0  # half through $USRSVC_CONFIG
    argv = [env.usrsvc, "status", "all"] if via_env else [env.usrsvc, "--config", main, "status", "all"]
    if via_env:
        environ["USRSVC_CONFIG"] = main
    result = subprocess.run(argv, env=environ, cwd=env.home, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 130, (result.stdout, result.stderr)
    assert offending in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_checkconfig_does_not_hang_on_a_fifo_in_the_programs_place(env):
    fifo = os.path.join(env.home, "prog")
    os.mkfifo(fifo)
    os.chmod(fifo, 0o755)
    env.write(env.program("f", "%s %s" % (fifo, env.token)))
    result = env.run("checkconfig", timeout=30)
    assert result.returncode in (0, 1, 130), (result.stdout, result.stderr)
