"""Attribution as stored by the real ingest path, including session scope for internal navigation."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg

from tests.integration.test_pipeline import poll
from tests.support.accounts import create_account
from tests.support.mcp_client import mcp_client, tool_data
from tests.support.stack import Stack

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


async def _track(client: Any, visitor: str, at: datetime, **properties: Any) -> str:
    data = tool_data(await client.call_tool("track_event", {
        "event": "page_view", "anonymous_id": visitor, "timestamp": at.isoformat(), "properties": properties}))
    return str(data["event_id"])


async def _stored(dsn: str, event_ids: list[str]) -> dict[str, tuple[str, str, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        async def all_there() -> list[asyncpg.Record]:
            rows = await conn.fetch("SELECT event_id, source, medium, channel FROM events WHERE event_id = ANY($1::uuid[])",
                                    [uuid.UUID(e) for e in event_ids])
            return rows if len(rows) == len(event_ids) else []
        rows = await poll(all_there)
    finally:
        await conn.close()
    return {str(r["event_id"]): (r["source"], r["medium"], r["channel"]) for r in rows}


async def test_internal_navigation_takes_the_sessions_source(stack: Stack) -> None:
    project = (await create_account(stack.dsn, "pro", domains=("example.com",))).projects[0]
    async with mcp_client(stack.mcp_url, project.sk) as client:
        landing = await _track(client, "v1", T0, url="https://example.com/?utm_source=fb&utm_medium=cpc&fbclid=x")
        inner = await _track(client, "v1", T0 + timedelta(minutes=5), referrer="https://example.com/", url="https://example.com/pricing")
        deeper = await _track(client, "v1", T0 + timedelta(minutes=20), referrer="https://www.example.com/pricing")
        later = await _track(client, "v1", T0 + timedelta(minutes=80), referrer="https://example.com/pricing")
        alone = await _track(client, "v2", T0, referrer="https://shop.example.com/cart")
    got = await _stored(stack.dsn, [landing, inner, deeper, later, alone])
    assert got[landing] == ("facebook", "paid", "Paid Social")
    assert got[inner] == ("facebook", "paid", "Paid Social")
    assert got[deeper] == ("facebook", "paid", "Paid Social")
    assert got[later] == ("(direct)", "(none)", "Direct")  # a new session (gap over 30 min) starting internally
    assert got[alone] == ("(direct)", "(none)", "Direct")


async def test_session_value_comes_from_an_event_stored_in_an_earlier_batch(stack: Stack) -> None:
    project = (await create_account(stack.dsn, "pro", domains=("example.com",))).projects[0]
    async with mcp_client(stack.mcp_url, project.sk) as client:
        landing = await _track(client, "v9", T0, referrer="https://www.google.com/")
        await _stored(stack.dsn, [landing])
        inner = await _track(client, "v9", T0 + timedelta(minutes=3), referrer="https://example.com/")
    got = await _stored(stack.dsn, [inner])
    assert got[inner] == ("google", "organic", "Organic Search")


async def test_facebook_click_id_alone_is_organic_social_and_utm_paid_is_paid(stack: Stack) -> None:
    project = (await create_account(stack.dsn, "pro")).projects[0]
    async with mcp_client(stack.mcp_url, project.sk) as client:
        organic = await _track(client, "a", T0, url="https://shop.test/?fbclid=IwAR0abc")
        paid = await _track(client, "b", T0, utm_source="fb", utm_medium="cpc")
        rows = None
        got = await _stored(stack.dsn, [organic, paid])
        rows = tool_data(await client.call_tool("top_sources", {
            "from": (T0 - timedelta(days=1)).isoformat(), "to": (T0 + timedelta(days=1)).isoformat(), "breakdown": "source_medium"}))
    assert got[organic][:2] == ("facebook", "social")
    assert got[paid][:2] == ("facebook", "paid")
    assert [(r["source"], r["medium"], r["events"]) for r in rows] == [("facebook", "paid", 1), ("facebook", "social", 1)]
