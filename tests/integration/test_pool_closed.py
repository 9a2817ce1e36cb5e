"""One exception policy: a connection pool closed under a running service (what `pool.close()` does
at shutdown, and what asyncpg reports as InterfaceError "pool is closing") is answered like any
database outage — a clean, retryable refusal on every endpoint, logged once, never a traceback."""

from __future__ import annotations

import logging
import uuid

import pytest
from aiohttp.test_utils import TestClient, TestServer
from millimetric_gateway import keys as gateway_keys
from millimetric_gateway.app import create_app as create_gateway
from millimetric_gateway.settings import Settings as GatewaySettings
from millimetric_protocol.apikeys import generate_key
from millimetric_query import keys as query_keys
from millimetric_query.app import create_app as create_query
from millimetric_query.settings import Settings as QuerySettings

from tests.support.mcp_http import poll, rpc
from tests.support.stack import Stack


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info]


async def test_the_gateway_refuses_alike_on_mcp_and_tracking_when_its_pool_is_closed(
        stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    app = create_gateway(GatewaySettings.from_env(stack.env))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:

        async def ready() -> bool:
            async with client.get("/readyz") as resp:
                return resp.status == 200

        await poll(ready, deadline_s=30)
        await app[gateway_keys.KEY_STORE]._pool.close()
        caplog.clear()
        for _ in range(3):  # keys never seen before: none is in the cache
            auth = {"Authorization": f"Bearer {generate_key('rk')}", "Content-Type": "application/json"}
            async with client.post("/mcp", json=rpc("tools/list"), headers=auth) as resp:
                assert resp.status == 503 and resp.headers["Retry-After"] == "1"
                body = await resp.json()
                assert body["error"]["message"] == "tool_failed" and body["error"]["data"]["retryable"] is True
            track = {"event": "e", "anonymousId": "a", "writeKey": generate_key("pk")}
            async with client.post("/v1/track", json=track) as resp:
                assert resp.status == 503 and resp.headers["Retry-After"] == "1"
                body = await resp.json()
                assert body["error"] == "unavailable" and body["retryable"] is True
        async with client.get("/readyz") as resp:
            assert resp.status == 503 and (await resp.json())["database"] is False
    assert tracebacks(caplog) == []
    outage_lines = [r.getMessage() for r in caplog.records if "key database unavailable" in r.getMessage()]
    assert len(outage_lines) == 1, outage_lines


async def test_the_query_service_answers_a_retryable_failure_when_its_pool_is_closed(
        stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    app = create_query(QuerySettings.from_env(stack.env))
    read = {"read": "query_events", "scope": {"account_id": str(uuid.uuid4()), "project_id": str(uuid.uuid4())},
            "arguments": {"limit": 1}, "request_id": "r1"}
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        async with client.post("/v1/read", json=read) as resp:
            assert (await resp.json())["error"]["name"] == "unknown_project_id"  # the database answers
        await app[query_keys.POOL].close()
        caplog.clear()
        for _ in range(3):
            async with client.post("/v1/read", json=read) as resp:
                body = await resp.json()
            assert body["error"] == {"name": "tool_failed", "detail": "database unavailable", "data": {"retryable": True}}
    assert tracebacks(caplog) == []
    assert len([r for r in caplog.records if "database unavailable" in r.getMessage()]) == 1
