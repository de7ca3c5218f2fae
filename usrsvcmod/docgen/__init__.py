"""Generated documentation: the key tables in docs/configuration.md and the man
pages usrsvc(1), usrsvcd(8) and usrsvc.cfg(5) in man/.

Run ``python -m usrsvcmod.docgen`` from the top of a checkout after editing a
key (spec.py, keydoc.py), docs/ or README.md; ``--check`` only says what is
out of date (exit 1), as the test suite does. The sources:

- key tables: config/keyref.py (spec.py + keydoc.py), between the markers
  ``<!-- keys:SECTION -->`` and ``<!-- end keys -->`` of docs/configuration.md;
- the usage block of docs/commands.md: cli.USAGE (``usrsvc --help``), between
  ``<!-- usage -->`` and ``<!-- end usage -->``;
- usrsvc(1): cli.USAGE's synopsis, docs/commands.md, docs/logs.md,
  docs/identity.md, README's "Exit codes";
- usrsvcd(8): usrsvcd.USAGE's synopsis, docs/daemon.md;
- usrsvc.cfg(5): docs/configuration.md (tables included).

Not imported by usrsvc or usrsvcd at run time.
"""

import os
import re

from .. import __version__
from . import roff

CONFIGURATION = os.path.join("docs", "configuration.md")
COMMANDS = os.path.join("docs", "commands.md")
_TABLE = re.compile(r"(<!-- keys:(\w+)[^\n]*-->\n)(.*?)(<!-- end keys -->)", re.S)
_USAGE = re.compile(r"(<!-- usage -->\n)(.*?)(<!-- end usage -->)", re.S)
PAGES = (  # (file, name, section, summary, manual)
    (os.path.join("man", "usrsvc.1"), "usrsvc", "1",
     "start, stop and find services without being their parent", "User Commands"),
    (os.path.join("man", "usrsvcd.8"), "usrsvcd", "8",
     "the optional daemon that keeps usrsvc's services running", "System Administration"),
    (os.path.join("man", "usrsvc.cfg.5"), "usrsvc.cfg", "5",
     "configuration of usrsvc and usrsvcd", "File Formats"),
)


def key_table(section):
    """The Markdown table of one section's keys."""
    from ..config import keyref

    lines = ["| key | default | accepts | meaning |", "| --- | --- | --- | --- |"]
    for row in keyref.rows():
        if row.section == section:
            meaning = ("new: " if row.new else "") + row.description.rstrip(".")
            lines.append("| `%s` | %s | %s | %s. |" % (
                row.key, row.default, row.accepted, meaning.replace("|", "\\|")))
    return "\n".join(lines) + "\n"


def fill_tables(text):
    """``text`` with every marked key table made anew."""
    return _TABLE.sub(lambda m: m.group(1) + key_table(m.group(2)) + m.group(4), text)


def fill_usage(text):
    """``text`` with its marked usage block made anew from cli.USAGE: the page
    says exactly what ``usrsvc --help`` prints."""
    from .. import cli

    block = "```\n%s```\n" % cli.USAGE
    return _USAGE.sub(lambda m: m.group(1) + block + m.group(3), text)


def _read(root, path):
    with open(os.path.join(root, path), encoding="utf-8") as handle:
        return handle.read()


def _section(markdown, title):
    """The body of the '## title' section of ``markdown`` (heading included)."""
    found = re.search(r"^## %s\n.*?(?=^## |\Z)" % re.escape(title), markdown, re.S | re.M)
    return found.group(0) if found else ""


def _as_section(markdown):
    """A document whose body has no '##' heading, as one section under its title."""
    return "#" + markdown if markdown.startswith("# ") else markdown


def _synopsis(usage):
    lines = []
    for line in usage.splitlines():
        if not line.strip():
            break
        lines.append(line.replace("Usage:", "").strip())
    return [".SH SYNOPSIS", ".nf"] + [roff.inline("`%s`" % line) for line in lines] + [".fi"]


def _see_also(*pages):
    return [".SH \"SEE ALSO\"", ", ".join("\\fB%s\\fR(%s)" % page for page in pages)]


def man_pages(root, configuration, commands):
    """{path: text} of the three man pages."""
    from .. import cli, usrsvcd

    readme = _read(root, "README.md")
    usrsvc_body = (_synopsis(cli.USAGE) + roff.convert(commands)
                   + roff.convert(_read(root, "docs/logs.md"))
                   + roff.convert(_as_section(_read(root, "docs/identity.md")))
                   + roff.convert(_section(readme, "Exit codes").replace(
                       "## Exit codes", "## Exit status", 1))
                   + _see_also(("usrsvcd", "8"), ("usrsvc.cfg", "5")))
    usrsvcd_body = (_synopsis(usrsvcd.USAGE) + roff.convert(_read(root, "docs/daemon.md"))
                    + _see_also(("usrsvc", "1"), ("usrsvc.cfg", "5"), ("systemctl", "1"),
                                ("loginctl", "1")))
    cfg_body = roff.convert(configuration) + _see_also(("usrsvc", "1"), ("usrsvcd", "8"))
    bodies = (usrsvc_body, usrsvcd_body, cfg_body)
    return {path: roff.page(name, section, summary, __version__, body, manual)
            for (path, name, section, summary, manual), body in zip(PAGES, bodies)}


def generate(root):
    """{path relative to root: text} of every generated file."""
    configuration = fill_tables(_read(root, CONFIGURATION))
    commands = fill_usage(_read(root, COMMANDS))
    files = {CONFIGURATION: configuration, COMMANDS: commands}
    files.update(man_pages(root, configuration, commands))
    return files


def stale(root):
    """The generated files whose committed text differs from what generate() makes."""
    found = []
    for path, text in generate(root).items():
        try:
            current = _read(root, path)
        except OSError:
            current = None
        if current != text:
            found.append(path)
    return found


def main(argv):
    check = "--check" in argv
    rest = [a for a in argv if a != "--check"]
    root = rest[0] if rest else os.getcwd()
    if check:
        paths = stale(root)
        for path in paths:
            print("out of date: %s (run: python -m usrsvcmod.docgen)" % path)
        return 1 if paths else 0
    for path, text in generate(root).items():
        os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
        with open(os.path.join(root, path), "w", encoding="utf-8") as handle:
            handle.write(text)
        print("wrote %s" % path)
    return 0
