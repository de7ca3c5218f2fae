"""systemd/install.sh: the user unit for a service account (no root), the shared
template with a usrsvcd every account can run, a drop-in for one account's own
usrsvcd; checked on the files it writes, and with systemd-analyze verify."""

import os
import pwd
import shutil
import subprocess
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "systemd", "install.sh")
TEMPLATE = "etc/systemd/system/usrsvcd@.service"
USER_UNIT = "etc/systemd/user/usrsvcd.service"


def _reachable_by_all(path):
    """Whether any account can read ``path`` (every directory above it searchable)."""
    path = os.path.realpath(path)
    while path != "/":
        path = os.path.dirname(path)
        if not os.stat(path).st_mode & 0o001:
            return False
    return True


def _script_for_others():
    """SCRIPT, or a skip when the checkout is out of other accounts' reach."""
    if not _reachable_by_all(SCRIPT):
        pytest.skip("%s is out of other accounts' reach (a checkout in a private"
                    " directory, e.g. mktemp -d)" % SCRIPT)
    return SCRIPT


def run_install(*args, env=None, as_user=None):
    """install.sh with ``args``; ``env`` replaces these variables; ``as_user`` a pwd entry."""
    environ = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/")}
    environ.update(env or {})
    command = [shutil.which("sh"), SCRIPT] + list(args)
    if as_user is not None and not _reachable_by_all(SCRIPT):
        pytest.skip("%s is out of other accounts' reach (a checkout in a private"
                    " directory, e.g. mktemp -d)" % SCRIPT)
    if as_user is not None:
        command = [shutil.which("setpriv"), "--reuid", str(as_user.pw_uid), "--regid",
                   str(as_user.pw_gid), "--clear-groups"] + command
    return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=30,
                          cwd="/")


def stub(path):
    """An executable stand-in for usrsvcd (install.sh never runs it)."""
    with open(path, "w") as handle:
        handle.write("#!/bin/sh\nexit 0\n")
    os.chmod(path, 0o755)
    return str(path)


def needs_root():
    if os.geteuid() != 0:
        pytest.skip("needs root: files of root and of another account are made")


@pytest.fixture
def nobody():
    needs_root()
    if not shutil.which("setpriv"):
        pytest.skip("setpriv is not installed")
    return pwd.getpwnam("nobody")


@pytest.fixture
def shared_usrsvcd():
    """A usrsvcd every account may run: root-owned, mode 755, in a 755 directory
    under the sticky /tmp (pytest's tmp_path is private to root, on purpose)."""
    needs_root()
    folder = tempfile.mkdtemp(prefix="usrsvc-shared-")
    os.chmod(folder, 0o755)
    try:
        yield stub(os.path.join(folder, "usrsvcd"))
    finally:
        shutil.rmtree(folder)


@pytest.fixture
def service_home(nobody):
    """A HOME owned by nobody with its own usrsvcd in ~/venv/bin, reachable by nobody."""
    folder = tempfile.mkdtemp(prefix="usrsvc-home-")
    os.chmod(folder, 0o755)
    home = os.path.join(folder, "home")
    os.makedirs(os.path.join(home, "venv", "bin"))
    usrsvcd = stub(os.path.join(home, "venv", "bin", "usrsvcd"))
    for where, _, files in os.walk(home):
        for name in [where] + [os.path.join(where, f) for f in files]:
            os.chown(name, nobody.pw_uid, nobody.pw_gid)
    try:
        yield home, usrsvcd
    finally:
        shutil.rmtree(folder)


def exec_lines(path):
    with open(path) as handle:
        return [line.strip() for line in handle if line.startswith("Exec")]


def expected_exec(usrsvcd):
    return ["ExecStart=%s start --foreground" % usrsvcd, "ExecReload=%s reread" % usrsvcd,
            "ExecStop=%s stop" % usrsvcd]


