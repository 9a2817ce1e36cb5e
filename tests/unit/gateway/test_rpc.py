"""rpc.py with fake dependencies: a bug in a handler becomes tool_failed carrying the request id that
is logged; the modern era stamps results; the handshake era never does."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from millimetric_gateway import rpc
from millimetric_gateway.auth import KeyInfo
from millimetric_gateway.context import CallContext
from millimetric_gateway.metrics import GatewayMetrics
from millimetric_gateway.services import Services
from millimetric_gateway.settings import Settings
from millimetric_protocol.errors import ErrorName, ProtocolError
from millimetric_protocol.events import EventMessage
from millimetric_protocol.reads import ReadRequest, ReadResult

KEY = KeyInfo(uuid.uuid4(), "rk", uuid.uuid4(), uuid.uuid4(), "pro")
META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}


class FakeQuery:
    def __init__(self, outcome: Exception | ReadResult) -> None:
        self.outcome = outcome

    async def read(self, request: ReadRequest) -> ReadResult:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


class RefusingProducer:
    async def send(self, message: EventMessage) -> None:
        raise AssertionError("nothing here produces")


def services(outcome: Exception | ReadResult) -> Services:
    return Services(Settings(), RefusingProducer(), FakeQuery(outcome), GatewayMetrics())


def context(era: str = "handshake", version: str = "2025-11-25") -> CallContext:
    return CallContext(endpoint="project", key=KEY, era=era, version=version, request_id="req-123")  # type: ignore[arg-type]


def body(method: str, params: dict[str, Any] | None = None, id: Any = 1) -> bytes:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        message["params"] = params
    return json.dumps(message).encode()


async def test_a_bug_in_a_handler_is_tool_failed_with_the_logged_request_id(caplog: pytest.LogCaptureFixture) -> None:
    svc = services(RuntimeError("boom: SELECT secret FROM db-host-7"))
    with caplog.at_level(logging.ERROR, logger="millimetric_gateway.rpc"):
        status, out = await rpc.handle_handshake(svc, context(), body("tools/call", {"name": "query_events"}, id=9))
    assert status == 200
    assert out is not None
    error = json.loads(out)["error"]
    assert (error["code"], error["message"]) == (-32000, "tool_failed")
    assert error["data"] == {"request_id": "req-123", "retryable": False, "detail": "internal error"}
    assert "boom" not in out.decode() and "db-host" not in out.decode()  # nothing internal on the wire
    (record,) = [r for r in caplog.records if "req-123" in r.getMessage()]
    assert record.exc_info is not None  # logged once, with the stack, on our side only


async def test_a_dependency_failure_keeps_its_retry_hint_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    svc = services(ProtocolError(ErrorName.TOOL_FAILED, "query service unavailable", {"retryable": True}))
    with caplog.at_level(logging.WARNING, logger="millimetric_gateway.rpc"):
        status, out = await rpc.handle_handshake(svc, context(), body("resources/read", {"uri": "events://recent"}))
    assert out is not None
    error = json.loads(out)["error"]
    assert error["data"]["request_id"] == "req-123" and error["data"]["retryable"] is True
    assert any("req-123" in r.getMessage() for r in caplog.records)


async def test_modern_results_are_stamped_and_cache_hinted() -> None:
    svc = services(ReadResult(rows=[{"event": "x"}]))
    status, out = await rpc.handle_modern(svc, context("modern", "2026-07-28"),
                                          body("resources/read", {"uri": "events://recent", "_meta": META}),
                                          {"mcp-protocol-version": ["2026-07-28"], "mcp-method": ["resources/read"],
                                           "mcp-name": ["events://recent"]})
    assert status == 200 and out is not None
    result = json.loads(out)["result"]
    assert result["resultType"] == "complete"
    assert (result["ttlMs"], result["cacheScope"]) == (0, "private")
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "millimetric"


async def test_handshake_results_carry_no_modern_fields() -> None:
    svc = services(ReadResult(rows=[]))
    for method, params in (("tools/list", None), ("resources/read", {"uri": "events://recent"}), ("ping", None)):
        status, out = await rpc.handle_handshake(svc, context(), body(method, params))
        assert status == 200 and out is not None
        result = json.loads(out)["result"]
        assert not {"resultType", "ttlMs", "cacheScope", "_meta"} & set(result), method


def test_every_cacheable_modern_method_has_a_ttl() -> None:
    assert set(rpc.CACHE_TTL_MS) == {"server/discover", "tools/list", "resources/list", "resources/templates/list",
                                     "resources/read", "prompts/list"}
    assert rpc.CACHE_TTL_MS["resources/read"] == 0  # events://recent must never be served from a cache
    assert "ping" not in rpc.MODERN_METHODS and "initialize" not in rpc.MODERN_METHODS


async def test_a_batch_is_traced_as_one_batch_with_the_first_failing_outcome() -> None:
    svc = services(ReadResult(rows=[]))
    ctx = context(version="2025-03-26")
    batch = json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "ping"},
                        {"jsonrpc": "2.0", "id": 2, "method": "no/such"},
                        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "nope"}}]).encode()
    status, out = await rpc.handle_handshake(svc, ctx, batch)
    assert status == 200 and out is not None
    assert [answer["id"] for answer in json.loads(out)] == [1, 2, 3]
    assert (ctx.trace.method, ctx.trace.tool, ctx.trace.outcome) == ("batch", "", "method_not_found")
