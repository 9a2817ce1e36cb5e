"""POST /v1/track and /v1/batch over real HTTP against the real stack: Segment field names, every way
to pass the key, idempotent messageIds, clock-skew correction, all-or-nothing batches, both sides of
every limit, malformed bodies, key kinds and plans, CORS and sendBeacon bodies — and what ingest stored."""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import pytest
import pytest_asyncio
from millimetric import admin
from millimetric_protocol import limits

from tests.support.accounts import AccountFixture, create_account
from tests.support.mcp_http import poll, post, rpc
from tests.support.stack import Stack
from tests.support.tracking import call, send, stored, visitor_events, wait_stored


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def account(stack: Stack) -> AccountFixture:
    return await create_account(stack.dsn, "pro")


def track_url(stack: Stack) -> str:
    return stack.gateway_url + "/v1/track"


def batch_url(stack: Stack) -> str:
    return stack.gateway_url + "/v1/batch"


async def test_a_browser_beacon_with_a_pk_key_in_the_body_is_stored_with_its_fields(
        stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    project = account.projects[0]
    message_id = str(uuid.uuid4())
    body = {"event": "signup", "anonymousId": "anon-1", "userId": "user-1", "messageId": message_id, "writeKey": project.pk,
            "properties": {"plan": "pro", "url": "https://example.com/pricing?utm_source=newsletter&utm_medium=email"},
            "integrations": {"All": True}, "_metadata": {"bundled": []}}  # Segment extras are ignored
    answer = await send(http, track_url(stack), body, headers={"Content-Type": "text/plain;charset=UTF-8",
                                                              "User-Agent": "Mozilla/5.0 (test) Beacon/1"})
    assert answer.status == 200, answer.body
    assert answer.json == {"accepted": 1, "event_ids": [message_id]}  # a UUID messageId is the event id
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert len(answer.headers["X-Request-Id"]) == 16

    [row] = await wait_stored(stack.dsn, project.project_id, [message_id])
    assert (row["event"], row["anonymous_id"], row["user_id"]) == ("signup", "anon-1", "user-1")
    assert row["properties"]["plan"] == "pro"
    assert (row["source"], row["medium"]) == ("newsletter", "email")
    assert row["context"] == {"ip": "127.0.0.0", "user_agent": "Mozilla/5.0 (test) Beacon/1", "library": "http"}


@pytest.mark.parametrize("where", ["bearer", "basic", "query", "body_key", "body_writekey"])
async def test_the_key_may_come_in_a_header_the_query_string_or_the_body(
        stack: Stack, account: AccountFixture, http: aiohttp.ClientSession, where: str) -> None:
    sk = account.projects[0].sk
    body = call(f"key_in_{where}")
    headers: dict[str, str] = {}
    params = None
    match where:
        case "bearer":
            headers["Authorization"] = f"Bearer {sk}"
        case "basic":  # Segment's server libraries: the write key as the user name, no password
            headers["Authorization"] = "Basic " + base64.b64encode(f"{sk}:".encode()).decode()
        case "query":
            params = {"key": sk}
        case "body_key":
            body["key"] = sk
        case "body_writekey":
            body["writeKey"] = sk
    answer = await send(http, track_url(stack), body, headers=headers, params=params)
    assert answer.status == 200, answer.body
    assert answer.json["accepted"] == 1
    await wait_stored(stack.dsn, account.projects[0].project_id, answer.json["event_ids"])


async def test_snake_case_ids_page_calls_and_the_segment_context_are_accepted(
        stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    project = account.projects[0]
    page = {"type": "page", "name": "Pricing", "anonymous_id": "snake-1", "user_id": "u-9",
            "context": {"page": {"url": "https://example.com/p", "referrer": "https://news.ycombinator.com/"},
                        "campaign": {"source": "hn", "medium": "social"}, "library": {"name": "analytics-python"}}}
    answer = await send(http, track_url(stack), page, key=project.sk)
    assert answer.status == 200, answer.body
    [row] = await wait_stored(stack.dsn, project.project_id, answer.json["event_ids"])
    assert (row["event"], row["anonymous_id"], row["user_id"]) == ("page_view", "snake-1", "u-9")
    assert row["properties"]["name"] == "Pricing"
    assert row["properties"]["context"]["campaign"] == {"source": "hn", "medium": "social"}  # where attribution reads it
    assert row["utm_source"] == "hn"
    assert row["context"]["library"] == "analytics-python"


async def test_a_non_uuid_message_id_maps_to_one_event_id_per_project_so_retries_store_once(
        stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    project = account.projects[0]
    other = (await create_account(stack.dsn, "free")).projects[0]
    message_id = f"ajs-next-{uuid.uuid4().hex}"
    body = call("retried", messageId=message_id)
    first = await send(http, track_url(stack), body, key=project.sk)
    again = await send(http, track_url(stack), body, key=project.pk)  # a retry, even through another key of the project
    elsewhere = await send(http, track_url(stack), body, key=other.pk)
    assert first.status == again.status == elsewhere.status == 200
    event_id = first.json["event_ids"][0]
    assert event_id == again.json["event_ids"][0] == str(uuid.uuid5(project.project_id, message_id))
    assert elsewhere.json["event_ids"][0] == str(uuid.uuid5(other.project_id, message_id)) != event_id
    await wait_stored(stack.dsn, project.project_id, [event_id])
    # A later event of the same visitor is on the same partition, so once it is stored the retry has been written too.
    later = await send(http, track_url(stack), call("after", visitor=body["anonymousId"]), key=project.sk)
    await wait_stored(stack.dsn, project.project_id, later.json["event_ids"])
    assert [r["event"] for r in await visitor_events(stack.dsn, project.project_id, body["anonymousId"])] == ["retried", "after"]


async def test_sent_at_corrects_the_client_clock(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    project = account.projects[0]
    # The client's clock is 2 hours fast: it says the event happened at happened, and that it sent it 5 s later.
    skew = timedelta(hours=2)
    happened = datetime.now(UTC) + skew - timedelta(seconds=5)
    sent = happened + timedelta(seconds=5)
    body = call("skewed", timestamp=happened.isoformat(), sentAt=sent.isoformat())
    answer = await send(http, track_url(stack), body, key=project.sk)
    assert answer.status == 200, answer.body
    [row] = await wait_stored(stack.dsn, project.project_id, answer.json["event_ids"])
    assert row["timestamp"] == happened + (row["received_at"] - sent)  # exactly: the server's clock, 5 s before receipt
    # timestamp alone is taken as it is
    plain = await send(http, track_url(stack), call("unskewed", timestamp="2026-01-02T03:04:05+01:00"), key=project.sk)
    [row] = await wait_stored(stack.dsn, project.project_id, plain.json["event_ids"])
    assert row["timestamp"] == datetime(2026, 1, 2, 2, 4, 5, tzinfo=UTC)


async def test_a_batch_is_stored_with_its_shared_sent_at_and_context(
        stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    project = account.projects[0]
    now = datetime.now(UTC)
    calls = [call("step", visitor="batcher", properties={"n": i}, timestamp=(now - timedelta(seconds=10 - i)).isoformat())
             for i in range(5)]
    calls[2]["type"] = "track"
    body = {"batch": calls, "sentAt": now.isoformat(), "context": {"library": {"name": "analytics-node"}}}
    answer = await send(http, batch_url(stack), body, key=project.sk)
    assert answer.status == 200, answer.body
    assert answer.json == {"accepted": 5, "event_ids": [c["messageId"] for c in calls]}
    rows = await wait_stored(stack.dsn, project.project_id, answer.json["event_ids"])
    assert [r["properties"]["n"] for r in rows] == [0, 1, 2, 3, 4]
    assert {r["context"]["library"] for r in rows} == {"analytics-node"}


async def test_one_invalid_call_refuses_the_whole_batch(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    project = account.projects[0]
    visitor = f"v-{uuid.uuid4().hex[:8]}"
    calls = [call("ok", visitor=visitor), call("ok", visitor=visitor), call("bad", visitor=visitor, properties={"x": "a\u0000b"})]
    answer = await send(http, batch_url(stack), {"batch": calls}, key=project.sk)
    assert answer.status == 400
    error = answer.json
    assert (error["error"], error["index"], error["path"]) == ("invalid_event", 2, "batch[2]")
    assert "NUL" in error["detail"]
    # Nothing of it was queued: a later event of the visitor (same partition) is stored alone.
    later = await send(http, track_url(stack), call("later", visitor=visitor), key=project.sk)
    await wait_stored(stack.dsn, project.project_id, later.json["event_ids"])
    assert [r["event"] for r in await visitor_events(stack.dsn, project.project_id, visitor)] == ["later"]


@pytest.mark.parametrize(("body", "error", "path"), [
    ({"batch": [{"event": "x", "anonymousId": "a"}, {"event": "x"}]}, "invalid_event", "batch[1]"),
    ({"batch": [{"event": "x", "anonymousId": "a", "timestamp": "yesterday"}]}, "invalid_event", "batch[0].timestamp"),
    ({"batch": [{"event": "x", "anonymousId": "a", "timestamp": "2026-05-01T00:00:00"}]}, "invalid_event", "batch[0].timestamp"),
    ({"batch": [{"type": "identify", "userId": "u"}]}, "invalid_event", "batch[0]"),
    ({"batch": []}, "invalid_request", None),
    ({"batch": {}}, "invalid_request", "batch"),
    ({"events": []}, "invalid_request", None),
])
async def test_batch_refusals_name_the_call_and_field(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession,
                                                      body: object, error: str, path: str | None) -> None:
    answer = await send(http, batch_url(stack), body, key=account.projects[0].sk)
    assert answer.status == 400, answer.body
    assert answer.json["error"] == error
    assert answer.json.get("path") == path
    assert answer.json["detail"]


@pytest.mark.parametrize(("body", "error"), [
    (b"not json", "parse_error"),
    (b"", "parse_error"),
    (b'{"event": "x", "anonymousId": "\xff"}', "parse_error"),
    (b"[1, 2]", "invalid_request"),
    (b'{"event": "x"}', "invalid_event"),
    (b'{"event": "", "anonymousId": "a"}', "invalid_event"),
    (b'{"event": "x", "anonymousId": "a", "properties": []}', "invalid_event"),
    (b'{"event": "x", "anonymousId": "a", "anonymous_id": "b"}', "invalid_event"),
    (b'{"event": "x", "anonymousId": "a", "timestamp": "2999-01-01T00:00:00Z"}', "invalid_event"),
    (b'{"event": "x", "anonymousId": "a", "properties": {"n": 9223372036854775808}}', "invalid_event"),
    (b'{"event": "x", "anonymousId": "a", "properties": ' + b'{"a":' * 40 + b"1" + b"}" * 40 + b"}", "invalid_request"),
])
async def test_malformed_bodies_get_a_clean_400_with_a_reason(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession,
                                                              body: bytes, error: str) -> None:
    answer = await send(http, track_url(stack), body, key=account.projects[0].sk)
    assert answer.status == 400, answer.body
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json["error"] == error
    assert isinstance(answer.json["detail"], str) and answer.json["detail"]
    assert answer.headers["Access-Control-Allow-Origin"] == "*"


def padded(body: dict[str, object], size: int) -> bytes:
    """`body` as JSON, padded with insignificant whitespace to exactly `size` bytes."""
    raw = json.dumps(body).encode()
    assert len(raw) <= size
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


async def test_track_body_limit_both_sides(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    sk = account.projects[0].sk
    at_limit = await send(http, track_url(stack), padded(call("big"), limits.MAX_TRACK_BODY_BYTES), key=sk)
    assert at_limit.status == 200, at_limit.body
    over = await send(http, track_url(stack), padded(call("big"), limits.MAX_TRACK_BODY_BYTES + 1), key=sk)
    assert over.status == 413
    assert over.json["error"] == "payload_too_large" and over.json["max_bytes"] == limits.MAX_TRACK_BODY_BYTES
    zipped = await send(http, track_url(stack), gzip.compress(padded(call("big"), limits.MAX_TRACK_BODY_BYTES + 1)), key=sk,
                        headers={"Content-Encoding": "gzip"})
    assert zipped.status == 413  # the limit holds for the decompressed body
    assert (await send(http, track_url(stack), gzip.compress(b"{" * 10), key=sk, headers={"Content-Encoding": "br"})).status == 415
    corrupt = await send(http, track_url(stack), b"\x1f\x8b not gzip", key=sk, headers={"Content-Encoding": "gzip"})
    assert (corrupt.status, corrupt.json["error"]) == (400, "parse_error")


async def test_batch_limits_both_sides(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    project = account.projects[0]
    at_limit = await send(http, batch_url(stack), padded({"batch": [call("b")]}, limits.MAX_BATCH_BODY_BYTES), key=project.sk)
    assert at_limit.status == 200, at_limit.body
    over = await send(http, batch_url(stack), padded({"batch": [call("b")]}, limits.MAX_BATCH_BODY_BYTES + 1), key=project.sk)
    assert (over.status, over.json["error"]) == (413, "payload_too_large")

    visitor = f"v-{uuid.uuid4().hex[:8]}"
    most = [{"event": "many", "anonymousId": visitor, "messageId": str(uuid.uuid4())} for _ in range(limits.MAX_BATCH_EVENTS)]
    full = await send(http, batch_url(stack), {"batch": most}, key=project.sk)
    assert full.status == 200, full.body
    assert full.json["accepted"] == limits.MAX_BATCH_EVENTS
    too_many = await send(http, batch_url(stack), {"batch": [*most, call("one_more")]}, key=project.sk)
    assert too_many.status == 413
    assert too_many.json == {"error": "too_many_events", "detail": too_many.json["detail"],
                             "max_events": limits.MAX_BATCH_EVENTS, "got": limits.MAX_BATCH_EVENTS + 1}
    await wait_stored(stack.dsn, project.project_id, full.json["event_ids"], deadline_s=60)


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "text/plain;charset=UTF-8", None])
async def test_json_is_accepted_as_json_text_plain_or_untyped(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession,
                                                              content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    async with http.post(track_url(stack), data=json.dumps(call()).encode(),
                         headers={"Authorization": f"Bearer {account.projects[0].pk}", **headers},
                         skip_auto_headers=["Content-Type"]) as resp:
        assert resp.status == 200, await resp.text()


async def test_other_media_types_and_methods_are_refused(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    pk = account.projects[0].pk
    xml = await send(http, track_url(stack), b"<event/>", key=pk, headers={"Content-Type": "application/xml"})
    assert (xml.status, xml.json["error"]) == (415, "unsupported_media_type")
    for method in ("GET", "PUT", "DELETE"):
        answer = await send(http, track_url(stack), b"", key=pk, method=method)
        assert answer.status == 405
        assert answer.headers["Allow"] == "POST, OPTIONS"
        assert answer.json["error"] == "method_not_allowed"


KEY_CASES = ["pk", "sk", "rk", "ak", "missing", "unknown", "malformed", "revoked"]


@pytest.mark.parametrize("plan", ["free", "pro", "business"])
@pytest.mark.parametrize("kind", KEY_CASES)
async def test_pk_and_sk_keys_track_on_every_plan_other_keys_are_refused(stack: Stack, http: aiohttp.ClientSession,
                                                                         kind: str, plan: str) -> None:
    account = await create_account(stack.dsn, plan)
    project = account.projects[0]
    key: str | None = {"pk": project.pk, "sk": project.sk, "rk": project.rk, "ak": account.ak,
                       "unknown": "pk_live_" + "A" * 32, "malformed": "pk_live_short"}.get(kind)
    if kind == "revoked":
        conn = await asyncpg.connect(stack.dsn)
        try:
            made = await admin.create_key(conn, "pk", project_id=project.project_id)
            await admin.revoke_key(conn, uuid.UUID(made["key_id"]))
        finally:
            await conn.close()
        key = made["key"]
    answer = await send(http, track_url(stack), call(), key=key)
    if kind in ("pk", "sk"):
        assert answer.status == 200, answer.body
        return
    expected = {"rk": (403, "key_kind_not_allowed"), "ak": (403, "key_kind_not_allowed")}.get(kind, (401, "invalid_key"))
    assert (answer.status, answer.json["error"]) == expected, answer.body
    assert answer.json["detail"]
    if answer.status == 401:
        assert answer.headers["WWW-Authenticate"] == ("Bearer" if kind == "missing" else 'Bearer error="invalid_token"')
    else:
        assert answer.json["allowed"] == ["pk", "sk"]


async def test_cors_preflight_and_cross_origin_posts_are_answered_for_any_origin(
        stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    for url in (track_url(stack), batch_url(stack)):
        async with http.options(url, headers={"Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST",
                                              "Access-Control-Request-Headers": "content-type, authorization",
                                              "Access-Control-Request-Private-Network": "true"}) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == "*"
            assert "POST" in resp.headers["Access-Control-Allow-Methods"]
            allowed = {h.strip().lower() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
            assert {"content-type", "authorization"} <= allowed
            assert resp.headers["Access-Control-Allow-Private-Network"] == "true"
            assert int(resp.headers["Access-Control-Max-Age"]) > 0
    # The MCP endpoint refuses a foreign Origin (DNS-rebinding defence); the tracking endpoint does not.
    origin = {"Origin": "https://shop.example.com"}
    mcp = await post(http, stack.mcp_url, rpc("ping"), key=account.projects[0].sk, headers=origin)
    assert mcp.status == 403
    tracked = await send(http, track_url(stack), call(), key=account.projects[0].pk, headers=origin)
    assert tracked.status == 200
    assert tracked.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-Request-Id" in tracked.headers["Access-Control-Expose-Headers"]
    refused = await send(http, track_url(stack), call(), key="pk_live_" + "B" * 32, headers=origin)
    assert refused.status == 401 and refused.headers["Access-Control-Allow-Origin"] == "*"  # the page can read why


async def test_a_pk_key_can_never_read(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    pk = account.projects[0].pk
    for url in (stack.mcp_url, stack.mcp_account_url):
        for message in (rpc("tools/list"), rpc("tools/call", {"name": "query_events", "arguments": {}}),
                        rpc("resources/read", {"uri": "events://recent"})):
            reply = await post(http, url, message, key=pk)
            assert reply.status == 403, reply.body
            assert reply.error["message"] in ("key_kind_not_allowed", "account_key_required")
    # The tracking endpoints answer only ids, never events; GET is not a read either.
    answer = await send(http, track_url(stack), call(properties={"secret": "s"}), key=pk)
    assert set(answer.json) == {"accepted", "event_ids"}
    assert (await send(http, track_url(stack), b"", key=pk, method="GET")).status == 405


async def test_context_is_captured_server_side_and_forwarded_for_is_ignored_without_trusted_proxies(
        stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    project = account.projects[0]
    headers = {"User-Agent": "Agent/2 " + "x" * 600, "X-Forwarded-For": "198.51.100.23"}
    browser = call("ctx", context={"ip": "203.0.113.99", "userAgent": "claimed"})  # a browser's own claims are not taken
    answer = await send(http, track_url(stack), browser, key=project.pk, headers=headers)
    [row] = await wait_stored(stack.dsn, project.project_id, answer.json["event_ids"])
    assert row["context"]["ip"] == "127.0.0.0"
    assert row["context"]["user_agent"] == headers["User-Agent"][:limits.MAX_USER_AGENT_CHARS]
    # a server (sk_ key) may pass its visitor's address and agent; the address is stored truncated
    server = call("ctx", context={"ip": "203.0.113.99", "userAgent": "Visitor/1"})
    answer = await send(http, track_url(stack), server, key=project.sk)
    [row] = await wait_stored(stack.dsn, project.project_id, answer.json["event_ids"])
    assert (row["context"]["ip"], row["context"]["user_agent"]) == ("203.0.113.0", "Visitor/1")
    v6 = call("ctx6", context={"ip": "2001:db8:1234:5678::1"})
    answer = await send(http, track_url(stack), v6, key=project.sk)
    [row] = await wait_stored(stack.dsn, project.project_id, answer.json["event_ids"])
    assert row["context"]["ip"] == "2001:db8:1234::"


async def test_events_from_the_tracking_endpoints_are_readable_through_mcp(
        stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    project = account.projects[0]
    visitor = f"v-{uuid.uuid4().hex[:8]}"
    answer = await send(http, track_url(stack), call("readable", visitor=visitor), key=project.pk)
    await wait_stored(stack.dsn, project.project_id, answer.json["event_ids"])

    async def found() -> bool:
        reply = await post(http, stack.mcp_url, rpc("tools/call", {"name": "query_events", "arguments": {"anonymous_id": visitor}}),
                           key=project.rk)
        return answer.json["event_ids"][0] in reply.result["content"][0]["text"]

    await poll(found, deadline_s=10)


async def test_stored_rows_never_carry_the_key(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    project = account.projects[0]
    body = call("keyed", writeKey=project.pk)
    answer = await send(http, track_url(stack), body, params={"key": project.pk})
    [row] = await wait_stored(stack.dsn, project.project_id, answer.json["event_ids"])
    assert "_live_" not in str(row)
    assert await stored(stack.dsn, project.project_id, answer.json["event_ids"])
