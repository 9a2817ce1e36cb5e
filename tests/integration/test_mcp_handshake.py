"""The handshake era (2025-03-26 / 2025-06-18 / 2025-11-25) over real HTTP: initialize negotiation,
notifications, ping, the HTTP method/header rules, batches, DNS-rebinding protection, and JSON-RPC
errors of dispatched requests travelling with HTTP 200."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from millimetric_protocol import limits

from tests.support.accounts import AccountFixture, create_account
from tests.support.mcp_http import HANDSHAKE_VERSIONS, LATEST_HANDSHAKE, check_response, post, rpc
from tests.support.stack import Stack

ENDPOINTS = ("project", "account")
ALL_VERSIONS = [*HANDSHAKE_VERSIONS, "2026-07-28"]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def account(stack: Stack) -> AccountFixture:
    return await create_account(stack.dsn, "business")


def target(stack: Stack, account: AccountFixture, endpoint: str) -> tuple[str, str]:
    return (stack.mcp_url, account.projects[0].sk) if endpoint == "project" else (stack.mcp_account_url, account.ak)


def initialize(version: str, id: int | str = 0) -> dict[str, object]:
    return rpc("initialize", {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}, id=id)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(("offered", "answered"), [
    ("2025-03-26", "2025-03-26"), ("2025-06-18", "2025-06-18"), ("2025-11-25", "2025-11-25"),
    ("2024-11-05", LATEST_HANDSHAKE), ("2026-07-28", LATEST_HANDSHAKE), ("1999-01-01", LATEST_HANDSHAKE), ("", LATEST_HANDSHAKE),
])
async def test_initialize_echoes_a_served_version_else_answers_the_newest(
        stack: Stack, account: AccountFixture, http: aiohttp.ClientSession, endpoint: str, offered: str, answered: str) -> None:
    url, key = target(stack, account, endpoint)
    reply = await post(http, url, initialize(offered, id="init-1"), key=key, version=None)  # initialize carries no version header
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    assert "Mcp-Session-Id" not in reply.headers  # stateless: no sessions
    check_response(reply.json, "init-1")
    result = reply.result
    assert result["protocolVersion"] == answered
    assert result["serverInfo"]["name"] == "millimetric" and result["serverInfo"]["version"]
    assert result["capabilities"] == {
        "tools": {"listChanged": False},
        "resources": {"subscribe": False, "listChanged": False},
        "prompts": {"listChanged": False},
    }  # exactly what we implement: no logging, completions, tasks or subscriptions
    assert result["instructions"]
    assert not {"resultType", "ttlMs", "cacheScope", "_meta"} & set(result)  # 2026-07-28 fields never leak into this era


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("body", [
    rpc("notifications/initialized", id=None),
    rpc("notifications/cancelled", {"requestId": 3, "reason": "user"}, id=None),
    rpc("notifications/whatever-new", id=None),
    {"jsonrpc": "2.0", "id": 9, "result": {}},
    {"jsonrpc": "2.0", "id": "x", "error": {"code": -1, "message": "client said no"}},
], ids=["initialized", "cancelled", "unknown-notification", "client-result", "client-error"])
@pytest.mark.parametrize("version", [None, LATEST_HANDSHAKE])
async def test_notifications_and_client_responses_get_202_with_an_empty_body(
        stack: Stack, account: AccountFixture, http: aiohttp.ClientSession, endpoint: str, body: dict[str, object],
        version: str | None) -> None:
    url, key = target(stack, account, endpoint)
    reply = await post(http, url, body, key=key, version=version)
    assert reply.status == 202
    assert reply.body == b""


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("request_id", [0, 42, "abc", ""])
@pytest.mark.parametrize("params", [None, {}])
async def test_ping_answers_exactly_an_empty_object(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession,
                                                    endpoint: str, request_id: int | str, params: dict[str, object] | None) -> None:
    url, key = target(stack, account, endpoint)
    reply = await post(http, url, rpc("ping", params, id=request_id), key=key)
    assert reply.status == 200
    assert reply.json == {"jsonrpc": "2.0", "id": request_id, "result": {}}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("method", ["GET", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"])
async def test_every_method_but_post_is_405_allowing_post(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession,
                                                          endpoint: str, method: str) -> None:
    url, key = target(stack, account, endpoint)
    headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream", "MCP-Protocol-Version": LATEST_HANDSHAKE}
    async with http.request(method, url, headers=headers) as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "POST"


@pytest.mark.parametrize("version", [None, *HANDSHAKE_VERSIONS])
async def test_a_served_or_absent_protocol_version_header_is_accepted(
        stack: Stack, account: AccountFixture, http: aiohttp.ClientSession, version: str | None) -> None:
    reply = await post(http, stack.mcp_url, rpc("tools/list"), key=account.projects[0].rk, version=version)
    assert reply.status == 200
    tools = reply.result["tools"]
    # structured results (outputSchema, structuredContent) exist from 2025-06-18; absent header = 2025-03-26
    assert all(("outputSchema" in t) == (version not in (None, "2025-03-26")) for t in tools)


@pytest.mark.parametrize("version", ["2024-11-05", "2025-11-26", "latest", "", "2026-07-29"])
async def test_an_unsupported_protocol_version_header_is_400(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession,
                                                             version: str) -> None:
    reply = await post(http, stack.mcp_url, rpc("ping"), key=account.projects[0].rk, version=version)
    assert reply.status == 400
    check_response(reply.json, None)
    # we serve both eras, so this is -32022 listing every version (docs/mcp.md §2.2)
    assert (reply.error["code"], reply.error["message"]) == (-32022, "unsupported_protocol_version")
    assert reply.error["data"]["supported"] == ALL_VERSIONS
    assert reply.error["data"]["requested"] == version


@pytest.mark.parametrize(("content_type", "status"), [
    ("application/json", 200), ("application/json; charset=utf-8", 200), ("Application/JSON", 200),
    (None, 415), ("text/plain", 415), ("application/x-www-form-urlencoded", 415), ("application/jsonl", 415),
    ("text/event-stream", 415),
])
async def test_content_type_must_be_json(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession,
                                         content_type: str | None, status: int) -> None:
    headers = {"Authorization": f"Bearer {account.projects[0].rk}", "Accept": "application/json, text/event-stream"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    async with http.post(stack.mcp_url, data=b'{"jsonrpc":"2.0","id":1,"method":"ping"}', headers=headers) as resp:
        body = await resp.json(content_type=None)
        assert resp.status == status, body
    if status == 415:
        assert body["id"] is None
        assert (body["error"]["code"], body["error"]["message"]) == (-32600, "unsupported_media_type")


@pytest.mark.parametrize(("accept", "status"), [
    (None, 200), ("application/json, text/event-stream", 200), ("application/json", 200), ("*/*", 200),
    ("application/*", 200), ("text/html, application/json;q=0.5", 200),
    ("text/event-stream", 406), ("text/html", 406), ("application/json;q=0, text/event-stream", 406),
])
async def test_accept_must_allow_json(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession,
                                      accept: str | None, status: int) -> None:
    headers = {"Authorization": f"Bearer {account.projects[0].rk}", "Content-Type": "application/json"}
    if accept is not None:
        headers["Accept"] = accept
    async with http.post(stack.mcp_url, data=b'{"jsonrpc":"2.0","id":1,"method":"ping"}', headers=headers,
                         skip_auto_headers=["Accept"]) as resp:
        body = await resp.json(content_type=None)
        assert resp.status == status, body
    if status == 406:
        assert body["id"] is None
        assert (body["error"]["code"], body["error"]["message"]) == (-32600, "not_acceptable")


# --- JSON-RPC batches: served on 2025-03-26 (or no version header), refused on later versions -------

BATCH_VERSIONS = [None, "2025-03-26"]
"""No MCP-Protocol-Version header means 2025-03-26 (the spec's SHOULD), so both serve batches."""


def _batch_answers(reply: Any) -> list[dict[str, Any]]:
    assert reply.status == 200, reply.body
    answers = reply.json
    assert isinstance(answers, list) and answers, answers
    for answer in answers:
        check_response(answer)
    return answers  # type: ignore[no-any-return]


@pytest.mark.parametrize("version", BATCH_VERSIONS)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_a_batch_gets_one_response_per_request_in_order_and_none_for_notifications(
        stack: Stack, account: AccountFixture, http: aiohttp.ClientSession, endpoint: str, version: str | None) -> None:
    url, key = target(stack, account, endpoint)
    batch = [rpc("ping", id=1), rpc("notifications/initialized", id=None), rpc("tools/list", id="two"),
             rpc("tools/call", {"name": "no_such_tool"}, id=3), {"jsonrpc": "2.0", "id": 99, "result": {}}]
    answers = _batch_answers(await post(http, url, batch, key=key, version=version))
    assert [a["id"] for a in answers] == [1, "two", 3]
    assert answers[0]["result"] == {}
    assert "outputSchema" not in answers[1]["result"]["tools"][0]  # answered as 2025-03-26
    assert (answers[2]["error"]["code"], answers[2]["error"]["message"]) == (-32602, "unknown_tool")


@pytest.mark.parametrize("version", BATCH_VERSIONS)
async def test_a_batch_of_only_notifications_is_202_with_no_body(stack: Stack, account: AccountFixture,
                                                                 http: aiohttp.ClientSession, version: str | None) -> None:
    batch = [rpc("notifications/initialized", id=None), rpc("notifications/cancelled", {"requestId": 1}, id=None)]
    reply = await post(http, stack.mcp_url, batch, key=account.projects[0].rk, version=version)
    assert (reply.status, reply.body) == (202, b"")


async def test_each_invalid_member_of_a_batch_gets_its_own_invalid_request(stack: Stack, account: AccountFixture,
                                                                           http: aiohttp.ClientSession) -> None:
    batch = [1, {"jsonrpc": "1.0", "id": 2, "method": "ping"}, rpc("ping", id=3), {"jsonrpc": "2.0", "id": None, "method": "ping"}]
    answers = _batch_answers(await post(http, stack.mcp_url, batch, key=account.projects[0].rk, version="2025-03-26"))
    assert [a["id"] for a in answers] == [None, None, 3, None]
    assert [a["error"]["code"] for i, a in enumerate(answers) if i != 2] == [-32600, -32600, -32600]
    assert answers[0]["error"]["data"]["path"] == "[0]" and answers[1]["error"]["data"]["path"] == "[1].jsonrpc"
    assert answers[2]["result"] == {}


async def test_initialize_in_a_batch_is_refused_and_the_rest_is_served(stack: Stack, account: AccountFixture,
                                                                      http: aiohttp.ClientSession) -> None:
    batch = [initialize("2025-03-26", id="init"), rpc("ping", id=2)]
    answers = _batch_answers(await post(http, stack.mcp_url, batch, key=account.projects[0].rk, version=None))
    assert answers[0]["id"] == "init"
    assert (answers[0]["error"]["code"], answers[0]["error"]["message"]) == (-32600, "invalid_request")
    assert "initialize must not be part of a JSON-RPC batch" in answers[0]["error"]["data"]["detail"]
    assert answers[1] == {"jsonrpc": "2.0", "id": 2, "result": {}}


@pytest.mark.parametrize(("count", "served"), [(limits.MAX_RPC_BATCH_CALLS, True), (limits.MAX_RPC_BATCH_CALLS + 1, False)])
async def test_a_batch_holds_at_most_max_rpc_batch_calls(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession,
                                                         count: int, served: bool) -> None:
    batch = [rpc("ping", id=i) for i in range(count)]
    reply = await post(http, stack.mcp_url, batch, key=account.projects[0].rk, version="2025-03-26")
    if served:
        assert [a["id"] for a in _batch_answers(reply)] == list(range(count))
        return
    assert reply.status == 400
    check_response(reply.json, None)
    assert (reply.error["code"], reply.error["message"]) == (-32600, "invalid_request")
    assert reply.error["data"]["max_calls"] == limits.MAX_RPC_BATCH_CALLS and reply.error["data"]["got"] == count


@pytest.mark.parametrize(("size", "status"), [(limits.MAX_BODY_BYTES, 200), (limits.MAX_BODY_BYTES + 1, 413)])
async def test_a_batch_body_is_held_to_the_body_size_limit(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession,
                                                           size: int, status: int) -> None:
    head, tail = b'[{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"', b'"}},{"jsonrpc":"2.0","id":2,"method":"ping"}]'
    body = head + b"x" * (size - len(head) - len(tail)) + tail
    assert len(body) == size
    reply = await post(http, stack.mcp_url, body, key=account.projects[0].rk, version="2025-03-26")
    assert reply.status == status
    if status == 200:
        assert [a["id"] for a in _batch_answers(reply)] == [1, 2]
    else:
        assert (reply.error["code"], reply.error["message"]) == (-32600, "payload_too_large")


@pytest.mark.parametrize("version", BATCH_VERSIONS)
@pytest.mark.parametrize(("body", "detail"), [
    (b"[]", "the batch is empty"),
    (b'[{"jsonrpc":"2.0","id":1,"method":"ping"}', "malformed JSON"),
])
async def test_an_empty_or_malformed_batch_is_one_error_with_a_null_id(stack: Stack, account: AccountFixture,
                                                                       http: aiohttp.ClientSession, body: bytes, detail: str,
                                                                       version: str | None) -> None:
    reply = await post(http, stack.mcp_url, body, key=account.projects[0].rk, version=version)
    assert reply.status == 400
    check_response(reply.json, None)
    assert reply.error["code"] == (-32600 if body == b"[]" else -32700)
    assert detail in reply.error["data"]["detail"]


@pytest.mark.parametrize("version", ["2025-06-18", "2025-11-25"])
@pytest.mark.parametrize("body", [
    [rpc("ping")], [rpc("ping", id=1), rpc("tools/list", id=2)], [rpc("notifications/initialized", id=None)], [],
], ids=["one", "two", "notification", "empty"])
async def test_batches_are_refused_after_2025_03_26_with_400_invalid_request(
        stack: Stack, account: AccountFixture, http: aiohttp.ClientSession, body: list[object], version: str) -> None:
    reply = await post(http, stack.mcp_url, body, key=account.projects[0].rk, version=version)
    assert reply.status == 400
    check_response(reply.json, None)
    assert (reply.error["code"], reply.error["message"]) == (-32600, "invalid_request")
    assert "batches exist only in MCP 2025-03-26" in reply.error["data"]["detail"]
    assert reply.error["data"]["batch_versions"] == ["2025-03-26"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(("body", "code", "name"), [
    (rpc("no/such/method"), -32601, "method_not_found"),
    (rpc("logging/setLevel", {"level": "info"}), -32601, "method_not_found"),  # logging is not declared
    (rpc("completion/complete", {}), -32601, "method_not_found"),  # completions are not declared
    (rpc("resources/subscribe", {"uri": "events://recent"}), -32601, "method_not_found"),
    (rpc("tools/call", {"name": "no_such_tool"}), -32602, "unknown_tool"),
    (rpc("tools/call", {"arguments": {}}), -32602, "invalid_params"),
    (rpc("tools/list", {"cursor": "page-2"}), -32602, "invalid_params"),
    (rpc("resources/read", {"uri": "nope://x"}), -32602, "unknown_resource"),
    (rpc("resources/read", {}), -32602, "invalid_params"),
    (rpc("prompts/get", {"name": "nope"}), -32602, "unknown_prompt"),
    (rpc("initialize", {"capabilities": {}}), -32602, "invalid_params"),
    (rpc("tools/list", []), -32602, "invalid_params"),
])
async def test_errors_of_dispatched_requests_travel_with_http_200(
        stack: Stack, account: AccountFixture, http: aiohttp.ClientSession, endpoint: str, body: dict[str, object],
        code: int, name: str) -> None:
    url, key = target(stack, account, endpoint)
    body = {**body, "id": "req-9"}
    reply = await post(http, url, body, key=key)
    assert reply.status == 200  # clients drop the JSON-RPC code of a non-2xx answer
    check_response(reply.json, "req-9")
    assert (reply.error["code"], reply.error["message"]) == (code, name)
    assert reply.error["data"]["detail"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_unknown_resource_is_never_32002(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession, endpoint: str) -> None:
    url, key = target(stack, account, endpoint)
    for version in (None, *HANDSHAKE_VERSIONS):
        reply = await post(http, url, rpc("resources/read", {"uri": "events://nope"}), key=key, version=version)
        assert reply.error["code"] == -32602  # -32002 is plan_limit in our doc (and "resource not found" to ≤2025-11-25 clients)
        assert reply.error["data"]["uri"] == "events://nope"


class TestDnsRebinding:
    """The conformance suite's dns-rebinding-protection scenario (docs/mcp.md §3.2), plus the Origin rules of 2025-11-25."""

    async def test_conformance_scenario_evil_host_and_origin_is_4xx(self, stack: Stack, account: AccountFixture,
                                                                      http: aiohttp.ClientSession) -> None:
        reply = await post(http, stack.mcp_url, initialize(LATEST_HANDSHAKE), key=account.projects[0].rk, version=None,
                           headers={"Host": "evil.example.com", "Origin": "http://evil.example.com"})
        assert reply.status == 403
        check_response(reply.json, None)
        assert reply.error["message"] == "origin_not_allowed"

    async def test_conformance_scenario_loopback_host_and_origin_is_2xx(self, stack: Stack, account: AccountFixture,
                                                                          http: aiohttp.ClientSession) -> None:
        host = f"127.0.0.1:{stack.gateway_port}"
        reply = await post(http, stack.mcp_url, initialize(LATEST_HANDSHAKE), key=account.projects[0].rk, version=None,
                           headers={"Host": host, "Origin": f"http://{host}"})
        assert reply.status == 200
        assert reply.result["protocolVersion"] == LATEST_HANDSHAKE

    @pytest.mark.parametrize(("host", "origin", "status"), [
        (None, None, 200),  # server-side agents send no Origin
        ("localhost:{port}", "http://localhost:{port}", 200),
        ("[::1]:{port}", "http://[::1]:{port}", 200),
        ("LOCALHOST:{port}", None, 200),
        ("127.0.0.1:{port}", "https://127.0.0.1:5173", 200),  # any loopback port (local web inspector)
        ("127.0.0.1:{port}", "http://evil.example.com", 403),
        ("127.0.0.1:{port}", "null", 403),
        ("127.0.0.1:{port}", "file://", 403),
        ("127.0.0.1:{port}", "http://127.0.0.1.evil.example.com", 403),
        ("evil.example.com", None, 403),  # DNS rebinding: the name resolves to us, Host gives it away
        ("127.0.0.1.evil.example.com:{port}", None, 403),
        ("localhost.:{port}", None, 403),
    ])
    async def test_origin_and_host_allow_list(self, stack: Stack, account: AccountFixture, http: aiohttp.ClientSession,
                                              host: str | None, origin: str | None, status: int) -> None:
        headers = {}
        if host is not None:
            headers["Host"] = host.format(port=stack.gateway_port)
        if origin is not None:
            headers["Origin"] = origin.format(port=stack.gateway_port)
        reply = await post(http, stack.mcp_url, rpc("ping"), key=account.projects[0].rk, headers=headers)
        assert reply.status == status, reply.body
        if status == 403:
            assert (reply.error["code"], reply.error["message"]) == (-32600, "origin_not_allowed")

    async def test_origin_is_checked_before_the_key(self, stack: Stack, http: aiohttp.ClientSession) -> None:
        reply = await post(http, stack.mcp_url, rpc("ping"), headers={"Origin": "http://evil.example.com"})
        assert reply.status == 403  # not 401: a hostile page learns nothing about keys

    async def test_get_from_a_hostile_origin_is_403_not_405(self, stack: Stack, http: aiohttp.ClientSession) -> None:
        async with http.get(stack.mcp_url, headers={"Origin": "http://evil.example.com"}) as resp:
            assert resp.status == 403
            assert (await resp.json())["error"]["message"] == "origin_not_allowed"
