"""Raw JSON-RPC over HTTP as an MCP client of the handshake era sends it (no SDK, no session):
bodies, headers, and a small client for sequential calls."""

from __future__ import annotations

import json
import time
from typing import Any, Final

import aiohttp

PROTOCOL_VERSION: Final = "2025-11-25"


def headers(key: str | None = None) -> dict[str, str]:
    """What an MCP client sends on every POST after the handshake (both SDKs send this Accept)."""
    sent = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": PROTOCOL_VERSION}
    if key is not None:
        sent["Authorization"] = f"Bearer {key}"
    return sent


def tool_call(name: str, arguments: dict[str, Any], request_id: int = 1) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
                       "params": {"name": name, "arguments": arguments}}, separators=(",", ":"))


def resource_read(uri: str, request_id: int = 1) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "resources/read", "params": {"uri": uri}},
                      separators=(",", ":"))


class CallFailed(RuntimeError):
    pass


def result_of(message: Any) -> Any:
    """The tool result's data: structuredContent when present, else content[0] parsed; raises
    CallFailed for a JSON-RPC error or a tool error."""
    if "error" in message:
        raise CallFailed(f"JSON-RPC error: {json.dumps(message['error'])[:500]}")
    result = message["result"]
    if result.get("isError"):
        raise CallFailed(f"tool error: {result['content'][0]['text'][:500]}")
    if "structuredContent" in result:
        return result["structuredContent"]
    if "contents" in result:  # resources/read
        return {"rows": json.loads(result["contents"][0]["text"])}
    return {"rows": json.loads(result["content"][0]["text"])}


async def post(http: aiohttp.ClientSession, url: str, body: str, key: str | None) -> tuple[Any, float]:
    """POST one call; returns (decoded answer, seconds from send to the last byte)."""
    started = time.perf_counter()
    async with http.post(url, data=body.encode(), headers=headers(key)) as resp:
        raw = await resp.read()
    took = time.perf_counter() - started
    if resp.status != 200:
        raise CallFailed(f"HTTP {resp.status}: {raw[:300]!r}")
    return json.loads(raw), took
