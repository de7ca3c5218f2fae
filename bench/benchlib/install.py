"""Install the peers side by side in the bench's cache, each in its own prefix.

Every install is idempotent: a venv that already has the pinned version is
reused.  A peer that does not install is reported with the reason, and the
run goes on without it.
"""

import os
import shutil
import subprocess
import sys

PINS = {
    "usrsvc-1.5.13": "usrsvc==1.5.13",
    "supervisord": "supervisor==4.3.0",
    "circus": "circus==0.19.*",
}
BENCH_DEPS = ["matplotlib"]


class InstallError(Exception):
    pass


def _run(argv, log, cwd=None):
    with open(log, "ab") as out:
        out.write(("\n$ " + " ".join(argv) + "\n").encode())
        out.flush()
        code = subprocess.call(argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL, cwd=cwd)
    if code != 0:
        raise InstallError(f"{' '.join(argv[:4])}... exited {code} (log: {log})")


def venv(cache, name, log):
    path = os.path.join(cache, name)
    if not os.path.exists(os.path.join(path, "bin", "python")):
        _run([sys.executable, "-m", "venv", path], log)
    return path


def pip_install(path, args, log):
    _run([os.path.join(path, "bin", "python"), "-m", "pip", "install",
          "--disable-pip-version-check", "-q", *args], log)


def has_version(path, dist, version_prefix):
    code = subprocess.call(
        [os.path.join(path, "bin", "python"), "-c",
         "import importlib.metadata as m, sys; "
         f"sys.exit(0 if m.version({dist!r}).startswith({version_prefix!r}) else 1)"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return code == 0


def python_peer(cache, key, log):
    """Venv for a PyPI peer; returns its bin dir."""
    spec = PINS[key]
    dist, version = spec.split("==")
    path = venv(cache, "venv-" + key, log)
    if not has_version(path, dist, version.rstrip("*")):
        pip_install(path, [spec], log)
    return os.path.join(path, "bin")


def pm2(cache, log):
    if not shutil.which("npm") or not shutil.which("node"):
        raise InstallError("node/npm not found on PATH")
    prefix = os.path.join(cache, "pm2")
    binary = os.path.join(prefix, "node_modules", ".bin", "pm2")
    if not os.path.exists(binary):
        os.makedirs(prefix, exist_ok=True)
        with open(os.path.join(prefix, "package.json"), "w") as handle:
            handle.write('{"name": "usrsvc-bench-pm2", "private": true}\n')
        # run from the prefix's parent: a bare "pm2" next to a pm2/ folder
        # would be taken for that folder
        _run(["npm", "install", "--prefix", prefix, "--no-audit", "--no-fund",
              "pm2@latest"], log, cwd="/")
    return os.path.dirname(binary)


def ours(cache, root, log):
    """Install the checkout into a venv exactly as a user would."""
    path = os.path.join(cache, "venv-ours")
    fresh = not os.path.exists(os.path.join(path, "bin", "python"))
    venv(cache, "venv-ours", log)
    pip_install(path, [root], log)
    if not fresh:  # same version number, new code: make pip take the new tree
        pip_install(path, ["--no-deps", "--force-reinstall", root], log)
    return os.path.join(path, "bin")


def bench_venv(cache, log):
    """The bench's own venv (matplotlib): never a runtime dependency."""
    path = venv(cache, "venv-bench", log)
    if not has_version(path, "matplotlib", ""):
        pip_install(path, BENCH_DEPS, log)
    return os.path.join(path, "bin", "python")
