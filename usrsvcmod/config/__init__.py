"""Configuration: files -> validated, immutable objects.

``load(path)`` (see ``loader.py``) reads and validates everything;
``cached(path, only, cache_dir)`` (see ``cache.py``) is the command-line
tool's fast path. Importing this package stays cheap: the parser loads on
first use. Nothing here imports from outside the package but ``errors``.
"""

import os


def main_config_path(explicit=None, environ=None):
    """``--config PATH``, else ``$USRSVC_CONFIG``, else ``$HOME/usrsvc.cfg``."""
    environ = os.environ if environ is None else environ
    path = explicit or environ.get("USRSVC_CONFIG")
    if not path:
        path = os.path.join(environ.get("HOME") or os.path.expanduser("~"), "usrsvc.cfg")
    return os.path.abspath(os.path.expanduser(path))


def load(path=None, only=None):
    from .loader import load as _load

    return _load(path, only)


def cached(path=None, only=None, cache_dir=None):
    from .cache import cached as _cached

    return _cached(path, only, cache_dir)
