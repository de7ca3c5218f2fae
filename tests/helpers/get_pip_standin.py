"""A stand-in for the pip bootstrap script that ansible-test fetches for a fresh venv.

ansible-test runs its cached ``get_pip_X_Y.py`` inside each virtual environment it
makes, with pip's options and the packages it wants (pip itself, at a pinned
version). The real script is downloaded from a host that is not a package
registry; this one does the same job offline: it puts pip in place with the
interpreter's own ``ensurepip``, then lets that pip install what was asked from
the configured package index.
"""

import subprocess
import sys

# options of the real script that pip itself does not know
OWN_OPTIONS = {"--no-setuptools", "--no-wheel"}


def main(argv):
    subprocess.run([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"],
                   check=True, stdout=subprocess.DEVNULL)
    wanted = [arg for arg in argv if arg not in OWN_OPTIONS]
    if wanted:
        subprocess.run([sys.executable, "-m", "pip", "install"] + wanted, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
