"""systemd units: installed under DESTDIR with our usrsvcd, and accepted by systemd-analyze."""

import os
import shutil
import subprocess

import pytest

from conftest import _command

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _install(tmp_path):
    usrsvcd = _command("usrsvcd")
    destdir = tmp_path / "dest"
    result = subprocess.run(["sh", os.path.join(ROOT, "systemd", "install.sh")],
                            env=dict(os.environ, DESTDIR=str(destdir), USRSVCD=usrsvcd),
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return destdir, usrsvcd


def test_install_honours_destdir_and_our_usrsvcd(tmp_path):
    destdir, usrsvcd = _install(tmp_path)
    system_unit = destdir / "etc/systemd/system/usrsvcd@.service"
    user_unit = destdir / "etc/systemd/user/usrsvcd.service"
    for unit in (system_unit, user_unit):
        text = unit.read_text()
        assert "ExecStart=%s start --foreground" % usrsvcd in text
        assert "ExecReload=%s reread" % usrsvcd in text
        assert "KillMode=process" in text  # stopping the unit never takes the services down
        assert "Type=notify" in text
    assert "User=%i" in system_unit.read_text()


@pytest.mark.parametrize("unit", ["etc/systemd/system/usrsvcd@web.service",
                                  "etc/systemd/user/usrsvcd.service"])
def test_systemd_analyze_verify(tmp_path, unit):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed")
    destdir, _ = _install(tmp_path)
    path = destdir / unit
    if "@web" in unit:  # verify an instance of the template
        shutil.copy(destdir / "etc/systemd/system/usrsvcd@.service", path)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path))
    args = [analyze, "verify"] + (["--user"] if "/user/" in unit else []) + [str(path)]
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    output = result.stdout + result.stderr
    # verify exits 0 even for "Failed to parse ..., ignoring": any line about our unit is a problem
    problems = [line for line in output.splitlines() if "usrsvcd" in line]
    if result.returncode != 0 and not problems:
        pytest.skip("systemd-analyze cannot run here: %s" % output.strip()[:200])
    assert result.returncode == 0 and not problems, output
