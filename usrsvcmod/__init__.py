"""usrsvc: a parentless, user-level service manager.

Two front ends share this package: the stateless ``usrsvc`` tool
(``usrsvcmod.cli``) and the optional ``usrsvcd`` daemon (``usrsvcmod.usrsvcd``).
Importing the package does nothing but define the version.
"""

__version__ = "2.0.0"
