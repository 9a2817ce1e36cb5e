"""The 2026-07-28 stateless envelope over real HTTP: server/discover, the `_meta` envelope keys, the
routing headers (with their base64 sentinel form), the validation ladder's codes and statuses
(docs/mcp.md §6.3), and the result fields of that era (`resultType`, `ttlMs`, `cacheScope`)."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from multidict import CIMultiDict

from tests.support.accounts import AccountFixture, create_account
from tests.support.mcp_http import CLIENT_HEADERS, MODERN, Reply, check_response, modern, modern_meta, post, rpc
from tests.support.stack import Stack

ENDPOINTS = ("project", "account")
CACHEABLE = ("server/discover", "tools/list", "resources/list", "resources/templates/list", "resources/read", "prompts/list")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def account(stack: Stack) -> AccountFixture:
    return await create_account(stack.dsn, "business")


def target(stack: Stack, account: AccountFixture, endpoint: str) -> tuple[str, str]:
    return (stack.mcp_url, account.projects[0].sk) if endpoint == "project" else (stack.mcp_account_url, account.ak)


async def send(http: aiohttp.ClientSession, url: str, key: str, method: str, params: dict[str, Any] | None = None,
               *, id: Any = 1, headers: dict[str, str] | None = None) -> Reply:
    body, routing = modern(method, params, id=id)
    return await post(http, url, body, key=key, version=None, headers={**routing, **(headers or {})})


def b64(text: str) -> str:
    return "=?base64?" + base64.b64encode(text.encode()).decode() + "?="


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_server_discover_describes_the_server(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession,
                                                    endpoint: str) -> None:
    url, key = target(stack, account, endpoint)
    reply = await send(http, url, key, "server/discover", id="d")
    assert reply.status == 200
    check_response(reply.json, "d")
    result = reply.result
    assert result["resultType"] == "complete"
    assert MODERN in result["supportedVersions"]
    assert result["capabilities"] == {"tools": {"listChanged": False}, "resources": {"subscribe": False, "listChanged": False},
                                      "prompts": {"listChanged": False}}
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "millimetric"
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["version"]
    assert "serverInfo" not in result and "protocolVersion" not in result
    assert isinstance(result["ttlMs"], int) and result["ttlMs"] >= 0
    assert result["cacheScope"] == "private"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(("method", "params"), [
    ("server/discover", None), ("tools/list", None), ("resources/list", None), ("resources/templates/list", None),
    ("resources/read", {"uri": "events://recent"}), ("resources/read", {"uri": "schema://events"}), ("prompts/list", None),
    ("prompts/get", {"name": "campaign-audit"}), ("tools/call", {"name": "query_events", "arguments": {"limit": 1}}),
])
async def test_every_result_has_result_type_server_info_and_cache_hints_where_cacheable(
        stack: Stack, account: AccountFixture, http: aiohttp.ClientSession, endpoint: str, method: str,
        params: dict[str, Any] | None) -> None:
    url, key = target(stack, account, endpoint)
    reply = await send(http, url, key, method, params)
    assert reply.status == 200, reply.body
    result = reply.result
    assert result["resultType"] == "complete"
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "millimetric"
    if method in CACHEABLE:
        assert isinstance(result["ttlMs"], int) and result["ttlMs"] >= 0
        assert result["cacheScope"] == "private"  # every answer depends on the caller's key
    else:
        assert "ttlMs" not in result and "cacheScope" not in result


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_recent_events_are_never_cached(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession, endpoint: str) -> None:
    url, key = target(stack, account, endpoint)
    reply = await send(http, url, key, "resources/read", {"uri": "events://recent"})
    assert reply.result["ttlMs"] == 0


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("method", ["no/such/method", "ping", "initialize", "logging/setLevel", "resources/subscribe",
                                    "completion/complete"])
async def test_methods_we_lack_on_the_modern_path_are_404_method_not_found(
        stack: Stack, account: AccountFixture, http: aiohttp.ClientSession, endpoint: str, method: str) -> None:
    url, key = target(stack, account, endpoint)
    reply = await send(http, url, key, method, id=5)
    assert reply.status == 404
    check_response(reply.json, 5)
    assert (reply.error["code"], reply.error["message"]) == (-32601, "method_not_found")


async def test_a_notification_is_acknowledged_with_202(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    reply = await post(http, stack.mcp_url, rpc("notifications/cancelled", {"requestId": 1}, id=None),
                       key=account.projects[0].rk, version=MODERN)
    assert (reply.status, reply.body) == (202, b"")


def _meta_without(key: str) -> dict[str, Any]:
    meta = modern_meta()
    del meta[key]
    return meta


# (name, body or raw bytes, extra/overriding headers, HTTP status, JSON-RPC code, id echoed)
LADDER: list[tuple[str, Any, dict[str, str], int, int, bool]] = [
    ("not JSON", b"{nope", {"Mcp-Method": "tools/list"}, 400, -32700, False),
    ("batch", [modern("tools/list")[0]], {"Mcp-Method": "tools/list"}, 400, -32600, False),
    ("client response", {"jsonrpc": "2.0", "id": 3, "result": {}}, {}, 400, -32600, False),
    ("no params", rpc("tools/list"), {"Mcp-Method": "tools/list"}, 400, -32602, True),
    ("_meta missing", rpc("tools/list", {}), {"Mcp-Method": "tools/list"}, 400, -32602, True),
    ("_meta not an object", rpc("tools/list", {"_meta": []}), {"Mcp-Method": "tools/list"}, 400, -32602, True),
    ("no protocolVersion in _meta", rpc("tools/list", {"_meta": _meta_without("io.modelcontextprotocol/protocolVersion")}),
     {"Mcp-Method": "tools/list"}, 400, -32602, True),
    ("no clientCapabilities in _meta", rpc("tools/list", {"_meta": _meta_without("io.modelcontextprotocol/clientCapabilities")}),
     {"Mcp-Method": "tools/list"}, 400, -32602, True),
    ("clientCapabilities not an object", rpc("tools/list", {"_meta": {**modern_meta(), "io.modelcontextprotocol/clientCapabilities": "all"}}),
     {"Mcp-Method": "tools/list"}, 400, -32602, True),
    ("_meta version differs from header", rpc("tools/list", {"_meta": modern_meta("2025-11-25")}),
     {"Mcp-Method": "tools/list"}, 400, -32020, True),
    ("_meta version not a string", rpc("tools/list", {"_meta": {**modern_meta(), "io.modelcontextprotocol/protocolVersion": 2026}}),
     {"Mcp-Method": "tools/list"}, 400, -32020, True),
    ("Mcp-Method missing", modern("tools/list")[0], {}, 400, -32020, True),
    ("Mcp-Method differs", modern("tools/list")[0], {"Mcp-Method": "resources/list"}, 400, -32020, True),
    ("Mcp-Name missing", modern("tools/call", {"name": "query_events"})[0], {"Mcp-Method": "tools/call"}, 400, -32020, True),
    ("Mcp-Name differs", modern("tools/call", {"name": "query_events"})[0],
     {"Mcp-Method": "tools/call", "Mcp-Name": "get_stats"}, 400, -32020, True),
    ("Mcp-Name bad base64", modern("tools/call", {"name": "query_events"})[0],
     {"Mcp-Method": "tools/call", "Mcp-Name": "=?base64?***?="}, 400, -32020, True),
    ("Mcp-Name differs from uri", modern("resources/read", {"uri": "events://recent"})[0],
     {"Mcp-Method": "resources/read", "Mcp-Name": "schema://events"}, 400, -32020, True),
    ("unknown method", modern("tools/nope")[0], {"Mcp-Method": "tools/nope"}, 404, -32601, True),
    ("invalid params", modern("tools/call", {"arguments": {}})[0], {"Mcp-Method": "tools/call"}, 400, -32602, True),
    ("unknown tool", modern("tools/call", {"name": "nope"})[0], {"Mcp-Method": "tools/call", "Mcp-Name": "nope"}, 400, -32602, True),
    ("unknown resource", modern("resources/read", {"uri": "x://y"})[0],
     {"Mcp-Method": "resources/read", "Mcp-Name": "x://y"}, 400, -32602, True),
    ("bad cursor", modern("tools/list", {"cursor": "2"})[0], {"Mcp-Method": "tools/list"}, 400, -32602, True),
]


@pytest.mark.parametrize(("name", "body", "headers", "status", "code", "echoes_id"), LADDER, ids=[row[0] for row in LADDER])
async def test_validation_ladder(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession, name: str, body: Any,
                                 headers: dict[str, str], status: int, code: int, echoes_id: bool) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    reply = await post(http, stack.mcp_url, raw, key=account.projects[0].sk, version=MODERN, headers=headers)
    assert reply.status == status, reply.body
    check_response(reply.json, body["id"] if echoes_id else None)
    assert reply.error["code"] == code


async def test_unsupported_header_version_is_400_32022_listing_ours(stack: Stack, account: AccountFixture,
                                                                      http: aiohttp.ClientSession) -> None:
    body = rpc("tools/list", {"_meta": modern_meta("2027-01-01")})
    reply = await post(http, stack.mcp_url, body, key=account.projects[0].sk, version="2027-01-01",
                       headers={"Mcp-Method": "tools/list"})
    assert reply.status == 400
    assert (reply.error["code"], reply.error["message"]) == (-32022, "unsupported_protocol_version")
    assert MODERN in reply.error["data"]["supported"]
    assert reply.error["data"]["requested"] == "2027-01-01"


@pytest.mark.parametrize("header", ["Mcp-Method", "Mcp-Name", "MCP-Protocol-Version"])
async def test_a_repeated_routing_header_is_a_mismatch(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession,
                                                       header: str) -> None:
    body, routing = modern("tools/call", {"name": "query_events", "arguments": {}})
    headers: CIMultiDict[str] = CIMultiDict({**CLIENT_HEADERS, **routing, "Authorization": f"Bearer {account.projects[0].rk}"})
    headers.add(header, headers[header])
    async with http.post(stack.mcp_url, data=json.dumps(body).encode(), headers=headers) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == -32020


@pytest.mark.parametrize(("method", "params"), [
    ("tools/call", {"name": "query_events", "arguments": {"limit": 1}}),
    ("resources/read", {"uri": "events://recent"}),
    ("prompts/get", {"name": "weekly-traffic-summary"}),
])
async def test_routing_headers_in_base64_sentinel_form_are_decoded(stack: Stack, account: AccountFixture,
                                                                   http: aiohttp.ClientSession, method: str, params: dict[str, Any]) -> None:
    name = params.get("name", params.get("uri"))
    reply = await send(http, stack.mcp_url, account.projects[0].rk, method, params,
                       headers={"Mcp-Method": b64(method), "Mcp-Name": b64(name)})
    assert reply.status == 200, reply.body
    assert reply.result["resultType"] == "complete"


async def test_routing_header_names_are_case_insensitive(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    body, _ = modern("tools/call", {"name": "query_events", "arguments": {"limit": 1}})
    reply = await post(http, stack.mcp_url, body, key=account.projects[0].rk, version=None,
                       headers={"mcp-protocol-version": MODERN, "MCP-METHOD": "tools/call", "mcp-name": "query_events"})
    assert reply.status == 200, reply.body


async def test_tool_errors_of_the_modern_era(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    rk = account.projects[0].rk
    scope = await send(http, stack.mcp_url, rk, "tools/call", {"name": "track_event", "arguments": {"event": "x", "anonymous_id": "a"}})
    assert scope.status == 200  # the spec assigns -32000 no status; the Python SDK server answers 200
    assert (scope.error["code"], scope.error["message"]) == (-32000, "insufficient_scope")
    invalid = await send(http, stack.mcp_url, rk, "tools/call", {"name": "query_events", "arguments": {"limit": 0}})
    assert invalid.status == 200
    assert invalid.result["isError"] is True
    assert invalid.result["resultType"] == "complete"
    assert "arguments.limit" in invalid.result["content"][0]["text"]


async def test_modern_tool_results_carry_structured_content(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    reply = await send(http, stack.mcp_url, account.projects[0].sk, "tools/call",
                       {"name": "track_event", "arguments": {"event": "modern_era", "anonymous_id": "m1"}})
    result = reply.result
    assert result["structuredContent"]["status"] == "accepted"
    assert json.loads(result["content"][0]["text"]) == result["structuredContent"]
    assert result.get("isError", False) is False
