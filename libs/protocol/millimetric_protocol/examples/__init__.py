"""Golden examples of every message kind (good and bad), for contract tests.

Each JSON file: {"kind", "valid", "payload" | "raw", "error"?, "path"?, "note"?}. `raw` holds bytes
that are not a JSON value, written as a string whose code points 0-255 are the bytes (latin-1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Example:
    name: str
    kind: str
    valid: bool
    body: bytes
    error: str | None
    path: str | None


def load_examples() -> list[Example]:
    found = []
    for entry in sorted(resources.files(__name__).iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        data: dict[str, Any] = json.loads(entry.read_text())
        body = data["raw"].encode("latin-1") if "raw" in data else json.dumps(data["payload"]).encode()
        found.append(Example(entry.name[:-5], data["kind"], data["valid"], body, data.get("error"), data.get("path")))
    return found
