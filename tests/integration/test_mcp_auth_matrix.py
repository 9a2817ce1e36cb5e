"""Who may call what, over real HTTP: every key kind × both endpoints × every plan, plus plan changes
and revocations taking effect within the key cache TTL (the stack runs with 1 s)."""

from __future__ import annotations

import itertools
import secrets
import uuid
from dataclasses import dataclass

import aiohttp
import asyncpg
import pytest
import pytest_asyncio
from millimetric import admin

from tests.support.accounts import AccountFixture, create_account
from tests.support.mcp_http import poll, post, rpc
from tests.support.stack import Stack

PLANS = ("free", "pro", "business")
KINDS = ("sk", "rk", "pk", "ak", "missing", "not_bearer", "malformed", "unknown", "revoked")
ENDPOINTS = ("project", "account")

SK_TOOLS = ["track_event", "query_events", "get_stats", "top_sources", "funnel"]
RK_TOOLS = ["query_events", "get_stats", "top_sources", "funnel"]
AK_TOOLS = ["list_projects", "query_events", "get_stats", "top_sources", "funnel", "compare_projects"]


@dataclass(frozen=True)
class Expected:
    status: int
    error: str | None = None
    code: int | None = None
    tools: list[str] | None = None


def expected(kind: str, endpoint: str, plan: str) -> Expected:
    """The public doc's tables, written out once."""
    if kind in ("missing", "not_bearer", "malformed", "unknown", "revoked"):
        return Expected(401, "invalid_key", -32001)
    if endpoint == "project":
        if kind in ("pk", "ak"):
            return Expected(403, "key_kind_not_allowed", -32001)
        if plan == "free":
            return Expected(402, "plan_limit", -32002)
        return Expected(200, tools=SK_TOOLS if kind == "sk" else RK_TOOLS)
    if kind != "ak":
        return Expected(403, "account_key_required", -32001)
    if plan != "business":
        return Expected(402, "plan_limit", -32002)
    return Expected(200, tools=AK_TOOLS)


@dataclass(frozen=True)
class Keys:
    accounts: dict[str, AccountFixture]
    revoked: dict[tuple[str, str], str]
    """(plan, endpoint) → a revoked key that would otherwise fit the endpoint."""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def keys(stack: Stack) -> Keys:
    accounts = {plan: await create_account(stack.dsn, plan) for plan in PLANS}
    revoked = {}
    conn = await asyncpg.connect(stack.dsn)
    try:
        for plan, account in accounts.items():
            for endpoint, kind in (("project", "sk"), ("account", "ak")):
                made = await admin.create_key(conn, kind, project_id=account.projects[0].project_id if kind == "sk" else None,
                                              account_id=account.account_id if kind == "ak" else None)
                await admin.revoke_key(conn, uuid.UUID(made["key_id"]))
                revoked[(plan, endpoint)] = made["key"]
    finally:
        await conn.close()
    return Keys(accounts, revoked)


def authorization(keys: Keys, kind: str, endpoint: str, plan: str) -> str | None:
    account = keys.accounts[plan]
    project = account.projects[0]
    match kind:
        case "sk" | "rk" | "pk":
            return f"Bearer {getattr(project, kind)}"
        case "ak":
            return f"Bearer {account.ak}"
        case "missing":
            return None
        case "not_bearer":
            return f"Basic {project.sk}"
        case "malformed":
            return "Bearer sk_live_short"
        case "unknown":
            return f"Bearer rk_live_{secrets.token_urlsafe(24)}"
        case "revoked":
            return f"Bearer {keys.revoked[(plan, endpoint)]}"
    raise AssertionError(kind)


@pytest.mark.parametrize(("kind", "endpoint", "plan"), list(itertools.product(KINDS, ENDPOINTS, PLANS)))
async def test_key_kind_endpoint_and_plan_decide_the_answer(stack: Stack, keys: Keys, http: aiohttp.ClientSession,
                                                             kind: str, endpoint: str, plan: str) -> None:
    want = expected(kind, endpoint, plan)
    url = stack.mcp_url if endpoint == "project" else stack.mcp_account_url
    auth = authorization(keys, kind, endpoint, plan)
    reply = await post(http, url, rpc("tools/list", id=7), headers={"Authorization": auth} if auth else None)

    assert reply.status == want.status, reply.body
    assert reply.headers["Content-Type"].startswith("application/json")
    message = reply.json
    if want.error is None:
        assert message["id"] == 7
        assert [t["name"] for t in message["result"]["tools"]] == want.tools
        assert "WWW-Authenticate" not in reply.headers
        return
    assert message["id"] is None
    assert message["error"]["message"] == want.error
    assert message["error"]["code"] == want.code
    assert message["error"]["data"]["detail"]
    if want.status == 401:
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    else:
        assert "WWW-Authenticate" not in reply.headers
    if want.status == 402:
        assert message["error"]["data"]["required"] == ("pro" if endpoint == "project" else "business")
        assert message["error"]["data"]["plan"] == plan