# -- --user: a service account, no root ------------------------------------------------------
def test_user_mode_installs_into_home_without_root(nobody, service_home):
    home, usrsvcd = service_home
    result = run_install("--user", as_user=nobody,
                         env={"HOME": home, "PATH": os.path.dirname(usrsvcd) + ":/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    unit = os.path.join(home, ".config/systemd/user/usrsvcd.service")
    assert exec_lines(unit) == expected_exec(usrsvcd)  # found on PATH, made absolute
    assert os.stat(unit).st_uid == nobody.pw_uid
    assert "KillMode=process" in open(unit).read()
    assert "systemctl --user enable --now usrsvcd" in result.stdout
    if os.path.exists("/var/lib/systemd/linger/nobody"):
        assert "lingering is already enabled for nobody" in result.stdout
    else:
        assert "loginctl enable-linger nobody" in result.stdout
    assert sorted(os.listdir(home)) == [".config", "venv"]  # nothing else was written


def test_user_mode_honours_xdg_config_home_and_replaces_a_symlink(tmp_path):
    config_home = tmp_path / "conf"
    unit_dir = config_home / "systemd" / "user"
    unit_dir.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere.service"
    elsewhere.write_text("keep me\n")
    (unit_dir / "usrsvcd.service").symlink_to(elsewhere)
    usrsvcd = stub(tmp_path / "usrsvcd")
    result = run_install("--user", "USRSVCD=%s" % usrsvcd,
                         env={"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(config_home)})
    assert result.returncode == 0, result.stderr
    unit = unit_dir / "usrsvcd.service"
    assert not unit.is_symlink() and exec_lines(unit) == expected_exec(usrsvcd)
    assert elsewhere.read_text() == "keep me\n"  # the symlink was replaced, never followed
    assert not (tmp_path / ".config").exists()


@pytest.mark.parametrize("args, why", [
    (["--user", "DESTDIR=/x"], "DESTDIR is for the root mode"),
    (["--user", "--instance", "web"], "--instance is for the root mode"),
    (["--bogus"], "unknown argument '--bogus'"),
    (["--instance"], "--instance needs a user name"),
])
def test_bad_arguments_install_nothing(tmp_path, args, why):
    result = run_install("USRSVCD=%s" % stub(tmp_path / "usrsvcd"), *args,
                         env={"HOME": str(tmp_path)})
    assert result.returncode == 1
    assert why in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["usrsvcd"]


def test_no_usrsvcd_found_says_how(tmp_path):
    if shutil.which("usrsvcd", path="/usr/bin:/bin"):
        pytest.skip("a usrsvcd is installed system-wide here")
    result = run_install("--user", env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert "usrsvcd is not on $PATH" in result.stderr and "USRSVCD=" in result.stderr
    assert os.listdir(tmp_path) == []


def test_root_mode_without_root_points_to_user_mode(nobody, service_home):
    home, usrsvcd = service_home
    result = run_install("USRSVCD=%s" % usrsvcd, as_user=nobody, env={"HOME": home})
    assert result.returncode == 1
    assert "needs root" in result.stderr and "--user" in result.stderr


# -- root mode -------------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["environment", "argument"])
def test_root_mode_shared_usrsvcd_in_both_units(tmp_path, shared_usrsvcd, form):
    destdir = tmp_path / "dest"
    if form == "argument":  # 1.5.13's form: install.sh DESTDIR=...
        result = run_install("DESTDIR=%s" % destdir, "USRSVCD=%s" % shared_usrsvcd)
    else:
        result = run_install(env={"DESTDIR": str(destdir), "USRSVCD": shared_usrsvcd})
    assert result.returncode == 0, result.stderr
    for unit in (TEMPLATE, USER_UNIT):
        text = (destdir / unit).read_text()
        assert exec_lines(destdir / unit) == expected_exec(shared_usrsvcd)
        assert "KillMode=process" in text and "Type=notify" in text
    assert "User=%i" in (destdir / TEMPLATE).read_text()
    assert not list((destdir / "etc/systemd/system").glob("*.d"))  # no drop-in needed


def test_root_mode_one_accounts_usrsvcd_gets_a_dropin_not_the_template(tmp_path, service_home):
    home, usrsvcd = service_home
    destdir = tmp_path / "dest"
    result = run_install("DESTDIR=%s" % destdir, "USRSVCD=%s" % usrsvcd)
    assert result.returncode == 0, result.stderr
    # every usrsvcd@OTHER runs the template: it must not name nobody's venv
    assert exec_lines(destdir / TEMPLATE) == expected_exec("/usr/bin/usrsvcd")
    dropin = destdir / "etc/systemd/system/usrsvcd@nobody.service.d/usrsvcd-path.conf"
    lines = [line for line in dropin.read_text().splitlines() if line.startswith("Exec")]
    assert lines == ["ExecStart=", expected_exec(usrsvcd)[0], "ExecReload=",
                     expected_exec(usrsvcd)[1], "ExecStop=", expected_exec(usrsvcd)[2]]
    assert not (destdir / USER_UNIT).exists()  # shared by every account: not for nobody's venv
    assert "--user" in result.stdout and "usrsvcd@nobody" in result.stdout


def test_root_mode_keeps_a_template_installed_earlier(tmp_path, shared_usrsvcd, service_home):
    home, usrsvcd = service_home
    destdir = tmp_path / "dest"
    assert run_install("DESTDIR=%s" % destdir, "USRSVCD=%s" % shared_usrsvcd).returncode == 0
    result = run_install("DESTDIR=%s" % destdir, "USRSVCD=%s" % usrsvcd)
    assert result.returncode == 0, result.stderr
    assert exec_lines(destdir / TEMPLATE) == expected_exec(shared_usrsvcd)
    assert exec_lines(destdir / USER_UNIT) == expected_exec(shared_usrsvcd)


def test_root_mode_private_path_of_root_needs_an_instance(tmp_path):
    needs_root()
    usrsvcd = stub(tmp_path / "usrsvcd")  # under pytest's 0700 directory: root's alone
    destdir = tmp_path / "dest"
    result = run_install("DESTDIR=%s" % destdir, "USRSVCD=%s" % usrsvcd)
    assert result.returncode == 1
    assert "--instance USER" in result.stderr
    assert not destdir.exists()
    result = run_install("DESTDIR=%s" % destdir, "USRSVCD=%s" % usrsvcd, "--instance", "web")
    assert result.returncode == 0, result.stderr
    assert (destdir / "etc/systemd/system/usrsvcd@web.service.d/usrsvcd-path.conf").exists()
    assert exec_lines(destdir / TEMPLATE) == expected_exec("/usr/bin/usrsvcd")


def test_root_mode_instance_must_be_an_account(tmp_path):
    needs_root()
    result = run_install("USRSVCD=%s" % stub(tmp_path / "usrsvcd"), "--instance",
                         "no-such-user-p11e", env={"DESTDIR": ""})
    assert result.returncode == 1
    assert "no account named 'no-such-user-p11e'" in result.stderr


# -- systemd-analyze verify --------------------------------------------------------------------
def verify(tmp_path, unit, unit_path, user=False):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed")
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path), SYSTEMD_UNIT_PATH="%s:" % unit_path)
    args = [analyze, "verify"] + (["--user"] if user else []) + [str(unit)]
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    output = result.stdout + result.stderr
    # verify exits 0 even for "Failed to parse ..., ignoring": any line about our unit is a problem
    problems = [line for line in output.splitlines() if "usrsvcd" in line]
    if result.returncode != 0 and not problems:
        pytest.skip("systemd-analyze cannot run here: %s" % output.strip()[:200])
    assert result.returncode == 0 and not problems, output


def test_verify_user_unit(tmp_path):
    usrsvcd = stub(tmp_path / "usrsvcd")
    result = run_install("--user", "USRSVCD=%s" % usrsvcd, env={"HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    unit_dir = tmp_path / ".config/systemd/user"
    verify(tmp_path, unit_dir / "usrsvcd.service", unit_dir, user=True)


def test_verify_template_instance(tmp_path, shared_usrsvcd):
    destdir = tmp_path / "dest"
    assert run_install("DESTDIR=%s" % destdir, "USRSVCD=%s" % shared_usrsvcd).returncode == 0
    system = destdir / "etc/systemd/system"
    shutil.copy(system / "usrsvcd@.service", system / "usrsvcd@web.service")
    verify(tmp_path, system / "usrsvcd@web.service", system)
    verify(tmp_path, destdir / USER_UNIT, destdir / "etc/systemd/user", user=True)


def test_verify_instance_with_dropin(tmp_path, service_home):
    """The template names /usr/bin/usrsvcd (absent here); only the drop-in makes
    usrsvcd@nobody runnable, so verify passing shows systemd applies it."""
    home, usrsvcd = service_home
    destdir = tmp_path / "dest"
    result = run_install("DESTDIR=%s" % destdir, "USRSVCD=%s" % usrsvcd, "--instance", "web")
    assert result.returncode == 0, result.stderr  # "web": verify warns about User=nobody
    system = destdir / "etc/systemd/system"
    assert (system / "usrsvcd@web.service.d").is_dir()
    shutil.copy(system / "usrsvcd@.service", system / "usrsvcd@web.service")
    verify(tmp_path, system / "usrsvcd@web.service", system)


# -- hostile directories: another account plants symlinks where units are written -------------
def secret_file(path, uid=0, gid=0):
    """The file the attacker wants overwritten: mode 0600, known text."""
    with open(path, "w") as handle:
        handle.write("secret\n")
    os.chown(path, uid, gid)
    os.chmod(path, 0o600)
    return str(path)


def assert_untouched(path, uid):
    assert open(path).read() == "secret\n"
    info = os.stat(path)
    assert (info.st_mode & 0o777, info.st_uid) == (0o600, uid)


def plant(attacker, unit_dir, unit, victim_file, mode="777"):
    """As ``attacker``: make ``unit_dir`` (mode ``mode``; None: it exists already) and
    point UNIT and UNIT.new at the victim's file."""
    script = 'ln -s "$3" "$1/$2" && ln -s "$3" "$1/$2.new"'
    if mode is not None:
        script = 'mkdir -p "$1" && chmod %s "$1" && %s' % (mode, script)
    done = attacker.run(["sh", "-c", script, "plant", unit_dir, unit, victim_file])
    assert done.returncode == 0, done.stderr


def victim_usrsvcd(victim):
    return stub(os.path.join(victim.base, "usrsvcd"))


def test_user_mode_refuses_an_xdg_config_home_another_account_made(make_user, shared_dir):
    victim, attacker = make_user(), make_user()
    precious = secret_file(os.path.join(victim.home, "precious"), victim.uid, victim.gid)
    xdg = os.path.join(shared_dir, "xdg")
    unit_dir = os.path.join(xdg, "systemd", "user")
    plant(attacker, unit_dir, "usrsvcd.service", precious)
    result = victim.run(["sh", _script_for_others(), "--user", "USRSVCD=%s" % victim_usrsvcd(victim)],
                        env=victim.environ({"XDG_CONFIG_HOME": xdg}))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "refusing to write into %s" % unit_dir in result.stderr
    assert "belongs to %s" % attacker.name in result.stderr
    assert "XDG_CONFIG_HOME=%s belongs to %s" % (xdg, attacker.name) in result.stderr
    assert_untouched(precious, victim.uid)
    assert os.path.islink(os.path.join(unit_dir, "usrsvcd.service"))  # left as planted
    assert sorted(os.listdir(unit_dir)) == ["usrsvcd.service", "usrsvcd.service.new"]


def test_user_mode_refuses_a_unit_directory_others_can_write(make_user, shared_dir):
    """Root-owned and sticky, like /tmp: still a place others can plant names in."""
    victim, attacker = make_user(), make_user()
    precious = secret_file(os.path.join(victim.home, "precious"), victim.uid, victim.gid)
    xdg = os.path.join(shared_dir, "xdg")
    unit_dir = os.path.join(xdg, "systemd", "user")
    os.makedirs(unit_dir)
    os.chmod(unit_dir, 0o1777)
    plant(attacker, unit_dir, "usrsvcd.service", precious, mode=None)
    result = victim.run(["sh", _script_for_others(), "--user", "USRSVCD=%s" % victim_usrsvcd(victim)],
                        env=victim.environ({"XDG_CONFIG_HOME": xdg}))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "%s is writable by other accounts (mode 1777)" % unit_dir in result.stderr
    assert_untouched(precious, victim.uid)


def test_user_mode_refuses_a_home_of_another_account(make_user, shared_dir):
    victim, attacker = make_user(), make_user()
    precious = secret_file(os.path.join(victim.home, "precious"), victim.uid, victim.gid)
    home = os.path.join(shared_dir, "home")
    plant(attacker, os.path.join(home, ".config", "systemd", "user"), "usrsvcd.service",
          precious)
    result = victim.run(["sh", _script_for_others(), "--user", "USRSVCD=%s" % victim_usrsvcd(victim)],
                        env=victim.environ({"HOME": home}))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "warning: HOME=%s belongs to %s" % (home, attacker.name) in result.stderr
    assert "belongs to %s, not to you or root" % attacker.name in result.stderr
    assert_untouched(precious, victim.uid)


def test_root_mode_refuses_a_destdir_another_account_prepared(tmp_path, make_user,
                                                              shared_dir, shared_usrsvcd):
    attacker = make_user()
    root_file = secret_file(tmp_path / "root-only")
    destdir = os.path.join(shared_dir, "pkg")
    system_dir = os.path.join(destdir, "etc", "systemd", "system")
    plant(attacker, system_dir, "usrsvcd@.service", root_file)
    result = run_install("DESTDIR=%s" % destdir, "USRSVCD=%s" % shared_usrsvcd)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "refusing to write into %s" % system_dir in result.stderr
    assert "belongs to %s" % attacker.name in result.stderr
    assert_untouched(root_file, 0)
    assert "installed" not in result.stdout


def test_root_mode_refuses_an_others_writable_destdir_for_a_dropin(tmp_path, make_user,
                                                                  shared_dir):
    attacker = make_user()
    root_file = secret_file(tmp_path / "root-only")
    destdir = os.path.join(shared_dir, "pkg")
    dropin_dir = os.path.join(destdir, "etc/systemd/system/usrsvcd@web.service.d")
    os.makedirs(dropin_dir)
    os.chmod(dropin_dir, 0o1777)
    plant(attacker, dropin_dir, "usrsvcd-path.conf", root_file, mode=None)
    usrsvcd = stub(tmp_path / "usrsvcd")
    result = run_install("DESTDIR=%s" % destdir, "USRSVCD=%s" % usrsvcd, "--instance", "web")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "%s is writable by other accounts" % dropin_dir in result.stderr
    assert_untouched(root_file, 0)


def test_root_mode_in_a_sticky_destdir_parent_of_its_own_works(tmp_path, shared_dir,
                                                               shared_usrsvcd):
    """A sticky place above is fine when the directories we write in are ours."""
    destdir = os.path.join(shared_dir, "pkg")
    result = run_install("DESTDIR=%s" % destdir, "USRSVCD=%s" % shared_usrsvcd)
    assert result.returncode == 0, result.stderr
    unit = os.path.join(destdir, TEMPLATE)
    assert exec_lines(unit) == expected_exec(shared_usrsvcd)
    assert os.stat(unit).st_mode & 0o777 == 0o644
    assert sorted(os.listdir(os.path.dirname(unit))) == ["usrsvcd@.service"]  # no temp left
