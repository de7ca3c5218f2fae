"""Configuration: files -> validated, immutable objects.

``load(path)`` is the whole public surface; see ``load.py``.
"""

from .load import load, main_config_path  # noqa: F401
