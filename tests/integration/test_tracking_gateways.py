"""The tracking endpoints on gateways with non-default settings: behind a trusted reverse proxy
(GATEWAY_TRUSTED_PROXIES: X-Forwarded-For is believed, then truncated), and with no broker (a
retryable 503 with Retry-After; not ready, still alive)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import aiohttp
import pytest
import pytest_asyncio
from millimetric.embedded import free_port

from tests.support.accounts import AccountFixture, create_account
from tests.support.mcp_http import poll, post, rpc
from tests.support.stack import Stack, wait_ready
from tests.support.tracking import call, send, wait_stored


@pytest.fixture(scope="module")
def proxied(stack: Stack) -> Iterator[str]:
    """A gateway that believes X-Forwarded-For from 127.0.0.1 (as if a proxy on this machine fronted it)."""
    port = free_port()
    service = stack.start("gateway-proxied", {"GATEWAY_PORT": str(port), "GATEWAY_TRUSTED_PROXIES": "127.0.0.1,10.0.0.0/8"})
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", process=service)
        yield f"http://127.0.0.1:{port}"
    finally:
        stack.stop(service)


@pytest.fixture(scope="module")
def brokerless(stack: Stack) -> Iterator[str]:
    """A gateway whose broker address has nothing listening: alive, never ready."""
    port = free_port()
    service = stack.start("gateway-brokerless", {"GATEWAY_PORT": str(port), "GATEWAY_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
                                                 "GATEWAY_PRODUCE_TIMEOUT_S": "1"})
    try:
        wait_ready(f"http://127.0.0.1:{port}/healthz", process=service)
        yield f"http://127.0.0.1:{port}"
    finally:
        stack.stop(service)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def account(stack: Stack) -> AccountFixture:
    return await create_account(stack.dsn, "pro")


@pytest.mark.parametrize(("forwarded", "stored_ip"), [
    ("203.0.113.77", "203.0.113.0"),
    ("198.51.100.1, 203.0.113.77, 10.1.2.3", "203.0.113.0"),  # our own proxies (10/8) are skipped, the client's claim too
    ("2001:db8:abcd:12::5", "2001:db8:abcd::"),
])
async def test_behind_a_trusted_proxy_the_forwarded_client_address_is_stored_truncated(
        stack: Stack, proxied: str, account: AccountFixture, http: aiohttp.ClientSession, forwarded: str, stored_ip: str) -> None:
    project = account.projects[0]
    answer = await send(http, proxied + "/v1/track", call(), key=project.pk, headers={"X-Forwarded-For": forwarded})
    assert answer.status == 200, answer.body
    [row] = await wait_stored(stack.dsn, project.project_id, answer.json["event_ids"])
    assert row["context"]["ip"] == stored_ip


async def test_track_event_over_mcp_uses_the_same_client_address(stack: Stack, proxied: str, account: AccountFixture,
                                                                 http: aiohttp.ClientSession) -> None:
    project = account.projects[0]
    event_id = str(uuid.uuid4())
    reply = await post(http, proxied + "/mcp", rpc("tools/call", {"name": "track_event", "arguments": {
        "event": "proxied", "anonymous_id": "p1", "event_id": event_id}}), key=project.sk,
        headers={"X-Forwarded-For": "203.0.113.200"})
    assert reply.status == 200 and not reply.result.get("isError"), reply.body
    [row] = await wait_stored(stack.dsn, project.project_id, [event_id])
    assert row["context"]["ip"] == "203.0.113.0"


async def test_without_a_broker_tracking_answers_a_retryable_503_and_the_gateway_is_not_ready(
        brokerless: str, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    async with http.get(brokerless + "/readyz") as resp:
        assert resp.status == 503
        assert await resp.json() == {"ready": False, "broker": False, "database": True, "shutting_down": False}
    for path, body in (("/v1/track", call()), ("/v1/batch", {"batch": [call(), call()]})):
        answer = await send(http, brokerless + path, body, key=account.projects[0].pk)
        assert answer.status == 503, answer.body
        assert answer.json["error"] == "unavailable" and answer.json["retryable"] is True
        assert answer.json["request_id"] == answer.headers["X-Request-Id"]
        assert int(answer.headers["Retry-After"]) >= 1
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
    # Key refusals do not depend on the broker.
    bad = await send(http, brokerless + "/v1/track", call(), key=account.projects[0].rk)
    assert bad.status == 403

    async def failures_counted() -> bool:
        async with http.get(brokerless + "/metrics") as resp:
            text = await resp.text()
        return 'millimetric_gateway_produce_failures_total{via="batch"} 2.0' in text
    await poll(failures_counted, deadline_s=5)
    async with http.get(brokerless + "/healthz") as resp:
        assert resp.status == 200
