"""The "Chaos soak" section at the end of RESULTS.md: written by bench/soak, kept by
bench/run when it rewrites the file (the soak is run apart from the peers' bench)."""

BEGIN = "<!-- soak: written by bench/soak -->"
END = "<!-- end soak -->"


def section(result):
    """Markdown for one soak result (the dict tests/soak/soak.py reports)."""
    counts = result["counts"]
    lines = [BEGIN, "## Chaos soak", "",
             "Last run %s: %g s planned (%.0f s run), %d programs, seed %d, %d faults; %s. "
             "On %s." % (result.get("when", "?"), result["duration"], result["elapsed"],
                         result["programs"], result["seed"], result["faults"],
                         "every count 0" if not (any(counts.values()) or result.get("error"))
                         else "**FAILED**",
                         result.get("machine", "?")),
             "", "| check | count |", "|---|---:|"]
    lines += ["| %s | %d |" % (name.replace("_", " "), value) for name, value in counts.items()]
    notes = []
    if "cpu_harness_s" in result:
        notes.append("CPU: %.1f s in the soak itself, %.1f s in the usrsvc/usrsvcd commands it "
                     "ran (services and the daemon not counted)." % (
                         result["cpu_harness_s"], result["cpu_commands_s"]))
    if result.get("rotation_leftovers"):
        notes.append("%d rotation(s) cut short by a SIGKILL of usrsvcd left their copy in a hidden "
                     "temp file next to the log (their lines are there, not lost)."
                     % result["rotation_leftovers"])
    if result.get("lock_timeouts"):
        notes.append("%d command(s) of concurrent bursts gave up on a program's lock after 30 s "
                     "(exit 11)." % result["lock_timeouts"])
    if notes:
        lines += [""] + notes
    lines += ["", "Faults fired: " + ", ".join("%s %d" % (kind.replace("_", " "), n)
                                               for kind, n in result["fired"].items()) + ".",
              "", "Replay the same fault sequence: `%s`. What the faults and checks are: "
              "tests/soak/README.md." % result["reproduce"],
              END, ""]
    return "\n".join(lines)


def extract(text):
    """The soak section of an existing RESULTS.md ('' if none)."""
    start = text.find(BEGIN)
    if start < 0:
        return ""
    end = text.find(END, start)
    return text[start:end + len(END)] + "\n" if end >= 0 else ""


def replace_section(text, new):
    """``text`` with its soak section replaced by ``new`` (appended when it has none)."""
    old = extract(text)
    if old:
        return text.replace(old, new)
    return text.rstrip("\n") + "\n\n" + new
