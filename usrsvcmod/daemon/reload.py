"""What a reread changes: added, changed and removed programs."""


def diff(old, new):
    """Names added, changed (config differs) and removed, each in config order."""
    added = [name for name in new if name not in old]
    removed = [name for name in old if name not in new]
    changed = [name for name in new if name in old and new[name] != old[name]]
    return added, changed, removed
