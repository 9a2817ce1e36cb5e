"""Every `docs/<name>.md §N` citation in the repository points at a file of docs/ and at a numbered
section heading that exists in it, so a comment can never send a reader to a spec that is not here.

A citation is `<name>.md` followed, in the same parenthesis or clause, by `§N` tokens
(`docs/attribution.md §5 A1, §5.1-§5.3`). A bare `§N` elsewhere in a file refers to the one doc that
file cites (a doc's own bare `§N` refers to itself); a bare `§N` in a file that cites no doc, or
several, is ambiguous and fails too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final, NamedTuple

import pytest

ROOT: Final = Path(__file__).resolve().parents[2]
DOCS: Final = ROOT / "docs"
SEARCHED: Final = ("libs", "services", "cli", "tests", "bench", "deploy", "docs")
SUFFIXES: Final = frozenset({".py", ".md", ".json", ".sql", ".js", ".toml", ".yml", ".yaml"})
SKIPPED_DIRS: Final = frozenset({"node_modules", ".venv", "__pycache__", ".mypy_cache", ".pytest_cache"})
THIS_FILE: Final = Path(__file__).resolve()  # its examples are bad on purpose

DOC_MENTION: Final = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.md)\b")
SECTION: Final = re.compile(r"§(\d+(?:\.\d+)*)")
CLAUSE_END: Final = re.compile(r"[):;\n]|\.\s")
HEADING: Final = re.compile(r"^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s", re.MULTILINE)


class Citation(NamedTuple):
    file: Path
    line: int
    doc: str  # the cited file as written
    section: str | None  # None when the citation names a doc that must exist, without a section


def searched_files() -> Iterator[Path]:
    yield ROOT / "README.md"
    for top in SEARCHED:
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix in SUFFIXES and path.is_file() and path != THIS_FILE and not SKIPPED_DIRS & set(path.parts):
                yield path


def doc_path(cited: str) -> Path:
    """A path with a folder is relative to the repository (`docs/x.md`); a bare `x.md` is in docs/."""
    return ROOT / cited if "/" in cited else DOCS / cited


class Ambiguous(Exception):
    """A bare § in a file that cites no doc, or several."""


def citations(path: Path, text: str) -> Iterator[Citation]:
    """Every citation in `text`; raises Ambiguous for a bare § that names no single doc."""
    line_starts = [0, *(i + 1 for i, ch in enumerate(text) if ch == "\n")]

    def line(offset: int) -> int:
        return sum(1 for start in line_starts if start <= offset)

    explicit: set[int] = set()
    cited_docs: set[str] = set()
    for mention in DOC_MENTION.finditer(text):
        name = mention.group(1)
        clause_end = CLAUSE_END.search(text, mention.end())
        clause = text[mention.end(): clause_end.start() if clause_end else len(text)]
        sections = list(SECTION.finditer(clause))
        if not sections and not name.startswith("docs/"):
            continue  # README.md, RESULTS.md …: a file name, not a spec citation
        cited_docs.add(Path(name).name)
        if not sections:
            yield Citation(path, line(mention.start()), name, None)
        for section in sections:
            explicit.add(mention.end() + section.start())
            yield Citation(path, line(mention.start()), name, section.group(1))
    bare = [m for m in SECTION.finditer(text) if m.start() not in explicit]
    if not bare:
        return
    home = [path.name] if path.parent == DOCS else sorted(cited_docs)
    if len(home) != 1:
        raise Ambiguous(f"{line(bare[0].start())}: §{bare[0].group(1)} cites no document; write "
                        f"docs/<name>.md §N (this file cites {', '.join(home) or 'none'})")
    for section in bare:
        yield Citation(path, line(section.start()), home[0], section.group(1))


def problems(path: Path, text: str) -> list[str]:
    """What is wrong with the citations of one file, one line each, prefixed with `file:line`."""
    where = path.relative_to(ROOT)
    try:
        found = list(citations(path, text))
    except Ambiguous as exc:
        return [f"{where}:{exc}"]
    wrong = []
    for c in found:
        doc = doc_path(c.doc)
        if doc.parent != DOCS or not doc.is_file():
            wrong.append(f"{where}:{c.line}: {c.doc} is not a file in docs/")
        elif c.section is not None and c.section not in section_numbers(doc):
            wrong.append(f"{where}:{c.line}: {c.doc} has no section §{c.section}")
    return wrong


def section_numbers(doc: Path) -> set[str]:
    return set(HEADING.findall(doc.read_text(encoding="utf-8")))


def test_every_section_citation_points_at_an_existing_doc_and_heading() -> None:
    wrong = [p for path in searched_files() for p in problems(path, path.read_text(encoding="utf-8"))]
    assert not wrong, "\n".join(wrong)


def test_the_specs_the_code_relies_on_are_cited() -> None:
    cited = {
        doc_path(c.doc).name
        for path in searched_files() if path.suffix == ".py"
        for c in citations(path, path.read_text(encoding="utf-8")) if c.section is not None
    }
    assert {"attribution.md", "mcp.md"} <= cited


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("# see docs/attribution.md §99\n", "docs/attribution.md has no section §99"),
        ("# the order of mcp-protocol.md §3\n", "mcp-protocol.md is not a file in docs/"),
        ("# see shared/docs/mcp.md §2\n", "shared/docs/mcp.md is not a file in docs/"),
        ("# (docs/nowhere.md)\n", "docs/nowhere.md is not a file in docs/"),
        ('"""Stage C (§8.2)."""\n', "§8.2 cites no document"),
        ("# docs/attribution.md, docs/mcp.md: §2\n", "§2 cites no document"),
    ],
)
def test_a_bad_citation_is_reported(text: str, problem: str) -> None:
    (report,) = problems(ROOT / "services" / "example.py", text)
    assert report.startswith("services/example.py:1: ") and problem in report, report


def test_citations_read_lists_and_ranges_and_bare_sections_of_the_cited_doc() -> None:
    text = "x (docs/attribution.md §5 A1, §5.1-§5.3) and\n§12's fixture\n"
    found = [(c.line, c.doc, c.section) for c in citations(ROOT / "tests" / "example.py", text)]
    assert found == [
        (1, "docs/attribution.md", "5"), (1, "docs/attribution.md", "5.1"), (1, "docs/attribution.md", "5.3"),
        (2, "attribution.md", "12"),
    ]
    assert problems(ROOT / "tests" / "example.py", text) == []
