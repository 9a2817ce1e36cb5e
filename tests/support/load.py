"""A bounded load generator for fault tests, and the ledger check every fault test ends with.

`track_many` sends `count` track_event calls over plain HTTP JSON-RPC, `concurrency` at a time.
Each call carries its own event_id; a call answered with an error (retryable JSON-RPC error, HTTP
5xx/429, connection failure) is retried with the same event_id, as the README tells clients to,
until it succeeds or `give_up_after_s` passes. Every event_id answered with success goes into
`Ledger.acked`. Each worker sends its own visitors' events one after the other, so one visitor's
events reach the topic in timestamp order.

`assert_ledger` waits until the pipeline has drained and then checks the promise: the set of stored
event ids equals the set of acknowledged ones, nothing is stored twice, and anything stored without
an acknowledgement was at least sent (an error answer may still be stored at most once).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg

HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


@dataclass
class Ledger:
    acked: set[str] = field(default_factory=set)
    sent: set[str] = field(default_factory=set)
    """Every event_id a call was made for (acknowledged or not)."""
    errors: int = 0
    """Answers that were not a success (each was retried with the same event_id)."""
    gave_up: set[str] = field(default_factory=set)
    done: bool = False


class _Fatal(Exception):
    """An answer that retrying cannot fix (a bug in the test, e.g. invalid arguments)."""


async def _track_once(http: aiohttp.ClientSession, url: str, key: str, arguments: dict[str, Any], request_id: int) -> bool:
    body = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": "track_event", "arguments": arguments}}
    try:
        async with http.post(url, json=body, headers={**HEADERS, "Authorization": f"Bearer {key}"}) as resp:
            raw = await resp.read()
            status = resp.status
    except (TimeoutError, aiohttp.ClientError, OSError):
        return False
    if status >= 500 or status == 429:
        return False
    try:
        message = json.loads(raw)
    except ValueError:
        return False
    if "error" in message:
        error = message["error"]
        if (error.get("data") or {}).get("retryable") or error.get("message") in ("tool_failed", "rate_limited"):
            return False
        raise _Fatal(f"HTTP {status}: {error}")
    result = message["result"]
    if result.get("isError"):
        raise _Fatal(f"tool error: {result['content'][0]['text']}")
    data = json.loads(result["content"][0]["text"])
    assert data == {"event_id": arguments["event_id"], "status": "accepted"}, data
    return True


async def track_many(url: str, key: str, count: int, *, concurrency: int = 20, ledger: Ledger | None = None,
                     event: str = "load", give_up_after_s: float = 120.0, visitors_per_worker: int = 2) -> Ledger:
    """Send `count` events; returns (and fills, as it goes) the ledger."""
    ledger = ledger if ledger is not None else Ledger()
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=concurrency)) as http:

        async def worker(w: int) -> None:
            for n in range(w, count, concurrency):
                k = n // concurrency  # this worker's k-th event: its visitors' events go out in order
                event_id = str(uuid.uuid4())
                arguments: dict[str, Any] = {
                    "event": event, "event_id": event_id, "anonymous_id": f"w{w}-v{k % visitors_per_worker}",
                    "properties": {"n": n, "plan": ("free", "pro", "business")[n % 3]},
                }
                if k % 3 == 0:
                    arguments["properties"].update({"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": f"c{n % 7}"})
                else:  # internal navigation: takes its session's attribution at ingest
                    arguments["properties"]["referrer"] = "https://example.com/docs"
                ledger.sent.add(event_id)
                give_up_at = time.monotonic() + give_up_after_s
                delay = 0.05
                while True:
                    if await _track_once(http, url, key, arguments, n):
                        ledger.acked.add(event_id)
                        break
                    ledger.errors += 1
                    if time.monotonic() > give_up_at:
                        ledger.gave_up.add(event_id)
                        break
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 1.0)

        try:
            await asyncio.gather(*(worker(w) for w in range(concurrency)))
        finally:
            ledger.done = True
    return ledger


async def wait_until(condition: Any, *, deadline_s: float, what: str, interval_s: float = 0.1) -> Any:
    """Poll `condition()` (sync or async) until truthy; fail with `what` at the deadline."""
    end = time.monotonic() + deadline_s
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not within {deadline_s}s")
        await asyncio.sleep(interval_s)


async def stored_event_ids(dsn: str, project_id: uuid.UUID) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT event_id FROM events WHERE project_id = $1", project_id)
    finally:
        await conn.close()
    return [str(r["event_id"]) for r in rows]


async def rollup_total(dsn: str, project_id: uuid.UUID) -> int:
    """Events counted into the hourly rollup for the project (must equal the events stored)."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT coalesce(sum(events), 0) FROM event_counts_hourly WHERE project_id = $1",
                                       project_id))
    finally:
        await conn.close()


async def assert_ledger(dsn: str, project_id: uuid.UUID, ledger: Ledger, *, deadline_s: float = 90.0) -> None:
    """After draining: stored == acknowledged, no duplicates, nothing stored that was never sent, and
    the rollups counted every stored event exactly once (re-deliveries are not counted again)."""
    assert ledger.done, "the load generator is still running"
    assert not ledger.gave_up, f"{len(ledger.gave_up)} events never got a success answer"
    stored: list[str] = []

    async def drained() -> bool:
        nonlocal stored
        stored = await stored_event_ids(dsn, project_id)
        return ledger.acked <= set(stored)

    try:
        await wait_until(drained, deadline_s=deadline_s, what="every acknowledged event stored", interval_s=0.25)
    except AssertionError:
        missing = ledger.acked - set(stored)
        raise AssertionError(f"{len(missing)} of {len(ledger.acked)} acknowledged events not stored "
                             f"(stored {len(stored)}), e.g. {sorted(missing)[:3]}") from None
    assert len(stored) == len(set(stored)), "an event is stored twice"
    assert set(stored) - ledger.sent == set(), "stored an event nobody sent"
    assert set(stored) == ledger.acked, f"stored without acknowledgement: {sorted(set(stored) - ledger.acked)[:5]}"
    assert await rollup_total(dsn, project_id) == len(stored), "the hourly rollup counts an event twice or misses one"


async def call_tool(url: str, key: str, name: str, arguments: dict[str, Any], *, timeout_s: float = 60.0) -> dict[str, Any]:
    """One JSON-RPC tools/call over plain HTTP; returns the whole JSON-RPC answer (result or error)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    headers = {**HEADERS, "Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as http, \
            http.post(url, json=body, headers=headers) as resp:
        return json.loads(await resp.read())  # type: ignore[no-any-return]


async def http_status(url: str) -> int | None:
    """GET `url`; its status, or None when nothing answers."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http, http.get(url) as resp:
            return resp.status
    except (TimeoutError, aiohttp.ClientError, OSError):
        return None
