"""The whole path, through the official MCP client: gateway → Kafka → ingest → PostgreSQL → query → gateway."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import pytest
from mcp.shared.exceptions import MCPError

from tests.support.accounts import create_account
from tests.support.mcp_client import mcp_client, tool_data
from tests.support.stack import Stack


async def poll(fn: Any, *, deadline_s: float = 15.0) -> Any:
    """Call `fn` until it returns something truthy, or fail at the deadline (no fixed sleeps)."""
    end = time.monotonic() + deadline_s
    while True:
        value = await fn()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {deadline_s}s")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_tracked_event_is_found_by_query_events(stack: Stack, mode: str) -> None:
    account = await create_account(stack.dsn, "pro")
    project = account.projects[0]
    async with mcp_client(stack.mcp_url, project.sk, mode=mode) as client:
        assert client.protocol_version == ("2026-07-28" if mode == "auto" else "2025-11-25")
        tracked = tool_data(await client.call_tool("track_event", {
            "event": "agent_task_completed", "anonymous_id": "agent_001", "user_id": "user_42",
            "properties": {"task": "refactor_billing", "duration_ms": 12400, "utm_source": "fb", "utm_medium": "cpc"},
        }))
        assert tracked["status"] == "accepted"
        event_id = tracked["event_id"]

        async def found() -> list[dict[str, Any]]:
            rows = tool_data(await client.call_tool("query_events", {"event": "agent_task_completed", "limit": 10}))
            return [r for r in rows if r["event_id"] == event_id]

        (row,) = await poll(found)
    assert row["anonymous_id"] == "agent_001"
    assert row["user_id"] == "user_42"
    assert row["properties"]["task"] == "refactor_billing"
    assert row["properties"]["duration_ms"] == 12400
    assert (row["source"], row["medium"]) == ("facebook", "paid")


async def test_read_key_cannot_track(stack: Stack) -> None:
    account = await create_account(stack.dsn, "pro")
    async with mcp_client(stack.mcp_url, account.projects[0].rk, mode="legacy") as client:
        with pytest.raises(MCPError) as info:
            await client.call_tool("track_event", {"event": "x", "anonymous_id": "a"})
    assert info.value.error.code == -32000
    assert info.value.error.message == "insufficient_scope"
    assert info.value.error.data["required"] == "ingest"
    assert info.value.error.data["got"] == "read"


async def test_retried_track_event_with_same_event_id_stores_one_row(stack: Stack) -> None:
    account = await create_account(stack.dsn, "business")
    project = account.projects[0]
    event_id = str(uuid.uuid4())
    async with mcp_client(stack.mcp_url, project.sk) as client:
        for _ in range(3):
            tracked = tool_data(await client.call_tool("track_event", {"event": "checkout", "anonymous_id": "v1", "event_id": event_id}))
            assert tracked["event_id"] == event_id
        # A marker event sent after the retries: once it is stored, the retries have been processed too
        # (same visitor → same partition → written in order).
        marker = tool_data(await client.call_tool("track_event", {"event": "marker", "anonymous_id": "v1"}))["event_id"]

    conn = await asyncpg.connect(stack.dsn)
    try:
        await poll(lambda: conn.fetchval("SELECT count(*) FROM events WHERE project_id = $1 AND event_id = $2",
                                         project.project_id, uuid.UUID(marker)))
        count = await conn.fetchval("SELECT count(*) FROM events WHERE project_id = $1 AND event_id = $2",
                                    project.project_id, uuid.UUID(event_id))
    finally:
        await conn.close()
    assert count == 1