async def test_read_key_calling_track_event_gets_insufficient_scope(stack: Stack, keys: Keys, http: aiohttp.ClientSession) -> None:
    reply = await post(http, stack.mcp_url, rpc("tools/call", {"name": "track_event", "arguments": {"event": "x", "anonymous_id": "a"}}),
                       key=keys.accounts["pro"].projects[0].rk)
    assert reply.status == 200  # a dispatched request's error travels with 200 on the handshake path
    error = reply.error
    assert error["code"] == -32000
    assert error["message"] == "insufficient_scope"
    assert {k: error["data"][k] for k in ("required", "got")} == {"required": "ingest", "got": "read"}


async def test_account_key_calling_a_project_only_tool_is_told_where_it_is_served(stack: Stack, keys: Keys,
                                                                                 http: aiohttp.ClientSession) -> None:
    reply = await post(http, stack.mcp_account_url, rpc("tools/call", {"name": "track_event", "arguments": {}}),
                       key=keys.accounts["business"].ak)
    assert reply.status == 200
    assert (reply.error["code"], reply.error["message"]) == (-32602, "unhandled_tool")
    assert {k: reply.error["data"][k] for k in ("name", "endpoint")} == {"name": "track_event", "endpoint": "/mcp"}


async def test_account_key_calling_a_tool_no_endpoint_has_gets_its_tools_listed(stack: Stack, keys: Keys,
                                                                               http: aiohttp.ClientSession) -> None:
    reply = await post(http, stack.mcp_account_url, rpc("tools/call", {"name": "drop_table", "arguments": {}}),
                       key=keys.accounts["business"].ak)
    assert (reply.status, reply.error["code"], reply.error["message"]) == (200, -32602, "unknown_tool")
    assert reply.error["data"]["available"] == AK_TOOLS


async def test_plan_change_takes_effect_within_the_key_cache_ttl(stack: Stack, http: aiohttp.ClientSession) -> None:
    account = await create_account(stack.dsn, "pro")
    rk = account.projects[0].rk
    assert await _status_is(http, stack.mcp_url, rk, 200)
    conn = await asyncpg.connect(stack.dsn)
    try:
        await admin.set_plan(conn, account.account_id, "free")
        await poll(lambda: _status_is(http, stack.mcp_url, rk, 402), deadline_s=5)
        await admin.set_plan(conn, account.account_id, "business")
        await poll(lambda: _status_is(http, stack.mcp_url, rk, 200), deadline_s=5)
        await poll(lambda: _status_is(http, stack.mcp_account_url, account.ak, 200), deadline_s=5)
        await admin.set_plan(conn, account.account_id, "pro")
        await poll(lambda: _status_is(http, stack.mcp_account_url, account.ak, 402), deadline_s=5)
    finally:
        await conn.close()


async def test_revocation_takes_effect_within_the_key_cache_ttl(stack: Stack, http: aiohttp.ClientSession) -> None:
    account = await create_account(stack.dsn, "business")
    project = account.projects[0]
    assert await _status_is(http, stack.mcp_url, project.sk, 200)
    assert await _status_is(http, stack.mcp_account_url, account.ak, 200)
    conn = await asyncpg.connect(stack.dsn)
    try:
        await admin.revoke_key(conn, project.sk_id)
        await admin.revoke_key(conn, account.ak_id)
    finally:
        await conn.close()
    await poll(lambda: _status_is(http, stack.mcp_url, project.sk, 401), deadline_s=5)
    await poll(lambda: _status_is(http, stack.mcp_account_url, account.ak, 401), deadline_s=5)
    reply = await post(http, stack.mcp_url, rpc("ping"), key=project.sk)
    assert reply.error["message"] == "invalid_key"
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    assert await _status_is(http, stack.mcp_url, project.rk, 200)  # the project's other keys are untouched


async def test_keys_never_appear_in_the_gateway_log(stack: Stack, keys: Keys, http: aiohttp.ClientSession) -> None:
    account = keys.accounts["pro"]
    for key in (account.projects[0].sk, account.projects[0].pk, account.ak, f"sk_live_{secrets.token_urlsafe(24)}"):
        await post(http, stack.mcp_url, rpc("tools/call", {"name": "nope"}), key=key)
    gateway = next(s for s in stack.services if s.name == "gateway")
    log = gateway.log_path.read_text(errors="replace")
    assert "_live_" not in log


async def _status_is(http: aiohttp.ClientSession, url: str, key: str, want: int) -> bool:
    return (await post(http, url, rpc("ping"), key=key)).status == want
