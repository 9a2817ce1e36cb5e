"""Reading docker-compose.yml the way Compose does, without a Docker engine: YAML (anchors and
merge keys included), then `${…}` interpolation of every value from a given environment.

Only the interpolation forms the file uses are supported (`$$`, `$NAME`, `${NAME}`, `${NAME:-default}`,
`${NAME-default}`, nested defaults); anything else raises, so a new form fails the tests loudly
instead of being misread.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
SCHEMA_FILE = ROOT / "deploy" / "compose-spec.json"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def load_raw() -> dict[str, Any]:
    """The YAML document as written (anchors resolved, nothing interpolated)."""
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict)
    return document


def load(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The document as Compose would see it with `environ` as the shell (default: an empty one,
    so every `${NAME:-default}` takes its default)."""
    interpolated = interpolate_all(load_raw(), environ or {})
    assert isinstance(interpolated, dict)
    return interpolated


def interpolate_all(value: Any, environ: Mapping[str, str]) -> Any:
    """Interpolate every string value (never keys, as Compose does)."""
    if isinstance(value, str):
        return interpolate(value, environ)
    if isinstance(value, dict):
        return {key: interpolate_all(item, environ) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate_all(item, environ) for item in value]
    return value


def interpolate(text: str, environ: Mapping[str, str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "$":
            out.append(text[i])
            i += 1
            continue
        following = text[i + 1:i + 2]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "{":
            value, i = _braced(text, i + 2, environ)
            out.append(value)
        elif match := _NAME.match(text, i + 1):
            out.append(environ.get(match.group(), ""))
            i = match.end()
        else:
            out.append("$")
            i += 1
    return "".join(out)


def _braced(text: str, i: int, environ: Mapping[str, str]) -> tuple[str, int]:
    """Interpolate the `${…}` whose name starts at `i`; return its value and the index after `}`."""
    match = _NAME.match(text, i)
    if match is None:
        raise ValueError(f"bad interpolation in {text!r}")
    name, i = match.group(), match.end()
    if text.startswith("}", i):
        return environ.get(name, ""), i + 1
    if text.startswith(":-", i):
        empty_means_unset, i = True, i + 2
    elif text.startswith("-", i):
        empty_means_unset, i = False, i + 1
    else:
        raise ValueError(f"interpolation form not supported by this reader: {text[i - 2:]!r}")
    start, depth = i, 0
    while True:
        if i >= len(text):
            raise ValueError(f"unterminated interpolation in {text!r}")
        if text.startswith("$$", i):
            i += 2
            continue
        if text.startswith("${", i):
            depth, i = depth + 1, i + 2
            continue
        if text[i] == "}":
            if depth == 0:
                break
            depth -= 1
        i += 1
    value = environ.get(name)
    if value is None or (empty_means_unset and value == ""):
        value = interpolate(text[start:i], environ)
    return value, i + 1


def duration_s(text: str) -> float:
    """A Compose duration (Go syntax: `1m30s`, `500ms`) in seconds."""
    parts = list(_DURATION_PART.finditer(text))
    if not parts or "".join(p.group() for p in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(p.group(1)) * _DURATION_UNITS_S[p.group(2)] for p in parts)


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's `environment:` as a dict (list or mapping form; values as the container sees them)."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        pairs = (item.split("=", 1) for item in raw)
        return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}
    return {key: "" if value is None else str(value) for key, value in raw.items()}


def argv(service: Mapping[str, Any]) -> list[str]:
    """The arguments the `millimetric` entry point gets: entrypoint words after the program, then command."""
    entrypoint = service.get("entrypoint") or []
    command = service.get("command") or []
    assert isinstance(entrypoint, list) and isinstance(command, list), "use exec (list) form"
    return [*entrypoint[1:], *command]


def dockerfile_instructions() -> Iterator[tuple[str, str]]:
    """(INSTRUCTION, arguments) for each instruction, continuation lines joined, comments dropped."""
    logical = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        keyword, _, rest = logical.partition(" ")
        yield keyword.upper(), rest.strip()
        logical = ""
