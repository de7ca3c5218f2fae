"""Configuration: files -> validated, immutable objects.

``load(path)`` (see ``loader.py``) reads and validates everything;
``cached(path, only, store)`` (see ``cache.py``) is the command-line
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


def cached(path=None, only=None, store=None):
    """load() through the cache; the directories above the main file and
    config_dir are checked (safety.resolve) even when the cache spares the parse.

    What a hit returns was parsed from files that were opened, fstat-ed and
    found ours then; the stamps (inode, size, mtime, owner, mode, by name)
    say the same files are there now: another user cannot make a file owned
    by us, nor set a file's mtime, so a swapped-in file of theirs always
    misses and gets the full, refusing load. Checking the directories here
    too means an unsafe one is refused at every run, not only once the cache
    misses. (The targets of symlinks inside config_dir are re-walked only on
    a miss; the stamps cover the files themselves.)
    """
    from .cache import cached as _cached
    from .safety import check_parents

    path = main_config_path(path)
    check_parents(path)
    config = _cached(path, only, store)
    if config.main.config_dir:
        check_parents(config.main.config_dir)
    return config
