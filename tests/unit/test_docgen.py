"""The generated documentation never drifts: the key tables of docs/configuration.md
and the man pages in man/ are exactly what ``python -m usrsvcmod.docgen`` makes from
spec.py, keydoc.py, docs/ and README.md (this comparison is the man pages' build in
CI); the pages render without a warning; the README keeps its quick start first and
every link of the README and docs/ leads somewhere."""

import configparser
import os
import re
import shutil
import subprocess

import pytest

from usrsvcmod import docgen
from usrsvcmod.docgen import roff

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = [os.path.join("docs", n) for n in sorted(os.listdir(os.path.join(ROOT, "docs")))
        if n.endswith(".md")]


def _read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
        return handle.read()


def test_committed_docs_and_man_pages_are_what_docgen_makes():
    assert docgen.stale(ROOT) == [], (
        "out of date; run `python -m usrsvcmod.docgen` at the top of the checkout"
        " (after `.venv/bin/pip install .`) and commit the result")


@pytest.mark.parametrize("page", [p[0] for p in docgen.PAGES])
def test_the_man_pages_render_without_warnings(page, tmp_path):
    groff = shutil.which("groff")
    if not groff:
        pytest.skip("groff is not installed (Debian: apt-get install groff-base)")
    text = docgen.generate(ROOT)[page]
    path = tmp_path / os.path.basename(page)
    path.write_text(text)
    result = subprocess.run([groff, "-man", "-ww", "-z", str(path)], capture_output=True,
                            text=True, timeout=60, env=dict(os.environ, LC_ALL="C.UTF-8"))
    assert result.returncode == 0 and result.stderr == "", result.stderr
    man = shutil.which("man")
    if man:  # man-db's own lint: what `man -l` would complain about
        result = subprocess.run([man, "--warnings", "-l", str(path)], capture_output=True,
                                text=True, timeout=60,
                                env=dict(os.environ, MANWIDTH="80", MANPAGER="cat",
                                         PAGER="cat", LC_ALL="C.UTF-8"))
        assert result.returncode == 0 and result.stderr == "", result.stderr
        assert "SEE ALSO" in result.stdout


def test_every_man_page_is_installed_with_the_package():
    parser = configparser.ConfigParser()
    parser.read(os.path.join(ROOT, "setup.cfg"))
    installed = " ".join(parser["options.data_files"].values())
    for page, _name, section, _summary, _manual in docgen.PAGES:
        assert page in installed, page
        assert "share/man/man%s" % section in parser["options.data_files"], section


def test_every_key_is_in_the_configuration_tables():
    from usrsvcmod.config import keyref

    text = _read(docgen.CONFIGURATION)
    for row in keyref.rows():
        assert "| `%s` |" % row.key in text, row.key


# --- the Markdown -> roff converter ------------------------------------------------------

def test_roff_escapes_what_troff_would_read_as_requests():
    lines = roff.convert("# T\n\n.hidden request\n'another\nback\\slash\n")
    assert ".SH DESCRIPTION" == lines[0]
    body = "\n".join(lines)
    assert "\n.hidden" not in body and "\n'another" not in body
    assert "back\\eslash" in body


def test_roff_code_blocks_are_kept_verbatim_and_tables_become_tagged_paragraphs():
    lines = roff.convert("## Keys\n\n```\n.dot first\n```\n\n| key | default | meaning |\n"
                         "| --- | --- | --- |\n| `a-b` | `1` | what *a* does |\n")
    assert lines[:1] == ['.SH "KEYS"']
    assert ".nf" in lines and "\\&.dot first" in lines and ".fi" in lines
    tp = lines.index(".TP")
    assert lines[tp + 1] == "\\fB\\%a\\-b\\fR"
    assert lines[tp + 2] == "what \\fIa\\fR does"
    assert "default: \\fB\\%1\\fR" in lines


def test_roff_links_name_the_man_page_or_the_file():
    assert roff.inline("[keys](configuration.md#x)") == "keys (usrsvc.cfg(5))"
    assert roff.inline("[rule](identity.md)") == "rule (usrsvc(1))"
    assert roff.inline("[below](#runtime-state)") == "below"
    # docs/ and the README are not installed with the pages: no path that leads nowhere
    assert roff.inline("[security](security.md)") == "security"
    assert roff.inline("[codes](../README.md#exit-codes)") == "codes (EXIT STATUS in usrsvc(1))"


def test_no_man_page_points_to_a_file_that_is_not_installed():
    for page, text in docgen.generate(ROOT).items():
        if page.startswith("man"):
            body = "\n".join(line for line in text.splitlines() if not line.startswith('.\\"'))
            assert not re.search(r"docs/\w+\.md|README\.md", body), (
                page, re.findall(r".{40}(?:docs/\w+\.md|README\.md).{0,20}", body))


def test_usrsvc_1_describes_every_option_of_the_help_and_of_logs():
    from usrsvcmod import cli

    page = docgen.generate(ROOT)[os.path.join("man", "usrsvc.1")]
    plain = re.sub(r"\\f[BIR]|\\%|\\&", "", page).replace("\\-", "-")
    for usage in (cli.USAGE, cli.LOGS_USAGE):
        for option in set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", usage)):
            assert option in plain, option
    for heading in ('.SH "READING LOGS"', '.SH "LOG ROTATION"',
                    '.SH "HOW A PROGRAM IS FOUND (THE IDENTITY RULE)"'):
        assert heading in page, heading


def test_the_usage_block_of_commands_md_is_the_help_itself():
    from usrsvcmod import cli

    assert "```\n%s```\n" % cli.USAGE in _read(docgen.COMMANDS)


# --- the README onboards, the reference is in docs/ -----------------------------------------

def test_the_readme_starts_with_a_title_then_the_two_quick_start_commands():
    lines = _read("README.md").splitlines()
    assert lines[0].startswith("# usrsvc") and lines[1] == ""
    assert lines[2] == "```sh"
    end = lines.index("```", 3)
    assert lines[3:end] == [  # .ci/run runs exactly these; keep them verbatim
        "python3 -m venv .venv && .venv/bin/pip install -q '.[test]' && .venv/bin/usrsvc"
        " --config examples/usrsvc.cfg start all",
        ".venv/bin/python -m pytest -q tests",
    ]


def test_the_readme_stays_short_and_has_what_a_new_user_needs():
    text = _read("README.md")
    assert len(text.splitlines()) <= 210
    for heading in ("## Install for a user", "## Your first program", "## Exit codes",
                    "## Documentation"):
        assert heading in text, heading
    assert "loginctl enable-linger" in text and "usrsvc completion bash" in text


def _slug(heading):
    """GitHub's anchor of a heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path):
    return {_slug(line.lstrip("#")) for line in _read(path).splitlines()
            if line.startswith("#")}


@pytest.mark.parametrize("path", ["README.md"] + DOCS)
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(path):
    text = re.sub(r"```.*?```", "", _read(path), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file_part, _, anchor = target.partition("#")
        linked = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) \
            if file_part else path
        assert os.path.exists(os.path.join(ROOT, linked)), (path, target)
        if anchor:
            assert anchor in _anchors(linked), (path, target)
