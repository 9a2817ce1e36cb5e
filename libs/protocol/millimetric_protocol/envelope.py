"""JSON-RPC 2.0 envelopes and the MCP params/results the gateway speaks.

`Message` is what any POSTed JSON object decodes to; `codec.as_request` tells a request or
notification from a response. `params` stays raw until the method is known, so each
method's params decode straight into their own struct.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import UNSET, Struct, UnsetType, field

RequestId = int | str


class Message(Struct, forbid_unknown_fields=True):
    """Any JSON-RPC 2.0 object: request, notification or response."""

    jsonrpc: Literal["2.0"]
    id: RequestId | None | UnsetType = UNSET
    method: str | UnsetType = UNSET
    params: msgspec.Raw | UnsetType = UNSET
    result: Any | UnsetType = UNSET
    error: Any | UnsetType = UNSET


class Request(Struct):
    """A request (has an id) or a notification (id is UNSET), method known, params still raw."""

    method: str
    id: RequestId | UnsetType = UNSET
    params: msgspec.Raw | UnsetType = UNSET

    @property
    def is_notification(self) -> bool:
        return self.id is UNSET


class ErrorObject(Struct, omit_defaults=True):
    code: int
    message: str
    data: Any | None = None


class Response(Struct, omit_defaults=True):
    """A response: exactly one of `result` / `error`. `id` is always written (null if unreadable)."""

    jsonrpc: Literal["2.0"]
    id: RequestId | None
    result: Any | UnsetType = UNSET
    error: ErrorObject | UnsetType = UNSET


# --- MCP params -----------------------------------------------------------------------------

class Implementation(Struct):
    name: str
    version: str
    title: str | UnsetType = UNSET


class InitializeParams(Struct):
    protocolVersion: str
    capabilities: dict[str, Any] = field(default_factory=dict)
    clientInfo: dict[str, Any] | UnsetType = UNSET
    meta: dict[str, Any] | UnsetType = field(name="_meta", default=UNSET)


class ModernMeta(Struct):
    """`params._meta` of a 2026-07-28 request (only the keys we read)."""

    protocol_version: Any = field(name="io.modelcontextprotocol/protocolVersion", default=UNSET)
    client_capabilities: Any = field(name="io.modelcontextprotocol/clientCapabilities", default=UNSET)


class BareParams(Struct):
    """Params of methods that take nothing but `_meta` (and a cursor for list methods)."""

    cursor: str | None | UnsetType = UNSET
    meta: dict[str, Any] | UnsetType = field(name="_meta", default=UNSET)


class CallToolParams(Struct):
    name: str
    arguments: msgspec.Raw = field(default_factory=lambda: msgspec.Raw(b"{}"))
    """Raw JSON; decoded by the tool's own struct. JSON null counts as no arguments."""
    meta: dict[str, Any] | UnsetType = field(name="_meta", default=UNSET)


class ReadResourceParams(Struct):
    uri: str
    meta: dict[str, Any] | UnsetType = field(name="_meta", default=UNSET)


class GetPromptParams(Struct):
    name: str
    arguments: dict[str, str] | None | UnsetType = UNSET
    meta: dict[str, Any] | UnsetType = field(name="_meta", default=UNSET)


class SetLevelParams(Struct):
    level: str
    meta: dict[str, Any] | UnsetType = field(name="_meta", default=UNSET)


# --- MCP results ----------------------------------------------------------------------------

class TextContent(Struct, kw_only=True):
    type: Literal["text"] = "text"
    text: str


class CallToolResult(Struct, omit_defaults=True):
    """A tool result: the data as one JSON text block (as the public doc shows) plus
    `structuredContent` with the same data for clients that read typed results."""

    content: list[TextContent]
    structuredContent: Any | UnsetType = UNSET
    isError: bool = False
