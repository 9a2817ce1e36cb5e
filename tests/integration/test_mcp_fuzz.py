"""Property-based fuzzing of POST /mcp and /mcp/account over real HTTP (hypothesis): valid requests of
both eras mutated (fields deleted, added, retyped; ids, methods and headers scrambled; bytes flipped,
bodies truncated, nested deep, numbers and strings made huge), random JSON and random bytes.

The property: every answer is a well-formed JSON-RPC response (HTTP 200, or 4xx with an error), a
202 with an empty body, or an HTTP refusal carrying a JSON-RPC error — never a 5xx, never a stack trace.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.accounts import create_account
from tests.support.mcp_http import CLIENT_HEADERS, MODERN, check_response, modern_meta
from tests.support.stack import Stack

KNOWN_CODES = {-32700, -32600, -32601, -32602, -32603, -32000, -32001, -32002, -32004, -32005, -32020, -32021, -32022}
KNOWN_STATUSES = {200, 202, 400, 401, 402, 403, 404, 406, 413, 415}
VERSIONS = [None, "2025-03-26", "2025-06-18", "2025-11-25", MODERN, "2024-11-05", "garbage"]
LIKELY_VERSIONS = [None, "2025-03-26", "2025-06-18", "2025-11-25", "2025-11-25", MODERN, MODERN, MODERN, "garbage"]

SEEDS: list[tuple[str, dict[str, Any] | None]] = [
    ("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "f", "version": "1"}}),
    ("ping", None),
    ("server/discover", {}),
    ("tools/list", {}),
    ("tools/call", {"name": "query_events", "arguments": {"limit": 3, "event": "signup", "properties": {"plan": "pro"}}}),
    ("tools/call", {"name": "get_stats", "arguments": {"metric": "uniques", "group_by": "source,medium", "interval": "day"}}),
    ("tools/call", {"name": "top_sources", "arguments": {"breakdown": "source_medium", "limit": 5}}),
    ("tools/call", {"name": "funnel", "arguments": {"steps": ["a", {"event": "b"}], "window": "7d", "order": "strict"}}),
    ("tools/call", {"name": "track_event", "arguments": {"event": "x", "anonymous_id": "a", "properties": {"k": [1, {"n": 2}]}}}),
    ("tools/call", {"name": "list_projects", "arguments": {}}),
    ("tools/call", {"name": "compare_projects", "arguments": {"metric": "count", "from": "2026-05-01T00:00:00Z"}}),
    ("resources/list", {}),
    ("resources/templates/list", {}),
    ("resources/read", {"uri": "events://recent"}),
    ("resources/read", {"uri": "schema://events"}),
    ("resources/read", {"uri": "projects://all"}),
    ("prompts/list", {}),
    ("prompts/get", {"name": "traffic-drop-investigation", "arguments": {"date": "2026-05-10"}}),
    ("notifications/initialized", None),
]

scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63 - 2, max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30)
           | st.sampled_from(["", "\x00", "\ud7ff", "2026-05-01T00:00:00Z", "0f8fad5b-d9cb-469f-a165-70867728950e", "x" * 9000]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                           max_leaves=12)


@dataclass(frozen=True)
class Case:
    body: bytes
    headers: dict[str, str]
    use_account: bool


@st.composite
def mutated_requests(draw: st.DrawFn, modern_era: bool) -> Any:
    method, params = draw(st.sampled_from(SEEDS))
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if not method.startswith("notifications/"):
        message["id"] = draw(st.integers(-(2**40), 2**40) | st.text(max_size=8))
    if params is not None or modern_era or draw(st.booleans()):
        message["params"] = json.loads(json.dumps(params or {}))
        if draw(st.sampled_from([True] * 9 + [False])) if modern_era else draw(st.sampled_from([False] * 9 + [True])):
            message["params"]["_meta"] = modern_meta()
    for _ in range(draw(st.integers(0, 2))):
        container = draw(st.sampled_from(["top", "params", "params", "arguments", "arguments", "arguments"]))
        target: Any = message
        if container != "top":
            target = message.get("params")
            if container == "arguments" and isinstance(target, dict):
                target = target.get("arguments")
        if not isinstance(target, dict):
            continue
        action = draw(st.sampled_from(["delete", "add", "retype"]))
        if action == "delete" and target:
            del target[draw(st.sampled_from(sorted(target)))]
        elif action == "add":
            target[draw(st.text(max_size=10) | st.sampled_from(["id", "jsonrpc", "method", "params", "name", "cursor", "limit"]))] = draw(json_values)
        elif action == "retype" and target:
            target[draw(st.sampled_from(sorted(target)))] = draw(json_values)
    if draw(st.sampled_from([False] * 19 + [True])):
        message = [message]  # type: ignore[assignment]
    return message


@st.composite
def bodies(draw: st.DrawFn, modern_era: bool) -> bytes:
    kind = draw(st.sampled_from(["mutated"] * 6 + ["json", "bytes", "flipped", "truncated", "deep", "huge"]))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    raw = json.dumps(draw(mutated_requests(modern_era)), ensure_ascii=draw(st.booleans())).encode()
    if kind == "flipped" and raw:
        data = bytearray(raw)
        for _ in range(draw(st.integers(1, 4))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if kind == "truncated":
        return raw[: draw(st.integers(0, len(raw)))]
    if kind == "deep":
        depth = draw(st.sampled_from([25, 29, 30, 31, 200, 100_000]))
        return _inject(raw, b"[" * depth + b"]" * depth)
    if kind == "huge":
        return _inject(raw, draw(st.sampled_from([b"9" * 5000, b"1e999", b"-" + b"9" * 400, b"18446744073709551616",
                                                  b'"' + b"a" * 600_000 + b'"', b'"\\ud800"', b'"\\u0000"'])))
    return raw


def _inject(raw: bytes, value: bytes) -> bytes:
    """Put `value` where it reaches the deepest decoder: into the tool arguments, else params, else the envelope."""
    for anchor in (b'"arguments": {', b'"params": {'):
        at = raw.find(anchor)
        if at >= 0:
            at += len(anchor)
            return raw[:at] + b'"x": ' + value + (b"" if raw[at:at + 1] == b"}" else b", ") + raw[at:]
    anchor = b'"jsonrpc": "2.0"'
    at = raw.find(anchor)
    return raw if at < 0 else raw[:at + len(anchor)] + b', "x": ' + value + raw[at + len(anchor):]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    version = draw(st.sampled_from(LIKELY_VERSIONS))
    body = draw(bodies(version == MODERN))
    headers = dict(CLIENT_HEADERS)
    if version is not None:
        headers["MCP-Protocol-Version"] = version
    if version == MODERN or draw(st.integers(0, 4)) == 0:
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            parsed = None
        method = parsed.get("method") if isinstance(parsed, dict) else None
        headers["Mcp-Method"] = method if isinstance(method, str) and method.isascii() and draw(st.integers(0, 5)) else draw(st.text(
            st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20))
        params = parsed.get("params") if isinstance(parsed, dict) else None
        name = params.get("name", params.get("uri")) if isinstance(params, dict) else None
        if isinstance(name, str) and name.isascii() and name.isprintable():
            headers["Mcp-Name"] = name
    return Case(body, headers, draw(st.booleans()))


@dataclass
class Target:
    loop: asyncio.AbstractEventLoop
    session: aiohttp.ClientSession
    stack: Stack
    rk: str
    ak: str
    seen: dict[int, int]


@pytest.fixture(scope="module")
def target(stack: Stack) -> Iterator[Target]:
    """A private event loop and one keep-alive aiohttp session for the (synchronous) hypothesis tests."""
    loop = asyncio.new_event_loop()
    session = loop.run_until_complete(_session())
    project_account = loop.run_until_complete(create_account(stack.dsn, "pro"))
    account = loop.run_until_complete(create_account(stack.dsn, "business", projects=2))
    try:
        yield Target(loop, session, stack, project_account.projects[0].rk, account.ak, {})
    finally:
        loop.run_until_complete(session.close())
        loop.close()


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))


async def _send(target: Target, case: Case) -> tuple[int, dict[str, str], bytes]:
    url = target.stack.mcp_account_url if case.use_account else target.stack.mcp_url
    headers = {**case.headers, "Authorization": f"Bearer {target.ak if case.use_account else target.rk}"}
    async with target.session.post(url, data=case.body, headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.read()


def check_answer(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status < 500, body[:500]
    assert status in KNOWN_STATUSES, (status, body[:300])
    if status == 202:
        assert body == b""
        return
    assert headers.get("Content-Type", "").startswith("application/json"), headers
    assert b"Traceback" not in body
    message = json.loads(body)
    if isinstance(message, list):  # a JSON-RPC batch (2025-03-26): one response per request
        assert status == 200 and message, body[:300]
        for answer in message:
            check_response(answer)
        return
    check_response(message)
    if status != 200:
        assert "error" in message, message
    if "error" in message:
        assert message["error"]["code"] in KNOWN_CODES, message


FUZZ_SETTINGS = settings(max_examples=2000, deadline=None, database=None, print_blob=True,
                         suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                                                HealthCheck.function_scoped_fixture, HealthCheck.large_base_example])


@FUZZ_SETTINGS
@given(case=cases())
def test_mutated_requests_of_both_eras_get_well_formed_answers(target: Target, case: Case) -> None:
    status, headers, body = target.loop.run_until_complete(_send(target, case))
    target.seen[status] = target.seen.get(status, 0) + 1
    check_answer(status, headers, body)


@settings(FUZZ_SETTINGS, max_examples=500)
@given(body=st.binary(max_size=2000) | json_values.map(lambda v: json.dumps(v).encode()),
       version=st.sampled_from(VERSIONS), use_account=st.booleans())
def test_random_bytes_and_json_get_well_formed_answers(target: Target, body: bytes, version: str | None, use_account: bool) -> None:
    headers = dict(CLIENT_HEADERS)
    if version is not None:
        headers["MCP-Protocol-Version"] = version
    status, answer_headers, answer = target.loop.run_until_complete(_send(target, Case(body, headers, use_account)))
    target.seen[status] = target.seen.get(status, 0) + 1
    check_answer(status, answer_headers, answer)


def test_fuzzing_reached_dispatch_and_the_gateway_stayed_quiet(target: Target) -> None:
    """Runs after the two properties above: the mutations were not all refused at the door, and
    nothing they sent made the gateway log a stack trace."""
    assert target.seen.get(200, 0) > 100, target.seen
    assert target.seen.get(400, 0) > 100, target.seen
    gateway = next(s for s in target.stack.services if s.name == "gateway")
    assert "Traceback" not in gateway.log_path.read_text(errors="replace")
