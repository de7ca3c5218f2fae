"""The Ansible collection builds, and the built artifact passes every test of
``ansible-test sanity`` and its unit tests (``ansible-test units --venv``).

ansible-test makes its own virtual environments and installs their requirements
from the package index; the one file it would fetch from elsewhere, its pip
bootstrap script, is replaced by a stand-in (tests/helpers/get_pip_standin.py)
in a temporary HOME, so nothing of the real home is read or written.
"""

import os
import shutil
import subprocess
import sys
import tarfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTION = os.path.join(ROOT, "ansible_collections", "usrsvc", "core")
STANDIN = os.path.join(ROOT, "tests", "helpers", "get_pip_standin.py")
PIP_VERSION = "24_2"  # the pip that ansible-core 2.19's ansible-test bootstraps
PYTHON = "%d.%d" % sys.version_info[:2]


def tool(name):
    beside = os.path.join(os.path.dirname(sys.executable), name)
    found = beside if os.path.exists(beside) else shutil.which(name)
    if not found:
        pytest.skip("ansible-core is not installed (pip install 'ansible-core>=2.19,<2.20')")
    return found


@pytest.fixture
def built(tmp_path):
    """The collection built by ansible-galaxy and unpacked as .../ansible_collections/usrsvc/core,
    and a HOME for ansible-test."""
    galaxy = tool("ansible-galaxy")
    home = tmp_path / "home"
    cache = home / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True)
    shutil.copy(STANDIN, str(cache / ("get_pip_%s.py" % PIP_VERSION)))
    environ = dict(os.environ, HOME=str(home), ANSIBLE_HOME=str(home / ".ansible"),
                   ANSIBLE_NOCOLOR="1")
    environ["PATH"] = os.path.dirname(galaxy) + os.pathsep + environ.get("PATH", "")
    out = tmp_path / "dist"
    proc = subprocess.run([galaxy, "collection", "build", COLLECTION, "--output-path", str(out)],
                          env=environ, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (artifact,) = os.listdir(str(out))
    assert artifact.startswith("usrsvc-core-") and artifact.endswith(".tar.gz")
    target = tmp_path / "c" / "ansible_collections" / "usrsvc" / "core"
    target.mkdir(parents=True)
    with tarfile.open(str(out / artifact)) as archive:
        archive.extractall(str(target), filter="data")
    return target, environ


def ansible_test(target, environ, *args):
    started = time.monotonic()
    proc = subprocess.run([tool("ansible-test")] + list(args), cwd=str(target), env=environ,
                          capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
    took = time.monotonic() - started
    print("ansible-test %s: exit %d in %.0f s" % (args[0], proc.returncode, took))
    return proc


def test_the_built_collection_passes_every_sanity_test_and_its_unit_tests(built):
    target, environ = built
    for path in ("COPYING", "MANIFEST.json", "plugins/modules/usrsvc_program.py",
                 "roles/usrsvc_account/tasks/main.yml", "tests/unit"):
        assert (target / path).exists(), path
    sanity = ansible_test(target, environ, "sanity", "--venv", "--python", PYTHON)
    assert sanity.returncode == 0, (sanity.stdout + sanity.stderr)[-8000:]
    assert sanity.stdout.count('Running sanity test "') >= 24, sanity.stdout[-4000:]
    units = ansible_test(target, environ, "units", "--venv", "--python", PYTHON)
    assert units.returncode == 0, (units.stdout + units.stderr)[-8000:]
    assert " passed" in units.stdout and " failed" not in units.stdout, units.stdout[-4000:]
