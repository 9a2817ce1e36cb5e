"""What a benchmark returns, and how it lands in bench/RESULTS.md (one markdown table per benchmark,
one row per run, newest last). Rendering is pure; `append` is the only function that writes."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

RESULTS_PATH: Final = Path(__file__).resolve().parent / "RESULTS.md"
HEADER: Final = """# Benchmark results

Appended by `make bench` (`python -m bench`); one table per benchmark, newest row last. Every ratio
is measured in the same run as its reference, on the same machine, because the machines are shared
and noisy: compare ratios across rows, and absolute figures only within a row. How each figure is
measured: `bench/__init__.py`. Sizes: `bench/config.py` (the `scale` column names the preset).
"""


@dataclass(frozen=True)
class Target:
    label: str
    met: bool | None
    """None: not measurable in this run."""
    detail: str

    def line(self) -> str:
        mark = "n/a" if self.met is None else ("met" if self.met else "MISSED")
        return f"  [{mark:>6}] {self.label}: {self.detail}"


@dataclass
class Outcome:
    name: str
    summary: str
    """The one summary line printed for the benchmark."""
    columns: dict[str, str]
    """Figures for the RESULTS.md row, in column order (date, machine, commit are added)."""
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    description: str = ""
    """One paragraph under the table's heading (written when the section is created)."""
    extra_tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)
    """(title, header, rows): detail printed after the summary (e.g. per read case)."""
    data: dict[str, Any] = field(default_factory=dict)
    """Figures other benchmarks of the same run use (the memory benchmark reads peak RSS here)."""


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")).split()[1])
        mem = f", {kb / 2**20:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores{mem}" + (f", {cpu}" if cpu else "")


def commit(repo: Path | None = None) -> str:
    """`git rev-parse --short HEAD`, plus `-dirty` when tracked files differ from it (read-only git)."""
    cwd = repo or RESULTS_PATH.parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd, capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True,
                               text=True, check=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table_header(columns: list[str]) -> list[str]:
    return ["| " + " | ".join(_cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]


def table_row(values: list[str]) -> str:
    return "| " + " | ".join(_cell(v) for v in values) + " |"


def add_row(text: str, section: str, description: str, columns: list[str], values: list[str]) -> str:
    """`text` (RESULTS.md) with a row appended to `## section`'s table. A new section gets the
    description and a header; a section whose last table has other columns gets a new table."""
    if not text.strip():
        text = HEADER
    lines = text.rstrip("\n").split("\n")
    heading = f"## {section}"
    header = table_header(columns)
    row = table_row(values)
    if heading not in lines:
        block = ["", heading, ""] + ([description, ""] if description else []) + header + [row]
        return "\n".join(lines + block) + "\n"
    start = lines.index(heading)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    body = lines[start:end]
    last_header = max((i for i, ln in enumerate(body) if ln.startswith("| ") and i + 1 < len(body)
                       and body[i + 1].startswith("|---")), default=None)
    while body and not body[-1].strip():
        body.pop()
    if last_header is not None and body[last_header] == header[0]:
        body.append(row)
    else:
        body += [""] + header + [row]
    return "\n".join(lines[:start] + body + ([""] if end < len(lines) else []) + lines[end:]) + "\n"


def append(outcome: Outcome, scale: str, path: Path = RESULTS_PATH) -> None:
    columns = ["date", "machine", "commit", "scale", *outcome.columns]
    values = [dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), machine(), commit(), scale, *outcome.columns.values()]
    text = path.read_text() if path.exists() else ""
    path.write_text(add_row(text, outcome.name, outcome.description, columns, values))
