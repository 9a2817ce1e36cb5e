"""Raw HTTP against the MCP endpoints (no SDK): build JSON-RPC bodies for both protocol eras, post
them with aiohttp, and check that an answer is well-formed JSON-RPC."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import aiohttp
from multidict import CIMultiDictProxy

MODERN: Final = "2026-07-28"
LATEST_HANDSHAKE: Final = "2025-11-25"
HANDSHAKE_VERSIONS: Final = ("2025-03-26", "2025-06-18", "2025-11-25")
CLIENT_HEADERS: Final = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
"""What both SDK clients send on every POST."""

T = TypeVar("T")


@dataclass(frozen=True)
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def result(self) -> Any:
        message = self.json
        assert "result" in message, message
        return message["result"]

    @property
    def error(self) -> dict[str, Any]:
        message = self.json
        assert "error" in message, message
        return message["error"]  # type: ignore[no-any-return]


def rpc(method: str, params: Any = None, id: Any = 1) -> dict[str, Any]:
    """A JSON-RPC request (`id=None` makes a notification)."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if id is not None:
        message["id"] = id
    if params is not None:
        message["params"] = params
    return message


def modern_meta(version: str = MODERN) -> dict[str, Any]:
    return {
        "io.modelcontextprotocol/protocolVersion": version,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "millimetric-tests", "version": "1"},
    }


def modern(method: str, params: dict[str, Any] | None = None, id: Any = 1) -> tuple[dict[str, Any], dict[str, str]]:
    """A 2026-07-28 request and its routing headers (MCP-Protocol-Version, Mcp-Method, Mcp-Name)."""
    params = {**(params or {}), "_meta": modern_meta()}
    headers = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    name = params.get("uri" if method == "resources/read" else "name")
    if method in ("tools/call", "prompts/get", "resources/read") and isinstance(name, str):
        headers["Mcp-Name"] = name
    return rpc(method, params, id), headers


async def post(session: aiohttp.ClientSession, url: str, body: Any, *, key: str | None = None,
               headers: dict[str, str] | None = None, version: str | None = LATEST_HANDSHAKE) -> Reply:
    """POST `body` (a JSON value, or bytes sent as they are) the way an MCP client does.
    `version` is the MCP-Protocol-Version header (None: absent, as on `initialize`)."""
    sent = {**CLIENT_HEADERS}
    if version is not None:
        sent["MCP-Protocol-Version"] = version
    if key is not None:
        sent["Authorization"] = f"Bearer {key}"
    sent.update(headers or {})
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with session.post(url, data=data, headers=sent) as resp:
        return Reply(resp.status, resp.headers, await resp.read())


def check_response(message: Any, request_id: Any = ...) -> None:
    """`message` is one well-formed JSON-RPC 2.0 response (result xor error; error has an int code and
    a str message); with `request_id` given, the id echoes it (type included)."""
    assert isinstance(message, dict), message
    assert message.get("jsonrpc") == "2.0", message
    assert "id" in message, message
    assert ("result" in message) != ("error" in message), message
    assert set(message) <= {"jsonrpc", "id", "result", "error"}, message
    if request_id is not ...:
        assert message["id"] == request_id and type(message["id"]) is type(request_id), (message["id"], request_id)
    if "error" in message:
        error = message["error"]
        assert isinstance(error, dict) and set(error) <= {"code", "message", "data"}, error
        assert isinstance(error["code"], int) and not isinstance(error["code"], bool), error
        assert isinstance(error["message"], str) and error["message"], error
    else:
        assert isinstance(message["result"], dict), message


async def poll(fn: Callable[[], Awaitable[T]], *, deadline_s: float = 10.0, interval_s: float = 0.05) -> T:
    """Call `fn` until it returns something truthy, or fail at the deadline (no fixed sleeps)."""
    end = time.monotonic() + deadline_s
    while True:
        value = await fn()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {deadline_s}s (last value {value!r})")
        await asyncio.sleep(interval_s)
