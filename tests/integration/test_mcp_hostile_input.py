"""Bodies an attacker (or a broken client) sends: over the size limit (plain, chunked, gzip bombs),
corrupt encodings, malformed JSON, wrong types, invalid UTF-8, deep nesting, huge numbers, NULs, lone
surrogates, unknown fields. Each gets the right JSON-RPC error — never a 5xx, never a stack trace."""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from millimetric_protocol import limits

from tests.support.accounts import AccountFixture, create_account
from tests.support.mcp_http import check_response, post, rpc
from tests.support.stack import Stack

PING_PREFIX = b'{"jsonrpc":"2.0","id":1,"method":"ping"'


def ping_of_size(size: int) -> bytes:
    """A valid ping request of exactly `size` bytes (padded with JSON whitespace)."""
    return PING_PREFIX + b" " * (size - len(PING_PREFIX) - 1) + b"}"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def account(stack: Stack) -> AccountFixture:
    return await create_account(stack.dsn, "pro")


def assert_refusal(status: int, body: bytes, want_status: int, code: int, name: str) -> None:
    assert status == want_status, body[:300]
    message = json.loads(body)
    check_response(message, None)
    assert (message["error"]["code"], message["error"]["message"]) == (code, name)


# --- size --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("size", "status"), [(limits.MAX_BODY_BYTES, 200), (limits.MAX_BODY_BYTES + 1, 413)])
async def test_body_limit_with_content_length(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession,
                                              size: int, status: int) -> None:
    reply = await post(http, stack.mcp_url, ping_of_size(size), key=account.projects[0].rk)
    if status == 200:
        assert reply.json == {"jsonrpc": "2.0", "id": 1, "result": {}}
    else:
        assert_refusal(reply.status, reply.body, 413, -32600, "payload_too_large")
        assert reply.error["data"]["max_bytes"] == limits.MAX_BODY_BYTES


@pytest.mark.parametrize(("size", "status"), [(limits.MAX_BODY_BYTES, 200), (limits.MAX_BODY_BYTES + 1, 413)])
async def test_body_limit_with_chunked_transfer(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession,
                                                size: int, status: int) -> None:
    body = ping_of_size(size)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 100_000):
            yield body[i:i + 100_000]

    headers = {"Authorization": f"Bearer {account.projects[0].rk}", "Content-Type": "application/json"}
    async with http.post(stack.mcp_url, data=chunks(), headers=headers) as resp:
        assert "Content-Length" not in resp.request_info.headers
        answer = await resp.read()
        if status == 200:
            assert resp.status == 200 and json.loads(answer)["result"] == {}
        else:
            assert_refusal(resp.status, answer, 413, -32600, "payload_too_large")


async def post_encoded(http: aiohttp.ClientSession, url: str, key: str, data: bytes, encoding: str) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Content-Encoding": encoding}
    async with http.post(url, data=data, headers=headers) as resp:
        return resp.status, await resp.read()


@pytest.mark.parametrize(("size", "status"), [(limits.MAX_BODY_BYTES, 200), (limits.MAX_BODY_BYTES + 1, 413)])
async def test_body_limit_applies_after_gzip_decompression(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession,
                                                           size: int, status: int) -> None:
    compressed = gzip.compress(ping_of_size(size))
    assert len(compressed) < 10_000  # small on the wire, only the decompressed size counts
    got, body = await post_encoded(http, stack.mcp_url, account.projects[0].rk, compressed, "gzip")
    if status == 200:
        assert got == 200 and json.loads(body)["result"] == {}
    else:
        assert_refusal(got, body, 413, -32600, "payload_too_large")


