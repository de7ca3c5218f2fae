"""One line of documentation per config key: the single source of the README's and
docs' key tables, the man page usrsvc.cfg(5) and ``usrsvc checkconfig --keys``.

Every key of spec.PROGRAM_KEYS, spec.MONITOR_KEYS and spec.MAIN_KEYS has an
entry here (a test fails otherwise). Each line says what the key does, in
the user's words; the default and the accepted values come from spec.py.
"""

PROGRAM = {
    "reload_signal": "the signal `usrsvc reload NAME` sends to the program to make it re-read"
                     " its config or reopen its logs (a name such as HUP or USR2, or a number)",
    "group": "a group the program belongs to: `usrsvc restart @GROUP` acts on every program"
             " of that group",
}
MONITOR = {
    "rss_scope": "what rss_limit measures: `process` (the main process only, as 1.5.13) or"
                 " `tree` (the main process and all its descendants, e.g. a master's workers)",
}
MAIN = {}
