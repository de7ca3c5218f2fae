"""[[Readiness]] and [[Liveness]] of a program: entries -> a Probe.

The loader hands over each section's raw entries; here they are checked
(exactly one probe kind per section, in each file that sets one), merged
over the [DefaultSettings]' (key by key, except that a program naming its
own kind replaces the inherited kind) and converted with spec's tables.
"""

from . import spec
from .model import Probe


def check_one_kind(entries, where, report):
    """An error naming the file, section and keys when a section sets two kinds."""
    kinds = sorted(k for k in entries if k in spec.PROBE_KINDS)
    if len(kinds) > 1:
        report.error("%s sets %s: a probe has exactly one kind; keep one of them"
                     % (where, " and ".join("'%s'" % k for k in kinds)))


def merge(inherited, own):
    """Own entries over the inherited ones; own kind replaces an inherited kind."""
    merged = {}
    for sub in set(inherited) | set(own):
        entries = dict(inherited.get(sub, {}))
        mine = own.get(sub, {})
        if any(k in spec.PROBE_KINDS for k in mine):
            for key in spec.PROBE_KINDS:
                entries.pop(key, None)
        entries.update(mine)
        merged[sub] = entries
    return merged


def build(sub, values, where, monitor_after, report):
    """The Probe of converted ``values`` of [[sub]], or None (after an error)."""
    table = spec.PROBE_SECTIONS[sub]
    kinds = [k for k in spec.PROBE_KINDS if k in values]
    if not kinds:
        report.error("%s[[%s]] names no probe; set one of: %s" % (
            where, sub, ", ".join(k for k in spec.PROBE_KINDS if k in table)))
        return None
    if len(kinds) > 1:
        return None  # said by check_one_kind
    full = {k: (values[k] if k in values else default) for k, (_, default) in table.items()}
    kind = kinds[0]
    if "http_status" in values and kind != "http":
        report.error("%s[[%s]] http_status is only for an http probe; remove it or use http ="
                     % (where, sub))
        return None
    return Probe(section=sub, kind=kind, target=values[kind], http_status=full["http_status"],
                 interval=full["interval"], probe_timeout=full["probe_timeout"],
                 timeout=full.get("timeout", 0.0), failures=full.get("failures", 0),
                 after=monitor_after if sub == "Liveness" and full["after"] is None
                 else float(full.get("after") or 0.0))