async def test_a_gzip_bomb_is_refused_without_inflating_it(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    bomb = gzip.compress(PING_PREFIX + b" " * (200 * limits.MAX_BODY_BYTES) + b"}", 9)  # 200 MiB inflated, ~200 KiB sent
    got, body = await post_encoded(http, stack.mcp_url, account.projects[0].rk, bomb, "gzip")
    assert_refusal(got, body, 413, -32600, "payload_too_large")


async def test_incompressible_gzip_body_just_under_the_limit_is_served(stack: Stack, account: AccountFixture,
                                                                      http: aiohttp.ClientSession) -> None:
    filler = os.urandom(limits.MAX_BODY_BYTES // 2).hex().encode()[: limits.MAX_BODY_BYTES - 100]
    body = PING_PREFIX + b',"params":{"x":"' + filler + b'"}}'
    assert len(body) <= limits.MAX_BODY_BYTES
    compressed = gzip.compress(body)
    got, answer = await post_encoded(http, stack.mcp_url, account.projects[0].rk, compressed, "gzip")
    assert got == 200, answer[:300]


@pytest.mark.parametrize(("encoding", "data"), [
    ("gzip", gzip.compress(b'{"jsonrpc":"2.0","id":1,"method":"ping"}')),
    ("x-gzip", gzip.compress(b'{"jsonrpc":"2.0","id":1,"method":"ping"}')),
    ("deflate", zlib.compress(b'{"jsonrpc":"2.0","id":1,"method":"ping"}')),
    ("deflate", zlib.compress(b'{"jsonrpc":"2.0","id":1,"method":"ping"}')[2:-4]),  # raw deflate, no zlib header
    ("identity", b'{"jsonrpc":"2.0","id":1,"method":"ping"}'),
    ("gzip", gzip.compress(b'{"jsonrpc":"2.0",') + gzip.compress(b'"id":1,"method":"ping"}')),  # two gzip members
], ids=["gzip", "x-gzip", "zlib-deflate", "raw-deflate", "identity", "gzip-members"])
async def test_supported_content_encodings_are_decoded(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession,
                                                       encoding: str, data: bytes) -> None:
    got, body = await post_encoded(http, stack.mcp_url, account.projects[0].rk, data, encoding)
    assert (got, json.loads(body)) == (200, {"jsonrpc": "2.0", "id": 1, "result": {}})


@pytest.mark.parametrize(("encoding", "data", "status", "code", "name"), [
    ("gzip", b"this is not gzip", 400, -32700, "parse_error"),
    ("gzip", gzip.compress(b'{"jsonrpc":"2.0","id":1,"method":"ping"}')[:-6], 400, -32700, "parse_error"),  # truncated
    ("gzip", gzip.compress(b'{"jsonrpc":"2.0","id":1,"method":"ping"}') + b"trailing junk", 400, -32700, "parse_error"),
    ("deflate", b"\xff\xfe not deflate", 400, -32700, "parse_error"),
    ("br", b"whatever", 415, -32600, "unsupported_media_type"),
    ("zstd", b"whatever", 415, -32600, "unsupported_media_type"),
    ("gzip, gzip", gzip.compress(gzip.compress(b"{}")), 415, -32600, "unsupported_media_type"),
], ids=["not-gzip", "truncated-gzip", "gzip-trailing-junk", "not-deflate", "brotli", "zstd", "stacked"])
async def test_corrupt_or_unsupported_encodings_get_a_json_rpc_refusal(
        stack: Stack, account: AccountFixture, http: aiohttp.ClientSession, encoding: str, data: bytes, status: int,
        code: int, name: str) -> None:
    got, body = await post_encoded(http, stack.mcp_url, account.projects[0].rk, data, encoding)
    assert_refusal(got, body, status, code, name)


# --- malformed and hostile JSON -------------------------------------------------------------------

def _call(arguments: Any, name: str = "track_event") -> bytes:
    return json.dumps(rpc("tools/call", {"name": name, "arguments": arguments})).encode()


# body, HTTP status, JSON-RPC code, error name, id of the answer (None when unreadable)
HOSTILE: list[tuple[str, bytes, int, int, str, Any]] = [
    ("empty body", b"", 400, -32700, "parse_error", None),
    ("not JSON", b"hello", 400, -32700, "parse_error", None),
    ("truncated JSON", b'{"jsonrpc":"2.0","id":1,"method":"pi', 400, -32700, "parse_error", None),
    ("trailing garbage", b'{"jsonrpc":"2.0","id":1,"method":"ping"} {}', 400, -32700, "parse_error", None),
    ("NaN", b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"query_events","arguments":{"limit":NaN}}}',
     400, -32700, "parse_error", None),
    ("byte order mark", b"\xef\xbb\xbf" + b'{"jsonrpc":"2.0","id":1,"method":"ping"}', 400, -32700, "parse_error", None),
    ("invalid UTF-8 in method", b'{"jsonrpc":"2.0","id":1,"method":"pi\xffng"}', 400, -32700, "parse_error", None),
    ("invalid UTF-8 in params", b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"\xc3\x28"}}', 400, -32700, "parse_error", None),
    ("UTF-8 encoded surrogate", b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"\xed\xa0\x80"}}', 400, -32700,
     "parse_error", None),
    ("lone surrogate escape in arguments", _call({"event": "x", "anonymous_id": "a", "properties": {"k": "\ud800"}}), 400, -32700,
     "parse_error", None),
    ("lone low surrogate escape in method", b'{"jsonrpc":"2.0","id":1,"method":"\\udc00"}', 400, -32700, "parse_error", None),
    ("100 000 nested arrays", b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
     400, -32600, "invalid_request", None),
    ("100 000 unclosed arrays", b"[" * 100_000, 400, -32600, "invalid_request", None),
    ("100 000 nested objects", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, 400, -32600, "invalid_request", None),
    ("JSON scalar", b"42", 400, -32600, "invalid_request", None),
    ("JSON string", b'"ping"', 400, -32600, "invalid_request", None),
    ("JSON null", b"null", 400, -32600, "invalid_request", None),
    ("jsonrpc 1.0", b'{"jsonrpc":"1.0","id":1,"method":"ping"}', 400, -32600, "invalid_request", None),
    ("no jsonrpc member", b'{"id":1,"method":"ping"}', 400, -32600, "invalid_request", None),
    ("method not a string", b'{"jsonrpc":"2.0","id":1,"method":42}', 400, -32600, "invalid_request", None),
    ("id null", b'{"jsonrpc":"2.0","id":null,"method":"ping"}', 400, -32600, "invalid_request", None),
    ("id float", b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}', 400, -32600, "invalid_request", None),
    ("id object", b'{"jsonrpc":"2.0","id":{},"method":"ping"}', 400, -32600, "invalid_request", None),
    ("id huge float", b'{"jsonrpc":"2.0","id":1e999,"method":"ping"}', 400, -32600, "invalid_request", None),
    ("unknown envelope member", b'{"jsonrpc":"2.0","id":1,"method":"ping","extra":true}', 400, -32600, "invalid_request", None),
    ("result and method", b'{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}', 400, -32600, "invalid_request", None),
    ("response without id", b'{"jsonrpc":"2.0","result":{}}', 400, -32600, "invalid_request", None),
    ("huge integer id is echoed", b'{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"nope"}', 200, -32601,
     "method_not_found", 123456789012345678901234567890),
    ("NUL in method", b'{"jsonrpc":"2.0","id":1,"method":"ping\\u0000"}', 200, -32601, "method_not_found", 1),
    ("NUL in tool name", _call({}, name="track\u0000event"), 200, -32602, "unknown_tool", 1),
    ("params a string", b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"x"}', 200, -32602, "invalid_params", 1),
    ("params null", b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":null}', 200, -32602, "invalid_params", 1),
    ("tool name a number", b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}', 200, -32602, "invalid_params", 1),
    ("resource uri a list", b'{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":[]}}', 200, -32602,
     "invalid_params", 1),
    ("prompt argument a number", b'{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"campaign-audit","arguments":{"a":1}}}',
     200, -32602, "invalid_params", 1),
    ("initialize version a number", b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":5}}',
     200, -32602, "invalid_params", 1),
]


