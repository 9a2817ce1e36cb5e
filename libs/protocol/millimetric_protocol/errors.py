"""The error vocabulary: one catalog from error name to JSON-RPC code and HTTP status.

Services raise `ProtocolError` (or a subclass) with a name from `ErrorName`; each service turns it
into wire bytes in exactly one place. `http_status` is set for refusals that happen before the
JSON-RPC request is dispatched (auth, plan, size, malformed body); errors of a dispatched request
travel with HTTP 200 on the handshake-era path, because MCP clients drop the JSON-RPC code of a
non-2xx answer.
"""

from __future__ import annotations

import enum
from typing import Any, Final, NamedTuple


class ErrorName(str, enum.Enum):  # noqa: UP042 - StrEnum would change str() of the names
    PARSE_ERROR = "parse_error"
    INVALID_REQUEST = "invalid_request"
    METHOD_NOT_FOUND = "method_not_found"
    INVALID_PARAMS = "invalid_params"
    UNKNOWN_TOOL = "unknown_tool"
    UNHANDLED_TOOL = "unhandled_tool"
    UNKNOWN_RESOURCE = "unknown_resource"
    UNKNOWN_PROMPT = "unknown_prompt"
    TOOL_FAILED = "tool_failed"
    INSUFFICIENT_SCOPE = "insufficient_scope"
    PLAN_LIMIT = "plan_limit"
    UNKNOWN_PROJECT_ID = "unknown_project_id"
    UNKNOWN_PROJECT_SLUG = "unknown_project_slug"
    NO_PROJECTS_VISIBLE = "no_projects_visible"
    INVALID_KEY = "invalid_key"
    KEY_KIND_NOT_ALLOWED = "key_kind_not_allowed"
    ACCOUNT_KEY_REQUIRED = "account_key_required"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    NOT_ACCEPTABLE = "not_acceptable"
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"
    RATE_LIMITED = "rate_limited"
    HEADER_MISMATCH = "header_mismatch"
    UNSUPPORTED_PROTOCOL_VERSION = "unsupported_protocol_version"


class ErrorSpec(NamedTuple):
    code: int
    """JSON-RPC error code."""
    http_status: int | None
    """HTTP status when the error refuses the whole HTTP request; None → 200 with the error body."""
    meaning: str
    """One line for the README's error table."""


# NOTE: -32002/-32004/-32005 are the public doc's codes. -32001 is ours for refusals of the
# credential itself (the doc gives these only as HTTP statuses + names).
CATALOG: Final[dict[ErrorName, ErrorSpec]] = {
    ErrorName.PARSE_ERROR: ErrorSpec(-32700, 400, "body is not valid JSON (or not UTF-8)"),
    ErrorName.INVALID_REQUEST: ErrorSpec(-32600, 400, "body is not a valid JSON-RPC 2.0 request"),
    ErrorName.METHOD_NOT_FOUND: ErrorSpec(-32601, None, "unknown method"),
    ErrorName.INVALID_PARAMS: ErrorSpec(-32602, None, "params do not match the method's shape"),
    ErrorName.UNKNOWN_TOOL: ErrorSpec(-32602, None, "no tool of that name on any endpoint; `data.available` lists this key's tools"),
    ErrorName.UNHANDLED_TOOL: ErrorSpec(-32602, None, "the tool lives on the other endpoint; `data.endpoint` names it"),
    ErrorName.UNKNOWN_RESOURCE: ErrorSpec(-32602, None, "no resource with that URI on this endpoint"),
    ErrorName.UNKNOWN_PROMPT: ErrorSpec(-32602, None, "no prompt of that name"),
    ErrorName.TOOL_FAILED: ErrorSpec(-32000, None, "server-side failure; `data.request_id` is in our logs, `data.retryable` says whether to retry"),
    ErrorName.INSUFFICIENT_SCOPE: ErrorSpec(-32000, None, "the key lacks the scope the tool needs"),
    ErrorName.PLAN_LIMIT: ErrorSpec(-32002, 402, "feature requires a higher plan"),
    ErrorName.UNKNOWN_PROJECT_ID: ErrorSpec(-32004, None, "no project with that id in this account"),
    ErrorName.UNKNOWN_PROJECT_SLUG: ErrorSpec(-32004, None, "no project with that slug in this account"),
    ErrorName.NO_PROJECTS_VISIBLE: ErrorSpec(-32005, None, "the account key sees no projects"),
    ErrorName.INVALID_KEY: ErrorSpec(-32001, 401, "missing, malformed, unknown or revoked key"),
    ErrorName.KEY_KIND_NOT_ALLOWED: ErrorSpec(-32001, 403, "this key kind may not use this endpoint"),
    ErrorName.ACCOUNT_KEY_REQUIRED: ErrorSpec(-32001, 403, "/mcp/account takes only ak_ keys"),
    ErrorName.PAYLOAD_TOO_LARGE: ErrorSpec(-32600, 413, "request body over the size limit"),
    ErrorName.UNSUPPORTED_MEDIA_TYPE: ErrorSpec(-32600, 415, "Content-Type must be application/json"),
    ErrorName.NOT_ACCEPTABLE: ErrorSpec(-32600, 406, "Accept must allow application/json"),
    ErrorName.ORIGIN_NOT_ALLOWED: ErrorSpec(-32600, 403, "Origin/Host not in the allow-list"),
    ErrorName.RATE_LIMITED: ErrorSpec(-32000, 429, "too many requests for this key; see Retry-After"),
    ErrorName.HEADER_MISMATCH: ErrorSpec(-32020, 400, "routing headers disagree with the body (2026-07-28)"),
    ErrorName.UNSUPPORTED_PROTOCOL_VERSION: ErrorSpec(-32022, 400, "protocol version not served"),
}


class ProtocolError(Exception):
    """An error with a catalog name; the one exception type services raise across the wire.

    `message` on the wire is always the error name (as the public doc shows); `detail` is a
    human sentence carried in `data.detail`, and `data` holds structured details.
    """

    def __init__(self, name: ErrorName, detail: str | None = None, data: dict[str, Any] | None = None) -> None:
        super().__init__(detail or name.value)
        self.name = name
        self.detail = detail
        self.data = dict(data) if data else {}

    @property
    def spec(self) -> ErrorSpec:
        return CATALOG[self.name]

    @property
    def code(self) -> int:
        return self.spec.code

    def wire_data(self) -> dict[str, Any] | None:
        """The `data` member for the JSON-RPC error object (None when there is nothing to add)."""
        data = dict(self.data)
        if self.detail:
            data.setdefault("detail", self.detail)
        return data or None


class InvalidArguments(ProtocolError):
    """Tool arguments failed validation; MCP answers these as `isError` tool results."""

    def __init__(self, detail: str, path: str | None = None) -> None:
        data: dict[str, Any] = {"path": path} if path else {}
        super().__init__(ErrorName.INVALID_PARAMS, detail, data)
