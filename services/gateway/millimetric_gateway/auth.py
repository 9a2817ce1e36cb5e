"""API key lookup: hash the bearer token, find it in PostgreSQL, cache the answer briefly.

Both hits and misses are cached for `key_cache_ttl_s`, so a flood of bad keys costs one query per
distinct key per TTL, and a revocation or plan change takes effect within the TTL. When the
database cannot be used, `lookup` raises `KeyStoreUnavailable` (callers answer a retryable 503) and
the outage is logged once when it starts and once when it ends, not per request. A key whose
revocation is scheduled (`revoked_at` in the future: `millimetric admin key rotate --overlap-s`) stays
valid until then, and its cache entry never outlives that moment. Keys are compared by their SHA-256
hash only and never logged.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final

import asyncpg
from millimetric_protocol.apikeys import KeyKind, hash_key, parse_kind
from millimetric_runtime.dependencies import Outage, is_unavailable

logger = logging.getLogger(__name__)

_LOOKUP_SQL: Final = """
SELECT k.key_id, k.kind, k.account_id, k.project_id, a.plan,
       extract(epoch FROM k.revoked_at - now())::float8 AS revokes_in_s
FROM api_keys k JOIN accounts a ON a.account_id = k.account_id
WHERE k.key_hash = $1 AND (k.revoked_at IS NULL OR k.revoked_at > now())
"""


class KeyStoreUnavailable(Exception):
    """The key database cannot be used now; the same request can succeed later."""


@dataclass(frozen=True)
class KeyInfo:
    key_id: uuid.UUID
    kind: KeyKind
    account_id: uuid.UUID
    project_id: uuid.UUID | None
    plan: str


class KeyStore:
    """Resolves bearer tokens to `KeyInfo` through a bounded TTL cache."""

    def __init__(self, pool: asyncpg.Pool, *, ttl_s: float, max_entries: int) -> None:
        self._pool = pool
        self._ttl_s = ttl_s
        self._max = max_entries
        self._cache: OrderedDict[bytes, tuple[float, KeyInfo | None]] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.outage = Outage("key database", logger, "requests whose key is not cached get a retryable 503")

    async def lookup(self, token: str) -> KeyInfo | None:
        """The key's info, or None when malformed, unknown or revoked. Raises KeyStoreUnavailable."""
        if parse_kind(token) is None:
            return None
        digest = hash_key(token)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            self.hits += 1
            self._cache.move_to_end(digest)
            return cached[1]
        self.misses += 1
        try:
            row = await self._pool.fetchrow(_LOOKUP_SQL, digest, timeout=5)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            self.outage.failed(exc)
            raise KeyStoreUnavailable(type(exc).__name__) from exc
        self.outage.recovered()
        info = None if row is None else KeyInfo(row["key_id"], row["kind"], row["account_id"], row["project_id"], row["plan"])
        ttl_s = self._ttl_s
        revokes_in_s = None if row is None else row.get("revokes_in_s")
        if revokes_in_s is not None:
            ttl_s = max(0.0, min(ttl_s, revokes_in_s))  # a scheduled revocation is honoured on time
        self._cache[digest] = (now + ttl_s, info)
        self._cache.move_to_end(digest)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)
        return info

    @property
    def entries(self) -> int:
        return len(self._cache)

    async def ping(self, timeout_s: float = 2.0) -> bool:
        """True when the key database answers a trivial query within `timeout_s` (readiness)."""
        try:
            await self._pool.fetchval("SELECT 1", timeout=timeout_s)
        except Exception:  # any failure of the check means not ready; the reason is not the caller's business
            return False
        return True


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive)."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None
