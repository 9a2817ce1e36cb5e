"""A second gateway process with non-default settings: the per-key rate limit (429 + Retry-After),
configured Origin/Host allow-lists, and a query service that is down (tool_failed with a request
id that is in the gateway's log)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import aiohttp
import pytest
from millimetric.embedded import free_port

from tests.support.accounts import create_account
from tests.support.mcp_http import check_response, poll, post, rpc
from tests.support.stack import Service, Stack, wait_ready

RATE_PER_S = 1
BURST = 3


class Gateway2:
    def __init__(self, service: Service, port: int) -> None:
        self.service = service
        self.port = port
        self.mcp_url = f"http://127.0.0.1:{port}/mcp"

    def log(self) -> str:
        return self.service.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def gateway2(stack: Stack) -> Iterator[Gateway2]:
    port = free_port()
    service = stack.start("gateway-2", {
        "GATEWAY_PORT": str(port),
        "GATEWAY_RATE_LIMIT_PER_S": str(RATE_PER_S),
        "GATEWAY_RATE_LIMIT_BURST": str(BURST),
        "GATEWAY_ALLOWED_ORIGINS": "https://app.example.com",
        "GATEWAY_ALLOWED_HOSTS": "mcp.example.com",
        "GATEWAY_QUERY_URL": f"http://127.0.0.1:{free_port()}",  # nothing listens there: every read fails
        "GATEWAY_QUERY_TIMEOUT_S": "2",
    })
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", process=service)
        yield Gateway2(service, port)
    finally:
        stack.stop(service)


async def test_rate_limit_answers_429_with_retry_after_per_key(stack: Stack, gateway2: Gateway2, http: aiohttp.ClientSession) -> None:
    account = await create_account(stack.dsn, "pro")
    limited, other = account.projects[0].rk, account.projects[0].sk
    replies = [await post(http, gateway2.mcp_url, rpc("ping"), key=limited) for _ in range(BURST + 1)]
    assert [r.status for r in replies[:BURST]] == [200] * BURST  # the burst passes
    refused = replies[BURST]
    assert refused.status == 429
    check_response(refused.json, None)
    assert (refused.error["code"], refused.error["message"]) == (-32000, "rate_limited")
    assert refused.error["data"]["retryable"] is True
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 1 / RATE_PER_S + 1
    # another key has its own bucket
    assert (await post(http, gateway2.mcp_url, rpc("ping"), key=other)).status == 200
    # after Retry-After the key may call again (poll rather than sleep a fixed time)
    started = time.monotonic()
    await poll(lambda: _status_is(http, gateway2.mcp_url, limited, 200), deadline_s=retry_after + 2, interval_s=0.25)
    assert time.monotonic() - started <= retry_after + 2


async def test_rate_limit_is_off_by_default(stack: Stack, http: aiohttp.ClientSession) -> None:
    account = await create_account(stack.dsn, "pro")
    statuses = await asyncio.gather(*(post(http, stack.mcp_url, rpc("ping"), key=account.projects[0].rk) for _ in range(60)))
    assert {r.status for r in statuses} == {200}


@pytest.mark.parametrize(("host", "origin", "status"), [
    ("mcp.example.com", "https://app.example.com", 200),
    ("mcp.example.com", None, 200),
    ("127.0.0.1:{port}", "https://app.example.com", 200),
    ("other.example.com", None, 403),
    ("mcp.example.com", "https://evil.example.com", 403),
    ("mcp.example.com", "http://app.example.com", 403),  # exact origin, scheme included
])
async def test_configured_allow_lists_extend_the_loopback_defaults(stack: Stack, gateway2: Gateway2, http: aiohttp.ClientSession,
                                                                    host: str, origin: str | None, status: int) -> None:
    account = await create_account(stack.dsn, "pro")  # a fresh key: its rate-limit bucket is full
    headers = {"Host": host.format(port=gateway2.port)}
    if origin is not None:
        headers["Origin"] = origin
    reply = await post(http, gateway2.mcp_url, rpc("ping"), key=account.projects[0].rk, headers=headers)
    assert reply.status == status, reply.body
    if status == 403:
        assert reply.error["message"] == "origin_not_allowed"


@pytest.mark.parametrize(("method", "params"), [
    ("tools/call", {"name": "query_events", "arguments": {}}),
    ("resources/read", {"uri": "events://recent"}),
])
async def test_internal_failure_is_tool_failed_with_a_request_id_found_in_the_log(
        stack: Stack, gateway2: Gateway2, http: aiohttp.ClientSession, method: str, params: dict[str, object]) -> None:
    account = await create_account(stack.dsn, "pro")
    reply = await post(http, gateway2.mcp_url, rpc(method, params, id=11), key=account.projects[0].rk)
    assert reply.status == 200
    check_response(reply.json, 11)
    error = reply.error
    assert (error["code"], error["message"]) == (-32000, "tool_failed")
    assert error["data"]["retryable"] is True
    request_id = error["data"]["request_id"]
    assert request_id == reply.headers["X-Request-Id"]
    await poll(lambda: _logged(gateway2, request_id), deadline_s=5)
    assert "127.0.0.1" not in error["data"]["detail"]  # no hostnames or internals on the wire
    assert "Traceback" not in gateway2.log()


async def _logged(gateway: Gateway2, text: str) -> bool:
    return text in gateway.log()


async def _status_is(http: aiohttp.ClientSession, url: str, key: str, want: int) -> bool:
    return (await post(http, url, rpc("ping"), key=key)).status == want
