"""Raw HTTP against the tracking endpoints (`/v1/track`, `/v1/batch`) and reads of what ingest stored."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
from multidict import CIMultiDictProxy

from tests.support.mcp_http import poll


@dataclass(frozen=True)
class Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


async def send(session: aiohttp.ClientSession, url: str, body: Any, *, key: str | None = None,
               headers: dict[str, str] | None = None, params: dict[str, str] | None = None,
               method: str = "POST") -> Answer:
    """POST `body` (a JSON value, or bytes sent as they are). `key` goes in `Authorization: Bearer`."""
    sent = {"Content-Type": "application/json"}
    if key is not None:
        sent["Authorization"] = f"Bearer {key}"
    sent.update(headers or {})
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with session.request(method, url, data=data, headers=sent, params=params) as resp:
        return Answer(resp.status, resp.headers, await resp.read())


def call(event: str = "signup", visitor: str | None = None, **extra: Any) -> dict[str, Any]:
    """One Segment track call with a fresh anonymousId (unless given) and a messageId."""
    return {"event": event, "anonymousId": visitor or f"v-{uuid.uuid4().hex[:12]}", "messageId": str(uuid.uuid4()), **extra}


async def stored(dsn: str, project_id: uuid.UUID, event_ids: list[str]) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT * FROM events WHERE project_id = $1 AND event_id = ANY($2::uuid[]) ORDER BY timestamp",
                                project_id, [uuid.UUID(e) for e in event_ids])
    finally:
        await conn.close()
    return [_decoded(dict(r)) for r in rows]


async def visitor_events(dsn: str, project_id: uuid.UUID, anonymous_id: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT * FROM events WHERE project_id = $1 AND anonymous_id = $2 ORDER BY timestamp, event_id",
                                project_id, anonymous_id)
    finally:
        await conn.close()
    return [_decoded(dict(r)) for r in rows]


async def wait_stored(dsn: str, project_id: uuid.UUID, event_ids: list[str], deadline_s: float = 20) -> list[dict[str, Any]]:
    """Every one of `event_ids` stored (polled until the deadline); the rows, oldest first."""
    async def all_there() -> list[dict[str, Any]] | None:
        rows = await stored(dsn, project_id, event_ids)
        return rows if len(rows) == len(set(event_ids)) else None

    return await poll(all_there, deadline_s=deadline_s, interval_s=0.1)


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    for name in ("properties", "context"):
        if isinstance(row.get(name), str):
            row[name] = json.loads(row[name])
    return row
