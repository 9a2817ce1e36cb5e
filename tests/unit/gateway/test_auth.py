"""The key cache: hits and misses are cached for the TTL, malformed keys never reach the database,
and the cache stays bounded."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from millimetric_gateway import auth
from millimetric_gateway.auth import KeyStore, bearer_token
from millimetric_protocol.apikeys import generate_key, hash_key


class FakePool:
    """Stands in for asyncpg.Pool: knows some key hashes, counts lookups."""

    def __init__(self, known: dict[bytes, dict[str, Any]]) -> None:
        self.known = known
        self.lookups = 0

    async def fetchrow(self, sql: str, digest: bytes, timeout: float) -> dict[str, Any] | None:
        self.lookups += 1
        return self.known.get(digest)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(auth.time, "monotonic", c)
    return c


def row(kind: str = "rk", plan: str = "pro") -> dict[str, Any]:
    return {"key_id": uuid.uuid4(), "kind": kind, "account_id": uuid.uuid4(), "project_id": uuid.uuid4(), "plan": plan}


async def test_a_known_key_is_looked_up_once_per_ttl(clock: Clock) -> None:
    key = generate_key("rk")
    pool = FakePool({hash_key(key): row(plan="business")})
    store = KeyStore(pool, ttl_s=10, max_entries=100)  # type: ignore[arg-type]
    for _ in range(5):
        info = await store.lookup(key)
        assert info is not None and info.plan == "business" and info.kind == "rk"
    assert pool.lookups == 1
    clock.now += 10.5
    await store.lookup(key)
    assert pool.lookups == 2


async def test_unknown_keys_are_cached_as_misses(clock: Clock) -> None:
    pool = FakePool({})
    store = KeyStore(pool, ttl_s=10, max_entries=100)  # type: ignore[arg-type]
    key = generate_key("sk")
    for _ in range(50):
        assert await store.lookup(key) is None
    assert pool.lookups == 1  # a flood of one bad key costs one query per TTL


async def test_a_plan_change_or_revocation_is_seen_after_the_ttl(clock: Clock) -> None:
    key = generate_key("sk")
    pool = FakePool({hash_key(key): row(kind="sk", plan="pro")})
    store = KeyStore(pool, ttl_s=1, max_entries=100)  # type: ignore[arg-type]
    assert (await store.lookup(key)).plan == "pro"  # type: ignore[union-attr]
    pool.known[hash_key(key)] = row(kind="sk", plan="free")
    assert (await store.lookup(key)).plan == "pro"  # type: ignore[union-attr]  # still cached
    clock.now += 1.01
    assert (await store.lookup(key)).plan == "free"  # type: ignore[union-attr]
    del pool.known[hash_key(key)]
    clock.now += 1.01
    assert await store.lookup(key) is None


@pytest.mark.parametrize("token", ["", "sk_live_short", "xk_live_" + "a" * 32, "sk_live_" + "a" * 300, "sk_live_" + "\x00" * 32,
                                   "Bearer sk_live_" + "a" * 32])
async def test_malformed_keys_never_reach_the_database(clock: Clock, token: str) -> None:
    pool = FakePool({})
    store = KeyStore(pool, ttl_s=10, max_entries=100)  # type: ignore[arg-type]
    assert await store.lookup(token) is None
    assert pool.lookups == 0


async def test_the_cache_is_bounded(clock: Clock) -> None:
    pool = FakePool({})
    store = KeyStore(pool, ttl_s=10, max_entries=3)  # type: ignore[arg-type]
    keys = [generate_key("rk") for _ in range(5)]
    for key in keys:
        await store.lookup(key)
    await store.lookup(keys[0])  # evicted (least recently used), so looked up again
    assert pool.lookups == 6


@pytest.mark.parametrize(("header", "token"), [
    ("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER  abc ", "abc"), (None, None), ("", None), ("Bearer", None),
    ("Bearer ", None), ("Basic abc", None), ("abc", None),
])
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token
