"""API key format: `<kind>_live_<secret>`, stored only as a SHA-256 hash.

Kinds: `pk` (browser, write-only), `sk` (server: read + ingest), `rk` (read-only) belong to a
project; `ak` belongs to an account. The secret is 32 URL-safe characters (192 random bits).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Final, Literal

KeyKind = Literal["pk", "sk", "rk", "ak"]
KEY_KINDS: Final[tuple[KeyKind, ...]] = ("pk", "sk", "rk", "ak")
PROJECT_KEY_KINDS: Final[tuple[KeyKind, ...]] = ("pk", "sk", "rk")
KEY_RE: Final = re.compile(r"^(pk|sk|rk|ak)_(live|test)_[A-Za-z0-9_-]{16,128}$")
SECRET_BYTES: Final = 24  # 192 bits ≥ the 128 we promise


def generate_key(kind: KeyKind) -> str:
    return f"{kind}_live_{secrets.token_urlsafe(SECRET_BYTES)}"


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def parse_kind(key: str) -> KeyKind | None:
    """The key's kind if it is well-formed, else None (never raises; callers answer 401)."""
    if len(key) > 200 or not KEY_RE.match(key):
        return None
    return key[:2]  # type: ignore[return-value]


def display_prefix(key: str) -> str:
    """What admin listings show: kind, env and the first 4 secret characters (never the secret)."""
    return key[:12] + "…"