@pytest.mark.parametrize(("name", "body", "status", "code", "error", "answer_id"), HOSTILE, ids=[row[0] for row in HOSTILE])
async def test_hostile_bodies_get_the_right_json_rpc_error(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession,
                                                           name: str, body: bytes, status: int, code: int, error: str,
                                                           answer_id: Any) -> None:
    reply = await post(http, stack.mcp_url, body, key=account.projects[0].sk)
    assert reply.status == status, reply.body[:300]
    check_response(reply.json, answer_id)
    assert (reply.error["code"], reply.error["message"]) == (code, error)
    assert "Traceback" not in reply.body.decode()


# tool arguments (as JSON text) that are well-formed JSON-RPC but wrong: isError results naming the field
HOSTILE_ARGUMENTS: list[tuple[str, str, str, str]] = [
    ("huge integer property", "track_event", '{"event":"x","anonymous_id":"a","properties":{"n":1000000000000000000000000000000}}',
     "64-bit"),
    ("huge float property", "track_event", '{"event":"x","anonymous_id":"a","properties":{"n":1e400}}', "out of range"),
    ("huge limit", "query_events", '{"limit":10000000000000000000000000000000000000000}', f"<= {limits.MAX_QUERY_LIMIT}"),
    ("event a number", "track_event", '{"event":1,"anonymous_id":"a"}', "Expected `str`, got `int`"),
    ("properties a list", "track_event", '{"event":"x","anonymous_id":"a","properties":[1]}', "Expected `object`, got `array`"),
    ("anonymous_id an object", "track_event", '{"event":"x","anonymous_id":{}}', "arguments.anonymous_id"),
    ("unknown argument", "track_event", '{"event":"x","anonymous_id":"a","colour":"red"}', "unknown field `colour`"),
    ("arguments a string", "track_event", '"event=x"', "Expected `object`, got `str`"),
    ("NUL in anonymous_id", "track_event", '{"event":"x","anonymous_id":"a\\u0000"}', "NUL"),
]


@pytest.mark.parametrize(("name", "tool", "arguments", "mentions"), HOSTILE_ARGUMENTS, ids=[row[0] for row in HOSTILE_ARGUMENTS])
async def test_wrong_arguments_are_tool_errors(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession,
                                               name: str, tool: str, arguments: str, mentions: str) -> None:
    body = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"%s","arguments":%s}}' % (tool.encode(), arguments.encode())
    reply = await post(http, stack.mcp_url, body, key=account.projects[0].sk)
    assert reply.status == 200
    result = reply.result
    assert result["isError"] is True
    assert mentions in result["content"][0]["text"], result


async def test_the_gateway_logged_no_stack_trace(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    """Runs after the hostile bodies above (module order): none of them reached a `logger.exception`."""
    gateway = next(s for s in stack.services if s.name == "gateway")
    assert "Traceback" not in gateway.log_path.read_text(errors="replace")
