"""The small part of Markdown our docs use, as man(7) roff.

Headings (## -> .SH, ### and deeper -> .SS), paragraphs, bullet and numbered
lists with indented continuation lines, fenced code blocks, tables (each row
becomes a tagged paragraph: the first cell is the tag, the last the text, the
others "Header: value" lines), `code`, **bold**, *italic* and [links](...).
Enough for our own pages, and no dependency (pandoc is 100+ MB). Pure text in,
text out.
"""

import re

_LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")
_ITEM = re.compile(r"^(\s*)(- |\d+\. )")


def escape(text):
    """Roff-safe text: backslashes, and a leading dot or quote a line could start with."""
    text = text.replace("\\", "\\e")
    if not text.isascii():  # groff reads bytes: a character beyond ASCII by its code point
        text = "".join(c if c.isascii() else "\\[u%04X]" % ord(c) for c in text)
    return text


def _line_safe(line):
    return "\\&" + line if line[:1] in (".", "'") else line


def inline(text):
    """Markdown inline marks -> roff font changes, everything else escaped."""
    out = []
    for i, piece in enumerate(text.split("`")):
        if i % 2:  # inside a code span
            out.append("\\fB\\%%%s\\fR" % escape(piece).replace("-", "\\-"))
            continue
        piece = _LINK.sub(lambda m: _link(m.group(1), m.group(2)), piece)
        piece = escape(piece)
        piece = _BOLD.sub(lambda m: "\\fB%s\\fR" % m.group(1), piece)
        piece = _ITALIC.sub(lambda m: "\\fI%s\\fR" % m.group(1), piece)
        out.append(piece)
    return "".join(out)


_PAGES = {"configuration.md": "usrsvc.cfg(5)", "daemon.md": "usrsvcd(8)",
          "commands.md": "usrsvc(1)", "logs.md": "usrsvc(1)", "identity.md": "usrsvc(1)"}
# README sections a man page has too (docgen copies them)
_SECTIONS = {"README.md#exit-codes": "EXIT STATUS in usrsvc(1)"}


def _link(text, target):
    """A link as man page text: the installed page that has it, else the text alone
    (docs/ and the README are not installed: a path to them would lead nowhere)."""
    path = target.split("#")[0]
    if not path:
        return text  # within the same document
    if target.startswith("http"):
        return "%s (%s)" % (text, target)
    name = path.rsplit("/", 1)[-1]
    if name in _PAGES:
        return "%s (%s)" % (text, _PAGES[name])
    section = _SECTIONS.get(target.rsplit("/", 1)[-1])
    return "%s (%s)" % (text, section) if section else text


def _cells(row):
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def _table(rows):
    header = _cells(rows[0])
    out = []
    for row in rows[2:]:
        cells = _cells(row)
        out += [".TP", _line_safe(inline(cells[0])), _line_safe(inline(cells[-1]))]
        for name, cell in zip(header[1:-1], cells[1:-1]):
            out += [".br", _line_safe("%s: %s" % (inline(name), inline(cell)))]
    return out


def _flush(paragraph, out):
    if paragraph:
        out.append(_line_safe(inline(" ".join(line.strip() for line in paragraph))))
        paragraph.clear()


def convert(markdown):
    """Roff lines for ``markdown`` (a document body: its '# Title' is skipped)."""
    lines = markdown.splitlines()
    out, paragraph, i = [], [], 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            _flush(paragraph, out)
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip().startswith("```")),
                       len(lines))
            out += [".PP", ".RS 4", ".nf"]
            out += [_line_safe(escape(code.replace("\t", "    "))) for code in lines[i + 1:end]]
            out += [".fi", ".RE"]
            i = end + 1
            continue
        if stripped.startswith("|"):
            _flush(paragraph, out)
            end = i
            while end < len(lines) and lines[end].strip().startswith("|"):
                end += 1
            out += _table(lines[i:end])
            out.append(".PP")
            i = end
            continue
        if not stripped or stripped.startswith("<!--"):
            _flush(paragraph, out)
        elif stripped.startswith("#"):
            _flush(paragraph, out)
            level = len(stripped) - len(stripped.lstrip("#"))
            title = escape(_LINK.sub(r"\1", stripped[level:].strip()).replace("`", ""))
            if level == 2:
                out.append('.SH "%s"' % title.upper().replace('"', "'"))
            elif level > 2:
                out.append('.SS "%s"' % title.replace('"', "'"))
        elif _ITEM.match(line) and not line.startswith("    "):
            _flush(paragraph, out)
            mark = _ITEM.match(line).group(2).strip()
            out.append(".IP \\(bu 2" if mark == "-" else ".IP %s 4" % mark)
            paragraph.append(line[_ITEM.match(line).end():])
        else:
            if not paragraph and (not out or not out[-1].startswith(".IP")):
                out.append(".PP")
            paragraph.append(line)
        i += 1
    _flush(paragraph, out)
    out = _tidy(out)
    if out and not out[0].startswith(".SH"):
        out.insert(0, ".SH DESCRIPTION")
    return out


def _tidy(out):
    """No paragraph macro right after another, none before a heading or at the end.
    (Text lines were made safe where they were made: a line starting with a dot here
    is a request.)"""
    tidy = []
    for line in out:
        if line in (".PP",) and tidy and tidy[-1] in (".PP",):
            continue
        if (line.startswith(".SH") or line.startswith(".SS")) and tidy and tidy[-1] == ".PP":
            tidy.pop()
        tidy.append(line)
    while tidy and tidy[-1] == ".PP":
        tidy.pop()
    return tidy


def page(name, section, summary, version, body, manual):
    """A whole man page: .TH, NAME, then ``body`` (roff lines)."""
    head = ['.\\" Generated by python -m usrsvcmod.docgen from docs/ and README.md;'
            ' do not edit.',
            '.TH "%s" "%s" "" "usrsvc %s" "%s"' % (name.upper(), section, version, manual),
            ".SH NAME",
            "%s \\- %s" % (name, escape(summary))]
    return "\n".join(head + body) + "\n"
