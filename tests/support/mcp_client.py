"""The official MCP Python SDK client, pointed at our gateway with a bearer key."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


@contextlib.asynccontextmanager
async def mcp_client(url: str, key: str, *, mode: str = "auto") -> AsyncIterator[Client]:
    """mode 'auto' (the SDK default: probes 2026-07-28 `server/discover`) or 'legacy' (initialize handshake)."""
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
    async with http, Client(streamable_http_client(url, http_client=http), mode=mode, cache=None) as client:  # type: ignore[arg-type]
        yield client


def tool_data(result: Any) -> Any:
    """The JSON data of a tool result's first text block (the doc's response shape)."""
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)
