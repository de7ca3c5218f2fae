"""One line of documentation per config key: the single source of the README's and
docs' key tables, the man page usrsvc.cfg(5) and ``usrsvc checkconfig --keys``.

Every key of spec.PROGRAM_KEYS, spec.MONITOR_KEYS and spec.MAIN_KEYS has an
entry here (a test fails otherwise). Each line says what the key does, in
the user's words; the default and the accepted values come from spec.py.
"""

PROGRAM = {}
MONITOR = {}
MAIN = {}
